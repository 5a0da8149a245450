"""Faults under steady load on a three-node cluster (Kafka log, PostgreSQL store, Redis bus):
users on every node keep chatting through a fault, and the checker (chat_checker.py) finds
zero acked messages lost, zero duplicates and zero order violations. Real servers, started by
scripts/run-tests with scripts/services; each fault is a real process stopped or killed."""
import os
import subprocess
import time

import pytest
from chat_checker import ChatTraffic
from conftest import ROOT, wait_until

SERVICES = os.path.join(ROOT, "scripts", "services")
STEADY = 8  # acks of every user before the fault, and again after it


def services(action, name):
    subprocess.run([SERVICES, action, name], check=True, capture_output=True)


@pytest.fixture
def loaded_cluster(cluster, kafka_url):
    """Three nodes on Kafka with the checker's users spread over them, chatting steadily."""
    nodes = cluster(3, log=kafka_url)
    for node in nodes:
        node.wait_log("event=log_partitions_assigned")
    traffic = ChatTraffic(nodes).start()
    traffic.wait_everyone_acked(STEADY)
    yield nodes, traffic


def load_goes_on_and_nothing_is_lost(traffic, survivor):
    """After the fault: every user gets STEADY more sends acked (so the cluster has recovered),
    then the checker's verdict."""
    traffic.wait_everyone_acked(STEADY, since=traffic.acked_by(), timeout=90)
    report = traffic.finish(history_node=survivor)
    report.assert_clean()
    return report


def reconnects_of_the_bus(node):
    return sum("event=bus_connected" in line for line in node.log_lines)


def test_no_fault_the_checker_sees_every_message_live(loaded_cluster):
    nodes, traffic = loaded_cluster
    report = load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    # Without a fault nothing needs catching up: every message arrived live, no send retried.
    assert (report.caught_up, report.caught_up_at_end, report.retries, report.reconnects) == (
        0, 0, 0, 0), report


def test_kill_9_a_node_its_users_reconnect_elsewhere_and_sync(loaded_cluster):
    nodes, traffic = loaded_cluster
    nodes[1].kill()
    report = load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    assert report.reconnects >= 2, report  # user1 and user4 lived on the killed node


def test_restart_redis_sessions_resync(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "redis")
    services("start", "redis")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    assert all(reconnects_of_the_bus(node) == 2 for node in nodes)


def test_restart_the_kafka_broker(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "kafka")
    services("start", "kafka")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])


def test_stop_postgresql_for_10_seconds(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "postgres")
    try:
        time.sleep(10)  # the outage itself: its length is the test's subject
    finally:
        services("start", "postgres")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])


def psql(url, sql):
    return subprocess.run(["psql", "-qtAX", url, "-c", sql], check=True, capture_output=True,
                          text=True).stdout.split()


def local_tcp_ports(pid):
    """The local ports of a process's TCP sockets (its fds' inodes, looked up in /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


def commits_waiting_on_a_lock(postgres_url, nodes):
    """The nodes whose sequencer's commit waits on a row lock at PostgreSQL now."""
    waiting = {int(port) for port in psql(postgres_url, (
        "SELECT client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%parley_append_messages_v2%'"))}
    return [n for n in nodes if waiting & local_tcp_ports(n.proc.pid)]


