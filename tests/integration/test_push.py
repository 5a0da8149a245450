"""Push notifications (docs/protocol.md, "Push notifications"), against real receivers on
loopback: web-push-testing (tests/webpush, pinned) as the browsers' push service — it checks the
VAPID signature and decrypts the payload, and this module checks the JWT's aud, exp and sub and
the notification itself — and a webhook gateway written here. Also the VAPID key browsers
subscribe with (made once into the data directory, or read from --vapid-key-file). The rules and
the encryption are unit-tested in src/push/."""
import base64
import json
import os
import re
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import PARLEY_BIN, ROOT, SANITIZED, TIMEOUT, Server, wait_until

# Short waits so that the suite is quick: a burst gathers 150 ms; an online member's sessions
# have 1.5 s to report delivery; retries start after 200 ms.
FAST = ("--push-coalesce-ms", "150", "--push-online-delay-ms", "1500", "--push-retry-ms", "200",
        "--web-push-services", "127.0.0.1")  # web-push-testing's endpoints
SUBJECT = "mailto:ops@example.test"


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def metric(server, name, labels=""):
    _, text, _ = server.request("GET", "/metrics")
    m = re.search(r"^" + re.escape(name + labels) + r" (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def settled(server):
    """Waits until nothing is pending or queued for push (the gauges are counted each second)."""
    wait_until("the push backlog to empty",
               lambda: metric(server, "parley_push_pending") == 0 and metric(server, "parley_push_jobs") == 0)


class WebPushService:
    """web-push-testing on 127.0.0.1 (tests/webpush/service.mjs)."""

    def __init__(self):
        env = dict(os.environ)
        node_dir = os.path.join(ROOT, "build", "tools", "node", "bin")
        if os.path.isdir(node_dir):
            env["PATH"] = node_dir + os.pathsep + env["PATH"]
        self.proc = subprocess.Popen(["node", os.path.join(ROOT, "tests", "webpush", "service.mjs")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def call(self, path, body=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        conn.request("POST", path, body=json.dumps(body or {}), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        assert resp.status == 200, (path, resp.status, data)
        return json.loads(data) if data.startswith(b"{") else None

    def subscribe(self, application_server_key):
        """A browser's PushSubscription, as PushSubscription.toJSON() gives it, and its hash."""
        data = self.call("/subscribe", {"applicationServerKey": application_server_key,
                                        "userVisibleOnly": "true"})["data"]
        return {"endpoint": data["endpoint"], "keys": data["keys"]}, data["clientHash"]

    def notifications(self, client_hash):
        messages = self.call("/get-notifications", {"clientHash": client_hash})["data"]["messages"]
        return [json.loads(m) for m in messages]

    def requests(self, client_hash):
        return self.call(f"/requests/{client_hash}")["data"]

    def fail_next(self, client_hash, status, count=1, retry_after=None):
        self.call(f"/fail-next/{client_hash}", {"status": status, "count": count, "retry_after": retry_after})

    def expire(self, client_hash):
        self.call(f"/expire-subscription/{client_hash}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def push_service():
    service = WebPushService()
    yield service
    service.stop()


class Gateway:
    """A webhook push gateway on 127.0.0.1: records every POST; answers each with the next of
    `answers` (status, headers), then 200."""

    def __init__(self):
        self.posts = []
        self.answers = []
        self.changed = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with gateway.changed:
                    status, headers = gateway.answers.pop(0) if gateway.answers else (200, {})
                    gateway.posts.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(body), "status": status})
                    gateway.changed.notify_all()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/_notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_posts(self, n):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.posts) >= n, TIMEOUT), self.posts
            return list(self.posts)

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.stop()


def push_server(tmp_path, *args, env=None):
    return Server(tmp_path / "data", *FAST, "--vapid-subject", SUBJECT, *args, env=env).start()


def subscribe_browser(server, service, token):
    """A Web Push subscription of this login session, made with the server's VAPID key."""
    key = server.api("GET", "/push/vapid-public-key")["public_key"]
    subscription, client_hash = service.subscribe(key)
    created = server.api("POST", "/push/subscriptions", subscription, token, expect=201)
    assert created["type"] == "web_push" and created["current"] is True
    assert created["endpoint"] == subscription["endpoint"] and "keys" not in created
    return created, client_hash


def check_vapid(authorization, audience, public_key):
    """The Authorization header of RFC 8292: its JWT's signature (with k), aud, exp and sub."""
    m = re.fullmatch(r"vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)", authorization)
    assert m, authorization
    header, claims, signature, k = m.groups()
    assert b64d(k) == b64d(public_key)
    assert json.loads(b64d(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = b64d(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(k))
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64d(claims))
    assert claims["aud"] == audience
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_an_offline_recipient_gets_exactly_one_web_push(tmp_path, push_service):
    s = push_server(tmp_path)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        sent = s.api("POST", "/chat/send", {"recipient": "bob", "message": "hello bob"}, alice["token"])
        notes = wait_until("the push", lambda: push_service.notifications(client_hash))
        settled(s)
        notes = push_service.notifications(client_hash)
        assert len(notes) == 1, notes
        assert notes[0] == {"type": "message", "conv": sent["conv"], "group": False, "title": "alice",
                            "sender": "alice", "seq": 1, "count": 1, "preview": "hello bob",
                            "body": "hello bob"}
        (request,) = push_service.requests(client_hash)
        headers = request["headers"]
        check_vapid(headers["authorization"], f"http://127.0.0.1:{push_service.port}",
                    s.api("GET", "/push/vapid-public-key")["public_key"])
        assert 23 * 3600 < int(headers["ttl"]) <= 24 * 3600
        assert re.fullmatch(r"[\w-]{1,32}", headers["topic"])
        assert headers["urgency"] == "normal"
        # (web-push-testing renames the header before anything else sees it)
        assert headers["x-content-encoding"] == "aes128gcm"
        assert metric(s, "parley_push_total", '{outcome="sent"}') == 1
    finally:
        s.stop()


def test_an_online_recipient_who_reports_delivery_gets_none(tmp_path, push_service):
    s = push_server(tmp_path)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        ws = s.ws(bob["token"])
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "hi"}, alice["token"])
        event = ws.event("message")
        ws.ok("delivered", conv=event["msg"]["conv"], seq=event["msg"]["seq"])
        wait_until("the burst to be skipped",
                   lambda: metric(s, "parley_push_skipped_total", '{reason="delivered"}') == 1)
        settled(s)
        assert push_service.notifications(client_hash) == []
        assert metric(s, "parley_push_total", '{outcome="sent"}') == 0
        ws.close()
    finally:
        s.stop()


def test_a_recipient_whose_only_session_stalls_gets_one_after_the_delay(tmp_path, push_service):
    s = push_server(tmp_path)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        ws = s.ws(bob["token"])  # connected, but never reports delivery
        started = time.monotonic()
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "are you there?"}, alice["token"])
        ws.event("message")
        notes = wait_until("the push", lambda: push_service.notifications(client_hash))
        assert time.monotonic() - started >= 1.5, "online: the sessions had --push-online-delay-ms first"
        settled(s)
        assert [n["preview"] for n in push_service.notifications(client_hash)] == ["are you there?"]
        ws.close()
    finally:
        s.stop()


