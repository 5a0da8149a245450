"""Several nodes on one PostgreSQL and one Redis (--bus redis://…): users on different nodes
talk in real time, and what one node changes in memory (membership, logouts) reaches the
others. Real servers, started by scripts/run-tests with scripts/services."""
import os
import subprocess

import pytest
from conftest import MASTER_KEY, PARLEY_BIN, ROOT
from websockets.exceptions import ConnectionClosed


def test_users_on_two_nodes_exchange_direct_and_group_messages_live(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]      # another node, the same database
    carol = a.register("carol")["token"]
    wa, wb, wc = a.ws(token=alice), b.ws(token=bob), a.ws(token=carol)

    sent = wa.send_msg("hi bob", to="bob")
    got = wb.event("message")["msg"]
    assert (got["id"], got["seq"], got["from"]) == (sent["id"], 1, "alice")
    reply = wb.send_msg("hi alice", to="alice")
    assert wa.event("message", where=lambda e: e["msg"]["from"] == "bob")["msg"]["id"] == reply["id"]

    gid = a.api("POST", "/groups/create", {"name": "team", "members": ["bob", "carol"]},
                token=alice, expect=201)["id"]
    from_b = wb.send_msg("to the team", conv=gid)  # bob's node learns the group from the store
    for w in (wa, wc):
        e = w.event("message", where=lambda e: e["msg"]["conv"] == gid)
        assert e["msg"]["id"] == from_b["id"]


