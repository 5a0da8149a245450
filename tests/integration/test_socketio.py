"""Socket.IO v4 at /socket.io/ (Engine.IO v4 + Socket.IO v5), spoken by hand: on a raw WebSocket
(the open packet, the handshake's errors, CONNECT with a token, chat as events with acks, server
events under their names, the heartbeat and its timeout, the connection closing on a malformed
packet) and over HTTP long-polling (payloads, the held poll, the protocol's error cases, the
upgrade to WebSocket, CORS). The official socket.io-client is in test_socketio_client.py."""
import concurrent.futures
import http.client
import json
import subprocess
import time
import uuid

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from conftest import TIMEOUT


class Sio:
    """One Socket.IO connection, frame by frame."""

    def __init__(self, server, query="EIO=4&transport=websocket"):
        self.conn = ws_connect(f"ws://{server.base}/socket.io/?{query}", open_timeout=TIMEOUT,
                               close_timeout=TIMEOUT, max_size=None)
        opening = self.recv()
        assert opening.startswith("0"), opening
        self.open = json.loads(opening[1:])
        self.ids = iter(range(1, 10**9))
        self.events = []

    def recv(self, timeout=TIMEOUT):
        return self.conn.recv(timeout=timeout)

    def send(self, text):
        self.conn.send(text)

    def next_sio(self, timeout=TIMEOUT):
        """The next Socket.IO packet (Engine.IO message), answering pings on the way."""
        while True:
            frame = self.recv(timeout)
            if frame == "2":
                self.send("3")
                continue
            assert frame.startswith("4"), frame
            return frame[1:]

    def connect(self, auth=None, nsp=""):
        self.send("40" + (nsp + "," if nsp else "") + (json.dumps(auth) if auth is not None else ""))
        return self.next_sio()

    def emit(self, name, args, ack=True):
        ack_id = next(self.ids) if ack else None
        self.send("42" + (str(ack_id) if ack else "") + json.dumps([name, args]))
        return ack_id

    def ack(self, ack_id):
        """The ack of ack_id; events that arrive first are kept for event()."""
        prefix = f"3{ack_id}"
        while True:
            packet = self.next_sio()
            if packet.startswith(prefix + "["):
                (reply,) = json.loads(packet[len(prefix):])
                return reply
            assert packet.startswith("2["), packet
            self.events.append(json.loads(packet[1:]))

    def call(self, name, **args):
        return self.ack(self.emit(name, args))

    def event(self, name):
        while True:
            for i, (ev_name, payload) in enumerate(self.events):
                if ev_name == name:
                    self.events.pop(i)
                    return payload
            packet = self.next_sio()
            assert packet.startswith("2["), packet
            self.events.append(json.loads(packet[1:]))

    def closed(self, timeout=TIMEOUT):
        """True once the server closed the connection (answering pings until then)."""
        try:
            while True:
                if self.recv(timeout) == "2":
                    self.send("3")
        except ConnectionClosed:
            return True

    def close(self):
        self.conn.close()


def test_the_open_packet_gives_the_session_and_its_heartbeat_terms(server):
    s = Sio(server)
    assert isinstance(s.open["sid"], str) and len(s.open["sid"]) >= 16
    assert s.open["upgrades"] == []
    assert s.open["pingInterval"] == 25000 and s.open["pingTimeout"] == 20000
    assert s.open["maxPayload"] == 1000000
    s.close()


@pytest.mark.parametrize("query, code", [
    ("EIO=4", 0),                                    # no transport
    ("EIO=4&transport=carrier-pigeon", 0),           # not one
    ("EIO=3&transport=websocket", 5),                # another protocol version
    ("transport=websocket", 5),
    ("EIO=4&transport=websocket&sid=nosuchsid", 1),  # no such session
])
def test_a_refused_handshake_gets_the_engine_io_error(server, query, code):
    from websockets.exceptions import InvalidStatus
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"ws://{server.base}/socket.io/?{query}", open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["code"] == code


def test_connect_needs_a_valid_token_and_a_refusal_leaves_the_connection_open(server):
    token = server.register("sioalice")["token"]
    s = Sio(server)
    missing = s.connect()
    assert missing.startswith("4{") and "token" in json.loads(missing[1:])["message"]
    refused = s.connect({"token": "not-a-token"})
    assert refused.startswith("4{") and "message" in json.loads(refused[1:])
    # The refusal carried nothing else, and the client may try again.
    ok = s.connect({"token": token})
    assert ok.startswith("0{") and list(json.loads(ok[1:])) == ["sid"]
    s.close()


