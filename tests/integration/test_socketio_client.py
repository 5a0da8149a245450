"""The official socket.io-client and engine.io-client (npm, pinned in tests/socketio/package.json) against Parley's
/socket.io/ on each transport — WebSocket only, long-polling only, and the client's default
(long-polling, then the upgrade to WebSocket): two users chat in a DM and a group with acks, a retry is stored once,
events arrive in seq order, a read receipt and sync go through, a bad token gets connect_error, and a reconnect runs sync and fetches what it missed.
engine.io-client's text and binary messages come back from the protocol-test echo on each
transport. The client side is tests/socketio/chat_client.mjs and echo_client.mjs; this asserts on
what they report."""
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT_DIR = os.path.join(ROOT, "tests", "socketio")


@pytest.fixture(scope="module")
def node():
    path = shutil.which("node")
    if not path or not os.path.isdir(os.path.join(CLIENT_DIR, "node_modules", "socket.io-client")):
        pytest.fail("node and tests/socketio/node_modules are installed by scripts/install-deps test")
    return path


@pytest.mark.parametrize("transports, ends_on", [
    ("websocket", "websocket"),
    ("polling", "polling"),
    ("polling,websocket", "websocket"),  # the client's default: upgraded
])
def test_socket_io_client_chats(server, node, transports, ends_on):
    alice = server.register("sioalice2")["token"]
    bob_login = server.register("siobob")
    group = server.api("POST", "/groups/create", {"name": "sio", "members": ["siobob"]},
                       token=alice, expect=201)
    conv = group["group"]["id"] if "group" in group else group["id"]
    count = 50
    r = subprocess.run([node, os.path.join(CLIENT_DIR, "chat_client.mjs"), f"http://{server.base}",
                        alice, bob_login["token"], conv, str(count), transports],
                       capture_output=True, text=True, timeout=60, cwd=CLIENT_DIR)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])

    assert out["transports"] == [ends_on, ends_on]
    assert out["bad_token"] != "connected" and "token" in out["bad_token"].lower()
    acked = out["acked"]
    assert all(a["ok"] for a in acked)
    seqs = [a["msg"]["seq"] for a in acked]
    assert seqs == list(range(seqs[0], seqs[0] + count))  # dense, in order
    assert out["retry"]["ok"] and out["retry"]["msg"]["id"] == acked[0]["msg"]["id"]
    assert out["group"]["ok"] and out["group"]["msg"]["conv"] == conv
    assert out["error"] == {"ok": False, "error": out["error"]["error"]}
    assert out["error"]["error"]["code"] == "not_found"

    # Bob got every DM once, in seq order, and the group message; nothing else.
    dms = [m for m in out["received"] if m["conv"] == acked[0]["msg"]["conv"]]
    assert [m["id"] for m in dms] == [a["msg"]["id"] for a in acked]
    assert [m["conv"] for m in out["received"]].count(conv) == 1
    assert len(out["received"]) == count + 1
    assert out["read"]["ok"]
    assert out["receipts"] and out["receipts"][-1]["read_seq"] == seqs[-1]
    assert out["sync"]["ok"]
    # The reconnect: sync shows the conversation moved on, and history after the last seq Bob
    # had holds exactly the three he missed, in order.
    rc = out["reconnect"]
    assert all(m["ok"] for m in rc["missed"])
    assert rc["last_seq"] == rc["missed"][-1]["msg"]["seq"]
    assert rc["history"]["ok"]
    assert [m["id"] for m in rc["history"]["messages"]] == [m["msg"]["id"] for m in rc["missed"]]
    # What Socket.IO delivered is what is stored.
    page = server.api("GET", f"/chat/messages?recipient=siobob&limit=200", token=alice)
    stored = sorted(m["id"] for m in page["messages"])
    assert stored == sorted([a["msg"]["id"] for a in acked] + [m["msg"]["id"] for m in rc["missed"]])


@pytest.mark.parametrize("transports, ends_on", [
    ("websocket", "websocket"),
    ("polling", "polling"),
    ("polling,websocket", "websocket"),
])
def test_engine_io_client_gets_its_messages_echoed(server_factory, node, transports, ends_on):
    server = server_factory("--protocol-test")
    r = subprocess.run([node, os.path.join(CLIENT_DIR, "echo_client.mjs"), f"http://{server.base}",
                        transports], capture_output=True, text=True, timeout=60, cwd=CLIENT_DIR)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["transport"] == ends_on
    assert out["echoes"] == [{"text": "hello"}, {"text": "é ☃ 🎉"}, {"binary": [0, 1, 2, 255]},
                             {"text": "x" * 100000}]
    assert out["close"] == "forced close"
