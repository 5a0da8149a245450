"""The encryption service (docs/protocol.md §10, docs/security.md "The encryption service"):
POST /encrypt seals a text for the caller or for a conversation, POST /decrypt opens it again for
whoever it is bound to; tampered, truncated and foreign ciphertexts are refused with 400
bad_ciphertext, callers not entitled with 403; old ciphertexts open after a key rotation and a
restart."""
import base64

from conftest import Server
from test_encryption import keys_command, marker


def encrypt(server, token, message, conv=None, expect=200):
    body = {"message": message}
    if conv is not None:
        body["conv"] = conv
    return server.api("POST", "/encrypt", body, token=token, expect=expect)


def decrypt(server, token, encrypted, expect=200):
    return server.api("POST", "/decrypt", {"encryptedMessage": encrypted}, token=token,
                      expect=expect)


def three(server):
    return [server.register(name)["token"] for name in ("alice", "bob", "carol")]


def flip(ciphertext, index):
    """The ciphertext with one byte of its sealed part changed (still valid base64url)."""
    head, _, sealed = ciphertext.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[index] ^= 0x01
    return head + "." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_a_ciphertext_bound_to_the_caller_opens_for_the_caller_only(server):
    alice, bob, _ = three(server)
    secret = marker() + " ünïcode ✓"
    sealed = encrypt(server, alice, secret)
    assert set(sealed) == {"encryptedMessage", "key_id"} and sealed["key_id"] == 1
    assert secret not in sealed["encryptedMessage"] and marker()[:7] not in sealed["encryptedMessage"]
    assert decrypt(server, alice, sealed["encryptedMessage"]) == {"message": secret}
    # Sealing twice gives two different ciphertexts (a fresh nonce each time).
    assert encrypt(server, alice, secret)["encryptedMessage"] != sealed["encryptedMessage"]
    refused = decrypt(server, bob, sealed["encryptedMessage"], expect=403)
    assert refused["error"]["code"] == "forbidden"
    # Relabelled to bob, it names bob but no longer opens: bound by its associated data.
    me = server.api("GET", "/me", token=alice)["user"]["id"]
    bob_id = server.api("GET", "/me", token=bob)["user"]["id"]
    relabelled = sealed["encryptedMessage"].replace(f"u{me}.", f"u{bob_id}.", 1)
    assert decrypt(server, bob, relabelled, expect=400)["error"]["code"] == "bad_ciphertext"


def test_a_ciphertext_bound_to_a_conversation_opens_for_its_current_members(server):
    alice, bob, carol = three(server)
    group = server.api("POST", "/groups/create", {"name": "team", "members": ["bob"]},
                       token=alice, expect=201)
    sealed = encrypt(server, alice, "for the team", conv=group["id"])["encryptedMessage"]
    assert decrypt(server, bob, sealed) == {"message": "for the team"}
    assert decrypt(server, alice, sealed) == {"message": "for the team"}
    assert decrypt(server, carol, sealed, expect=403)["error"]["code"] == "not_member"
    # Only members may seal for a conversation either.
    assert encrypt(server, carol, "x", conv=group["id"], expect=403)["error"]["code"] == "not_member"
    assert encrypt(server, carol, "x", conv="0190f7e2-0000-7000-8000-000000000000",
                   expect=404)["error"]["code"] == "not_found"
    # A member who leaves can no longer open it; one who joins can.
    server.api("DELETE", f"/groups/{group['id']}/remove-member", {"member": "bob"}, token=alice)
    assert decrypt(server, bob, sealed, expect=403)["error"]["code"] == "not_member"
    server.api("PUT", f"/groups/{group['id']}/add-member", {"member": "carol"}, token=alice)
    assert decrypt(server, carol, sealed) == {"message": "for the team"}


def test_tampered_truncated_and_foreign_ciphertexts_are_refused(server, tmp_path):
    alice, _, _ = three(server)
    sealed = encrypt(server, alice, "do not touch")["encryptedMessage"]
    bad = [
        flip(sealed, 0),       # the nonce
        flip(sealed, 30),      # the ciphertext
        flip(sealed, -1),      # the tag
        sealed[:-6],           # truncated
        sealed.split(".", 1)[1],                          # the binding cut off
        sealed.replace(".k1.", ".k2.", 1),                # another key id
        "hello", "", "u1.k1.", "u1.k1.!!!!", "x1.k1.AAAA",
    ]
    for text in bad:
        answer = decrypt(server, alice, text, expect=400)
        assert answer["error"]["code"] == "bad_ciphertext", (text, answer)
    # Sealed by another deployment (another master key): foreign.
    other = Server(tmp_path / "other").start()
    try:
        token = other.register("alice")["token"]
        foreign = encrypt(other, token, "elsewhere")["encryptedMessage"]
    finally:
        other.stop()
    assert decrypt(server, alice, foreign, expect=400)["error"]["code"] == "bad_ciphertext"
    assert decrypt(server, alice, sealed) == {"message": "do not touch"}


def test_bad_requests_get_clear_errors(server_factory):
    s = server_factory("--max-message-bytes", "64")
    alice = s.register("alice")["token"]
    assert s.request("POST", "/encrypt", {"message": "x"})[0] == 401
    assert s.request("POST", "/decrypt", {"encryptedMessage": "x"})[0] == 401
    for body, field in (({}, "message"), ({"message": 5}, "message"),
                        ({"message": "x", "conv": 7}, "conv")):
        status, answer, _ = s.request("POST", "/encrypt", body, token=alice)
        assert status == 400 and answer["error"]["code"] == "bad_request", answer
        assert field in answer["error"]["message"]
    status, answer, _ = s.request("POST", "/decrypt", {}, token=alice)
    assert status == 400 and "encryptedMessage" in answer["error"]["message"]
    # Sized like messages: at most --max-message-bytes of text.
    assert encrypt(s, alice, "é" * 32)["key_id"] == 1
    assert encrypt(s, alice, "x" * 65, expect=413)["error"]["code"] == "too_large"
    assert decrypt(s, alice, "u1.k1." + "A" * 4096, expect=413)["error"]["code"] == "too_large"


def test_the_service_is_also_a_websocket_op(server):
    alice, bob, _ = three(server)
    w = server.ws(alice)
    sealed = w.ok("encrypt", message="over the socket")
    assert sealed["key_id"] == 1
    assert w.ok("decrypt", encryptedMessage=sealed["encryptedMessage"])["message"] == "over the socket"
    wb = server.ws(bob)
    err = wb.request("decrypt", encryptedMessage=sealed["encryptedMessage"])
    assert err["error"]["code"] == "forbidden"
    w.close()
    wb.close()


def test_old_ciphertexts_open_after_a_rotation_and_a_restart(tmp_path):
    data = tmp_path / "data"
    s = Server(data, "--key-refresh-ms", "100").start()
    try:
        alice = s.register("alice")["token"]
        before = encrypt(s, alice, "before the rotation")
        mark = s.log_mark()
        r = keys_command("rotate", "--data-dir", str(data))
        assert r.returncode == 0, r.stdout + r.stderr
        s.wait_log("event=data_key_current id=2", after=mark)
        after = encrypt(s, alice, "after the rotation")
        assert (before["key_id"], after["key_id"]) == (1, 2)
        assert ".k2." in after["encryptedMessage"]
    finally:
        s.stop()
    s.start()
    try:
        alice = s.login("alice")["token"]
        assert decrypt(s, alice, before["encryptedMessage"]) == {"message": "before the rotation"}
        assert decrypt(s, alice, after["encryptedMessage"]) == {"message": "after the rotation"}
    finally:
        s.stop()