def test_a_burst_is_one_notification_and_a_muted_chat_none(tmp_path, push_service):
    s = Server(tmp_path / "data", "--push-coalesce-ms", "1000", "--vapid-subject", SUBJECT,
               "--web-push-services", "127.0.0.1").start()
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        ws = s.ws(alice["token"])
        for text in ("one", "two", "three"):
            sent = ws.send_msg(text, to="bob")
        conv = sent["conv"]
        notes = wait_until("the push", lambda: push_service.notifications(client_hash))
        settled(s)
        notes = push_service.notifications(client_hash)
        assert len(notes) == 1, notes
        assert notes[0]["count"] == 3 and notes[0]["seq"] == 3 and notes[0]["body"] == "3 new messages"
        assert notes[0]["preview"] == "three"

        # Muted: nothing, until unmuted.
        token = bob["token"]
        until = "2999-01-01T00:00:00Z"
        muted = s.api("PUT", f"/conversations/{conv}/notifications", {"muted_until": until}, token)
        assert muted == {"conv": conv, "muted_until": "2999-01-01T00:00:00.000Z"}
        assert s.api("GET", f"/conversations/{conv}/notifications", token=token)["muted_until"].startswith("2999")
        ws.send_msg("psst", to="bob")
        wait_until("the muted burst to be skipped",
                   lambda: metric(s, "parley_push_skipped_total", '{reason="muted"}') == 1)
        s.api("PUT", f"/conversations/{conv}/notifications", {"muted_until": None}, token)
        assert s.api("GET", f"/conversations/{conv}/notifications", token=token)["muted_until"] is None
        ws.send_msg("back", to="bob")
        wait_until("the next push", lambda: len(push_service.notifications(client_hash)) == 2)
        assert push_service.notifications(client_hash)[1]["preview"] == "back"
        # Bad input changes nothing.
        for body, code in (({"muted_until": "tomorrow"}, 400), ({}, 400)):
            status, _, _ = s.request("PUT", f"/conversations/{conv}/notifications", body, token)
            assert status == code
        carol = s.register("carol")
        status, _, _ = s.request("PUT", f"/conversations/{conv}/notifications", {"muted_until": until},
                                 carol["token"])
        assert status == 404
        assert s.api("GET", f"/conversations/{conv}/notifications", token=token)["muted_until"] is None
        ws.close()
    finally:
        s.stop()


