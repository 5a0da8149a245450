"""Acked means durable (invariant 1, docs/architecture.md): data survives a clean restart, and every
message acked before a kill -9 is there afterwards, once, with dense seqs."""
import os
import signal
import sqlite3


def stored_messages(server, conv, token):
    """Every message of a conversation, page by page; asserts that their seqs are dense."""
    stored, after = [], 0
    while True:
        page = server.api("GET", f"/conversations/{conv}/messages?after={after}&limit=200",
                          token=token)
        stored += page["messages"]
        if not page["has_more"]:
            break
        after = stored[-1]["seq"]
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))  # dense
    return stored


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
        stored = stored_messages(server, conv, alice_t)
        stored_by_id = {m["id"]: m for m in stored}
        for m in msgs:
            assert stored_by_id.get(m["id"]) == m  # every acked message, exactly as acked
        assert len(stored_by_id) == len(stored)  # no duplicates

    # Retrying any acked client_msg_id returns the original instead of storing it again.
    ws = server.ws(token=alice_t)
    again = ws.ok("send", conv=gid, client_msg_id="burst-0", body="b0")["msg"]
    assert again == acks[0]["msg"]


def test_sends_fail_with_unavailable_while_the_inbox_cannot_be_moved(server_factory):
    """What waits to be moved into the database is bounded (--inbox-max-unmoved-mib): while
    moves cannot happen (here another process holds the database's write lock; a full disk
    does the same), sends are acked up to the bound, then fail with `unavailable`, and a retry
    of one with the same client_msg_id succeeds once moves work again, stored once."""
    server = server_factory("--inbox-max-unmoved-mib", "1")
    alice = server.register("alice")["token"]
    server.register("bob")
    ws = server.ws(token=alice)
    ws.ok("send", to="bob", client_msg_id="first", body="hello")
    blocker = sqlite3.connect(os.path.join(server.data_dir, "parley.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    body = "x" * 8000
    acked, refused = [], None
    for i in range(400):  # 1 MiB of records is ~95 of these, sealed (base64: 4/3 the bytes)
        reply = ws.reply(ws.start("send", to="bob", client_msg_id=f"big-{i}", body=body))
        if not reply["ok"]:
            refused = (f"big-{i}", reply)
            break
        acked.append(reply["msg"])
    assert refused is not None and refused[1]["error"]["code"] == "unavailable"
    assert 60 < len(acked) < 200
    server.wait_log("event=inbox_full")

    blocker.execute("ROLLBACK")
    blocker.close()
    server.wait_log("event=inbox_caught_up")  # the mover's next attempt moved them
    retry = ws.ok("send", to="bob", client_msg_id=refused[0], body=body)["msg"]
    assert retry["seq"] == len(acked) + 2  # "first", the acked ones, then this: no gap
    page = server.api("GET", "/chat/messages?recipient=bob&limit=500", token=alice)
    assert [m["seq"] for m in page["messages"]] == list(range(1, len(acked) + 3))
    assert page["messages"][1:-1] == acked


def test_kill_9_in_the_middle_of_a_stream_of_sends_three_times_in_a_row(server):
    """A stream of pipelined sends is cut by kill -9 while 64 are in flight — mid-commit, and
    with the journal, the mover and its moves in whatever state they are — three times, each
    time after recovering from the last. Every ack the client read holds afterwards, exactly
    as acked; every send left unanswered is retried with its client_msg_id and then stored
    once (invariants 1 and 2, docs/architecture.md): some of them were committed before the kill and
    come back as the original, the rest are stored now; seqs stay dense."""
    alice = server.register("alice")["token"]
    server.register("bob")
    gid = server.api("POST", "/groups/create", {"name": "g", "members": ["bob"]},
                     token=alice, expect=201)["id"]

    def send(ws, cid):  # a retry goes to the conversation of the original, with its body
        target = {"to": "bob"} if int(cid.split("-")[1]) % 2 else {"conv": gid}
        return ws.start("send", client_msg_id=cid, body=cid, **target)

    acked, unanswered, next_id = {}, [], 0
    for crash in range(4):
        ws = server.ws(token=alice)
        in_flight = {}

        def start(cid):
            in_flight[send(ws, cid)] = cid

        for cid in unanswered:  # answered by the recovered server: the original or a new store
            reply = ws.reply(send(ws, cid))
            assert reply["ok"], reply
            assert acked.setdefault(cid, reply["msg"]) == reply["msg"]
        if crash == 3:
            break
        acked_this_round = 0
        while len(in_flight) < 64:
            start(f"m-{next_id}"); next_id += 1
        while acked_this_round < 1500:
            frame = ws._read()
            if "re" not in frame:
                ws.events.clear()  # the sender's own copies of its messages
                continue
            del ws.replies[frame["re"]]
            cid = in_flight.pop(frame["re"])
            assert frame["ok"], frame
            acked[cid] = frame["msg"]
            acked_this_round += 1
            start(f"m-{next_id}"); next_id += 1
        # 64 more at once, and the kill right after them: the server may have answered the 64
        # in flight already (their acks unread in the socket), never these too.
        for _ in range(64):
            start(f"m-{next_id}"); next_id += 1
        server.kill()  # SIGKILL with 64 to 128 sends in flight
        try:  # acks the server wrote before it died may still be readable
            while True:
                frame = ws._read(timeout=5)
                if frame.get("re") in in_flight and frame["ok"]:
                    acked[in_flight.pop(frame["re"])] = frame["msg"]
        except Exception:
            pass
        unanswered = sorted(in_flight.values())
        assert unanswered, "the kill should cut the stream with sends in flight"
        server.start()

    for conv in {m["conv"] for m in acked.values()}:
        stored = stored_messages(server, conv, alice)
        assert sorted(m["client_msg_id"] for m in stored) == \
            sorted(cid for cid, m in acked.items() if m["conv"] == conv)  # each once, none extra
        for m in stored:
            assert m == acked[m["client_msg_id"]]  # exactly as acked
