"""Encryption at rest (docs/security.md): message bodies, attachments, file names and file contents
are sealed before they reach the journal, the SQLite files, Kafka, PostgreSQL, the Redis relay and
file storage (a local directory here; S3 in test_files.py), and opened only on
the way out to members; data keys rotate without downtime and the old ones keep opening; a wrong
master key stops the server from starting."""
import base64
import glob
import json
import os
import socket
import sqlite3
import subprocess
import threading
import uuid

import pytest

from conftest import PARLEY_BIN, ROOT, TIMEOUT, Server
from test_files import download, upload


def marker():
    return "marker-" + uuid.uuid4().hex


def files_holding(root, needle, skip=()):
    """Every file under root whose bytes contain needle (as UTF-8)."""
    found = []
    needle = needle.encode()
    for path in glob.glob(os.path.join(root, "**", "*"), recursive=True):
        if os.path.isfile(path) and os.path.basename(path) not in skip:
            with open(path, "rb") as f:
                if needle in f.read():
                    found.append(path)
    return found


def keys_command(*args, env=None):
    return subprocess.run([PARLEY_BIN, "keys", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=dict(os.environ, **(env or {})))


def pair(server):
    alice = server.register("alice")["token"]
    server.register("bob")
    return alice, server.login("bob")["token"]


def test_embedded_default_keeps_no_plaintext_in_the_database_the_journal_or_the_log(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        alice, bob = pair(s)
        wa, wb = s.ws(alice), s.ws(bob)
        secret, edited = marker(), marker()
        sent = wa.send_msg(secret, to="bob")
        got = wb.event("message")["msg"]
        assert got["body"] == secret  # opened on the way out to the member
        wa.ok("edit", conv=sent["conv"], seq=sent["seq"], body=edited)
        assert wb.event("message_updated")["msg"]["body"] == edited
        page = s.api("GET", f"/conversations/{sent['conv']}/messages", token=bob)
        assert [m["body"] for m in page["messages"]] == [edited]
        # A file: its contents, its name and the attachment that carries it.
        content, name = marker() * 3000, marker()  # ~120 KB: several sealed chunks
        f = upload(s, alice, content.encode(), name=name + ".txt")["file"]
        assert f["name"] == name + ".txt"
        wa.send_msg("", to="bob", attachments=[f["id"]])
        assert wb.event("message")["msg"]["attachments"][0]["name"] == name + ".txt"
        status, body, headers = download(s, bob, f["id"])
        assert status == 200 and body == content.encode()
        assert name in headers["content-disposition"]
        status, body, _ = download(s, bob, f["id"], {"Range": "bytes=65530-65545"})
        assert status == 206 and body == content.encode()[65530:65546]
        # While the server runs: the journal's segments, the database and its WAL, the files.
        data = str(tmp_path / "data")
        assert files_holding(data, sent["id"]), "the message is in the data directory"
        assert files_holding(data, f["id"]), "the file is in the data directory"
        for needle in (secret, edited, content[:40], name):
            assert files_holding(data, needle) == [], needle
        wa.close()
        wb.close()
    finally:
        assert s.stop() == 0
    for needle in (secret, edited, content[:40], name):
        assert files_holding(data, needle) == [], needle
        assert not any(needle in line for line in s.log_lines)
    # The rows hold the sealed form: the marker byte, the key id, base64url.
    db = sqlite3.connect(os.path.join(data, "parley.db"))
    (body,) = db.execute("SELECT body FROM messages").fetchone()
    assert body.startswith("\x01k1."), body
    (stored_name,) = db.execute("SELECT name FROM files").fetchone()
    assert stored_name.startswith("\x01k1."), stored_name
    with open(glob.glob(os.path.join(data, "files", "f", "*", f["id"]))[0], "rb") as blob:
        assert blob.read(8) == b"PRLYBLB1"
    assert oct(os.stat(os.path.join(data, "master.key")).st_mode & 0o777) == "0o600"

    # After a restart every message still opens.
    s.start()
    try:
        bob = s.login("bob")["token"]
        page = s.api("GET", f"/conversations/{sent['conv']}/messages", token=bob)
        assert [m["body"] for m in page["messages"]][0] == edited
        assert download(s, bob, f["id"])[1] == content.encode()
    finally:
        s.stop()


def test_a_sealed_body_moved_to_another_message_does_not_open(tmp_path):
    s = Server(tmp_path / "data").start()
    alice, bob = pair(s)
    w = s.ws(alice)
    first = w.send_msg("first", to="bob")
    second = w.send_msg("second", to="bob")
    w.close()
    s.stop()
    db = sqlite3.connect(str(tmp_path / "data" / "parley.db"))
    db.execute("UPDATE messages SET body = (SELECT body FROM messages WHERE id = ?) WHERE id = ?",
               (first["id"], second["id"]))
    db.commit()
    db.close()
    s.start()
    try:
        status, body, _ = s.request("GET", f"/conversations/{first['conv']}/messages",
                                    token=s.login("bob")["token"])
        assert status == 500, body
        s.wait_log("event=message_unreadable", second["id"])
    finally:
        s.stop()


def test_a_wrong_master_key_refuses_to_start_with_a_clear_error(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    s.register("alice")
    assert s.stop() == 0
    (data / "master.key").write_text("Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMDA=\n")
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    assert "does not open data key 1" in r.stderr, r.stderr
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                        "--master-key-file", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "cannot read" in r.stderr, r.stderr
    (tmp_path / "short").write_text("c2hvcnQ=\n")
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                        "--master-key-file", str(tmp_path / "short")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "exactly 32 bytes" in r.stderr, r.stderr
    assert "c2hvcnQ" not in r.stderr


def token_kid(token):
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_rotation_while_serving_keeps_old_messages_files_and_tokens_valid_and_rewraps(tmp_path):
    data = tmp_path / "data"
    s = Server(data, "--key-refresh-ms", "100").start()
    try:
        alice, bob = pair(s)
        assert token_kid(alice) == "k1"
        w = s.ws(alice)
        old = w.send_msg("before the rotation", to="bob")
        f = upload(s, alice, b"a file sealed under key 1", name="one.txt")["file"]
        mark = s.log_mark()
        r = keys_command("rotate", "--data-dir", str(data))
        assert r.returncode == 0 and "data key 2 added" in r.stdout, r.stdout + r.stderr
        s.wait_log("event=data_key_current id=2", after=mark)
        new = w.send_msg("after the rotation", to="bob")
        s.wait_log("event=rewrap_done key=2", after=mark)
        w.close()
        # Tokens are signed with the new key now; one signed with the old key stays valid.
        fresh = s.login("alice")["token"]
        assert token_kid(fresh) == "k2"
        for token in (alice, fresh):
            assert download(s, token, f["id"])[1] == b"a file sealed under key 1"
    finally:
        s.stop()
    db = sqlite3.connect(str(data / "parley.db"))
    bodies = [b for (b,) in db.execute("SELECT body FROM messages")]
    assert len(bodies) == 2 and all(b.startswith("\x01k2.") for b in bodies), bodies
    # The file too: its name, and its bytes (the header names the key).
    (stored_name,) = db.execute("SELECT name FROM files").fetchone()
    assert stored_name.startswith("\x01k2."), stored_name
    with open(glob.glob(os.path.join(data, "files", "f", "*", f["id"]))[0], "rb") as blob:
        header = blob.read(16)
    assert header[:8] == b"PRLYBLB1" and int.from_bytes(header[8:12], "little") == 2
    status = keys_command("status", "--data-dir", str(data), "--key-refresh-ms", "100")
    assert status.returncode == 0, status.stderr
    assert "current" in next(l for l in status.stdout.splitlines() if l.startswith("2 "))
    assert "opens older data" in next(l for l in status.stdout.splitlines() if l.startswith("1 "))
    s.start()
    try:
        page = s.api("GET", f"/conversations/{old['conv']}/messages", token=s.login("bob")["token"])
        assert [m["body"] for m in page["messages"]] == ["before the rotation", "after the rotation"]
        assert new["seq"] == 2
        # After a restart too: the key-1 token (until it expires) and the key-1 file.
        assert download(s, alice, f["id"])[1] == b"a file sealed under key 1"
        forged = alice.split(".")
        forged[0] = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k7","typ":"JWT"}').decode().rstrip("=")
        assert s.api("GET", "/me", token=".".join(forged), expect=401)
    finally:
        s.stop()


def test_a_store_written_without_encryption_is_read_and_migrated(tmp_path):
    data = tmp_path / "data"
    s = Server(data, "--encrypt-at-rest", "false").start()
    alice, bob = pair(s)
    w = s.ws(alice)
    secret = marker()
    sent = w.send_msg(secret, to="bob")
    content, name = marker() * 2000, marker()
    f = upload(s, alice, content.encode(), name=name)["file"]
    w.close()
    s.stop()
    db = sqlite3.connect(str(data / "parley.db"))
    assert db.execute("SELECT body FROM messages").fetchone() == (secret,)
    assert db.execute("SELECT name FROM files").fetchone() == (name,)
    db.close()
    assert files_holding(str(data / "files"), content[:40])
    s = Server(data, "--key-refresh-ms", "100").start()
    try:
        # Readable at once, and sealed in the background: the messages, then the files.
        assert download(s, alice, f["id"])[1] == content.encode()
        s.wait_log("event=rewrap_done key=1")
        page = s.api("GET", f"/conversations/{sent['conv']}/messages", token=s.login("bob")["token"])
        assert [m["body"] for m in page["messages"]] == [secret]
        status, body, headers = download(s, alice, f["id"])
        assert status == 200 and body == content.encode() and name in headers["content-disposition"]
    finally:
        s.stop()
    db = sqlite3.connect(str(data / "parley.db"))
    (body,) = db.execute("SELECT body FROM messages").fetchone()
    assert body.startswith("\x01k1.") and secret not in body
    (stored_name,) = db.execute("SELECT name FROM files").fetchone()
    assert stored_name.startswith("\x01k1.")
    assert files_holding(str(data), content[:40]) == [] and files_holding(str(data), name) == []


class RedisMonitor:
    """Everything Redis executes while it runs (MONITOR), collected by a thread."""

    def __init__(self, url):
        host, port = url.removeprefix("redis://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.data = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while chunk := self.sock.recv(65536):
                with self.lock:
                    self.data += chunk
        except OSError:
            pass

    def text(self):
        with self.lock:
            return bytes(self.data)

    def close(self):
        self.sock.close()


def kafka_topic_files(topic):
    return glob.glob(os.path.join(ROOT, "build", "services", "kafka", "data", topic + "-*", "*.log"))


def test_cluster_backends_hold_no_plaintext(cluster, kafka_url, postgres_url, redis_url):
    """Kafka's log segments, a pg_dump of the store and every command Redis ran (the relay
    between nodes) carry the message only sealed; the member on the other node reads it."""
    monitor = RedisMonitor(redis_url)
    try:
        a, b = cluster(2, log=kafka_url)
        alice = a.register("alice")["token"]
        b.register("bob")
        bob = b.login("bob")["token"]
        wa, wb = a.ws(alice), b.ws(bob)
        secret = marker()
        sent = wa.send_msg(secret, to="bob")
        assert wb.event("message")["msg"]["body"] == secret
        group = a.api("POST", "/groups/create", {"name": "sealed", "members": ["bob"]},
                      token=alice, expect=201)["id"]
        group_secret = marker()
        wa.send_msg(group_secret, conv=group)
        got = wb.event("message", where=lambda e: e["msg"]["conv"] == group)["msg"]
        assert got["body"] == group_secret
        wa.close()
        wb.close()
        relayed = monitor.text()
    finally:
        monitor.close()
    assert b"PUBLISH" in relayed.upper() and sent["conv"].encode() in relayed
    assert secret.encode() not in relayed and group_secret.encode() not in relayed

    topic = kafka_url.rsplit("/", 1)[1]
    segments = kafka_topic_files(topic)
    assert segments, "the topic's segments are on disk"
    raw = b"".join(open(p, "rb").read() for p in segments)
    assert sent["conv"].encode() in raw
    assert secret.encode() not in raw and group_secret.encode() not in raw

    schema = postgres_url.rsplit("search_path%3D", 1)[1]
    dump = subprocess.run(["pg_dump", "--schema", schema, os.environ["PARLEY_TEST_POSTGRES"]],
                          capture_output=True, check=True).stdout
    assert sent["id"].encode() in dump
    assert secret.encode() not in dump and group_secret.encode() not in dump
    for node in (a, b):
        assert not any(secret in line for line in node.log_lines)