def test_an_encrypted_chat_or_previews_off_carry_no_text(tmp_path, push_service):
    s = push_server(tmp_path, "--push-previews", "false")
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "top secret"}, alice["token"])
        (note,) = wait_until("the push", lambda: push_service.notifications(client_hash))
        assert "preview" not in note and note["body"] == "New message"
        assert "secret" not in json.dumps(note)
    finally:
        s.stop()


def test_an_end_to_end_encrypted_chat_has_no_preview(tmp_path, push_service):
    from e2ee_client import Device
    s = push_server(tmp_path)
    try:
        s.register("alice")
        s.register("bob")
        alice, bob = Device(s, "alice", "phone"), Device(s, "bob", "phone")
        _, client_hash = subscribe_browser(s, push_service, bob.token)
        conv = alice.api("POST", "/conversations/direct", {"recipient": "bob", "e2ee": True})["id"]
        envelope = alice.encrypt(conv, ["alice", "bob"], "the launch code is 1234")
        alice.api("POST", "/chat/send", {"recipient": "bob", "message": envelope})
        (note,) = wait_until("the push", lambda: push_service.notifications(client_hash))
        assert note["sender"] == "alice" and note["count"] == 1 and note["conv"] == conv
        assert "preview" not in note and note["body"] == "New message"
        assert "1234" not in json.dumps(note)
    finally:
        s.stop()


def test_a_subscription_the_service_says_is_gone_is_removed(tmp_path, push_service):
    s = push_server(tmp_path)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        created, client_hash = subscribe_browser(s, push_service, bob["token"])
        push_service.expire(client_hash)
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "hi"}, alice["token"])
        wait_until("the 410", lambda: metric(s, "parley_push_total", '{outcome="gone"}') == 1)
        assert [r["status"] for r in push_service.requests(client_hash)] == [410]
        assert s.api("GET", "/push/subscriptions", token=bob["token"]) == {"subscriptions": []}
        s.wait_log("event=push_subscription_gone", f"subscription={created['id']}", "status=410")
    finally:
        s.stop()


def test_a_503_is_retried_after_its_retry_after(tmp_path, push_service):
    s = push_server(tmp_path)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        _, client_hash = subscribe_browser(s, push_service, bob["token"])
        push_service.fail_next(client_hash, 503, count=1, retry_after="1")
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "again"}, alice["token"])
        wait_until("the retried push", lambda: push_service.notifications(client_hash))
        settled(s)
        first, second = push_service.requests(client_hash)
        assert (first["status"], second["status"]) == (503, 201)
        # The same notification both times (its topic), and one shown.
        assert first["headers"]["topic"] == second["headers"]["topic"]
        assert [n["preview"] for n in push_service.notifications(client_hash)] == ["again"]
        assert metric(s, "parley_push_total", '{outcome="retried"}') == 1
        line = s.wait_log("event=push_retry", "status=503")
        assert int(re.search(r"in_ms=(\d+)", line).group(1)) >= 1000, "Retry-After: 1 honoured"
    finally:
        s.stop()


