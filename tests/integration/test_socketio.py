"""Socket.IO v4 over WebSocket at /socket.io/ (Engine.IO v4 + Socket.IO v5), spoken by hand on a
raw WebSocket: the open packet, the handshake's errors, CONNECT with a token, chat as events with
acks, server events under their names, the heartbeat and its timeout, and the connection closing
on a malformed packet. The official socket.io-client is in test_socketio_client.py; long-polling
comes with the rest of issue 20."""
import json
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


def test_long_polling_is_refused_as_an_unknown_transport_for_now(server):
    status, body, _ = server.request("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 400 and body == {"code": 0, "message": "Transport unknown"}


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
