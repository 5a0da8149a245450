"""Steady chat traffic over a cluster that checks itself, for the fault tests.

Users are spread over the nodes. Each one sends at a steady pace, alternating between a direct
conversation and a group, and behaves as protocol.md asks of a client:
- a send is retried with the same client_msg_id until it is acked (after an error reply, a
  reply that does not come, or a lost connection);
- when its node dies it reconnects to another one and catches up (§5.7: sync, then history
  after the highest seq it holds);
- it catches up the same way on a `resync` event and when a live message skips seqs.

A ledger records every ack and every message received, and report() lists:
- lost: acked messages missing from the conversation's history, stored with another id or seq
  than the ack said, or never received by one of the conversation's members;
- duplicates: a client_msg_id stored twice, a message delivered twice on one connection, or a
  member holding another message at an acked seq;
- reordered: a connection that received a conversation's messages out of seq order, and
  histories whose seqs are not 1..N.
"""
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidStatus

REPLY_TIMEOUT = 10   # s without an ack before the send is retried (the server waits up to 30 s)
RETRY_PAUSE = 0.2    # s between attempts while the cluster answers `unavailable`
CONNECT_TIMEOUT = 5


@dataclass
class Report:
    acked: int
    delivered_live: int
    caught_up: int          # by a catch-up a reconnect, a resync or a seq gap called for
    caught_up_at_end: int   # by the last sync only: missed live with no sign of it
    retries: int
    reconnects: int
    lost: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    reordered: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def assert_clean(self):
        assert self.acked > 0, "no message was acked"
        problems = {k: v[:10] for k, v in (("lost", self.lost), ("duplicates", self.duplicates),
                                           ("reordered", self.reordered), ("errors", self.errors))
                    if v}
        assert not problems, f"{problems} ({self})"


