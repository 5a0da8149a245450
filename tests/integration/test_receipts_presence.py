"""Receipts, typing, presence and last seen, edits and deletes (issue: receipts, presence…)."""
import time

import pytest


@pytest.fixture
def fast_server(server_factory):
    # A short grace period so offline announcements come quickly; typing limited to 1/300 ms.
    return server_factory("--presence-grace-ms", "200", "--typing-interval-ms", "300")


def setup_group(server, *users):
    tokens = {u: server.register(u)["token"] for u in users}
    gid = server.api("POST", "/groups/create", {"name": "team", "members": list(users[1:])},
                     token=tokens[users[0]], expect=201)["id"]
    return tokens, gid


def test_receipts_move_forward_only_and_are_announced(server):
    tokens, gid = setup_group(server, "alice", "bob", "carol")
    alice, bob = server.ws(token=tokens["alice"]), server.ws(token=tokens["bob"])
    for i in range(3):
        alice.send_msg(f"m{i}", conv=gid)

    r = bob.ok("delivered", conv=gid, seq=3)
    assert (r["delivered_seq"], r["read_seq"]) == (3, 0)
    ev = alice.event("receipt")
    assert ev == {"ev": "receipt", "conv": gid, "user": "bob", "delivered_seq": 3, "read_seq": 0}
    r = bob.ok("read", conv=gid, seq=2)
    assert (r["delivered_seq"], r["read_seq"]) == (3, 2)
    assert alice.event("receipt")["read_seq"] == 2
    # Lower values change nothing and announce nothing; values past the end are clamped.
    assert bob.ok("read", conv=gid, seq=1)["read_seq"] == 2
    assert bob.ok("read", conv=gid, seq=99)["read_seq"] == 3
    assert alice.event("receipt")["read_seq"] == 3
    assert [e for e in alice.events if e["ev"] == "receipt"] == []  # the ignored one sent nothing

    # REST equivalent, for carol.
    cur = server.api("POST", f"/conversations/{gid}/read", {"seq": 1}, token=tokens["carol"])
    assert cur == {"conv": gid, "delivered_seq": 1, "read_seq": 1}
    # History carries every member's cursors: "delivered to all" and "read by N of M".
    page = alice.ok("history", conv=gid)
    receipts = {r["user"]: (r["delivered_seq"], r["read_seq"]) for r in page["receipts"]}
    assert receipts == {"alice": (0, 0), "bob": (3, 3), "carol": (1, 1)}
    # Sync reflects the reader's own cursor and unread count.
    (entry,) = server.api("GET", "/sync", token=tokens["bob"])["conversations"]
    assert (entry["read_seq"], entry["unread"]) == (3, 0)
    (entry,) = server.api("GET", "/sync", token=tokens["carol"])["conversations"]
    assert (entry["read_seq"], entry["unread"]) == (1, 2)


def test_receipt_errors(server):
    tokens, gid = setup_group(server, "alice", "bob")
    eve = server.register("eve")["token"]
    status, data, _ = server.request("POST", f"/conversations/{gid}/read", {"seq": 1}, token=eve)
    assert status == 403 and data["error"]["code"] == "not_member"
    ws = server.ws(token=tokens["bob"])
    assert ws.request("read", conv=gid)["error"]["code"] == "bad_request"
    assert ws.request("read", conv=gid, seq=-1)["error"]["code"] == "bad_request"
    assert ws.request("read", conv=gid, seq="x")["error"]["code"] == "bad_request"


def test_typing_goes_to_the_others_rate_limited_and_is_not_stored(fast_server):
    server = fast_server
    tokens, gid = setup_group(server, "alice", "bob")
    alice, bob = server.ws(token=tokens["alice"]), server.ws(token=tokens["bob"])
    eve = server.ws(token=server.register("eve")["token"])
    assert alice.ok("typing", conv=gid)["sent"] is True
    assert bob.event("typing") == {"ev": "typing", "conv": gid, "user": "alice"}
    assert alice.ok("typing", conv=gid)["sent"] is False  # within the interval: dropped
    assert eve.request("typing", conv=gid)["error"]["code"] == "not_member"
    # The typer does not hear itself, and nothing was stored.
    marker = alice.send_msg("marker", conv=gid)
    assert bob.event("message")["msg"]["id"] == marker["id"]
    assert [e for e in bob.events if e["ev"] == "typing"] == []
    assert [e for e in alice.events if e["ev"] == "typing"] == []
    assert [m["body"] for m in alice.ok("history", conv=gid)["messages"]] == ["marker"]


