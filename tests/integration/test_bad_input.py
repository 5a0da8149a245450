"""Bad input gets a clear error and changes nothing (invariant 7, docs/architecture.md); the server
keeps serving everyone else."""
import json
import socket

from conftest import raw_ws, read_close_code, ws_frame
from websockets.exceptions import ConnectionClosed
import pytest

LIMIT = 64 * 1024  # the default --max-payload-bytes


def test_malformed_json_is_400(server):
    token = server.register("alice")["token"]
    server.register("bob")
    for raw in (b"{", b"not json", b"[1,2]", b"", b'{"recipient": "bob", "message": "x"} trailing'):
        status, data, _ = server.request("POST", "/chat/send", raw=raw, token=token)
        assert status == 400, raw
        assert data["error"]["code"] == "bad_request" and data["error"]["message"]
    status, data, _ = server.request("POST", "/chat/send", {"recipient": "bob", "message": 7},
                                     token=token)
    assert status == 400 and "message" in data["error"]["message"]
    assert server.api("GET", "/chat/messages?recipient=bob", token=token)["messages"] == []


def test_invalid_utf8_is_400(server):
    token = server.register("alice")["token"]
    server.register("bob")
    raw = b'{"recipient": "bob", "message": "caf\xc3"}'
    status, data, _ = server.request("POST", "/chat/send", raw=raw, token=token)
    assert status == 400 and data["error"]["code"] == "invalid_utf8"
    assert server.api("GET", "/chat/messages?recipient=bob", token=token)["messages"] == []


def test_body_over_the_limit_is_413(server):
    token = server.register("alice")["token"]
    server.register("bob")
    big = json.dumps({"recipient": "bob", "message": "x" * LIMIT}).encode()
    status, data, _ = server.request("POST", "/chat/send", raw=big, token=token)
    assert status == 413 and data["error"]["code"] == "too_large"
    # A body under the HTTP limit but over the message limit (16 KiB) is refused too.
    status, data, _ = server.request("POST", "/chat/send",
                                     {"recipient": "bob", "message": "y" * 20000}, token=token)
    assert status == 413
    assert server.api("GET", "/chat/messages?recipient=bob", token=token)["messages"] == []


def test_garbage_http_is_400_and_server_survives(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    server.register("alice")


def test_websocket_frame_over_the_limit_closes_1009(server):
    alice = server.register("alice")["token"]
    bystander = server.ws(token=server.register("bob")["token"])
    ws = server.ws(token=alice)
    ws.conn.send(json.dumps({"op": "ping", "id": 1, "pad": "x" * LIMIT}))
    with pytest.raises(ConnectionClosed) as e:
        ws.conn.recv(timeout=5)
    assert e.value.rcvd.code == 1009
    assert bystander.ok("ping")  # everyone else is served


def test_invalid_utf8_text_frame_closes_1007(server):
    token = server.register("alice")["token"]
    s = raw_ws(server, token)
    s.sendall(ws_frame(b'{"op":"ping","id":1,"x":"\xc3"}'))
    assert read_close_code(s) == 1007
    s.close()
    assert server.ws(token=token).ok("ping")


def test_malformed_frames_get_a_close_code(server):
    token = server.register("alice")["token"]
    # A client frame without a mask violates RFC 6455: protocol error.
    s = raw_ws(server, token)
    s.sendall(ws_frame(b'{"op":"ping","id":1}', mask=False))
    assert read_close_code(s) == 1002
    s.close()
    # An unknown opcode.
    s = raw_ws(server, token)
    s.sendall(ws_frame(b"x", opcode=0x3))
    assert read_close_code(s) == 1002
    s.close()
    # Binary frames are not part of the protocol.
    s = raw_ws(server, token)
    s.sendall(ws_frame(b'{"op":"ping","id":1}', opcode=0x2))
    assert read_close_code(s) == 1003
    s.close()
    assert server.ws(token=token).ok("ping")


def test_a_fragment_in_the_request_target_is_harmless(server):
    # Found by fuzz_query: Boost.URL 1.81 crashed on a query holding '#'. A raw request, since
    # HTTP clients never send fragments.
    token = server.register("alice")["token"]
    server.register("bob")
    for target in ("/chat/messages?#qqqqqqqq", "/chat/messages?recipient=bob#frag", "/ws?#x"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: {server.base}\r\n"
                      f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 ")
    assert server.api("GET", "/chat/messages?recipient=bob", token=token)["messages"] == []
