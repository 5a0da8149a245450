"""Acked means durable (DESIGN.md §2.1): data survives a clean restart, and every message acked
before a kill -9 is there afterwards, once, with dense seqs."""
import signal


def test_restart_keeps_data_and_tokens(server):
    login = server.register("alice")
    server.register("bob")
    alice = login["token"]
    sent = [server.api("POST", "/chat/send", {"recipient": "bob", "message": f"m{i}"}, token=alice)
            for i in range(5)]
    gid = server.api("POST", "/groups/create", {"name": "team", "members": ["bob"]},
                     token=alice, expect=201)["id"]
    assert server.stop() == 0
    assert any("event=stopped" in line for line in server.log_lines)

    server.start()
    # The signing key lives in the data directory: tokens issued before the restart still work.
    page = server.api("GET", "/chat/messages?recipient=bob", token=alice)
    assert page["messages"] == sent
    group = server.api("GET", f"/groups/{gid}", token=alice)
    assert {m["username"] for m in group["members"]} == {"alice", "bob"}
    nxt = server.api("POST", "/chat/send", {"recipient": "bob", "message": "after"}, token=alice)
    assert nxt["seq"] == 6
    assert server.api("POST", "/auth/refresh", {"refresh_token": login["refresh_token"]})


def test_kill_9_after_a_burst_loses_no_acked_message(server):
    alice_t = server.register("alice")["token"]
    server.register("bob")
    gid = server.api("POST", "/groups/create", {"name": "g", "members": ["bob"]},
                     token=alice_t, expect=201)["id"]
    ws = server.ws(token=alice_t)
    # A burst of pipelined sends into two conversations; collect every ack, then kill -9 at once.
    ids = []
    for i in range(300):
        target = {"to": "bob"} if i % 2 else {"conv": gid}
        ids.append(ws.start("send", client_msg_id=f"burst-{i}", body=f"b{i}", **target))
    acks = [ws.reply(i) for i in ids]
    assert all(a["ok"] for a in acks)
    server.stop(signal.SIGKILL)

    server.start()
    acked = {a["msg"]["id"]: a["msg"] for a in acks}
    by_conv = {}
    for m in acked.values():
        by_conv.setdefault(m["conv"], []).append(m)
    for conv, msgs in by_conv.items():
        stored = []
        after = 0
        while True:
            page = server.api("GET", f"/conversations/{conv}/messages?after={after}&limit=200",
                              token=alice_t)
            stored += page["messages"]
            if not page["has_more"]:
                break
            after = stored[-1]["seq"]
        assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))  # dense
        stored_by_id = {m["id"]: m for m in stored}
        for m in msgs:
            assert stored_by_id.get(m["id"]) == m  # every acked message, exactly as acked
        assert len(stored_by_id) == len(stored)  # no duplicates

    # Retrying any acked client_msg_id returns the original instead of storing it again.
    ws = server.ws(token=alice_t)
    again = ws.ok("send", conv=gid, client_msg_id="burst-0", body="b0")["msg"]
    assert again == acks[0]["msg"]