def test_an_unknown_namespace_gets_connect_error(server):
    s = Sio(server)
    assert s.connect(nsp="/custom") == '4/custom,{"message":"Invalid namespace"}'
    s.close()


def test_two_users_chat_over_socket_io_with_acks_and_events(server):
    alice_token = server.register("sioa")["token"]
    bob_token = server.register("siob")["token"]
    alice, bob = Sio(server), Sio(server)
    assert alice.connect({"token": alice_token}).startswith("0{")
    assert bob.connect({"token": bob_token}).startswith("0{")
    client_id = str(uuid.uuid4())
    reply = alice.call("send", to="siob", client_msg_id=client_id, body="hello over socket.io")
    assert reply["ok"] is True and reply["msg"]["body"] == "hello over socket.io"
    # Bob gets it as a `message` event whose argument is the /ws event's JSON.
    got = bob.event("message")
    assert got["ev"] == "message" and got["msg"]["id"] == reply["msg"]["id"]
    # A retry with the same client_msg_id is the same message, stored once.
    again = alice.call("send", to="siob", client_msg_id=client_id, body="hello over socket.io")
    assert again["msg"]["id"] == reply["msg"]["id"] and again["msg"]["seq"] == reply["msg"]["seq"]
    # Receipts go the same way, as does every other op; errors come back in the ack.
    conv = reply["msg"]["conv"]
    assert bob.call("read", conv=conv, seq=reply["msg"]["seq"])["ok"] is True
    assert alice.event("receipt")["read_seq"] == reply["msg"]["seq"]
    bad = alice.call("send", to="nobody-here", client_msg_id=str(uuid.uuid4()), body="x")
    assert bad["ok"] is False and bad["error"]["code"] == "not_found"
    unknown = alice.call("no_such_op")
    assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_op"
    alice.close()
    bob.close()


def test_an_event_before_connect_or_a_malformed_packet_closes_the_connection(server):
    s = Sio(server)
    s.emit("send", {"to": "x", "body": "y"})
    assert s.closed()
    for bad in ("4abc", "42{}", "9", "42abc[\"send\"]"):
        t = Sio(server)
        t.send(bad)
        assert t.closed(), bad


def test_a_client_that_stops_answering_pings_is_closed(server_factory):
    server = server_factory("--eio-ping-interval", "200", "--eio-ping-timeout", "200")
    s = Sio(server)
    assert s.open["pingInterval"] == 200 and s.open["pingTimeout"] == 200
    assert s.recv() == "2"
    s.send("3")          # one pong: the session goes on
    assert s.recv() == "2"
    with pytest.raises(ConnectionClosed):  # no pong: closed within the timeout
        s.recv(timeout=2)


def test_a_message_past_max_payload_closes_the_connection(server_factory):
    server = server_factory("--eio-max-payload", "2048")
    s = Sio(server)
    assert s.open["maxPayload"] == 2048
    s.send("42" + json.dumps(["send", {"body": "x" * 4096}]))
    assert s.closed()


def test_a_binary_event_runs_once_its_attachments_have_arrived(server):
    token = server.register("siobin")["token"]
    server.register("siobin2")
    s = Sio(server)
    assert s.connect({"token": token}).startswith("0{")
    s.send('451-1["send",{"to":"siobin2","client_msg_id":"bin-1","body":"with a blob",'
           '"blob":{"_placeholder":true,"num":0}}]')
    s.conn.send(b"\x01\x02\x03")  # the attachment, as a binary frame
    reply = s.ack(1)
    assert reply["ok"] and reply["msg"]["body"] == "with a blob"
    # A binary frame that no packet waits for closes the connection.
    s.conn.send(b"\x04")
    assert s.closed()


# ---- HTTP long-polling --------------------------------------------------------------------------

RS = "\x1e"  # the record separator between a payload's packets


