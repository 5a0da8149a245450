"""RFC 6455 as Parley's own WebSocket layer speaks it (src/net/ws_frame.*, ws_connection.*):
the handshake, fragments, control frames, the closing handshake and keep-alive. Raw sockets,
so every byte is the test's choice; docs/protocol.md, "Transport"."""
import base64
import json
import os
import socket
import time

from conftest import TIMEOUT, FrameReader, raw_ws, ws_frame


def frame(payload, opcode=0x1, fin=True):
    f = ws_frame(payload, opcode)
    return f if fin else bytes([f[0] & 0x7F]) + f[1:]


def upgrade(server, headers):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    response = s.recv(4096).decode()
    s.close()
    return response


def test_handshake_answers_the_key_and_rejects_bad_versions_and_keys(server):
    token = server.register("alice")["token"]
    key = base64.b64encode(os.urandom(16)).decode()
    assert upgrade(server, {"Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "8"}).startswith(
        "HTTP/1.1 426")
    assert upgrade(server, {"Sec-WebSocket-Key": "short", "Sec-WebSocket-Version": "13"}).startswith(
        "HTTP/1.1 400")
    # A good one, checked the way a client checks it (RFC 6455 §4.1).
    ok = upgrade(server, {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                          "Sec-WebSocket-Version": "13", "Authorization": f"Bearer {token}"})
    assert ok.startswith("HTTP/1.1 101")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in ok


def test_frames_sent_with_the_upgrade_request_are_not_lost(server):
    token = server.register("alice")["token"]
    s = raw_ws(server, token, early=frame(json.dumps({"op": "ping", "id": 7}).encode()))
    opcode, payload = FrameReader(s).next()
    assert opcode == 0x1 and json.loads(payload) == {"re": 7, "ok": True}


def test_fragments_are_joined_and_pings_answered_in_between(server):
    token = server.register("alice")["token"]
    s = raw_ws(server, token)
    text = json.dumps({"op": "ping", "id": 1, "pad": "é" * 100}, ensure_ascii=False).encode()
    cut = text.index("é".encode()) + 1  # inside a two-byte character: UTF-8 is checked whole
    # Byte by byte too, so frames arrive split across reads.
    for chunk in (frame(text[:cut], fin=False), frame(b"are you there", 0x9),
                  frame(text[cut:], 0x0)):
        for i in range(0, len(chunk), 3):
            s.sendall(chunk[i:i + 3])
    frames = FrameReader(s)
    assert frames.next() == (0xA, b"are you there")  # the pong, same payload
    opcode, payload = frames.next()
    assert opcode == 0x1 and json.loads(payload) == {"re": 1, "ok": True}


def test_a_client_close_is_answered_with_its_code_then_the_socket_closes(server):
    token = server.register("alice")["token"]
    s = raw_ws(server, token)
    s.sendall(frame((4321).to_bytes(2, "big") + b"bye", 0x8))
    frames = FrameReader(s)
    opcode, payload = frames.next()
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 4321
    assert frames.next() is None  # the server hangs up after the closing handshake
    server.wait_log("event=ws_close", "by=peer")


def test_a_silent_client_is_pinged_then_dropped(server_factory):
    server = server_factory("--idle-timeout", "1")
    token = server.register("alice")["token"]
    s = raw_ws(server, token)
    frames = FrameReader(s)
    assert frames.next()[0] == 0x9  # after half the idle timeout: a ping
    # Unanswered (this client says nothing): dropped once the whole timeout has passed.
    assert frames.next() is None
    server.wait_log("event=ws_close", "idle timeout")


def test_a_client_answering_pings_stays_connected(server_factory):
    server = server_factory("--idle-timeout", "1")
    token = server.register("alice")["token"]
    s = raw_ws(server, token)
    frames = FrameReader(s)
    started = time.monotonic()
    pings = 0
    while time.monotonic() - started < 2.5:  # pings answered for 2.5 idle timeouts
        opcode, payload = frames.next()
        assert opcode == 0x9
        pings += 1
        s.sendall(frame(payload, 0xA))
    assert 3 <= pings <= 6  # one per half timeout of silence, give or take the sweep
    s.sendall(frame(json.dumps({"op": "ping", "id": 2}).encode()))
    while (f := frames.next())[0] == 0x9:
        s.sendall(frame(f[1], 0xA))
    assert json.loads(f[1]) == {"re": 2, "ok": True}