def test_a_member_added_on_one_node_can_send_at_once_on_another(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    dave = b.register("dave")["token"]
    gid = a.api("POST", "/groups/create", {"name": "g", "members": []}, token=alice, expect=201)["id"]
    wd = b.ws(token=dave)
    # Node b caches the members (alice only): dave is refused.
    assert wd.request("send", conv=gid, body="let me in", client_msg_id="d1")["error"]["code"] in (
        "not_member", "forbidden")
    a.api("PUT", f"/groups/{gid}/add-member", {"member": "dave"}, token=alice)
    wa = a.ws(token=alice)
    # The cluster notice (drop the cached members) goes out before dave's own "added" event,
    # on the same Redis connection: once dave hears it, node b knows.
    assert wd.event("conversation")["change"] == "added"
    msg = wd.send_msg("hello", conv=gid)
    assert wa.event("message")["msg"]["id"] == msg["id"]


def test_a_member_added_on_another_node_gets_the_group_live_and_stops_when_removed(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    carol = b.register("carol")["token"]
    gid = a.api("POST", "/groups/create", {"name": "g", "members": []}, token=alice, expect=201)["id"]
    wa, wc = a.ws(token=alice), b.ws(token=carol)
    # Node b has nobody in the group: it does not listen to it. Adding carol makes it listen
    # before carol hears of it, so the very next message reaches her.
    a.api("PUT", f"/groups/{gid}/add-member", {"member": "carol"}, token=alice)
    assert wc.event("conversation")["change"] == "added"
    first = wa.send_msg("welcome", conv=gid)
    assert wc.event("message")["msg"]["id"] == first["id"]

    a.api("DELETE", f"/groups/{gid}/remove-member", {"member": "carol"}, token=alice)
    assert wc.event("conversation")["change"] == "removed"
    wa.send_msg("carol is gone", conv=gid)
    marker = wa.send_msg("psst", to="carol")  # published after the group message
    got = wc.event("message")["msg"]
    assert got["id"] == marker["id"], got  # the group message never came


def test_logout_on_one_node_closes_that_session_on_another_and_refuses_its_token(cluster):
    a, b = cluster(2)
    login = a.register("alice")
    ws_on_b = b.ws(token=login["token"])
    assert ws_on_b.ok("ping")
    a.api("POST", "/auth/logout", {}, token=login["token"])
    assert ws_on_b.event("session")["change"] == "revoked"
    with pytest.raises(ConnectionClosed) as e:
        ws_on_b.ok("ping")
    assert e.value.rcvd.code == 4001
    status, _, _ = b.request("GET", "/me", token=login["token"])
    assert status == 401


def test_ending_a_device_session_or_all_of_them_closes_them_on_every_node(cluster):
    a, b = cluster(2)
    laptop = a.register("alice")
    phone = b.login("alice")
    tablet = b.login("alice")
    phone_on_a, tablet_on_a = a.ws(token=phone["token"]), a.ws(token=tablet["token"])
    laptop_on_b = b.ws(token=laptop["token"])
    # From the laptop, on node a, end the phone's session (which signed in on node b): its
    # socket closes, and the others stay.
    sessions = a.api("GET", "/auth/sessions", token=laptop["token"])["sessions"]
    assert len(sessions) == 3  # one database: every node lists every session
    phone_id = next(s["id"] for s in b.api("GET", "/auth/sessions", token=phone["token"])["sessions"]
                    if s["current"])
    a.api("DELETE", f"/auth/sessions/{phone_id}", token=laptop["token"])
    assert phone_on_a.event("session")["change"] == "revoked"
    with pytest.raises(ConnectionClosed):
        phone_on_a.ok("ping")
    assert tablet_on_a.ok("ping") and laptop_on_b.ok("ping")
    # Logout everywhere from node b: the sockets on both nodes close.
    b.api("POST", "/auth/logout-all", token=tablet["token"])
    for ws in (tablet_on_a, laptop_on_b):
        assert ws.event("session")["change"] == "revoked"
        with pytest.raises(ConnectionClosed):
            ws.ok("ping")
    assert a.request("GET", "/me", token=laptop["token"])[0] == 401


def test_after_a_redis_restart_sessions_are_told_to_resync_and_live_delivery_resumes(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]
    wa, wb = a.ws(token=alice), b.ws(token=bob)
    services = os.path.join(ROOT, "scripts", "services")
    subprocess.run([services, "stop", "redis"], check=True, capture_output=True)
    try:
        # Redis is down: the send is still acked (durable in PostgreSQL), bob just misses it live.
        missed = wa.send_msg("while redis was down", to="bob")
    finally:
        subprocess.run([services, "start", "redis"], check=True, capture_output=True)
    # Both nodes reconnect and tell their sessions to sync, which finds the missed message.
    assert wb.event("resync") == {"ev": "resync"}
    assert wa.event("resync") == {"ev": "resync"}
    state = wb.ok("sync")
    conv = next(c for c in state["conversations"] if c["conv"] == missed["conv"])
    assert conv["last_seq"] == missed["seq"]
    after = wa.send_msg("and after", to="bob")
    assert wb.event("message", where=lambda e: e["msg"]["id"] == after["id"])


def test_presence_is_one_across_nodes_online_at_the_first_offline_at_the_last(cluster):
    a, b = cluster(2, args=("--presence-grace-ms", "100"))
    alice = a.register("alice")["token"]
    bob = a.register("bob")
    a.api("POST", "/chat/send", {"recipient": "bob", "message": "hi"}, token=alice)
    watcher = a.ws(token=alice)

    on_b = b.ws(token=bob["token"])  # bob's first session anywhere: announced, via Redis
    assert watcher.event("presence") == {"ev": "presence", "user": "bob", "online": True,
                                         "last_seen": None}
    on_a = a.ws(token=bob["token"])  # a second node: it finds bob online on b, says nothing
    a.wait_log(f"user={bob['user']['id']} online=true announced=false")
    on_b.close()                     # b loses him after the grace period; a still has him
    b.wait_log(f"user={bob['user']['id']} online=false announced=false")
    assert b.api("GET", "/users/bob/presence", token=alice)["online"] is True  # a's session

    on_a.close()                     # the last one: offline, once
    ev = watcher.event("presence")
    assert (ev["online"], ev["last_seen"] is not None) == (False, True)
    # Any node answers with the time the last session closed, before the store has it.
    assert b.api("GET", "/users/bob/presence", token=alice) == {
        "user": "bob", "online": False, "last_seen": ev["last_seen"]}
    marker = a.api("POST", "/chat/send", {"recipient": "alice", "message": "after"},
                   token=bob["token"])
    watcher.event("message", where=lambda e: e["msg"]["id"] == marker["id"])
    assert [e for e in watcher.events if e["ev"] == "presence"] == []  # nothing more about bob


# ---- the message log on Kafka (--log kafka://…): every node sequences the partitions it owns

def test_the_users_of_a_node_killed_are_announced_offline_by_another(cluster):
    # Heartbeats every 200 ms: a node silent for 600 ms counts as dead.
    a, b = cluster(2, args=("--presence-heartbeat-ms", "200"))
    alice = a.register("alice")["token"]
    bob = b.register("bob")
    carol = b.register("carol")
    for peer in ("bob", "carol"):
        a.api("POST", "/chat/send", {"recipient": peer, "message": "hi"}, token=alice)
    watcher = a.ws(token=alice)
    b.ws(token=bob["token"])
    on_b = b.ws(token=carol["token"])
    for _ in range(2):
        assert watcher.event("presence")["online"] is True
    a.ws(token=carol["token"])  # carol is on node a too: she stays online
    a.wait_log(f"user={carol['user']['id']} online=true announced=false")
    on_b.close()
    b.kill()
    ev = watcher.event("presence")
    assert (ev["user"], ev["online"], ev["last_seen"] is not None) == ("bob", False, True)
    a.wait_log("event=presence_node_died")
    assert a.api("GET", "/users/bob/presence", token=alice)["online"] is False
    assert a.api("GET", "/users/carol/presence", token=alice)["online"] is True
    assert [e for e in watcher.events if e["ev"] == "presence"] == []  # nothing about carol


def test_on_kafka_users_on_two_nodes_get_dense_ordered_messages_and_retries_stay_single(
        cluster, kafka_url):
    a, b = cluster(2, log=kafka_url)
    for node in (a, b):
        node.wait_log("event=log_connected")
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]
    wa, wb = a.ws(token=alice), b.ws(token=bob)

    # Both send into one conversation from different nodes: one partition owner gives the seqs.
    sent = []
    for i in range(10):
        sent.append(wa.send_msg(f"a{i}", to="bob", client_msg_id=f"a{i}"))
        sent.append(wb.send_msg(f"b{i}", to="alice", client_msg_id=f"b{i}"))
    assert sorted(m["seq"] for m in sent) == list(range(1, 21))  # dense, each acked with its seq
    conv = sent[0]["conv"]
    assert all(m["conv"] == conv for m in sent)

    # Every session gets every message once, in seq order, whichever node it is on.
    for w in (wa, wb):
        seqs = [w.event("message", where=lambda e: e["msg"]["conv"] == conv)["msg"]["seq"]
                for _ in range(20)]
        assert seqs == list(range(1, 21))

    # A retry returns the original: stored once, not delivered again.
    retry = wa.send_msg("a0 again", to="bob", client_msg_id="a0")
    assert (retry["id"], retry["seq"]) == (sent[0]["id"], sent[0]["seq"])
    history = a.api("GET", f"/conversations/{conv}/messages?limit=100", token=alice)
    assert [m["seq"] for m in history["messages"]] == list(range(1, 21))


def test_on_kafka_a_group_message_reaches_members_on_every_node(cluster, kafka_url):
    a, b, c = cluster(3, log=kafka_url)
    tokens = {}
    for node, name in ((a, "alice"), (b, "bob"), (c, "carol")):
        tokens[name] = node.register(name)["token"]
    gid = a.api("POST", "/groups/create", {"name": "team", "members": ["bob", "carol"]},
                token=tokens["alice"], expect=201)["id"]
    ws = {"alice": a.ws(token=tokens["alice"]), "bob": b.ws(token=tokens["bob"]),
          "carol": c.ws(token=tokens["carol"])}
    sent = [ws[name].send_msg(f"from {name}", conv=gid) for name in ("carol", "bob", "alice")]
    assert [m["seq"] for m in sent] == [1, 2, 3]
    for name, w in ws.items():
        got = [w.event("message", where=lambda e: e["msg"]["conv"] == gid)["msg"]["id"]
               for _ in range(3)]
        assert got == [m["id"] for m in sent], name


def test_on_kafka_when_a_node_is_killed_its_partitions_move_and_nothing_acked_is_lost(
        cluster, kafka_url):
    # One partition, owned by b: b starts first and keeps it when a joins (the range assignor
    # gives it to the older member; a's log says it got none).
    log = kafka_url + "?partitions=1"
    (b,) = cluster(1, log=log)
    b.wait_log("event=log_partitions_assigned count=1")
    a = cluster(1, log=log)[1]
    a.wait_log("event=log_partitions_assigned count=0")
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]
    wa = a.ws(token=alice)
    before = [wa.send_msg(f"before {i}", to="bob") for i in range(5)]  # sequenced by b
    conv = before[0]["conv"]

    b.kill()  # the partition's owner: a takes it over once the group's session times out
    # Sends made meanwhile wait in Kafka; each is acked once a's sequencer has it, seqs go on.
    ids = [wa.start("send", to="bob", body=f"after {i}", client_msg_id=f"after-{i}")
           for i in range(5)]
    after = [wa.reply(i, timeout=40) for i in ids]
    assert all(r["ok"] for r in after), after
    a.wait_log("event=log_partitions_assigned count=1")
    assert [r["msg"]["seq"] for r in after] == [6, 7, 8, 9, 10]

    # Bob comes back on the node that is left and finds every acked message, once, in order.
    wb = a.ws(token=bob)
    history = a.api("GET", f"/conversations/{conv}/messages?limit=100", token=bob)
    assert [m["seq"] for m in history["messages"]] == list(range(1, 11))
    assert [m["id"] for m in history["messages"]] == (
        [m["id"] for m in before] + [r["msg"]["id"] for r in after])
    msg = wb.send_msg("back", conv=conv)
    assert msg["seq"] == 11