def test_subscriptions_are_checked_listed_removed_and_end_with_the_login(tmp_path, push_service, gateway):
    s = push_server(tmp_path, "--push-gateways", gateway.url)
    try:
        bob = s.register("bob")
        token = bob["token"]
        key = s.api("GET", "/push/vapid-public-key")["public_key"]
        good, _ = push_service.subscribe(key)
        bad = [
            ({"endpoint": good["endpoint"], "keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]}}, 400),
            ({"endpoint": good["endpoint"], "keys": {"p256dh": good["keys"]["p256dh"], "auth": "x"}}, 400),
            ({"endpoint": "ftp://push.example/1", "keys": good["keys"]}, 400),
            ({"endpoint": "http://push.example/1", "keys": good["keys"]}, 400),
            ({"endpoint": "https://push.example:99999/1", "keys": good["keys"]}, 400),  # no such port
            ({"type": "carrier-pigeon"}, 400),
            ({"endpoint": "https://internal.example/_bulk", "keys": good["keys"]}, 403),
            ({"type": "webhook", "url": "http://127.0.0.1:1/elsewhere", "pushkey": "k"}, 403),
            ({"type": "webhook", "url": gateway.url + "-not/really", "pushkey": "k"}, 403),
            ({"type": "webhook", "url": gateway.url}, 400),
            ({"type": "fcm", "token": "abc"}, 503),
        ]
        for body, code in bad:
            status, answer, _ = s.request("POST", "/push/subscriptions", body, token)
            assert status == code, (body, answer)
        assert s.api("GET", "/push/subscriptions", token=token) == {"subscriptions": []}
        status, _, _ = s.request("POST", "/push/subscriptions", good)
        assert status == 401

        web = s.api("POST", "/push/subscriptions", good, token, expect=201)
        other = s.login("bob")  # a second device
        hook = s.api("POST", "/push/subscriptions",
                     {"type": "webhook", "url": gateway.url + "/v1", "pushkey": "device-7", "token": "s3cret"},
                     other["token"], expect=201)
        listed = s.api("GET", "/push/subscriptions", token=token)["subscriptions"]
        assert [(x["id"], x["type"], x["current"]) for x in listed] == [(web["id"], "web_push", True),
                                                                       (hook["id"], "webhook", False)]
        assert "s3cret" not in json.dumps(listed)
        assert listed[1]["url"] == gateway.url + "/v1" and listed[1]["pushkey"] == "device-7"
        # Another user cannot remove it; the owner can, once.
        eve = s.register("eve")
        status, _, _ = s.request("DELETE", f"/push/subscriptions/{web['id']}", token=eve["token"])
        assert status == 404
        s.api("DELETE", f"/push/subscriptions/{web['id']}", token=token)
        status, _, _ = s.request("DELETE", f"/push/subscriptions/{web['id']}", token=token)
        assert status == 404
        # Logging out ends the session's subscription.
        s.api("POST", "/auth/logout", token=other["token"])
        assert s.api("GET", "/push/subscriptions", token=token) == {"subscriptions": []}
    finally:
        s.stop()


def test_a_webhook_gateway_gets_the_notification_with_its_token_and_key(tmp_path, gateway):
    s = push_server(tmp_path, "--push-gateways", gateway.url)
    try:
        alice, bob = s.register("alice"), s.register("bob")
        group = s.api("POST", "/groups/create", {"name": "Team", "members": ["bob"]}, alice["token"],
                      expect=201)
        s.api("POST", "/push/subscriptions", {"type": "webhook", "url": gateway.url, "pushkey": "phone-1",
                                              "token": "gateway-token"}, bob["token"], expect=201)
        gateway.answers.append((429, {"Retry-After": "0"}))
        s.api("POST", f"/groups/{group['id']}/send", {"message": "standup in 5"}, alice["token"])
        first, second = gateway.wait_posts(2)
        assert (first["status"], second["status"]) == (429, 200)
        assert first["body"] == second["body"]
        assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
        assert second["headers"]["Authorization"] == "Bearer gateway-token"
        assert second["path"] == "/_notify"
        n = second["body"]["notification"]
        assert n["id"] == second["headers"]["Idempotency-Key"]
        assert n["devices"] == [{"pushkey": "phone-1"}]
        assert (n["conv"], n["group"], n["title"], n["sender"], n["seq"], n["count"]) == (
            group["id"], True, "Team", "alice", 1, 1)
        assert n["preview"] == "standup in 5" and n["body"] == "alice: standup in 5"
        settled(s)
        assert len(gateway.posts) == 2
    finally:
        s.stop()


def test_a_kill_between_the_send_and_its_bookkeeping_resends_under_the_same_key(tmp_path, gateway):
    """The job is deleted only after the gateway answered: killed in between, the node sends it
    again after the restart — under the same idempotency key, so the gateway shows it once."""
    s = push_server(tmp_path, "--push-gateways", gateway.url,
                    env={"PARLEY_FAULT_PUSH_KILL_AFTER_SENDS": "1"})
    alice, bob = s.register("alice"), s.register("bob")
    s.api("POST", "/push/subscriptions", {"type": "webhook", "url": gateway.url, "pushkey": "p"},
          bob["token"], expect=201)
    s.api("POST", "/chat/send", {"recipient": "bob", "message": "survive this"}, alice["token"])
    gateway.wait_posts(1)
    s.proc.wait(TIMEOUT)
    assert s.proc.returncode == -9, "killed by its fault hook after the send"
    s.env = None
    s.start()
    try:
        first, again = gateway.wait_posts(2)
        assert first["headers"]["Idempotency-Key"] == again["headers"]["Idempotency-Key"]
        assert first["body"] == again["body"]
        settled(s)
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "and this"}, alice["token"])
        posts = gateway.wait_posts(3)
        settled(s)
        assert len(gateway.posts) == 3
        assert len({p["headers"]["Idempotency-Key"] for p in posts}) == 2, "one notification per message"
        assert posts[2]["body"]["notification"]["preview"] == "and this"
    finally:
        s.stop()


