"""Server-sent events (GET /events) and long-poll (GET /poll), docs/protocol.md: live events in
order, resume from a cursor with exactly the missed messages, resync for a stale cursor, the
poll's hold and hand-over, authorization, presence, and a stalled reader cut off while the
others keep receiving."""
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import SANITIZED, TIMEOUT


class SseStream:
    """An SSE reader over http.client, reading the chunked body line by line as it arrives."""

    def __init__(self, server, token=None, last_event_id=None, query=""):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/events" + query, headers=headers)
        self.sock = self.conn.sock  # http.client lets go of it for a Connection: close response
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.heartbeats = 0
        self.last_id = None

    def next(self, timeout=TIMEOUT):
        """The next event as (name, id, data); heartbeats (comments) are counted, not returned.
        None when the stream ends."""
        self.sock.settimeout(timeout)
        name, event_id, data = None, None, []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line.startswith(":"):
                self.heartbeats += 1
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and (name or data):
                if event_id is not None:
                    self.last_id = event_id
                return name, event_id, json.loads("\n".join(data))

    def until(self, name, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            e = self.next(max(0.05, deadline - time.monotonic()))
            assert e is not None, f"stream ended before {name}"
            if e[0] == name:
                return e

    def close(self):
        self.resp.close()
        self.sock.close()


def poll(server, token, cursor=None, timeout=None):
    query = []
    if cursor:
        query.append("cursor=" + cursor)
    if timeout is not None:
        query.append(f"timeout={timeout}")
    status, body, _ = server.request("GET", "/poll?" + "&".join(query), token=token)
    assert status == 200, body
    return body


def setup_conversations(server, names=("alice", "bob", "carol", "dave")):
    """Users, and bob's three conversations with alice: a DM and two groups (one with carol).
    Carol and dave have a DM of their own, which bob must never hear of."""
    tokens = {u: server.register(u)["token"] for u in names}
    dm = server.api("POST", "/chat/send", {"recipient": "bob", "message": "hello",
                                          "client_msg_id": "dm-0"}, token=tokens["alice"])["conv"]
    g1 = server.api("POST", "/groups/create", {"name": "one", "members": ["bob"]},
                    token=tokens["alice"], expect=201)["id"]
    g2 = server.api("POST", "/groups/create", {"name": "two", "members": ["bob", "carol"]},
                    token=tokens["alice"], expect=201)["id"]
    return tokens, [dm, g1, g2]


def send_to(server, tokens, conv, i, dm):
    """Alice sends message i into conv; returns its seq."""
    if conv == dm:
        r = server.api("POST", "/chat/send", {"recipient": "bob", "message": f"m{i}",
                                             "client_msg_id": f"c{i}"}, token=tokens["alice"])
    else:
        r = server.api("POST", f"/groups/{conv}/send", {"message": f"m{i}", "client_msg_id": f"c{i}"},
                       token=tokens["alice"])
    return r["seq"]


def third_party_traffic(server, tokens, n, stop=None):
    """Carol and dave talk in their own DM while the test runs."""
    for i in range(n):
        if stop and stop.is_set():
            return
        server.api("POST", "/chat/send", {"recipient": "dave", "message": f"secret {i}",
                                         "client_msg_id": f"s{i}"}, token=tokens["carol"])


def test_sse_carries_live_events_in_order_with_ids_and_heartbeats(server_factory):
    server = server_factory("--sse-heartbeat-ms", "100")
    tokens, (dm, g1, g2) = setup_conversations(server)
    sse = SseStream(server, tokens["bob"])
    assert sse.status == 200
    assert sse.resp.getheader("Content-Type") == "text/event-stream"
    name, ready_id, data = sse.until("ready")
    assert data["cursor"] == ready_id

    seqs = [send_to(server, tokens, g1, i, dm) for i in range(20)]
    got = []
    while len(got) < 20:
        name, event_id, data = sse.next()
        if name == "message":
            assert event_id, "a message event carries a cursor"
            assert data["ev"] == "message" and data["msg"]["conv"] == g1
            got.append(data["msg"]["seq"])
    assert got == seqs
    # Heartbeats keep coming while nothing happens.
    beats = 0
    sse.sock.settimeout(TIMEOUT)
    while beats < 2:
        line = sse.resp.readline()
        assert line, "the stream ended"
        beats += line.startswith(b":")
    sse.close()


def test_sse_resumes_after_a_disconnect_with_exactly_the_missed_messages(server):
    tokens, convs = setup_conversations(server)
    dm, g1, g2 = convs
    sse = SseStream(server, tokens["bob"])
    sse.until("ready")
    stop = threading.Event()
    noise = threading.Thread(target=third_party_traffic, args=(server, tokens, 10_000, stop))
    noise.start()

    # A burst across three conversations; bob reads ten of them, then his connection drops.
    total = 90
    sent = {}  # (conv, seq) -> body
    def burst(start, end):
        for i in range(start, end):
            conv = convs[i % 3]
            sent[(conv, send_to(server, tokens, conv, i, dm))] = f"m{i}"
    burst(0, 30)
    seen = []
    while len(seen) < 10:
        name, _, data = sse.next()
        if name == "message":
            seen.append((data["msg"]["conv"], data["msg"]["seq"]))
    cursor = sse.last_id
    sse.close()
    burst(30, total)
    # An edit and a delete of messages bob already has, while he is away.
    edited = seen[0]
    server.api("PATCH", f"/conversations/{edited[0]}/messages/{edited[1]}", {"message": "edited"},
               token=tokens["alice"])
    deleted = seen[1]
    server.request("DELETE", f"/conversations/{deleted[0]}/messages/{deleted[1]}",
                   token=tokens["alice"])

    resumed = SseStream(server, tokens["bob"], last_event_id=cursor)
    replayed, updates = [], {}
    while True:
        name, _, data = resumed.next()
        if name == "ready":
            break
        assert name in ("message", "message_updated"), name
        key = (data["msg"]["conv"], data["msg"]["seq"])
        if name == "message":
            replayed.append(key)
        else:
            updates[key] = data["msg"]
    stop.set()
    noise.join()
    # Exactly the missed ones, once each, in seq order per conversation.
    assert sorted(replayed) == sorted(set(replayed)), "a message came twice"
    assert set(replayed) == {k for k in sent if k not in seen}, len(replayed)
    for conv in convs:
        per_conv = [s for c, s in replayed if c == conv]
        assert per_conv == sorted(per_conv)
    assert set(updates) == {edited, deleted}
    assert updates[edited]["body"] == "edited" and updates[deleted]["deleted"]
    assert not ({c for c, _ in replayed} - set(convs)), "another user's conversation leaked"

    # Live again: the next message follows the replay without a gap or a repeat.
    seq = send_to(server, tokens, g2, 999, dm)
    name, _, data = resumed.until("message")
    assert (data["msg"]["conv"], data["msg"]["seq"]) == (g2, seq)
    resumed.close()


def test_a_stale_or_unknown_cursor_gets_resync(server_factory):
    server = server_factory("--stream-replay-max", "5")
    tokens, (dm, g1, g2) = setup_conversations(server)
    for last_event_id in ("not-a-cursor", "AQ"):
        sse = SseStream(server, tokens["bob"], last_event_id=last_event_id)
        assert sse.next()[0] == "resync"
        assert sse.next()[0] == "ready"
        sse.close()
    # Another user's cursor is not bob's to use.
    carol = SseStream(server, tokens["carol"])
    _, carol_cursor, _ = carol.until("ready")
    carol.close()
    sse = SseStream(server, tokens["bob"], last_event_id=carol_cursor)
    assert sse.next()[0] == "resync"
    sse.close()
    # Further behind than --stream-replay-max: resync, then live from now.
    sse = SseStream(server, tokens["bob"])
    _, cursor, _ = sse.until("ready")
    sse.close()
    for i in range(6):
        send_to(server, tokens, g1, i, dm)
    sse = SseStream(server, tokens["bob"], query="?last_event_id=" + cursor)
    assert sse.next()[0] == "resync"
    assert sse.next()[0] == "ready"
    seq = send_to(server, tokens, g1, 100, dm)
    _, _, data = sse.until("message")
    assert data["msg"]["seq"] == seq
    sse.close()


def test_fifty_polls_during_500_messages_in_three_conversations_lose_and_repeat_nothing(server):
    tokens, convs = setup_conversations(server)
    dm = convs[0]
    cursor = poll(server, tokens["bob"], timeout=0)["cursor"]
    progress = threading.Condition()
    sent, errors, got = {}, [], []

    def sender():
        try:
            for i in range(500):
                conv = convs[i % 3]
                sent[(conv, send_to(server, tokens, conv, i, dm))] = f"m{i}"
                if i % 10 == 9:  # ten at a time: the poller takes each ten in a poll of its own
                    with progress:
                        assert progress.wait_for(lambda: len(got) > i, TIMEOUT)
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(e)

    stop = threading.Event()
    noise = threading.Thread(target=third_party_traffic, args=(server, tokens, 10_000, stop))
    noise.start()
    thread = threading.Thread(target=sender)
    thread.start()
    polls = 0
    while len(got) < 500 and polls < 2000:
        answer = poll(server, tokens["bob"], cursor=cursor, timeout=5)
        polls += 1
        cursor = answer["cursor"]
        with progress:
            for e in answer["events"]:
                assert e["ev"] in ("message", "presence", "receipt", "conversation"), e
                if e["ev"] == "message":
                    got.append((e["msg"]["conv"], e["msg"]["seq"]))
            progress.notify_all()
    thread.join()
    stop.set()
    noise.join()
    assert not errors
    assert polls >= 50
    assert len(got) == len(set(got)) == 500, (len(got), len(set(got)))
    assert set(got) == set(sent)
    for conv in convs:
        per_conv = [s for c, s in got if c == conv]
        assert per_conv == sorted(per_conv)


def test_a_held_poll_answers_within_100_ms_of_a_send(server):
    tokens, (dm, g1, g2) = setup_conversations(server)
    cursor = poll(server, tokens["bob"], timeout=0)["cursor"]
    for attempt in range(3):
        answered = {}

        def held():
            answered["body"] = poll(server, tokens["bob"], cursor=cursor, timeout=10)
            answered["at"] = time.monotonic()

        opened = sum("transport=poll" in l and "session_open" in l for l in server.log_lines)
        thread = threading.Thread(target=held)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        while sum("transport=poll" in l and "session_open" in l for l in server.log_lines) <= opened:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        sent_at = time.monotonic()
        seq = send_to(server, tokens, g1, 1000 + attempt, dm)
        thread.join(TIMEOUT)
        assert [e["msg"]["seq"] for e in answered["body"]["events"] if e["ev"] == "message"] == [seq]
        cursor = answered["body"]["cursor"]
        latency = answered["at"] - sent_at
        if latency < 0.1:
            return
    raise AssertionError(f"a held poll answered {latency * 1000:.0f} ms after the send")


def test_draining_answers_a_held_poll_at_once(server_factory):
    server = server_factory("--drain-timeout", "30")
    tokens, _ = setup_conversations(server)
    cursor = poll(server, tokens["bob"], timeout=0)["cursor"]
    with ThreadPoolExecutor(1) as pool:
        before = len(server.log_lines)
        held = pool.submit(poll, server, tokens["bob"], cursor=cursor, timeout=30)
        server.wait_log("transport=poll", "session_open", after=before)  # it is held
        started = time.monotonic()
        assert server.stop() == 0
        body = held.result(timeout=TIMEOUT)
        assert body["events"] == [] and body["cursor"] == cursor  # nothing consumed
        assert time.monotonic() - started < 10  # not the poll's 30 s, nor the drain's


def test_a_second_poll_of_the_same_login_ends_the_first_and_the_answer_is_capped(server_factory):
    server = server_factory("--poll-max-bytes", "4096")
    tokens, (dm, g1, g2) = setup_conversations(server)
    cursor = poll(server, tokens["bob"], timeout=0)["cursor"]
    first = {}
    thread = threading.Thread(target=lambda: first.update(poll(server, tokens["bob"], cursor, 30)))
    started = time.monotonic()
    mark = server.log_mark()  # the poll above logged a session_open of its own
    thread.start()
    server.wait_log("transport=poll", "session_open", after=mark)
    second = {}
    thread2 = threading.Thread(target=lambda: second.update(poll(server, tokens["bob"], cursor, 30)))
    thread2.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive() and time.monotonic() - started < TIMEOUT
    assert first["events"] == [] and first["cursor"] == cursor
    seq = send_to(server, tokens, g1, 1, dm)
    thread2.join(TIMEOUT)
    assert [e["msg"]["seq"] for e in second["events"] if e["ev"] == "message"] == [seq]

    # 30 messages of ~500 bytes: several capped answers, each saying there is more.
    for i in range(30):
        server.api("POST", f"/groups/{g1}/send", {"message": "x" * 500, "client_msg_id": f"big{i}"},
                   token=tokens["alice"])
    cursor, seqs, answers = second["cursor"], [], []
    while len(seqs) < 30:
        a = poll(server, tokens["bob"], cursor, 0)
        answers.append(a)
        assert len(json.dumps(a)) < 4096 + 1024
        seqs += [e["msg"]["seq"] for e in a["events"] if e["ev"] == "message"]
        cursor = a["cursor"]
    assert seqs == list(range(seq + 1, seq + 31))
    assert len(answers) > 1 and all(a.get("more") for a in answers[:-1])


def test_streams_need_a_valid_token(server):
    tokens, _ = setup_conversations(server)
    for path in ("/events", "/poll"):
        status, body, headers = server.request("GET", path)
        assert status == 401 and body["error"]["code"] == "unauthenticated"
        assert headers.get("WWW-Authenticate") == "Bearer"
        status, _, _ = server.request("GET", path, token="not-a-token")
        assert status == 401
        status, _, _ = server.request("GET", path + "?access_token=garbage")
        assert status == 401
    status, body, _ = server.request("GET", "/poll?timeout=61", token=tokens["bob"])
    assert status == 400 and "timeout" in body["error"]["message"]
    # The query token EventSource needs.
    sse = SseStream(server, query="?access_token=" + tokens["bob"])
    assert sse.status == 200
    assert sse.until("ready")
    sse.close()


def test_an_open_stream_counts_as_online(server_factory):
    server = server_factory("--presence-grace-ms", "50")
    tokens, _ = setup_conversations(server)
    presence = lambda: server.api("GET", "/users/bob/presence", token=tokens["alice"])["online"]
    assert presence() is False
    sse = SseStream(server, tokens["bob"])
    sse.until("ready")
    assert presence() is True
    sse.close()
    server.wait_log("event=presence_changed user=2 online=false")
    assert presence() is False


def test_a_stalled_sse_reader_is_cut_off_while_the_others_get_everything(server_factory):
    server = server_factory("--max-outbound-bytes", "262144", "--sqlite-cache-mib", "2")
    tokens = {u: server.register(u)["token"] for u in ("alice", "bob", "carol", "dave")}
    gid = server.api("POST", "/groups/create", {"name": "flood", "members": ["bob", "carol", "dave"]},
                     token=tokens["alice"], expect=201)["id"]

    # Bob's stream is never read, through a tiny receive window.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(TIMEOUT)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(f"GET /events?access_token={tokens['bob']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    server.wait_log("transport=sse", "session_open")
    carol = SseStream(server, tokens["carol"])
    carol.until("ready")
    dave = server.ws(token=tokens["dave"])
    count, body = 3000, "x" * 8000  # ~24 MB of events for each reader
    received = {"carol": [], "dave": []}

    def read_carol():
        while len(received["carol"]) < count:
            name, _, data = carol.next(60)
            if name == "message":
                received["carol"].append(data["msg"]["seq"])

    def read_dave():
        while len(received["dave"]) < count:
            received["dave"].append(dave.event("message", timeout=60)["msg"]["seq"])

    readers = [threading.Thread(target=read_carol), threading.Thread(target=read_dave)]
    for r in readers:
        r.start()
    rss_before = server.rss_kib()

    def send(i):
        return server.api("POST", f"/groups/{gid}/send", {"message": body, "client_msg_id": f"f{i}"},
                          token=tokens["alice"])["seq"]

    with ThreadPoolExecutor(8) as pool:
        seqs = list(pool.map(send, range(count)))
    for r in readers:
        r.join(90)
        assert not r.is_alive()
    rss_after = server.rss_kib()

    assert sorted(seqs) == list(range(1, count + 1))
    assert received["carol"] == list(range(1, count + 1))
    assert received["dave"] == list(range(1, count + 1))
    assert any("event=slow_consumer" in line for line in server.log_lines)
    # Bob's stream was ended: reading it now finds its end, not 24 MB.
    data = b""
    while chunk := stalled.recv(65536):
        data += chunk
    assert len(data) < 8 * 1024 * 1024
    assert data.endswith(b"0\r\n\r\n"), data[-64:]
    _, text, _ = server.request("GET", "/metrics")
    assert "parley_slow_consumer_closes_total 1" in text
    if not SANITIZED:
        assert rss_after - rss_before < 12 * 1024, (rss_before, rss_after)