class _Member:
    """One user with one connection at a time, on its own thread: sends, acks, receives."""

    def __init__(self, traffic, name, token, home, targets):
        self.traffic = traffic
        self.name = name
        self.token = token
        self.home = home              # index of the node it connects to first
        self.targets = targets        # [(send fields, member names)], sent to in turn
        self.behind = False           # a resync or a seq gap: catch up after this request
        self.final = False            # the last sync, after the load (drain)
        self.ws = None
        self.connection = 0           # counts connections: order is checked per connection
        self.received = {}            # conv -> {seq: id}, live or caught up
        self.contiguous = {}          # conv -> highest seq held with none missing below it
        self.live_last = {}           # (connection, conv) -> last live seq
        self.live_ids = set()         # (connection, id)
        self.thread = threading.Thread(target=self._run, name=f"member-{name}", daemon=True)

    # ---- connection
    def _connect(self):
        nodes = self.traffic.nodes
        for attempt in itertools.count():
            if self.traffic.deadline_passed():
                raise TimeoutError(f"{self.name} could not reconnect")
            node = nodes[(self.home + attempt) % len(nodes)]
            if node.proc.poll() is not None:
                continue  # killed
            try:
                self.ws = node.ws(token=self.token)
                self.connection += 1
                self.traffic.count("reconnects", self.connection > 1)
                self._catch_up()
                return
            except (ConnectionClosed, InvalidStatus, OSError, TimeoutError, _Unavailable):
                self._drop()
                time.sleep(RETRY_PAUSE)  # pacing retries, not waiting for an event

    def _drop(self):
        if self.ws:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
        self.ws = None

    def _request(self, op, **fields):
        """A request on the current connection; events that arrive meanwhile are recorded.
        Raises _Unavailable for an `unavailable` reply, TimeoutError when none comes."""
        req = self.ws.start(op, **fields)
        try:
            reply = self.ws.reply(req, timeout=REPLY_TIMEOUT)
        finally:
            self._take_events()
        if not reply.get("ok") and reply.get("error", {}).get("code") == "unavailable":
            raise _Unavailable(op)
        return reply

    # ---- receiving
    def _take_events(self):
        events, self.ws.events = self.ws.events, []
        for e in events:
            if e["ev"] == "message":
                self.behind |= self._live(e["msg"])
            elif e["ev"] == "resync":
                self.behind = True

    def _live(self, msg):
        """Records a live message; True when it reveals a gap to fill."""
        conv, seq, mid = msg["conv"], msg["seq"], msg["id"]
        key = (self.connection, conv)
        ledger = self.traffic
        if (self.connection, mid) in self.live_ids:
            ledger.problem("duplicates", f"{self.name} got {mid} twice on one connection")
        self.live_ids.add((self.connection, mid))
        if seq <= self.live_last.get(key, 0):
            ledger.problem("reordered", f"{self.name} got seq {seq} of {conv} after "
                                        f"{self.live_last[key]}")
        self.live_last[key] = max(seq, self.live_last.get(key, 0))
        ledger.count("delivered_live")
        gap = seq > self._contiguous(conv) + 1
        self._record(conv, seq, mid)
        return gap

    def _record(self, conv, seq, mid):
        held = self.received.setdefault(conv, {})
        if held.get(seq, mid) != mid:
            self.traffic.problem("duplicates", f"{conv} seq {seq} is {held[seq]} and {mid}")
        held[seq] = mid
        n = self.contiguous.get(conv, 0)
        while n + 1 in held:
            n += 1
        self.contiguous[conv] = n

    def _contiguous(self, conv):
        return self.contiguous.get(conv, 0)

    def _catch_up(self):
        """protocol.md §5.7: sync, then history after the highest seq held without a gap;
        again while a resync or a gap turned up meanwhile."""
        self.behind = True
        while self.behind:
            self.behind = False
            self._sync_once()

    def _sync_once(self):
        state = self._request("sync")
        assert state["ok"], state
        for c in state["conversations"]:
            after = self._contiguous(c["conv"])
            while c["last_seq"] > after:
                page = self._request("history", conv=c["conv"], after=after, limit=200)
                assert page["ok"], page
                for m in page["messages"]:
                    if m["seq"] not in self.received.get(c["conv"], {}):
                        self.traffic.count("caught_up_at_end" if self.final else "caught_up")
                    self._record(c["conv"], m["seq"], m["id"])
                if not page["messages"]:
                    break
                after = page["messages"][-1]["seq"]
                if not page["has_more"]:
                    break

    # ---- sending
    def _send(self, target, client_msg_id):
        """Sends until acked; returns the message. Reconnects when the connection is lost."""
        first = True
        while True:
            if self.traffic.deadline_passed():
                raise TimeoutError(f"{self.name}: {client_msg_id} never acked")
            try:
                if self.ws is None:
                    self._connect()
                self.traffic.count("retries", not first)
                first = False
                reply = self._request("send", body=client_msg_id, client_msg_id=client_msg_id,
                                      **target)
                if reply.get("ok"):
                    return reply["msg"]
                self.traffic.problem("errors", f"{self.name}: {reply}")
                return None
            except _Unavailable:
                time.sleep(RETRY_PAUSE)
            except TimeoutError:
                continue  # no ack in time: the same client_msg_id again, on this connection
            except (ConnectionClosed, OSError):
                self._drop()

    def _run(self):
        try:
            self._connect()
            for n in itertools.count():
                if self.traffic.stopping.is_set():
                    break
                target, names = self.targets[n % len(self.targets)]
                client_msg_id = f"{self.name}-{n}-{uuid.uuid4().hex[:6]}"
                msg = self._send(target, client_msg_id)
                if msg:
                    self.traffic.acked(self.name, client_msg_id, msg, names)
                if self.behind:
                    try:
                        self._catch_up()
                    except (ConnectionClosed, OSError, TimeoutError, _Unavailable):
                        self._drop()  # the next send reconnects, and catches up then
                self.traffic.pace()
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            self.traffic.problem("errors", f"{self.name}: {e!r}")

    def drain(self, expected, timeout):
        """After the load: reads until every expected (conv, seq) is held, then one last sync
        for what a lost event hid (a client does the same on its next reconnect)."""
        deadline = time.monotonic() + timeout
        try:
            while not all(seq in self.received.get(conv, {}) for conv, seq in expected):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    if self.ws is None:
                        self._connect()
                    self.ws._read(timeout=min(left, 1))
                    self._take_events()
                    if self.behind:
                        self._catch_up()
                except TimeoutError:
                    continue
                except (ConnectionClosed, OSError, _Unavailable):
                    self._drop()
            self.final = True
            while True:  # the last sync, retried as a client would while the store recovers
                try:
                    if self.ws is None:
                        self._connect()
                    self._catch_up()
                    break
                except (_Unavailable, ConnectionClosed, OSError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    self._drop()
                    time.sleep(RETRY_PAUSE)
        except Exception as e:  # noqa: BLE001
            self.traffic.problem("errors", f"{self.name} drain: {e!r}")


class _Unavailable(Exception):
    pass


class ChatTraffic:
    """Users on `nodes` (Server objects of one cluster) chatting at `rate` sends/s each."""

    def __init__(self, nodes, users=6, rate=5, time_limit=180):
        self.nodes = nodes
        self.rate = rate
        self.stopping = threading.Event()
        self._deadline = time.monotonic() + time_limit
        self._lock = threading.Condition()
        self._acks = {}        # client_msg_id -> (conv, seq, id)
        self._conv_members = {}  # conv -> usernames
        self._acked_by = {}      # sender -> acks
        self._counts = {"delivered_live": 0, "caught_up": 0, "caught_up_at_end": 0, "retries": 0,
                        "reconnects": 0}
        self._problems = {"lost": [], "duplicates": [], "reordered": [], "errors": []}

        names = [f"user{i}" for i in range(users)]
        first = nodes[0]
        self.tokens = {n: first.register(n)["token"] for n in names}
        self.group = first.api("POST", "/groups/create", {"name": "all", "members": names[1:]},
                               token=self.tokens[names[0]], expect=201)["id"]
        # Direct pairs: user0 ↔ user1, user2 ↔ user3…, the two of a pair on different nodes.
        self.members = []
        for i, name in enumerate(names):
            partner = names[i ^ 1] if (i ^ 1) < users else names[0]
            targets = [({"to": partner}, [name, partner]), ({"conv": self.group}, names)]
            self.members.append(_Member(self, name, self.tokens[name], i % len(nodes), targets))

    # ---- the ledger (any thread)
    def count(self, what, yes=True):
        if yes:
            with self._lock:
                self._counts[what] += 1

    def problem(self, kind, text):
        with self._lock:
            self._problems[kind].append(text)

    def acked(self, sender, client_msg_id, msg, names):
        """An ack of sender's send into a conversation whose members are `names`."""
        with self._lock:
            self._acks[client_msg_id] = (msg["conv"], msg["seq"], msg["id"])
            self._conv_members[msg["conv"]] = names
            self._acked_by[sender] = self._acked_by.get(sender, 0) + 1
            self._lock.notify_all()

    def acked_by(self):
        """Acks per sender so far: pass it to wait_everyone_acked."""
        with self._lock:
            return dict(self._acked_by)

    def pace(self):
        time.sleep(1 / self.rate)  # the load's steady rate, not a wait for an event

    def deadline_passed(self):
        return time.monotonic() > self._deadline

    # ---- driving
    def start(self):
        for m in self.members:
            m.thread.start()
        return self

    def wait_everyone_acked(self, n, since=None, timeout=60):
        """Waits until every user has had n more sends acked than in `since` (acked_by())."""
        since = since or {}

        def done():
            return all(self._acked_by.get(m.name, 0) >= since.get(m.name, 0) + n
                       for m in self.members)
        with self._lock:
            if not self._lock.wait_for(done, timeout):
                raise AssertionError(f"acks {self._acked_by}, wanted {n} more than {since} in "
                                     f"{timeout} s; problems: {self._problems}")

    def finish(self, history_node, drain_timeout=30):
        """Stops sending, lets every member receive what was acked, and checks it all."""
        self.stopping.set()
        for m in self.members:
            m.thread.join(REPLY_TIMEOUT * 6)
            if m.thread.is_alive():
                self.problem("errors", f"{m.name} still sending at the end")
        with self._lock:
            acks = dict(self._acks)
            conv_members = dict(self._conv_members)
        expected = {m.name: [] for m in self.members}
        for conv, seq, _ in acks.values():
            for n in conv_members[conv]:
                expected[n].append((conv, seq))
        for m in self.members:
            m.drain(expected[m.name], drain_timeout)

        # Histories, from the store: every ack is there with its id and seq, once.
        for conv, names in conv_members.items():
            history = []
            after = 0
            while True:
                page = history_node.api("GET", f"/conversations/{conv}/messages?after={after}"
                                        f"&limit=200", token=self.tokens[names[0]])
                history += page["messages"]
                if not page["has_more"] or not page["messages"]:
                    break
                after = page["messages"][-1]["seq"]
            seqs = [m["seq"] for m in history]
            if seqs != list(range(1, len(seqs) + 1)):
                self.problem("reordered", f"history of {conv} has seqs {seqs}")
            stored = {}
            for m in history:
                if m["client_msg_id"] in stored:
                    self.problem("duplicates", f"{m['client_msg_id']} stored twice in {conv}")
                stored[m["client_msg_id"]] = (m["conv"], m["seq"], m["id"])
            for cmid, entry in acks.items():
                if entry[0] == conv and stored.get(cmid) != entry:
                    self.problem("lost", f"acked {cmid} {entry}, stored {stored.get(cmid)}")

        # Every member received every acked message of its conversations (live or caught up).
        for m in self.members:
            for conv, seq in expected[m.name]:
                if seq not in m.received.get(conv, {}):
                    self.problem("lost", f"{m.name} never received {conv} seq {seq}")
            for conv, held in m.received.items():
                for cmid, (aconv, aseq, aid) in acks.items():
                    if aconv == conv and aseq in held and held[aseq] != aid:
                        self.problem("duplicates", f"{m.name} holds {held[aseq]} at seq {aseq}, "
                                                   f"acked as {aid}")
        for m in self.members:
            m._drop()
        with self._lock:
            return Report(acked=len(acks), **self._counts, **self._problems)
