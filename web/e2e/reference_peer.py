"""A peer for the web client's encryption test (encrypted.test.ts): one device of the reference
end-to-end client (tests/integration/e2ee_client.py, PyNaCl), driven over stdin, so that the
browser's implementation is checked against the reference byte for byte.

    reference_peer.py PORT USERNAME DEVICE
stdin, one JSON command per line; stdout, one JSON answer per line:
    {"cmd": "send", "conv": ID, "members": [USER…], "text": T}  → {"ok": true, "seq": N}
    {"cmd": "read", "conv": ID}                                → {"ok": true, "texts": [T or null…]}
The user must exist with the suite's default password (password-USERNAME)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from conftest import Server  # noqa: E402  (the suite's REST helper, pointed at a running server)
from e2ee_client import CannotDecrypt, Device  # noqa: E402


def main():
    port, user, device_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = Server(os.devnull)
    server.port = port
    device = Device(server, user, device_id)
    print(json.dumps({"ok": True, "device": device_id}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "send":
            body = device.encrypt(cmd["conv"], cmd["members"], cmd["text"], client_msg_id=f"ref-{os.urandom(6).hex()}")
            msg = device.api("POST", f"/groups/{cmd['conv']}/send", {"message": body}) if cmd.get("group") else \
                device.api("POST", "/chat/send", {"recipient": cmd["to"], "message": body})
            print(json.dumps({"ok": True, "seq": msg["seq"]}), flush=True)
        elif cmd["cmd"] == "read":
            page = device.api("GET", f"/conversations/{cmd['conv']}/messages")
            texts = []
            for m in page["messages"]:
                try:
                    texts.append(device.decrypt(m))
                except CannotDecrypt:
                    texts.append(None)
            print(json.dumps({"ok": True, "texts": texts}), flush=True)


if __name__ == "__main__":
    main()