def test_a_node_that_cannot_reach_kafka_does_not_start(tmp_path, postgres_url, redis_url):
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0",
                        "--data-dir", str(tmp_path), "--token-secret", "x" * 32,
                        "--store", postgres_url, "--bus", redis_url,
                        "--log", "kafka://127.0.0.1:1/nowhere"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PARLEY_MASTER_KEY=MASTER_KEY))
    assert r.returncode == 1, r.stderr
    assert "event=startup_failed" in r.stderr and "Kafka topic nowhere" in r.stderr, r.stderr


def test_a_socket_io_client_on_one_node_gets_what_a_websocket_client_on_another_sends(cluster):
    """Relayed events reach Socket.IO sessions as they reach /ws ones (rendered from the JSON the
    other node sent), and a Socket.IO send is delivered across nodes."""
    from test_socketio import Sio
    a, b = cluster(2)
    alice = a.register("sioalice")["token"]
    bob = b.register("siobob")["token"]
    wa = a.ws(token=alice)
    sb = Sio(b)
    assert sb.connect({"token": bob}).startswith("0{")
    sent = wa.send_msg("over the bus", to="siobob")
    got = sb.event("message")
    assert got["ev"] == "message" and got["msg"]["id"] == sent["id"]
    reply = sb.call("send", to="sioalice", client_msg_id="sio-1", body="and back")
    assert reply["ok"]
    assert wa.event("message", where=lambda e: e["msg"]["from"] == "siobob")["msg"]["id"] == \
        reply["msg"]["id"]
    sb.close()