def kill_between_the_commit_and_the_note(s, gateway):
    """Bob subscribed through the gateway; alice's first message pushed and its job recorded;
    her second committed by a node that then kills itself before the dispatcher hears of it
    (PARLEY_FAULT_PUSH_KILL_BEFORE_NOTE=2); the node restarted without the fault."""
    alice, bob = s.register("alice"), s.register("bob")
    s.api("POST", "/push/subscriptions", {"type": "webhook", "url": gateway.url, "pushkey": "p"},
          bob["token"], expect=201)
    s.api("POST", "/chat/send", {"recipient": "bob", "message": "first"}, alice["token"])
    gateway.wait_posts(1)
    settled(s)  # its job recorded as sent: a kill now cannot send it again
    ws = s.ws(alice["token"])
    ws.start("send", to="bob", client_msg_id="second", body="second")  # committed, then killed
    s.proc.wait(TIMEOUT)
    assert s.proc.returncode == -9
    s.env = None
    s.start()


def test_a_kill_between_the_commit_and_the_note_still_pushes_after_the_restart(tmp_path, gateway):
    """The notes wait in memory for a moment: killed then, the node notes the message again at
    start (from the newest message it had noted), and the push goes out."""
    s = push_server(tmp_path, "--push-gateways", gateway.url,
                    env={"PARLEY_FAULT_PUSH_KILL_BEFORE_NOTE": "2"})
    kill_between_the_commit_and_the_note(s, gateway)
    try:
        _, second = gateway.wait_posts(2)
        assert second["body"]["notification"]["preview"] == "second"
        assert second["body"]["notification"]["seq"] == 2
        s.wait_log("event=push_recovered")
        settled(s)
        assert len(gateway.posts) == 2, "the first message was not pushed again"
    finally:
        s.stop()


