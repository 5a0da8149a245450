"""The WebSocket protocol at /ws: authentication, live delivery to every session of every
member, acks, idempotent resends, history, sync."""
import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus


def test_three_ways_to_authenticate(server):
    token = server.register("alice")["token"]
    a = server.ws(token=token)
    assert a.ok("ping")["re"] == 1
    b = server.ws(query_token=token)
    assert b.ok("ping")["ok"]
    c = server.ws()
    r = c.ok("auth", token=token)
    assert r["user"]["username"] == "alice"
    assert c.ok("ping")
    for ws in (a, b, c):
        ws.close()


def test_bad_token_at_upgrade_is_401(server):
    with pytest.raises(InvalidStatus) as e:
        server.ws(token="not-a-token")
    assert e.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as e:
        server.ws(query_token="not-a-token")
    assert e.value.response.status_code == 401


def test_ops_before_auth_and_bad_first_frame_auth(server):
    ws = server.ws()
    r = ws.request("sync")
    assert not r["ok"] and r["error"]["code"] == "unauthenticated"
    with pytest.raises(ConnectionClosed) as e:
        ws.conn.recv(timeout=5)
    assert e.value.rcvd.code == 4001

    ws = server.ws()
    r = ws.request("auth", token="forged")
    assert r["error"]["code"] == "unauthenticated"
    with pytest.raises(ConnectionClosed) as e:
        ws.conn.recv(timeout=5)
    assert e.value.rcvd.code == 4001


def test_foreign_origin_is_refused(server):
    token = server.register("alice")["token"]
    with pytest.raises(InvalidStatus) as e:
        server.ws(token=token, headers={"Origin": "https://evil.example"})
    assert e.value.response.status_code == 403
    same = server.ws(token=token, headers={"Origin": f"http://{server.base}"})
    assert same.ok("ping")
    same.close()


def test_direct_message_between_two_users_live(server):
    alice_t = server.register("alice")["token"]
    bob_t = server.register("bob")["token"]
    alice, bob = server.ws(token=alice_t), server.ws(token=bob_t)
    msg = alice.send_msg("hello bob", to="bob")
    assert msg["seq"] == 1 and msg["from"] == "alice"
    ev = bob.event("message")
    assert ev["msg"] == msg
    # The sender's own session gets the event too, so every session sees the same dense stream.
    assert alice.event("message")["msg"]["id"] == msg["id"]
    back = bob.send_msg("hi alice", conv=msg["conv"])
    assert back["seq"] == 2
    assert alice.event("message")["msg"]["body"] == "hi alice"


def test_every_session_of_every_member_receives_group_messages(server):
    tokens = {u: server.register(u)["token"] for u in ("alice", "bob", "carol")}
    gid = server.api("POST", "/groups/create", {"name": "team", "members": ["bob", "carol"]},
                     token=tokens["alice"], expect=201)["id"]
    sessions = {u: [server.ws(token=t), server.ws(token=t)] for u, t in tokens.items()}
    outsider = server.ws(token=server.register("eve")["token"])

    sent = []
    for i, user in enumerate(["alice", "bob", "carol"] * 3):
        sent.append(sessions[user][i % 2].send_msg(f"{user}-{i}", conv=gid))
    assert [m["seq"] for m in sent] == list(range(1, 10))
    for user, pair in sessions.items():
        for ws in pair:
            got = [ws.event("message", where=lambda e: e["msg"]["conv"] == gid)["msg"] for _ in sent]
            assert got == sent, user  # all of them, in seq order, exactly as acked
    # Eve saw nothing: her next frame is the reply to her own ping.
    assert outsider.ok("ping") and outsider.events == []


def test_resend_with_same_client_msg_id_is_stored_and_delivered_once(server):
    alice_t = server.register("alice")["token"]
    bob_t = server.register("bob")["token"]
    alice, bob = server.ws(token=alice_t), server.ws(token=bob_t)
    first = alice.send_msg("only once", to="bob", client_msg_id="c-1")
    again = alice.send_msg("only once", to="bob", client_msg_id="c-1")
    assert again == first
    marker = alice.send_msg("marker", to="bob")
    got = [bob.event("message")["msg"] for _ in range(2)]
    assert [m["body"] for m in got] == ["only once", "marker"]
    assert marker["seq"] == 2
    page = alice.ok("history", conv=first["conv"])
    assert [m["body"] for m in page["messages"]] == ["only once", "marker"]