class Polling:
    """One Engine.IO session over long-polling: GET receives, POST sends."""

    def __init__(self, server, path="/socket.io/", headers=None):
        self.server, self.path, self.headers = server, path, headers or {}
        status, body, self.handshake_headers = self.http("GET", "EIO=4&transport=polling")
        assert status == 200, (status, body)
        assert body.startswith("0"), body
        self.open = json.loads(body[1:])
        self.sid = self.open["sid"]
        self.ids = iter(range(1, 10**9))
        self.packets = []

    def http(self, method, query, body=None, timeout=TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        conn.request(method, f"{self.path}?{query}", body=body,
                     headers={"Content-Type": "text/plain;charset=UTF-8", **self.headers})
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
        if resp.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return resp.status, data, dict(resp.getheaders())

    def connect(self, token):
        """CONNECT to the main namespace with a token; the answer (40{sid} or 44{…})."""
        assert self.post("40" + json.dumps({"token": token}))[:2] == (200, "ok")
        return self.next_sio()

    def get(self, timeout=TIMEOUT):
        return self.http("GET", f"EIO=4&transport=polling&sid={self.sid}", timeout=timeout)

    def post(self, *packets):
        return self.http("POST", f"EIO=4&transport=polling&sid={self.sid}", RS.join(packets))

    def next_sio(self):
        """The next Socket.IO packet, polling for it and answering pings on the way."""
        while not self.packets:
            status, body, _ = self.get()
            assert status == 200, (status, body)
            for packet in body.split(RS):
                if packet == "2":
                    assert self.post("3")[0] == 200
                else:
                    self.packets.append(packet)
        packet = self.packets.pop(0)
        assert packet.startswith("4"), packet
        return packet[1:]

    def call(self, name, **args):
        ack_id = next(self.ids)
        assert self.post("42" + str(ack_id) + json.dumps([name, args]))[:2] == (200, "ok")
        prefix = f"3{ack_id}"
        while True:
            packet = self.next_sio()
            if packet.startswith(prefix + "["):
                return json.loads(packet[len(prefix):])[0]


def test_a_polling_handshake_opens_a_session_that_may_upgrade(server):
    p = Polling(server)
    assert p.open["upgrades"] == ["websocket"] and len(p.sid) >= 16
    assert p.open["pingInterval"] == 25000 and p.open["maxPayload"] == 1000000
    assert p.handshake_headers["Content-Type"] == "text/plain; charset=UTF-8"
    # A POST answers "ok"; the packets it carried run in order.
    status, body, headers = p.post("40")
    assert (status, body) == (200, "ok") and headers["Content-Type"] == "text/html"
    refused = p.next_sio()
    assert refused.startswith("4{") and "token" in json.loads(refused[1:])["message"]


def test_chat_over_long_polling_with_a_held_poll_woken_by_the_event(server):
    alice_token = server.register("polla")["token"]
    bob_token = server.register("pollb")["token"]
    alice, bob = Polling(server), Polling(server)
    assert alice.connect(alice_token).startswith("0{")
    assert bob.connect(bob_token).startswith("0{")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(bob.get)  # nothing is waiting: the poll is held
        reply = alice.call("send", to="pollb", client_msg_id=str(uuid.uuid4()), body="over polling")
        assert reply["ok"] and reply["msg"]["body"] == "over polling"
        status, body, _ = held.result(timeout=TIMEOUT)
    assert status == 200
    (event,) = [p for p in body.split(RS) if p != "2"]
    name, payload = json.loads(event[2:])
    assert name == "message" and payload["msg"]["id"] == reply["msg"]["id"]


def test_several_packets_in_one_post_run_in_order_and_each_is_acked(server):
    token = server.register("pollmany")["token"]
    server.register("pollmany2")
    p = Polling(server)
    assert p.connect(token).startswith("0{")
    sends = [f"42{i}" + json.dumps(["send", {"to": "pollmany2", "client_msg_id": f"m{i}",
                                             "body": f"m{i}"}]) for i in (1, 2, 3)]
    assert p.post(*sends)[:2] == (200, "ok")
    acks = []
    while len(acks) < 3:
        packet = p.next_sio()
        if packet.startswith("3"):
            acks.append(packet)
        else:
            assert packet.startswith('2["message",'), packet  # the sender's own copy
    seqs = [json.loads(a[2:])[0]["msg"]["seq"] for a in acks]
    assert [a[:2] for a in acks] == ["31", "32", "33"] and seqs == sorted(seqs)


@pytest.mark.parametrize("method, query, code", [
    ("GET", "EIO=4&transport=polling&sid=nosuchsid", 1),
    ("POST", "EIO=4&transport=polling", 2),                # a handshake must be a GET
    ("PUT", "EIO=4&transport=polling", 2),
    ("GET", "EIO=4", 0),
    ("GET", "EIO=4&transport=websocket", 3),               # without the upgrade
    ("GET", "EIO=3&transport=polling", 5),
])
def test_a_refused_polling_request_gets_the_engine_io_error(server, method, query, code):
    status, body, _ = server.request(method, f"/socket.io/?{query}")
    assert status == 400 and body["code"] == code, body


def test_a_second_concurrent_poll_ends_the_session(server):
    p = Polling(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(p.get)
        # Whichever of the two GETs reaches the server first is held; the other ends the session:
        # the held one gets the close packet, the other 400.
        second = p.get()
        answers = sorted([first.result(timeout=TIMEOUT)[:2], second[:2]], key=lambda a: a[0])
    assert answers[0] == (200, "1")
    assert answers[1][0] == 400
    assert p.get()[0] == 400  # the session is gone


def test_a_malformed_post_ends_the_session(server):
    p = Polling(server)
    status, body, _ = p.post("abc")
    assert status == 400 and body["code"] == 3
    assert p.get()[1]["code"] == 1


def test_a_post_past_max_payload_is_refused_whole(server_factory):
    server = server_factory("--eio-max-payload", "2048")
    p = Polling(server)
    status, _, _ = p.post("4" + "x" * 4096)
    assert status == 413
    # Nothing of it ran, and the session goes on.
    assert p.post("40")[:2] == (200, "ok")
    assert p.next_sio().startswith("4{")


def ws_and_polling_users(server, prefix):
    """Alice on a WebSocket and Bob polling, both connected to "/"."""
    alice_token = server.register(prefix + "a")["token"]
    bob_token = server.register(prefix + "b")["token"]
    alice = Sio(server)
    assert alice.connect({"token": alice_token}).startswith("0{")
    bob = Polling(server)
    assert bob.connect(bob_token).startswith("0{")
    return alice, alice_token, bob


def test_a_polling_client_that_stops_polling_is_ended_past_the_outbound_bound(server_factory):
    server = server_factory("--max-outbound-bytes", "8192")
    alice, alice_token, bob = ws_and_polling_users(server, "slow")
    # Bob stops polling; what waits for him grows past 8 KiB and his session ends. Alice's
    # sends are all acked and stored regardless.
    ids = [alice.call("send", to="slowb", client_msg_id=f"s{i}", body="y" * 500)["msg"]["id"]
           for i in range(30)]
    status, body, _ = bob.get()
    assert status == 400 and body["code"] == 1
    page = server.api("GET", "/chat/messages?recipient=slowb&limit=100", token=alice_token)
    assert sorted(m["id"] for m in page["messages"]) == sorted(ids)
    server.wait_log("event=eio_slow_consumer")
    alice.close()


def test_presence_typing_and_logout_hold_over_socket_io(server_factory):
    server = server_factory("--presence-grace-ms", "200")
    alice_token = server.register("presa")["token"]
    bob_login = server.register("presb")
    watcher = server.ws(token=alice_token)  # Alice on /ws watches Bob on Socket.IO
    dm = server.api("POST", "/chat/send", {"recipient": "presb", "message": "hi"},
                    token=alice_token)["conv"]
    bob = Polling(server)
    assert bob.connect(bob_login["token"]).startswith("0{")
    assert watcher.event("presence", where=lambda e: e["user"] == "presb")["online"] is True
    assert bob.call("typing", conv=dm) == {"ok": True, "sent": True}
    assert watcher.event("typing") == {"ev": "typing", "conv": dm, "user": "presb"}
    # Leaving the namespace ends Bob's chat session: offline after the grace period.
    assert bob.post("41")[:2] == (200, "ok")
    gone = watcher.event("presence", timeout=5, where=lambda e: e["user"] == "presb")
    assert gone["online"] is False and gone["last_seen"].endswith("Z")
    # A logged-out login session gets the `session` event and leaves the namespace; the
    # connection stays, and that token no longer connects.
    tab = Sio(server)
    assert tab.connect({"token": bob_login["token"]}).startswith("0{")
    server.api("POST", "/auth/logout", token=bob_login["token"])
    assert tab.event("session") == {"ev": "session", "change": "revoked"}
    assert tab.next_sio() == "1"
    refused = tab.connect({"token": bob_login["token"]})
    assert refused.startswith("4{")
    tab.close()


def test_a_client_close_over_polling_answers_the_poll_with_a_noop(server):
    p = Polling(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(p.get)
        assert p.post("1")[:2] == (200, "ok")
        assert held.result(timeout=TIMEOUT)[:2] == (200, "6")
    assert p.get()[0] == 400


def test_a_polling_client_that_stops_answering_pings_is_closed(server_factory):
    server = server_factory("--eio-ping-interval", "200", "--eio-ping-timeout", "200")
    p = Polling(server)
    assert p.get()[:2] == (200, "2")
    assert p.post("3")[:2] == (200, "ok")  # one pong: the session goes on
    assert p.get()[:2] == (200, "2")
    # No pong: the session ends within the timeout; a poll then finds it gone.
    deadline = time.monotonic() + 3
    while True:
        status, body, _ = p.get(timeout=3)
        if status == 400:
            assert body["code"] == 1
            break
        assert time.monotonic() < deadline, "still open"


def test_draining_answers_a_pending_poll_with_the_close_packet(server_factory):
    server = server_factory("--drain-timeout", "30", "--log-level", "debug")
    p = Polling(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(p.get)
        server.wait_log("event=eio_poll_held", f"sid={p.sid}")
        started = time.monotonic()
        assert server.stop() == 0
        assert held.result(timeout=TIMEOUT)[:2] == (200, "1")
        assert time.monotonic() - started < 10  # well inside --drain-timeout


def test_polling_upgrades_to_websocket_and_what_waited_goes_over_it(server):
    alice, _, bob = ws_and_polling_users(server, "upg")
    # A message for Bob waits for his next poll...
    first = alice.call("send", to="upgb", client_msg_id="u1", body="before the upgrade")
    ws = ws_connect(f"ws://{server.base}/socket.io/?EIO=4&transport=websocket&sid={bob.sid}",
                    open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    ws.send("2probe")
    assert ws.recv(timeout=TIMEOUT) == "3probe"
    # ...and goes over the WebSocket once the upgrade completes ("5"): nothing is lost.
    ws.send("5")
    name, payload = json.loads(ws.recv(timeout=TIMEOUT)[2:])
    assert name == "message" and payload["msg"]["id"] == first["msg"]["id"]
    # Polling the upgraded session is a bad request, and it stays open.
    status, body, _ = bob.get()
    assert status == 400 and body["code"] == 3
    second = alice.call("send", to="upgb", client_msg_id="u2", body="after the upgrade")
    got = ws.recv(timeout=TIMEOUT)
    assert json.loads(got[2:])[1]["msg"]["id"] == second["msg"]["id"]
    # A second WebSocket for the same sid is closed.
    again = ws_connect(f"ws://{server.base}/socket.io/?EIO=4&transport=websocket&sid={bob.sid}",
                       open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    with pytest.raises(ConnectionClosed):
        again.recv(timeout=TIMEOUT)
    ws.close()
    alice.close()


def test_a_pending_poll_ends_with_a_noop_when_the_client_probes(server):
    p = Polling(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(p.get)
        ws = ws_connect(f"ws://{server.base}/socket.io/?EIO=4&transport=websocket&sid={p.sid}",
                        open_timeout=TIMEOUT, close_timeout=TIMEOUT)
        ws.send("2probe")
        assert ws.recv(timeout=TIMEOUT) == "3probe"
        assert held.result(timeout=TIMEOUT)[:2] == (200, "6")
    ws.close()


def test_cors_for_allowed_origins_and_403_for_others(server_factory):
    server = server_factory("--allowed-origins", "https://chat.example")
    allowed = {"Origin": "https://chat.example"}
    p = Polling(server, headers=allowed)
    assert p.handshake_headers["Access-Control-Allow-Origin"] == "https://chat.example"
    assert p.handshake_headers["Access-Control-Allow-Credentials"] == "true"
    status, _, headers = server.request("OPTIONS", "/socket.io/?EIO=4&transport=polling",
                                        headers={**allowed, "Access-Control-Request-Method": "POST"})
    assert status == 204 and "POST" in headers["Access-Control-Allow-Methods"]
    status, body, _ = server.request("GET", "/socket.io/?EIO=4&transport=polling",
                                     headers={"Origin": "https://evil.example"})
    assert status == 403 and body == {"code": 4, "message": "Forbidden"}
    # Same-origin and non-browser requests carry no CORS headers.
    assert "Access-Control-Allow-Origin" not in Polling(server).handshake_headers


# ---- the protocol-test mode ---------------------------------------------------------------------

def test_protocol_test_mode_echoes_and_offers_the_test_namespaces(server_factory):
    server = server_factory("--protocol-test")
    e = Polling(server, path="/engine.io/")
    assert e.post("4hello", "bAQIDBA==")[:2] == (200, "ok")
    assert e.get()[1] == "4hello" + RS + "bAQIDBA=="
    s = Sio(server)
    assert s.connect({"token": "123"}, nsp="/custom").startswith("0/custom,{")
    assert s.next_sio() == '2/custom,["auth",{"token":"123"}]'
    s.send('42/custom,7["message-with-ack",1,"2"]')
    assert s.next_sio() == '3/custom,7[1,"2"]'
    s.close()


def test_protocol_test_mode_refuses_an_address_off_this_machine(tmp_path):
    import os
    r = subprocess.run([os.environ.get("PARLEY_BIN", "build/parley"), "serve", "--listen",
                        "0.0.0.0:0", "--data-dir", str(tmp_path), "--protocol-test"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "loopback" in r.stdout + r.stderr
