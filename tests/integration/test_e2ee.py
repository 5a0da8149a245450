"""End-to-end encrypted conversations (docs/security.md "End-to-end encrypted conversations",
docs/protocol.md §11), with the reference client (e2ee_client.py) against the real server:
three users with two devices each, DMs and a group, a member removed, a device added and one
removed, safety numbers; the server refuses plaintext and keeps none."""
import json
import os
import uuid

import pytest

from conftest import Server
from e2ee_client import CannotDecrypt, Device, b64, safety_number


def history(device, conv):
    return device.api("GET", f"/conversations/{conv}/messages?limit=100")["messages"]


@pytest.fixture
def people(tmp_path):
    # Encryption at rest off: whatever the server keeps of these conversations is what clients
    # sent, so finding no plaintext below is the end-to-end encryption's doing alone.
    s = Server(tmp_path / "data", "--encrypt-at-rest=false").start()
    for name in ("alice", "bob", "carol"):
        s.register(name)
    devices = {(u, d): Device(s, u, d) for u in ("alice", "bob", "carol") for d in ("phone", "laptop")}
    yield s, devices
    s.stop()


def direct(device, peer):
    conv = device.api("POST", "/conversations/direct", {"recipient": peer, "e2ee": True})
    assert conv["created"] is True and conv["peer"] == peer
    return conv