class RowLock:
    """A conversation's row locked FOR UPDATE by a psql session, until release(): a commit of a
    message to it waits at PostgreSQL. `conv`: its id, or `conv_sql`: an SQL expression of it."""

    def __init__(self, postgres_url, conv=None, conv_sql=None):
        conv_sql = conv_sql or f"'{conv}'"
        self.holder = subprocess.Popen(["psql", "-qAtX", postgres_url], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        self.holder.stdin.write(f"BEGIN;\n\\o /dev/null\nSELECT id FROM conversations WHERE "
                                f"id = {conv_sql} FOR UPDATE;\n\\o\n\\echo locked\n")
        self.holder.stdin.flush()
        assert self.holder.stdout.readline().strip() == "locked"

    def release(self):
        self.holder.stdin.write("COMMIT;\n")
        self.holder.stdin.close()
        self.holder.wait(30)


def test_kill_9_the_sequencers_node_while_its_commit_is_in_flight(loaded_cluster, postgres_url):
    """The test locks the row of a conversation in use, so the next commit of its sequencer (one
    call of parley_append_messages_v2) stops at PostgreSQL mid-way, after it moved its batch's
    partition positions. That node is killed; its partitions go to the survivors, whose first
    commit for them queues behind the orphaned call's row locks. Then the lock is let go:
    PostgreSQL finishes the orphaned call and commits it (the client is gone, but nothing tells
    the statement), or rolls it back if it notices. Either way the new owner must go on from
    what is stored — fenced and reading again if the orphan committed — and the checker finds
    nothing lost, duplicated or reordered."""
    nodes, traffic = loaded_cluster
    # One conversation in use: its sequencer stops; the others go on (and take over).
    lock = RowLock(postgres_url, conv_sql=(
        "(SELECT conversation_id FROM messages ORDER BY created_at DESC LIMIT 1)"))
    try:
        victim = wait_until("sequencer commit at the lock",
                            lambda: commits_waiting_on_a_lock(postgres_url, nodes), timeout=30)[0]
        survivors = [n for n in nodes if n is not victim]
        logged = [len(n.log_lines) for n in survivors]
        victim.kill()
        wait_until("takeover of the killed node's partitions", lambda: any(
            any("event=log_partitions_assigned" in line for line in n.log_lines[at:])
            for n, at in zip(survivors, logged)), timeout=30)
        wait_until("new owner's commit at the lock",
                   lambda: commits_waiting_on_a_lock(postgres_url, survivors), timeout=30)
    finally:
        lock.release()
    load_goes_on_and_nothing_is_lost(traffic, survivors[0])


def test_a_send_kafka_never_takes_fails_unacknowledged_and_its_retry_is_stored_once(
        cluster, kafka_url):
    """Kafka down for longer than the producer's delivery timeout (10 s): the send fails with
    `unavailable` — reported by librdkafka's delivery report, the only kind the producer asks
    for — and nothing is stored. Once Kafka is back, the retry with the same client_msg_id is
    acknowledged with the next seq, once."""
    (node,) = cluster(1, log=kafka_url)
    node.wait_log("event=log_partitions_assigned")
    alice = node.register("alice")["token"]
    node.register("bob")
    ws = node.ws(token=alice)
    before = ws.send_msg("before", to="bob", client_msg_id="m1")
    services("stop", "kafka")
    try:
        refused = ws.reply(ws.start("send", to="bob", body="during", client_msg_id="m2"),
                           timeout=40)
        assert not refused["ok"] and refused["error"]["code"] == "unavailable", refused
        node.wait_log("event=log_produce_failed")
    finally:
        services("start", "kafka")
    retried = ws.reply(ws.start("send", to="bob", body="during", client_msg_id="m2"), timeout=60)
    assert retried["ok"], retried
    assert retried["msg"]["seq"] == before["seq"] + 1
    history = node.api("GET", f"/conversations/{before['conv']}/messages?limit=10", token=alice)
    assert [(m["seq"], m["client_msg_id"]) for m in history["messages"]] == [(1, "m1"), (2, "m2")]


def conversations_in_partitions(node, ws, postgres_url, count):
    """{partition: conversation} for `count` partitions: DMs from ws's user to new users until
    that many partitions have one (a conversation's first message moves exactly one partition's
    stored position)."""
    def positions():
        return dict(row.split("|") for row in psql(
            postgres_url, "SELECT partition, next_offset FROM log_positions"))

    found = {}
    for i in range(60):
        node.register(f"user{i}")
        before = positions()
        conv = ws.send_msg("hello", to=f"user{i}")["conv"]  # acked once committed
        after = positions()
        (moved,) = [p for p in after if after[p] != before.get(p)]
        found.setdefault(int(moved), conv)
        if len(found) == count:
            return found
    raise AssertionError(f"conversations in {len(found)} partitions only: {found}")


def test_a_commit_stuck_at_one_partition_leaves_the_other_lanes_committing(
        cluster, kafka_url, postgres_url):
    """Several commits in flight: one node owns every partition, each in a lane of its own
    (lanes=4, partitions=4). The test locks one conversation's row, so the commit of a message
    to it stops at PostgreSQL, and sends more to it until its lane holds max_batch (2) records
    and its partition is paused, then one more (not fetched while paused). A message to a
    conversation of another partition is committed and acknowledged meanwhile (with one lane it
    would wait behind the stuck commit; without the pause, behind the full lane). Once the lock
    goes, the stuck conversation's messages are acknowledged in order, with dense seqs — the one
    sent while paused too, fetched once the lane has drained."""
    (node,) = cluster(1, log=f"{kafka_url}?partitions=4&lanes=4",
                      args=["--group-commit-max-batch", "2"])
    node.wait_log("event=log_partitions_assigned count=4")
    alice = node.register("alice")["token"]
    ws = node.ws(token=alice)
    stuck, free = conversations_in_partitions(node, ws, postgres_url, 2).values()
    lock = RowLock(postgres_url, stuck)
    try:
        waiting = [ws.start("send", conv=stuck, body="waits for the lock", client_msg_id="w1")]
        wait_until("the stuck commit at the lock",
                   lambda: commits_waiting_on_a_lock(postgres_url, [node]), timeout=30)
        mark = node.log_mark()
        waiting += [ws.start("send", conv=stuck, body=f"queued {i}", client_msg_id=f"w{i}")
                    for i in (2, 3)]
        node.wait_log("event=log_lane_paused", "queued=2", "partitions=1", after=mark)
        waiting.append(ws.start("send", conv=stuck, body="while paused", client_msg_id="w4"))
        passed = ws.reply(ws.start("send", conv=free, body="passes", client_msg_id="p1"))
        assert passed["ok"] and passed["msg"]["seq"] == 2, passed
        assert commits_waiting_on_a_lock(postgres_url, [node])  # the first is still stuck
    finally:
        lock.release()
    released = [ws.reply(w) for w in waiting]
    assert [(r["ok"], r["msg"]["seq"], r["msg"]["client_msg_id"]) for r in released] == [
        (True, 2, "w1"), (True, 3, "w2"), (True, 4, "w3"), (True, 5, "w4")], released
    node.wait_log("event=log_lane_resumed", after=mark)


def test_a_rebalance_does_not_wait_for_a_commit_stuck_at_postgresql(
        cluster, kafka_url, postgres_url):
    """A commit stuck at a row lock on the only node, and a second node joins: the consumer
    group rebalances, the first node gives its partitions up after waiting at most a second for
    the stuck commit (log_revoke_with_commits_in_flight), and the second node sequences the
    partitions it gets — a message to one of them is acknowledged while the lock still holds
    (before: the revoke waited for the commit, and with it every node's partitions). Once the
    lock goes, the stuck message is acknowledged with its seq, and stored once."""
    url = f"{kafka_url}?partitions=4&lanes=4"
    (first,) = cluster(1, log=url)
    first.wait_log("event=log_partitions_assigned count=4")
    alice = first.register("alice")["token"]
    ws = first.ws(token=alice)
    conv_in = conversations_in_partitions(first, ws, postgres_url, 4)
    stuck_partition, stuck = next(iter(conv_in.items()))
    lock = RowLock(postgres_url, stuck)
    try:
        waiting = ws.start("send", conv=stuck, body="waits for the lock", client_msg_id="w1")
        wait_until("the stuck commit at the lock",
                   lambda: commits_waiting_on_a_lock(postgres_url, [first]), timeout=30)
        mark = first.log_mark()
        second = cluster(1, log=url)[-1]
        assigned = second.wait_log("event=log_partitions_assigned")
        first.wait_log("event=log_revoke_with_commits_in_flight", after=mark)
        theirs = [int(p) for p in assigned.split("partitions=")[1].split(",")]
        free = next(conv_in[p] for p in theirs if p != stuck_partition)
        passed = ws.reply(ws.start("send", conv=free, body="passes", client_msg_id="p1"))
        assert passed["ok"] and passed["msg"]["seq"] == 2, passed
        assert commits_waiting_on_a_lock(postgres_url, [first])  # still stuck
    finally:
        lock.release()
    released = ws.reply(waiting)
    assert released["ok"] and released["msg"]["seq"] == 2, released
    history = first.api("GET", f"/conversations/{stuck}/messages?limit=10", token=alice)
    assert [(m["seq"], m["client_msg_id"]) for m in history["messages"]] == [
        (1, history["messages"][0]["client_msg_id"]), (2, "w1")], history


def test_lanes_paused_and_resumed_under_load_lose_nothing(cluster, kafka_url):
    """`--group-commit-max-batch 1`: a lane's partitions are paused whenever a record waits for
    it, and resumed when it takes the record — under the checker's steady load, over and over.
    Each resume reads on from the first record not yet taken (librdkafka drops what it had
    fetched for a paused partition): the checker finds nothing lost, duplicated or reordered."""
    # A resumed partition joins the consumer's next fetch: short fetches keep the test short.
    nodes = cluster(2, log=f"{kafka_url}?consumer.fetch.wait.max.ms=10",
                    args=["--group-commit-max-batch", "1"])
    for node in nodes:
        node.wait_log("event=log_partitions_assigned")
    traffic = ChatTraffic(nodes).start()
    traffic.wait_everyone_acked(STEADY)
    # Whichever node sequences the traffic's conversations (both, or one of them).
    wait_until("a lane paused and resumed", lambda: any(
        "event=log_lane_resumed" in line for node in nodes for line in node.log_lines))
    report = load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    assert (report.caught_up, report.retries) == (0, 0), report


def test_commits_postgresql_lost_are_written_again_from_kafka(cluster, kafka_url, postgres_url):
    """What a PostgreSQL crash under `--log-commits replayable` may do, done by hand: the last
    three commits of a partition vanish (their messages, the conversation's last_seq and the
    partition's position rolled back). The next send's commit is fenced at the stored position;
    the sequencer reads the records again from there and writes the same rows — seqs, ids,
    bodies, times — and the new message follows them (docs/operations.md, "Commit
    durability"). Then every commit of the partition vanishes, its position too: the next
    send is fenced all the same (a position is made only by a writer that found none), and the
    partition is read again from its beginning."""
    (node,) = cluster(1, log=f"{kafka_url}?partitions=1&lanes=1")
    node.wait_log("event=log_partitions_assigned count=1")
    alice = node.register("alice")["token"]
    node.register("bob")
    ws = node.ws(token=alice)
    conv = [ws.send_msg(f"m{i}", to="bob", client_msg_id=f"m{i}") for i in range(1, 6)][0]["conv"]

    def history():
        page = node.api("GET", f"/conversations/{conv}/messages?limit=20", token=alice)
        return [(m["seq"], m["id"], m["body"], m["ts"]) for m in page["messages"]]

    before = history()
    (position,) = psql(postgres_url, "SELECT next_offset FROM log_positions")
    psql(postgres_url, f"BEGIN; DELETE FROM messages WHERE conversation_id = '{conv}' AND seq > 2; "
                       f"UPDATE conversations SET last_seq = 2 WHERE id = '{conv}'; "
                       f"UPDATE log_positions SET next_offset = {int(position) - 3}; COMMIT;")
    assert [seq for seq, *_ in history()] == [1, 2]
    mark = node.log_mark()
    after = ws.send_msg("m6", to="bob", client_msg_id="m6")
    assert after["seq"] == 6, after
    node.wait_log("event=log_fenced", after=mark)
    assert history()[:5] == before
    assert [(seq, body) for seq, _, body, _ in history()[5:]] == [(6, "m6")]

    before = history()
    psql(postgres_url, f"BEGIN; DELETE FROM messages WHERE conversation_id = '{conv}'; "
                       f"UPDATE conversations SET last_seq = 0 WHERE id = '{conv}'; "
                       f"DELETE FROM log_positions; COMMIT;")
    assert history() == []
    mark = node.log_mark()
    assert ws.send_msg("m7", to="bob", client_msg_id="m7")["seq"] == 7
    node.wait_log("event=log_fenced", after=mark)
    assert history()[:6] == before
    assert [(seq, body) for seq, _, body, _ in history()[6:]] == [(7, "m7")]