def test_pushes_on_the_postgresql_store(tmp_path, postgres_url, gateway):
    """The cluster's tables (claims with SKIP LOCKED, leases) on a node of the PostgreSQL store."""
    s = Server(tmp_path / "data", "--store", postgres_url, *FAST, "--push-gateways", gateway.url).start()
    try:
        alice, bob = s.register("alice"), s.register("bob")
        s.api("POST", "/push/subscriptions", {"type": "webhook", "url": gateway.url, "pushkey": "p"},
              bob["token"], expect=201)
        ws = s.ws(alice["token"])
        for text in ("a", "b"):
            ws.send_msg(text, to="bob")
        (post,) = gateway.wait_posts(1)
        assert post["body"]["notification"]["sender"] == "alice"
        settled(s)
        assert len(gateway.posts) == 1
        assert post["body"]["notification"]["seq"] == 2
        ws.close()
    finally:
        s.stop()


def test_on_postgresql_a_message_is_noted_with_its_commit_so_a_kill_loses_no_push(tmp_path, postgres_url,
                                                                                 gateway):
    """On PostgreSQL (a cluster's store) the note is written in the transaction that stores the
    message: a node killed right after the commit, before the dispatcher hears of it, still
    pushes it after the restart (the embedded node's recovery is not needed or used)."""
    args = ("--store", postgres_url, *FAST, "--push-gateways", gateway.url)
    s = Server(tmp_path / "data", *args, env={"PARLEY_FAULT_PUSH_KILL_BEFORE_NOTE": "2"}).start()
    kill_between_the_commit_and_the_note(s, gateway)
    try:
        _, second = gateway.wait_posts(2)
        assert second["body"]["notification"]["preview"] == "second"
        assert second["body"]["notification"]["seq"] == 2
        settled(s)
        assert len(gateway.posts) == 2, "the first message was not pushed again"
        assert not any("event=push_recovered" in line for line in s.log_lines)
    finally:
        s.stop()


def public_key(server):
    status, body, _ = server.request("GET", "/push/vapid-public-key")
    assert status == 200
    raw = base64.urlsafe_b64decode(body["public_key"] + "=" * (-len(body["public_key"]) % 4))
    assert len(raw) == 65 and raw[0] == 4, "an uncompressed P-256 point"
    return raw


def test_the_key_is_made_once_and_kept(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        first = public_key(s)
        pem = tmp_path / "data" / "vapid.pem"
        assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
        s.restart()
        assert public_key(s) == first, "browsers' subscriptions outlive a restart"
    finally:
        s.stop()
    # It is the key in the file.
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    assert key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint) == first


