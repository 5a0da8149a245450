"""Nothing goes missing across a reconnect (sync + history), and a reader that stops reading is
closed with 4008 while everyone else gets everything and server memory stays bounded."""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import SANITIZED, TIMEOUT, raw_ws, read_close_code


class Client:
    """What a real client keeps: per conversation, the messages it has, by seq."""

    def __init__(self):
        self.messages = {}  # conv -> {seq: msg}

    def take(self, msg):
        self.messages.setdefault(msg["conv"], {})[msg["seq"]] = msg

    def catch_up(self, ws):
        state = ws.ok("sync")
        for entry in state["conversations"]:
            have = self.messages.setdefault(entry["conv"], {})
            after = max(have, default=0)
            while after < entry["last_seq"]:
                page = ws.ok("history", conv=entry["conv"], after=after, limit=2)
                for m in page["messages"]:
                    self.take(m)
                after = page["messages"][-1]["seq"]
                if not page["has_more"]:
                    break
        for gone in state["left"]:
            self.messages.pop(gone["conv"], None)
        return state


def test_reconnect_sync_delivers_everything_exactly_once_in_order(server):
    tokens = {u: server.register(u)["token"] for u in ("alice", "bob", "carol")}
    g1 = server.api("POST", "/groups/create", {"name": "g1", "members": ["bob", "carol"]},
                    token=tokens["alice"], expect=201)["id"]
    g3 = server.api("POST", "/groups/create", {"name": "g3", "members": ["bob"]},
                    token=tokens["alice"], expect=201)["id"]
    alice = server.ws(token=tokens["alice"])
    carol = server.ws(token=tokens["carol"])

    bob_state = Client()
    bob = server.ws(token=tokens["bob"])
    bob_state.take(alice.send_msg("before", conv=g1))
    bob.event("message")
    bob.close()

    # While bob is away: DMs, group messages, a new group, and a removal.
    dm = [alice.send_msg(f"dm{i}", to="bob") for i in range(3)]
    g1_new = [carol.send_msg(f"g1-{i}", conv=g1) for i in range(2)]
    g2 = server.api("POST", "/groups/create", {"name": "g2", "members": ["bob"]},
                    token=tokens["alice"], expect=201)["id"]
    g2_new = [alice.send_msg(f"g2-{i}", conv=g2) for i in range(2)]
    alice.send_msg("g3 before removal", conv=g3)
    server.api("DELETE", f"/groups/{g3}/remove-member", {"member": "bob"}, token=tokens["alice"])

    bob = server.ws(token=tokens["bob"])
    # A message that arrives live while bob catches up must not be duplicated either.
    live = alice.send_msg("live during sync", conv=g1)
    state = bob_state.catch_up(bob)
    bob_state.take(bob.event("message", where=lambda e: e["msg"]["id"] == live["id"])["msg"])

    assert {e["conv"] for e in state["left"]} == {g3}
    assert set(bob_state.messages) == {g1, g2, dm[0]["conv"]}
    expected = {g1: ["before", "g1-0", "g1-1", "live during sync"],
                g2: ["g2-0", "g2-1"],
                dm[0]["conv"]: ["dm0", "dm1", "dm2"]}
    for conv, bodies in expected.items():
        have = bob_state.messages[conv]
        assert sorted(have) == list(range(1, len(bodies) + 1))  # every seq once, no gaps
        assert [have[s]["body"] for s in sorted(have)] == bodies
    assert [m["id"] for m in g1_new] == [bob_state.messages[g1][s]["id"] for s in (2, 3)]
    assert [m["id"] for m in g2_new] == [bob_state.messages[g2][s]["id"] for s in (1, 2)]


def test_a_stalled_reader_is_closed_and_the_others_get_everything(server_factory):
    # A small page cache, so that the memory measured below is the connections', not SQLite's.
    server = server_factory("--max-outbound-bytes", "262144", "--sqlite-cache-mib", "2")
    tokens = {u: server.register(u)["token"] for u in ("alice", "bob", "carol")}
    gid = server.api("POST", "/groups/create", {"name": "flood", "members": ["bob", "carol"]},
                     token=tokens["alice"], expect=201)["id"]

    # Bob's connection never reads, through a tiny receive window.
    stalled = raw_ws(server, tokens["bob"], rcvbuf=4096)
    carol = server.ws(token=tokens["carol"])
    count, body = 3000, "x" * 8000  # ~24 MB of events for each reader
    received = []

    def read_all():
        while len(received) < count:
            e = carol.event("message", timeout=60)
            received.append(e["msg"]["seq"])

    reader = threading.Thread(target=read_all)
    reader.start()
    rss_before = server.rss_kib()

    def send(i):
        return server.api("POST", f"/groups/{gid}/send",
                          {"message": body, "client_msg_id": f"f{i}"}, token=tokens["alice"])["seq"]

    with ThreadPoolExecutor(8) as pool:
        seqs = list(pool.map(send, range(count)))
    reader.join(90)
    assert not reader.is_alive()
    rss_after = server.rss_kib()

    assert sorted(seqs) == list(range(1, count + 1))
    assert received == list(range(1, count + 1))  # carol: everything, in order
    assert any("event=slow_consumer" in line for line in server.log_lines)
    assert read_close_code(stalled) == 4008  # bob: told to resync
    _, text, _ = server.request("GET", "/metrics")
    assert "parley_slow_consumer_closes_total 1" in text
    # Bob's backlog was dropped, not kept: had it been queued, ~20 MB more would still be held.
    # What the flood itself leaves (allocator caches, the inbox's records not yet moved) was
    # 10.3–10.8 MB in four runs alone and 12.3 MB once in the full suite (2026-12-07), hence
    # 16 MB: well clear of that, and of the ~30 MB a kept backlog would show.
    # (Checked in the release build only: ASan's quarantine holds freed memory on purpose.)
    if not SANITIZED:
        assert rss_after - rss_before < 16 * 1024, (rss_before, rss_after)
    # Bob comes back and catches up in full.
    bob = server.ws(token=tokens["bob"])
    (entry,) = bob.ok("sync")["conversations"]
    assert entry["last_seq"] == count