def test_presence_multi_tab_and_last_seen(fast_server):
    server = fast_server
    tokens, gid = setup_group(server, "alice", "bob")
    stranger = server.register("stranger")["token"]
    watcher = server.ws(token=tokens["alice"])
    outsider = server.ws(token=stranger)

    tab1 = server.ws(token=tokens["bob"])
    assert watcher.event("presence") == {"ev": "presence", "user": "bob", "online": True,
                                         "last_seen": None}
    tab2 = server.ws(token=tokens["bob"])
    tab1.close()
    # Still online: a tab is left.
    assert server.api("GET", "/users/bob/presence", token=tokens["alice"])["online"] is True
    tab2.close()
    ev = watcher.event("presence", timeout=5)
    assert ev["user"] == "bob" and ev["online"] is False and ev["last_seen"].endswith("Z")
    info = server.api("GET", "/users/bob/presence", token=tokens["alice"])
    assert info == {"user": "bob", "online": False, "last_seen": ev["last_seen"]}
    # Only users who share a conversation hear about it or may ask.
    assert outsider.ok("ping") and [e for e in outsider.events if e["ev"] == "presence"] == []
    status, _, _ = server.request("GET", "/users/bob/presence", token=stranger)
    assert status == 403
    status, _, _ = server.request("GET", "/users/nobody/presence", token=stranger)
    assert status == 404

    # last_seen is persisted (batched, written at shutdown at the latest).
    server.restart()
    assert server.api("GET", "/users/bob/presence", token=tokens["alice"])["last_seen"] == ev["last_seen"]
    assert server.api("GET", "/me", token=tokens["bob"])["user"]["last_seen"] == ev["last_seen"]


def test_reconnect_within_the_grace_period_is_invisible(server_factory):
    server = server_factory("--presence-grace-ms", "2000")
    tokens, gid = setup_group(server, "alice", "bob")
    watcher = server.ws(token=tokens["alice"])
    bob = server.ws(token=tokens["bob"])
    assert watcher.event("presence")["online"] is True
    bob.close()
    bob = server.ws(token=tokens["bob"])  # a page reload
    # A later event proves the ordering: nothing about bob came in between.
    server.api("POST", f"/groups/{gid}/send", {"message": "after reload"}, token=tokens["bob"])
    watcher.event("message")
    assert [e for e in watcher.events if e["ev"] == "presence"] == []
    assert server.api("GET", "/users/bob/presence", token=tokens["alice"])["online"] is True


def test_edit_delete_reply(server):
    tokens, gid = setup_group(server, "alice", "bob")
    alice, bob = server.ws(token=tokens["alice"]), server.ws(token=tokens["bob"])
    first = alice.send_msg("helo", conv=gid)
    reply = bob.send_msg("what?", conv=gid, reply_to=first["seq"])
    assert reply["reply_to"] == 1
    for ws in (alice, bob):
        ws.event("message")
        ws.event("message")

    edited = alice.ok("edit", conv=gid, seq=1, body="hello")["msg"]
    assert edited["body"] == "hello" and edited["edited_at"] and edited["rev"] == 1
    assert bob.event("message_updated")["msg"] == edited
    # Only the sender may edit or delete.
    assert bob.request("edit", conv=gid, seq=1, body="hacked")["error"]["code"] == "forbidden"
    assert bob.request("delete", conv=gid, seq=1)["error"]["code"] == "forbidden"
    assert alice.request("edit", conv=gid, seq=9, body="x")["error"]["code"] == "not_found"

    gone = alice.ok("delete", conv=gid, seq=1)["msg"]
    assert gone["deleted"] is True and gone["body"] is None and gone["rev"] == 2
    assert bob.event("message_updated")["msg"] == gone
    assert alice.request("edit", conv=gid, seq=1, body="back")["error"]["code"] == "conflict"

    # History keeps the tombstone in place; changes since rev 0 list both revisions' result.
    page = bob.ok("history", conv=gid)
    assert [(m["seq"], m["body"]) for m in page["messages"]] == [(1, None), (2, "what?")]
    changes = bob.ok("history", conv=gid, changed_after=0)
    assert [(m["seq"], m["rev"]) for m in changes["messages"]] == [(1, 2)]
    (entry,) = server.api("GET", "/sync", token=tokens["bob"])["conversations"]
    assert entry["last_rev"] == 2
    # REST edit and delete for bob's own message.
    m = server.api("PATCH", f"/conversations/{gid}/messages/2", {"message": "what??"}, token=tokens["bob"])
    assert m["body"] == "what??"
    m = server.api("DELETE", f"/conversations/{gid}/messages/2", token=tokens["bob"])
    assert m["deleted"] is True
    page = server.api("GET", f"/conversations/{gid}/changes?after=2", token=tokens["alice"])
    assert [(x["seq"], x["rev"]) for x in page["messages"]] == [(2, 4)]