def test_a_configured_key_file(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "vapid.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    s = Server(tmp_path / "data", "--vapid-key-file", str(path), "--vapid-subject", "https://chat.example.com").start()
    try:
        assert public_key(s) == key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        assert not (tmp_path / "data" / "vapid.pem").exists()
    finally:
        s.stop()


def refused(tmp_path, *args):
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"), *args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2, r.stderr
    return r.stderr


def test_bad_settings_are_refused_at_start(tmp_path):
    assert "--vapid-subject must be a mailto: or https: URL" in refused(tmp_path, "--vapid-subject", "ops@example.com")
    (tmp_path / "bad.pem").write_text("not a key")
    assert "--vapid-key-file" in refused(tmp_path, "--vapid-key-file", str(tmp_path / "bad.pem"))


def test_a_cluster_node_without_a_key_file_has_web_push_off(pg_server):
    # Every node of a cluster must subscribe browsers with the same key: it is never made per node.
    status, body, _ = pg_server.request("GET", "/push/vapid-public-key")
    assert status == 404
    assert "--vapid-key-file" in body["error"]["message"]
    pg_server.wait_log("event=web_push_off")


class FakeFcm:
    """FCM's token and send endpoints on 127.0.0.1: the token endpoint checks the JWT assertion's
    signature against the service account's public key and its claims; sends need an issued
    token; a registration token starting with "gone" is UNREGISTERED (404)."""

    def __init__(self, public_key, client_email):
        self.tokens_issued = []
        self.messages = []
        self.changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    form = dict(p.split("=", 1) for p in body.decode().split("&"))
                    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                    header, claims, signature = form["assertion"].split(".")
                    public_key.verify(b64d(signature), f"{header}.{claims}".encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
                    h, c = json.loads(b64d(header)), json.loads(b64d(claims))
                    assert h["alg"] == "RS256" and h["kid"] == "key-1"
                    assert c["iss"] == client_email
                    assert c["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
                    assert c["aud"] == fake.token_url
                    assert 0 < c["exp"] - c["iat"] <= 3600 and abs(c["iat"] - time.time()) < 60
                    token = f"access-{len(fake.tokens_issued) + 1}"
                    with fake.changed:
                        fake.tokens_issued.append(token)
                    return self.answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
                assert self.path == "/v1/projects/parley-test/messages:send", self.path
                if self.headers["Authorization"] not in [f"Bearer {t}" for t in fake.tokens_issued]:
                    return self.answer(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                message = json.loads(body)["message"]
                with fake.changed:
                    fake.messages.append(message)
                    fake.changed.notify_all()
                if message["token"].startswith("gone"):
                    return self.answer(404, {"error": {"code": 404, "status": "NOT_FOUND", "details": [
                        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                         "errorCode": "UNREGISTERED"}]}})
                return self.answer(200, {"name": "projects/parley-test/messages/1"})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_url = self.base + "/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_messages(self, n):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.messages) >= n, TIMEOUT), self.messages
            return list(self.messages)


def test_fcm_sends_with_a_cached_oauth_token_and_drops_unregistered_devices(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = "parley@parley-test.iam.gserviceaccount.com"
    fcm = FakeFcm(key.public_key(), email)
    account = tmp_path / "service-account.json"
    account.write_text(json.dumps({
        "type": "service_account", "project_id": "parley-test", "private_key_id": "key-1",
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": email, "token_uri": fcm.token_url}))
    s = push_server(tmp_path, "--fcm-service-account", str(account), "--fcm-endpoint", fcm.base)
    try:
        alice, bob, carol = s.register("alice"), s.register("bob"), s.register("carol")
        s.api("POST", "/push/subscriptions", {"type": "fcm", "token": "bob-phone"}, bob["token"], expect=201)
        gone = s.api("POST", "/push/subscriptions", {"type": "fcm", "token": "gone-tablet"}, carol["token"],
                     expect=201)
        sent = s.api("POST", "/chat/send", {"recipient": "bob", "message": "from the app"}, alice["token"])
        (first,) = fcm.wait_messages(1)
        assert first["token"] == "bob-phone"
        assert first["data"]["conv"] == sent["conv"] and first["data"]["seq"] == "1"
        assert first["data"]["preview"] == "from the app" and first["data"]["sender"] == "alice"
        assert first["notification"] == {"title": "alice", "body": "from the app"}
        assert first["android"]["collapse_key"] == first["apns"]["headers"]["apns-collapse-id"]
        settled(s)
        s.api("POST", "/chat/send", {"recipient": "carol", "message": "hi carol"}, alice["token"])
        fcm.wait_messages(2)
        wait_until("the unregistered device's removal",
                   lambda: metric(s, "parley_push_total", '{outcome="gone"}') == 1)
        assert s.api("GET", "/push/subscriptions", token=carol["token"]) == {"subscriptions": []}
        s.wait_log("event=push_subscription_gone", f"subscription={gone['id']}", "status=404")
        assert fcm.tokens_issued == ["access-1"], "one access token, cached across sends"
    finally:
        s.stop()
        fcm.server.shutdown()


def test_a_bad_fcm_service_account_is_refused_at_start(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"project_id": "p", "client_email": "e",
                                                   "private_key": "not a key", "token_uri": "https://x/t"}))
    assert "private_key is not a PEM RSA private key" in refused(
        tmp_path, "--fcm-service-account", str(tmp_path / "bad.json"))
    assert "cannot read" in refused(tmp_path, "--fcm-service-account", str(tmp_path / "missing.json"))