def test_direct_messages_open_on_every_device_of_both_users_and_nowhere_on_the_server(people):
    s, dev = people
    conv = direct(dev["alice", "phone"], "bob")
    assert conv["e2ee"] is True and conv["kind"] == "direct"
    conv_id = conv["id"]
    marker = "the-password-is-" + uuid.uuid4().hex
    envelope = dev["alice", "phone"].encrypt(conv_id, ["alice", "bob"], marker)
    sent = dev["alice", "phone"].api("POST", "/chat/send", {"recipient": "bob", "message": envelope,
                                                            "client_msg_id": "m1"})
    assert sent["body"] == envelope
    for who in (("bob", "phone"), ("bob", "laptop"), ("alice", "laptop"), ("alice", "phone")):
        [msg] = history(dev[who], conv_id)
        assert dev[who].decrypt(msg) == marker, who
    # Carol is no member: she cannot read it at all, and a copy of it would not open for her.
    status, _, _ = s.request("GET", f"/conversations/{conv_id}/messages", token=dev["carol", "phone"].token)
    assert status == 403
    with pytest.raises(CannotDecrypt):
        dev["carol", "phone"].decrypt(msg)
    # bob answers from the laptop; the reply carries keys only for the devices it needs.
    reply = dev["bob", "laptop"].encrypt(conv_id, ["alice", "bob"], "got it")
    dev["bob", "laptop"].api("POST", "/chat/send", {"recipient": "alice", "message": reply, "client_msg_id": "r1"})
    latest = history(dev["alice", "phone"], conv_id)[-1]
    assert dev["alice", "phone"].decrypt(latest) == "got it"
    assert dev["bob", "phone"].decrypt(latest) == "got it"
    # Nothing the server wrote holds the marker: the database, its journal, the log.
    s.stop()
    for root, _, files in os.walk(s.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert marker.encode() not in f.read(), name
    assert marker not in "".join(s.log_lines)
    s.start()


def test_plaintext_and_malformed_envelopes_are_refused_and_change_nothing(people):
    s, dev = people
    a = dev["alice", "phone"]
    conv = direct(a, "bob")["id"]
    status, answer, _ = s.request("POST", "/chat/send", {"recipient": "bob", "message": "hello in clear",
                                                          "client_msg_id": "p1"}, token=a.token)
    assert status == 400 and answer["error"]["code"] == "e2ee_required"
    good = json.loads(a.encrypt(conv, ["alice", "bob"], "x"))
    for broken, field in ((dict(good, v=2), "v"), (dict(good, nonce=b64(b"short")), "nonce"),
                          (dict(good, sig="!!"), "sig"), ({k: v for k, v in good.items() if k != "ct"}, "ct"),
                          (dict(good, extra=1), "extra"),
                          (dict(good, keys=[dict(good["keys"][0], ek=b64(b"x" * 31))]), "ek")):
        status, answer, _ = s.request("POST", "/chat/send", {"recipient": "bob", "client_msg_id": "b-" + field,
                                                              "message": json.dumps(broken)},
                                      token=a.token)
        assert status == 400 and answer["error"]["code"] == "bad_request", (field, answer)
        assert field in answer["error"]["message"], (field, answer)
    assert history(a, conv) == []
    # Edits take envelopes too; the edited message opens on the other side.
    sent = a.api("POST", "/chat/send", {"recipient": "bob", "message": a.encrypt(conv, ["alice", "bob"], "v1"),
                                        "client_msg_id": "e1"})
    status, answer, _ = s.request("PATCH", f"/conversations/{conv}/messages/{sent['seq']}",
                                  {"message": "v2 in clear"}, token=a.token)
    assert status == 400 and answer["error"]["code"] == "e2ee_required"
    a.api("PATCH", f"/conversations/{conv}/messages/{sent['seq']}",
          {"message": a.encrypt(conv, ["alice", "bob"], "v2", edit=True)})
    assert dev["bob", "phone"].decrypt(history(dev["bob", "phone"], conv)[-1]) == "v2"
    # A plaintext direct conversation stays plaintext: the same pair cannot get a second one.
    status, answer, _ = s.request("POST", "/conversations/direct", {"recipient": "carol"}, token=a.token)
    assert status == 200 and answer["e2ee"] is False and answer["created"] is True
    status, answer, _ = s.request("POST", "/conversations/direct", {"recipient": "carol", "e2ee": True},
                                  token=a.token)
    assert status == 409 and answer["error"]["code"] == "conflict"
    status, answer, _ = s.request("POST", "/conversations/direct", {"recipient": "bob", "e2ee": True},
                                  token=a.token)
    assert status == 200 and answer["id"] == conv and answer["created"] is False


def test_group_messages_a_removed_member_cannot_read_what_follows(people):
    s, dev = people
    members = ["alice", "bob", "carol"]
    group = dev["alice", "phone"].api("POST", "/groups/create", {"name": "secret", "members": ["bob", "carol"],
                                                                 "e2ee": True}, expect=201)
    assert group["e2ee"] is True
    conv = group["id"]
    for sender in (("alice", "phone"), ("bob", "laptop"), ("carol", "phone")):
        text = f"hello from {sender}"
        dev[sender].api("POST", f"/groups/{conv}/send", {"message": dev[sender].encrypt(conv, members, text),
                                                         "client_msg_id": f"{sender}"})
        msg = history(dev[sender], conv)[-1]
        for reader in dev:
            assert dev[reader].decrypt(msg) == text, (sender, reader)
    # Carol is removed: every remaining device starts a new sender key, for the members left.
    dev["alice", "phone"].api("DELETE", f"/groups/{conv}/remove-member", {"member": "carol"})
    dev["alice", "phone"].rotate(conv)
    after = dev["alice", "phone"].encrypt(conv, ["alice", "bob"], "carol is gone")
    dev["alice", "phone"].api("POST", f"/groups/{conv}/send", {"message": after, "client_msg_id": "after"})
    msg = history(dev["bob", "phone"], conv)[-1]
    assert dev["bob", "phone"].decrypt(msg) == "carol is gone"
    assert dev["alice", "laptop"].decrypt(msg) == "carol is gone"
    for device in ("phone", "laptop"):   # even with a copy of the message (she no longer gets one)
        with pytest.raises(CannotDecrypt):
            dev["carol", device].decrypt(msg)


def test_a_new_device_reads_what_comes_after_it_and_a_removed_one_does_not(people):
    s, dev = people
    conv = direct(dev["alice", "phone"], "bob")["id"]
    a = dev["alice", "phone"]
    a.api("POST", "/chat/send", {"recipient": "bob", "message": a.encrypt(conv, ["alice", "bob"], "before"),
                                 "client_msg_id": "1"})
    watcher = s.ws(a.token)
    tablet = Device(s, "bob", "tablet")
    assert watcher.event("devices")["user"] == "bob"   # alice learns bob's device list changed
    a.forget("bob")
    a.api("POST", "/chat/send", {"recipient": "bob", "message": a.encrypt(conv, ["alice", "bob"], "after"),
                                 "client_msg_id": "2"})
    before, after = history(tablet, conv)
    with pytest.raises(CannotDecrypt):
        tablet.decrypt(before)
    assert tablet.decrypt(after) == "after"
    # bob removes his laptop: it is gone from the directory, and alice's next key skips it.
    dev["bob", "laptop"].api("DELETE", "/keys/devices/laptop")
    assert watcher.event("devices")["user"] == "bob"
    assert set(a.fetch_devices("bob", claim=False)) == {"phone", "tablet"}
    a.forget("bob")
    a.rotate(conv)
    a.api("POST", "/chat/send", {"recipient": "bob", "message": a.encrypt(conv, ["alice", "bob"], "no laptop"),
                                 "client_msg_id": "3"})
    last = history(tablet, conv)[-1]
    assert tablet.decrypt(last) == "no laptop" and dev["bob", "phone"].decrypt(last) == "no laptop"
    with pytest.raises(CannotDecrypt):
        dev["bob", "laptop"].decrypt(last)
    watcher.close()


def test_safety_numbers_match_on_both_sides_and_change_with_a_device(people):
    s, dev = people
    a, b = dev["alice", "phone"], dev["bob", "phone"]

    def number(me, peer):
        mine = [d["identity_key"] for d in me.fetch_devices(me.user, claim=False).values()]
        theirs = [d["identity_key"] for d in me.fetch_devices(peer, claim=False).values()]
        return safety_number(me.user, mine, peer, theirs)

    first = number(a, "bob")
    assert len(first) == 60 and first.isdigit()
    assert number(b, "alice") == first
    Device(s, "bob", "tablet")
    assert number(a, "bob") != first and number(a, "bob") == number(b, "alice")


def test_the_key_directory(people):
    s, dev = people
    a = dev["alice", "phone"]
    # Each fetch hands out one one-time prekey per device, never the same twice.
    first = a.api("GET", "/keys/users/bob")["devices"]
    second = a.api("GET", "/keys/users/bob")["devices"]
    ids = {(d["device"], d["one_time_prekey"]["id"]) for d in first + second}
    assert len(ids) == 4
    # ?one_time=0 reads without taking one.
    peek = a.api("GET", "/keys/users/bob?one_time=0")["devices"]
    assert all(d["one_time_prekey"] is None for d in peek)
    mine = {d["device"]: d for d in dev["bob", "phone"].api("GET", "/keys/devices")["devices"]}
    assert mine["phone"]["one_time_prekeys"] == 6 and mine["laptop"]["one_time_prekeys"] == 6
    # Until none is left: then the device still comes, without one.
    for _ in range(6):
        a.api("GET", "/keys/users/bob")
    assert all(d["one_time_prekey"] is None for d in a.api("GET", "/keys/users/bob")["devices"])
    # Bad bundles are refused and change nothing.
    good = {"identity_key": a.identity_key, "dh_key": b64(b"\x01" * 32), "dh_signature": b64(b"\x00" * 64),
            "signed_prekey": {"id": 1, "key": b64(b"\x02" * 32), "signature": b64(b"\x00" * 64)}}
    status, answer, _ = s.request("PUT", "/keys/devices/phone", good, token=a.token)
    assert status == 400 and "signature" in answer["error"]["message"]
    for bad, field in ((dict(good, identity_key="short"), "identity_key"), (dict(good, dh_key=5), "dh_key"),
                       ({k: v for k, v in good.items() if k != "signed_prekey"}, "signed_prekey")):
        status, answer, _ = s.request("PUT", "/keys/devices/phone", bad, token=a.token)
        assert status == 400 and field in answer["error"]["message"], (field, answer)
    status, answer, _ = s.request("PUT", "/keys/devices/" + "x" * 65, good, token=a.token)
    assert status == 400
    assert a.api("GET", "/keys/users/alice?one_time=0")["devices"][0]["identity_key"] in (
        a.identity_key, dev["alice", "laptop"].identity_key)
    status, answer, _ = s.request("POST", "/keys/devices/nosuch/one-time",
                                  {"prekeys": [{"id": 1, "key": b64(b"\x03" * 32)}]}, token=a.token)
    assert status == 404
    status, answer, _ = s.request("DELETE", "/keys/devices/nosuch", token=a.token)
    assert status == 404
    status, _, _ = s.request("GET", "/keys/users/bob")
    assert status == 401
    status, answer, _ = s.request("GET", "/keys/users/nobody", token=a.token)
    assert status == 404


def test_across_a_cluster_on_postgres_and_redis(cluster):
    """The key directory and e2ee conversations on the cluster backends: devices on two nodes,
    the devices event relayed between them, a group read on both."""
    a, b = cluster(2)
    a.register("alice")
    b.register("bob")
    alice, bob = Device(a, "alice", "phone"), Device(b, "bob", "phone")
    group = alice.api("POST", "/groups/create", {"name": "x", "members": ["bob"], "e2ee": True},
                      expect=201)["id"]
    watcher = b.ws(bob.token)
    Device(a, "alice", "laptop")   # published on node a: bob, on node b, hears of it
    assert watcher.event("devices")["user"] == "alice"
    alice.forget("alice")
    alice.api("POST", f"/groups/{group}/send", {"message": alice.encrypt(group, ["alice", "bob"], "hi"),
                                               "client_msg_id": "1"})
    msg = watcher.event("message")["msg"]
    assert bob.decrypt(msg) == "hi"
    status, answer, _ = b.request("POST", f"/groups/{group}/send", {"message": "clear", "client_msg_id": "2"},
                                  token=bob.token)
    assert status == 400 and answer["error"]["code"] == "e2ee_required"
    assert [d["device"] for d in bob.api("GET", "/keys/users/alice?one_time=0")["devices"]] == ["phone", "laptop"]
    watcher.close()
