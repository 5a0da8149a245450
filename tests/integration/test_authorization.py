"""The authorization matrix (invariant 5, docs/architecture.md): a non-member is denied on every
group route and every WebSocket op, unauthenticated callers on every protected route, and nothing
changes."""
import uuid

import pytest

PROTECTED = [
    ("POST", "/auth/logout", None),
    ("GET", "/me", None),
    ("POST", "/chat/send", {"recipient": "bob", "message": "x"}),
    ("GET", "/chat/messages?recipient=bob", None),
    ("POST", "/groups/create", {"name": "x"}),
    ("GET", "/conversations", None),
]


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_protected_routes_need_a_token(server, method, path, body):
    status, data, _ = server.request(method, path, body)
    assert status == 401 and data["error"]["code"] == "unauthenticated"


def group_routes(gid):
    return [
        ("GET", f"/groups/{gid}", None),
        ("PUT", f"/groups/{gid}/add-member", {"member": "eve"}),
        ("DELETE", f"/groups/{gid}/remove-member", {"member": "bob"}),
        ("POST", f"/groups/{gid}/send", {"message": "intrusion"}),
        ("GET", f"/groups/{gid}/messages", None),
        ("GET", f"/conversations/{gid}/messages", None),
    ]


def test_non_member_is_denied_everywhere(server):
    alice = server.register("alice")["token"]
    server.register("bob")
    eve = server.register("eve")["token"]
    gid = server.api("POST", "/groups/create", {"name": "team", "members": ["bob"]},
                     token=alice, expect=201)["id"]
    server.api("POST", f"/groups/{gid}/send", {"message": "secret"}, token=alice)
    dm = server.api("POST", "/chat/send", {"recipient": "bob", "message": "private"}, token=alice)

    for method, path, body in group_routes(gid) + [("GET", f"/conversations/{dm['conv']}/messages", None)]:
        status, data, _ = server.request(method, path, body, token=eve)
        assert status == 403, (method, path, status, data)
        assert data["error"]["code"] == "not_member"

    ws = server.ws(token=eve)
    for op, fields in (("send", {"conv": gid, "client_msg_id": "e1", "body": "x"}),
                       ("send", {"conv": dm["conv"], "client_msg_id": "e2", "body": "x"}),
                       ("history", {"conv": gid}),
                       ("history", {"conv": dm["conv"]})):
        r = ws.request(op, **fields)
        assert not r["ok"] and r["error"]["code"] == "not_member", (op, r)
    assert ws.ok("sync")["conversations"] == []
    assert ws.events == []

    # Nothing eve did changed anything.
    page = server.api("GET", f"/groups/{gid}/messages", token=alice)
    assert [m["body"] for m in page["messages"]] == ["secret"]
    group = server.api("GET", f"/groups/{gid}", token=alice)
    assert {m["username"] for m in group["members"]} == {"alice", "bob"}


def test_unknown_group_is_404_everywhere(server):
    alice = server.register("alice")["token"]
    for gid in (str(uuid.uuid4()), "not-a-uuid"):
        for method, path, body in group_routes(gid) + [("POST", f"/groups/{gid}/join", {"passcode": "x"})]:
            status, data, _ = server.request(method, path, body, token=alice)
            assert status == 404, (method, path, status, data)


def test_direct_conversation_is_not_a_group(server):
    alice = server.register("alice")["token"]
    server.register("bob")
    dm = server.api("POST", "/chat/send", {"recipient": "bob", "message": "hi"}, token=alice)
    for method, path, body in group_routes(dm["conv"]):
        if not path.startswith("/groups/"):
            continue
        status, _, _ = server.request(method, path, body, token=alice)
        assert status == 404, (method, path)
