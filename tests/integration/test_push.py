"""Push notifications (issue 25), the part built so far: the VAPID key browsers subscribe with —
made once into the data directory, or read from --vapid-key-file — and GET /push/vapid-public-key.
The encryption and the VAPID tokens are unit-tested in src/push/web_push_test.cpp."""
import base64
import os
import stat
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import PARLEY_BIN, TIMEOUT, Server


def public_key(server):
    status, body, _ = server.request("GET", "/push/vapid-public-key")
    assert status == 200
    raw = base64.urlsafe_b64decode(body["public_key"] + "=" * (-len(body["public_key"]) % 4))
    assert len(raw) == 65 and raw[0] == 4, "an uncompressed P-256 point"
    return raw


def test_the_key_is_made_once_and_kept(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        first = public_key(s)
        pem = tmp_path / "data" / "vapid.pem"
        assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
        s.restart()
        assert public_key(s) == first, "browsers' subscriptions outlive a restart"
    finally:
        s.stop()
    # It is the key in the file.
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    assert key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint) == first


def test_a_configured_key_file(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "vapid.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    s = Server(tmp_path / "data", "--vapid-key-file", str(path), "--vapid-subject", "https://chat.example.com").start()
    try:
        assert public_key(s) == key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        assert not (tmp_path / "data" / "vapid.pem").exists()
    finally:
        s.stop()


def refused(tmp_path, *args):
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"), *args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    return r.stderr


def test_bad_settings_are_refused_at_start(tmp_path):
    assert "--vapid-subject must be a mailto: or https: URL" in refused(tmp_path, "--vapid-subject", "ops@example.com")
    (tmp_path / "bad.pem").write_text("not a key")
    assert "--vapid-key-file" in refused(tmp_path, "--vapid-key-file", str(tmp_path / "bad.pem"))


def test_a_cluster_node_without_a_key_file_has_web_push_off(pg_server):
    # Every node of a cluster must subscribe browsers with the same key: it is never made per node.
    status, body, _ = pg_server.request("GET", "/push/vapid-public-key")
    assert status == 404
    assert "--vapid-key-file" in body["error"]["message"]
    pg_server.wait_log("event=web_push_off")