def test_pipelined_sends_are_acked_in_order_with_dense_seqs(server):
    alice_t = server.register("alice")["token"]
    bob = server.ws(token=server.register("bob")["token"])
    alice = server.ws(token=alice_t)
    ids = [alice.start("send", to="bob", client_msg_id=f"p{i}", body=f"m{i}") for i in range(200)]
    frames = []  # alice's frames in arrival order: events and acks from one shard mailbox
    while not all(i in alice.replies for i in ids):
        frames.append(alice._read())
    acks = [alice.reply(i) for i in ids]
    assert all(a["ok"] for a in acks)
    assert [a["msg"]["seq"] for a in acks] == list(range(1, 201))
    assert [a["msg"]["body"] for a in acks] == [f"m{i}" for i in range(200)]
    # On the sending connection each message's event comes before the ack of its send
    # (protocol.md "When each event is sent"), and the events come in seq order.
    seen = set()
    for frame in frames:
        if frame.get("ev") == "message":
            seen.add(frame["msg"]["seq"])
        elif "re" in frame:
            assert frame["msg"]["seq"] in seen, f"the ack of seq {frame['msg']['seq']} came first"
    assert [e["msg"]["seq"] for e in alice.events if e["ev"] == "message"] == list(range(1, 201))
    assert [bob.event("message")["msg"]["seq"] for _ in ids] == list(range(1, 201))


def test_history_and_sync(server):
    alice_t = server.register("alice")["token"]
    bob_t = server.register("bob")["token"]
    alice = server.ws(token=alice_t)
    conv = None
    for i in range(1, 6):
        conv = alice.send_msg(f"m{i}", to="bob")["conv"]
    bob = server.ws(token=bob_t)
    page = bob.ok("history", conv=conv, limit=2)
    assert [m["seq"] for m in page["messages"]] == [4, 5] and page["has_more"]
    page = bob.ok("history", conv=conv, after=3)
    assert [m["seq"] for m in page["messages"]] == [4, 5] and not page["has_more"]
    page = bob.ok("history", conv=conv, before=3)
    assert [m["seq"] for m in page["messages"]] == [1, 2]
    sync = bob.ok("sync")
    (entry,) = sync["conversations"]
    assert entry["conv"] == conv and entry["last_seq"] == 5 and entry["unread"] == 5
    assert entry["read_seq"] == 0 and entry["delivered_seq"] == 0


def test_membership_events(server):
    alice_t = server.register("alice")["token"]
    bob_t = server.register("bob")["token"]
    bob = server.ws(token=bob_t)
    gid = server.api("POST", "/groups/create", {"name": "team", "members": ["bob"]},
                     token=alice_t, expect=201)["id"]
    ev = bob.event("conversation")
    assert ev == {"ev": "conversation", "conv": gid, "change": "created", "by": "alice"}
    server.api("DELETE", f"/groups/{gid}/remove-member", {"member": "bob"}, token=alice_t)
    ev = bob.event("conversation")
    assert ev["change"] == "removed" and ev["user"] == "bob"


def test_errors_keep_the_connection_open(server):
    token = server.register("alice")["token"]
    ws = server.ws(token=token)
    ws.conn.send("{not json")
    r = ws._read()
    assert r == {"re": None, "ok": False, "error": {"code": "bad_request",
                                                    "message": r["error"]["message"]}}
    r = ws.request("frobnicate")
    assert r["error"]["code"] == "unknown_op"
    ws.conn.send(json.dumps([1, 2, 3]))
    assert ws._read()["error"]["code"] == "bad_request"
    r = ws.request("send", to="nobody", client_msg_id="x", body="hi")
    assert r["error"]["code"] == "not_found"
    r = ws.request("send", to="alice", body="no client id")
    assert r["error"]["code"] == "bad_request"
    r = ws.request("history", conv=str(uuid.uuid4()))
    assert r["error"]["code"] == "not_found"
    r = ws.request("history", conv=123)
    assert r["error"]["code"] == "bad_request"
    assert ws.ok("ping")


def test_a_large_reply_is_not_mistaken_for_a_slow_consumer(server_factory):
    server = server_factory("--max-outbound-bytes", "8192")
    alice_t = server.register("alice")["token"]
    server.register("bob")
    alice = server.ws(token=alice_t)
    conv = None
    for i in range(5):
        conv = alice.send_msg("x" * 2000, to="bob")["conv"]
        alice.event("message")
    page = alice.ok("history", conv=conv)  # ~11 KB in one frame, over the 8 KiB queue bound
    assert len(page["messages"]) == 5
    assert alice.ok("ping")
