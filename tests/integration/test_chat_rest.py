"""One-on-one and group chat over REST: sending, paging, conversations, membership."""
import pytest


def test_direct_messages_and_paging(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    sent = [server.api("POST", "/chat/send", {"recipient": "bob", "message": f"m{i}"}, token=alice)
            for i in range(1, 8)]
    assert [m["seq"] for m in sent] == list(range(1, 8))
    m = sent[0]
    assert set(m) == {"id", "conv", "seq", "from", "body", "attachments", "reply_to",
                      "client_msg_id", "ts"}
    assert m["from"] == "alice" and m["body"] == "m1" and m["attachments"] == []
    assert m["ts"].endswith("Z") and len(m["ts"]) == 24

    page = server.api("GET", "/chat/messages?recipient=alice&limit=3", token=bob)
    assert [x["seq"] for x in page["messages"]] == [5, 6, 7] and page["has_more"]
    page = server.api("GET", "/chat/messages?recipient=alice&limit=3&before=5", token=bob)
    assert [x["seq"] for x in page["messages"]] == [2, 3, 4] and page["has_more"]
    page = server.api("GET", "/chat/messages?recipient=alice&before=2", token=bob)
    assert [x["seq"] for x in page["messages"]] == [1] and not page["has_more"]
    page = server.api("GET", "/chat/messages?recipient=alice&after=5", token=bob)
    assert [x["body"] for x in page["messages"]] == ["m6", "m7"] and not page["has_more"]

    # Bob answers in the same conversation.
    reply = server.api("POST", "/chat/send", {"recipient": "alice", "message": "hi", "reply_to": 7},
                       token=bob)
    assert reply["conv"] == m["conv"] and reply["seq"] == 8 and reply["reply_to"] == 7


def test_direct_errors(server):
    alice = server.register("alice")["token"]
    server.register("bob")
    status, data, _ = server.request("POST", "/chat/send", {"recipient": "nobody", "message": "x"},
                                     token=alice)
    assert status == 404 and data["error"]["code"] == "not_found"
    status, _, _ = server.request("GET", "/chat/messages?recipient=nobody", token=alice)
    assert status == 404
    status, _, _ = server.request("GET", "/chat/messages", token=alice)
    assert status == 400
    status, _, _ = server.request("GET", "/chat/messages?recipient=bob&limit=ten", token=alice)
    assert status == 400
    # No message yet: an empty page, not an error.
    page = server.api("GET", "/chat/messages?recipient=bob", token=alice)
    assert page == {"messages": [], "has_more": False, "receipts": []}


def test_rest_send_is_idempotent_with_client_msg_id(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    body = {"recipient": "bob", "message": "once", "client_msg_id": "retry-1"}
    first = server.api("POST", "/chat/send", body, token=alice)
    again = server.api("POST", "/chat/send", {**body, "message": "changed"}, token=alice)
    assert again == first
    page = server.api("GET", "/chat/messages?recipient=alice", token=bob)
    assert [m["body"] for m in page["messages"]] == ["once"]


def test_groups_lifecycle(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    carol = server.register("carol")["token"]
    dave = server.register("dave")["token"]

    group = server.api("POST", "/groups/create", {"name": "team", "members": ["bob"]},
                       token=alice, expect=201)
    gid = group["id"]
    assert group["name"] == "team" and group["kind"] == "group"
    assert {(m["username"], m["role"]) for m in group["members"]} == {("alice", "owner"),
                                                                      ("bob", "member")}
    # Only the owner/admins add members.
    status, data, _ = server.request("PUT", f"/groups/{gid}/add-member", {"member": "carol"},
                                     token=bob)
    assert status == 403 and data["error"]["code"] == "forbidden"
    group = server.api("PUT", f"/groups/{gid}/add-member", {"member": "carol"}, token=alice)
    assert len(group["members"]) == 3
    status, _, _ = server.request("PUT", f"/groups/{gid}/add-member", {"member": "carol"}, token=alice)
    assert status == 409
    status, _, _ = server.request("PUT", f"/groups/{gid}/add-member", {"member": "nobody"}, token=alice)
    assert status == 404

    for token, text in ((alice, "a1"), (bob, "b1"), (carol, "c1")):
        server.api("POST", f"/groups/{gid}/send", {"message": text}, token=token)
    page = server.api("GET", f"/groups/{gid}/messages", token=carol)
    assert [(m["from"], m["body"], m["seq"]) for m in page["messages"]] == [
        ("alice", "a1", 1), ("bob", "b1", 2), ("carol", "c1", 3)]

    # A member cannot remove another; a member can leave.
    status, _, _ = server.request("DELETE", f"/groups/{gid}/remove-member", {"member": "bob"},
                                  token=carol)
    assert status == 403
    server.api("DELETE", f"/groups/{gid}/remove-member", {"member": "carol"}, token=carol)
    status, _, _ = server.request("GET", f"/groups/{gid}/messages", token=carol)
    assert status == 403
    # The owner removes bob.
    server.api("DELETE", f"/groups/{gid}/remove-member", {"member": "bob"}, token=alice)
    status, _, _ = server.request("POST", f"/groups/{gid}/send", {"message": "x"}, token=bob)
    assert status == 403
    # Dave never belonged.
    status, _, _ = server.request("GET", f"/groups/{gid}", token=dave)
    assert status == 403


def test_group_create_validates_and_changes_nothing_on_error(server):
    alice = server.register("alice")["token"]
    for body in ({"members": []}, {"name": ""}, {"name": "x", "members": "bob"},
                 {"name": "x", "members": [1]}):
        status, _, _ = server.request("POST", "/groups/create", body, token=alice)
        assert status == 400, body
    status, _, _ = server.request("POST", "/groups/create", {"name": "x", "members": ["ghost"]},
                                  token=alice)
    assert status == 404
    assert server.api("GET", "/conversations", token=alice)["conversations"] == []


def test_join_by_passcode(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    gid = server.api("POST", "/groups/create", {"name": "club", "members": [], "passcode": "open-sesame"},
                     token=alice, expect=201)["id"]
    closed = server.api("POST", "/groups/create", {"name": "closed"}, token=alice, expect=201)["id"]
    status, _, _ = server.request("POST", f"/groups/{gid}/join", {"passcode": "wrong"}, token=bob)
    assert status == 403
    status, _, _ = server.request("POST", f"/groups/{closed}/join", {"passcode": ""}, token=bob)
    assert status == 403
    group = server.api("POST", f"/groups/{gid}/join", {"passcode": "open-sesame"}, token=bob)
    assert "bob" in {m["username"] for m in group["members"]}
    server.api("POST", f"/groups/{gid}/send", {"message": "joined"}, token=bob)


def test_conversations_list_unread_and_last_message(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    server.register("carol")
    server.api("POST", "/chat/send", {"recipient": "bob", "message": "hi bob"}, token=alice)
    server.api("POST", "/chat/send", {"recipient": "bob", "message": "you there?"}, token=alice)
    gid = server.api("POST", "/groups/create", {"name": "team", "members": ["bob", "carol"]},
                     token=alice, expect=201)["id"]
    server.api("POST", f"/groups/{gid}/send", {"message": "welcome"}, token=alice)

    convs = server.api("GET", "/conversations", token=bob)["conversations"]
    assert [c["kind"] for c in convs] == ["group", "direct"]  # most recent activity first
    group, direct = convs
    assert group["conv"] == gid and group["unread"] == 1 and group["last_seq"] == 1
    assert group["last_message"]["body"] == "welcome"
    assert direct["peer"] == "alice" and direct["unread"] == 2
    assert direct["last_message"]["body"] == "you there?"
    # Alice's own messages are not unread for her.
    assert all(c["unread"] == 0 for c in server.api("GET", "/conversations", token=alice)["conversations"])


@pytest.mark.parametrize("path", ["/nope", "/groups", "/chat"])
def test_unknown_routes_are_404(server, path):
    status, data, _ = server.request("GET", path)
    assert status == 404 and data["error"]["code"] == "not_found"


def test_wrong_method_is_405(server):
    status, _, headers = server.request("GET", "/auth/login")
    assert status == 405 and headers["Allow"] == "POST"
