"""Accounts people can trust (docs/protocol.md, "Sessions and devices", "Tokens that expire",
"Rate limits"): login sessions listed and ended by their owner, logout everywhere, live
connections that end with their token, and limits on guessing passwords and on registrations —
counted per client address (a second loopback address, 127.0.0.2, is a second client), behind
trusted proxies, and across the nodes of a cluster in Redis."""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import random
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import TIMEOUT


def call(server, method, path, body=None, token=None, source="127.0.0.1", headers=None):
    """A REST call from the loopback address `source`: (status, JSON, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT,
                                      source_address=(source, 0))
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None), dict(resp.getheaders())


def login(server, username, password=None, device=None, source="127.0.0.1"):
    body = {"username": username, "password": password or f"password-{username}"}
    if device:
        body["device"] = device
    return call(server, "POST", "/auth/login", body, source=source)


def assert_closed_with(ws, code):
    with pytest.raises(ConnectionClosed) as e:
        while True:
            ws._read()
    assert e.value.rcvd.code == code


# ---- sessions and devices

def test_sessions_are_listed_and_ending_one_closes_its_connections(server):
    server.register("alice")
    server.register("bob")
    _, phone, _ = login(server, "alice", device="phone")
    _, laptop, _ = login(server, "alice", device="laptop")
    sessions = server.api("GET", "/auth/sessions", token=laptop["token"])["sessions"]
    by_device = {s["device"]: s for s in sessions}
    assert {"phone", "laptop"} <= set(by_device)
    assert len(sessions) == 3  # register's login too
    assert by_device["laptop"]["current"] and not by_device["phone"]["current"]
    assert by_device["phone"]["provider"] == "password"
    assert set(by_device["phone"]) == {"id", "device", "provider", "created_at", "last_used_at",
                                       "current"}

    on_phone = server.ws(token=phone["token"])
    on_laptop = server.ws(token=laptop["token"])
    # Nobody else can end alice's session, nor learn that it exists; bad ids are 400.
    bob = server.login("bob")
    status, body, _ = call(server, "DELETE", f"/auth/sessions/{by_device['phone']['id']}",
                           token=bob["token"])
    assert status == 404 and body["error"]["code"] == "not_found"
    for bad in ("abc", "0", "-1"):
        assert call(server, "DELETE", f"/auth/sessions/{bad}", token=laptop["token"])[0] == 400
    assert server.api("GET", "/me", token=phone["token"])  # still fine

    server.api("DELETE", f"/auth/sessions/{by_device['phone']['id']}", token=laptop["token"])
    assert on_phone.event("session") == {"ev": "session", "change": "revoked"}
    assert_closed_with(on_phone, 4001)
    assert call(server, "GET", "/me", token=phone["token"])[0] == 401
    assert call(server, "POST", "/auth/refresh", {"refresh_token": phone["refresh_token"]})[0] == 401
    assert on_laptop.ok("ping")
    remaining = server.api("GET", "/auth/sessions", token=laptop["token"])["sessions"]
    assert [s["device"] for s in remaining if s["device"] == "phone"] == []
    # Ending it again: it is over.
    status, _, _ = call(server, "DELETE", f"/auth/sessions/{by_device['phone']['id']}",
                        token=laptop["token"])
    assert status == 404


def test_logout_all_ends_every_session_and_connection_of_the_user_only(server):
    first = server.register("alice")
    second = server.login("alice")
    bob = server.register("bob")
    sockets = [server.ws(token=first["token"]), server.ws(token=second["token"])]
    bobs = server.ws(token=bob["token"])
    ended = server.api("POST", "/auth/logout-all", token=second["token"])
    assert ended == {"ok": True, "sessions_ended": 2}
    for ws in sockets:
        assert ws.event("session")["change"] == "revoked"
        assert_closed_with(ws, 4001)
    for login_ in (first, second):
        assert call(server, "GET", "/me", token=login_["token"])[0] == 401
        assert call(server, "POST", "/auth/refresh",
                    {"refresh_token": login_["refresh_token"]})[0] == 401
    assert bobs.ok("ping")
    fresh = server.login("alice")  # the password still works
    assert [s["current"] for s in server.api("GET", "/auth/sessions",
                                             token=fresh["token"])["sessions"]] == [True]


# ---- tokens that expire

def test_a_connection_whose_token_expires_must_renew_it_or_is_closed(server_factory):
    server = server_factory("--access-token-ttl", "4", "--reauth-grace-ms", "2000")
    bob = server.register("bob")  # first: password hashing is slow under ASan
    alice = server.register("alice")
    silent = server.ws(token=alice["token"])
    renewing = server.ws(token=alice["token"])

    expired = renewing.event("session", timeout=10)
    assert expired == {"ev": "session", "change": "expired", "grace_ms": 2000}
    # Until it renews, the session does nothing else.
    refused = renewing.request("ping")
    assert not refused["ok"] and refused["error"]["code"] == "unauthenticated"
    # Another user's token does not renew it. New tokens come from refresh (no password).
    bob = server.api("POST", "/auth/refresh", {"refresh_token": bob["refresh_token"]})
    wrong = renewing.request("auth", token=bob["token"])
    assert not wrong["ok"] and wrong["error"]["code"] == "forbidden"
    fresh = server.api("POST", "/auth/refresh", {"refresh_token": alice["refresh_token"]})
    renewed = renewing.request("auth", token=fresh["token"])
    assert renewed["ok"] and renewed["user"]["username"] == "alice"

    assert silent.event("session", timeout=10)["change"] == "expired"
    assert_closed_with(silent, 4001)
    # The renewed session lives on past the grace that closed the other one (both tokens expired
    # together), and still gets its events.
    bob = server.api("POST", "/auth/refresh", {"refresh_token": bob["refresh_token"]})
    server.api("POST", "/chat/send", {"recipient": "alice", "message": "still there?"},
               token=bob["token"])
    assert renewing.event("message")["msg"]["body"] == "still there?"


def test_token_expiry_holds_over_socket_io_and_server_sent_events(server_factory):
    from test_event_streams import SseStream
    from test_socketio import Sio
    server = server_factory("--access-token-ttl", "6", "--reauth-grace-ms", "2000")
    alice = server.register("alice")
    silent, renewing = Sio(server), Sio(server)
    for sio in (silent, renewing):
        assert sio.connect({"token": alice["token"]}).startswith("0{")
    stream = SseStream(server, token=alice["token"])
    assert stream.status == 200

    assert renewing.event("session") == {"ev": "session", "change": "expired", "grace_ms": 2000}
    fresh = server.api("POST", "/auth/refresh", {"refresh_token": alice["refresh_token"]})
    renewed = renewing.call("auth", token=fresh["token"])  # Socket.IO: the `auth` event
    assert renewed["ok"] and renewed["user"]["username"] == "alice"
    # The one that did not renew leaves the namespace once the grace is over; so does the event
    # stream (it cannot send auth: it reconnects with a new token and resumes).
    assert silent.event("session")["change"] == "expired"
    assert silent.next_sio(timeout=10) == "1"
    assert stream.until("session")[2]["change"] == "expired"
    while stream.next(timeout=10) is not None:
        pass  # ends
    assert renewing.call("ping")["ok"]


# ---- a second factor (TOTP)

def totp(secret_b32, step):
    """RFC 6238: the 6-digit code of a 30-second step, as an authenticator app shows it."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 15
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def test_a_second_factor_is_enrolled_asked_for_used_once_and_recovered(server):
    alice = server.register("alice")
    # The password again: a stolen access token alone cannot put a second factor on.
    assert call(server, "POST", "/auth/mfa/totp", {"password": "wrong-password"},
                token=alice["token"])[0] == 401
    assert call(server, "POST", "/auth/mfa/totp", {}, token=alice["token"])[0] == 400
    enrolled = server.api("POST", "/auth/mfa/totp", {"password": "password-alice"},
                          token=alice["token"])
    secret = enrolled["secret"]
    assert enrolled["otpauth_uri"] == (f"otpauth://totp/Parley:alice?secret={secret}"
                                       "&issuer=Parley&algorithm=SHA1&digits=6&period=30")
    assert server.login("alice")["token"]  # not on until confirmed
    step = int(time.time()) // 30
    status, body, _ = call(server, "POST", "/auth/mfa/totp/confirm",
                           {"code": totp(secret, step + 5)}, token=alice["token"])
    assert status == 401  # not a code of now
    confirmed = server.api("POST", "/auth/mfa/totp/confirm", {"code": totp(secret, step)},
                           token=alice["token"])
    recovery = confirmed["recovery_codes"]
    assert len(recovery) == 10 and len(set(recovery)) == 10

    # The password alone is no longer enough.
    status, body, _ = login(server, "alice")
    assert status == 401 and body["error"]["code"] == "mfa_required"
    challenge = body["error"]["challenge"]
    # The confirming code's step is spent; the next step's code (within the window) works once.
    for code, expected in ((totp(secret, step), 401), (totp(secret, step + 1), 200),
                           (totp(secret, step + 1), 401)):
        status, body, _ = call(server, "POST", "/auth/login/mfa",
                               {"challenge": challenge, "code": code})
        assert status == expected, (code, body)
    # A recovery code works once too; a forged challenge never.
    status, body, _ = call(server, "POST", "/auth/login/mfa",
                           {"challenge": challenge, "code": recovery[0]})
    assert status == 200 and body["user"]["username"] == "alice"
    assert call(server, "POST", "/auth/login/mfa",
                {"challenge": challenge, "code": recovery[0]})[0] == 401
    forged = challenge[:-4] + ("AAAA" if not challenge.endswith("AAAA") else "BBBB")
    assert call(server, "POST", "/auth/login/mfa",
                {"challenge": forged, "code": recovery[1]})[0] == 401
    # Enrolling again needs the factor off first; a recovery code turns it off.
    token = body["token"]
    assert call(server, "POST", "/auth/mfa/totp", {"password": "password-alice"},
                token=token)[0] == 409
    assert server.api("DELETE", "/auth/mfa/totp", {"code": recovery[1]}, token=token)
    assert server.login("alice")["token"]


def test_guessing_a_second_factor_code_backs_off(server):
    alice = server.register("alice")
    secret = server.api("POST", "/auth/mfa/totp", {"password": "password-alice"},
                        token=alice["token"])["secret"]
    step = int(time.time()) // 30
    server.api("POST", "/auth/mfa/totp/confirm", {"code": totp(secret, step)},
               token=alice["token"])
    challenge = login(server, "alice")[1]["error"]["challenge"]
    statuses = [call(server, "POST", "/auth/login/mfa",
                     {"challenge": challenge, "code": f"{n:06d}"})[0] for n in range(8)]
    assert statuses[:6] == [401] * 6 and statuses[6:] == [429, 429], statuses
    # A fresh challenge (the password again) does not reset it: the limit is alice's.
    challenge = login(server, "alice", source="127.0.0.2")[1]["error"]["challenge"]
    assert call(server, "POST", "/auth/login/mfa",
                {"challenge": challenge, "code": totp(secret, step + 1)})[0] == 429


# ---- rate limits

def test_guessing_a_password_backs_off_while_the_owner_elsewhere_gets_in(server):
    server.register("alice")
    statuses = []
    for _ in range(20):
        status, body, headers = login(server, "alice", "wrong-password")
        statuses.append(status)
        if status == 429:
            assert body["error"]["code"] == "rate_limited"
            assert int(headers["Retry-After"]) >= 1
    # --login-free-failures 10 per address, half as many per account and address: the 6th
    # failure locks this address out of alice's account (1 s, then 2, 4…), so the rest wait.
    assert statuses[:6] == [401] * 6, statuses
    assert statuses[6] == 429 and statuses[-1] == 429 and set(statuses) == {401, 429}, statuses
    # The attacker's address is locked even for the right password; the owner's is not.
    assert login(server, "alice")[0] == 429
    status, body, _ = login(server, "alice", source="127.0.0.2")
    assert status == 200 and body["user"]["username"] == "alice"
    # Unknown accounts back off the same way: the limit tells nothing about who exists.
    statuses = [login(server, "nobody", "whatever-pw", source="127.0.0.3")[0] for _ in range(12)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses


def test_guessing_a_group_passcode_backs_off(server):
    alice = server.register("alice")
    bob = server.register("bob")
    group = server.api("POST", "/groups/create", {"name": "club", "passcode": "open sesame"},
                       token=alice["token"], expect=201)["id"]
    statuses = [call(server, "POST", f"/groups/{group}/join", {"passcode": f"guess-{i}"},
                     token=bob["token"])[0] for i in range(8)]
    assert statuses[:6] == [403] * 6 and statuses[6:] == [429, 429], statuses
    status, _, headers = call(server, "POST", f"/groups/{group}/join", {"passcode": "open sesame"},
                              token=bob["token"])
    assert status == 429 and int(headers["Retry-After"]) >= 1  # even the right one, for now
    carol = server.register("carol")  # another user is not held up
    assert call(server, "POST", f"/groups/{group}/join", {"passcode": "open sesame"},
                token=carol["token"])[0] == 200


def test_a_registration_flood_is_refused_and_creates_nothing(server_factory):
    server = server_factory("--register-limit", "5")
    statuses = [call(server, "POST", "/auth/register",
                     {"username": f"flood{i}", "password": "flood-password"})[0] for i in range(8)]
    assert statuses == [201] * 5 + [429] * 3
    status, body, headers = call(server, "POST", "/auth/register",
                                 {"username": "flood9", "password": "flood-password"})
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 3600
    assert login(server, "flood6", "flood-password", source="127.0.0.9")[0] == 401  # never made
    assert call(server, "POST", "/auth/register", {"username": "other", "password": "other-pass"},
                source="127.0.0.2")[0] == 201


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(server_factory):
    server = server_factory("--register-limit", "2", "--trusted-proxies", "127.0.0.1")

    def register(name, forwarded, source="127.0.0.1"):
        return call(server, "POST", "/auth/register", {"username": name, "password": "pass-word-1"},
                    source=source, headers={"X-Forwarded-For": forwarded})[0]

    assert [register(f"a{i}", "198.51.100.1") for i in range(3)] == [201, 201, 429]
    assert register("b0", "198.51.100.2") == 201
    # A client that prepends a hop is still counted by what the proxy saw.
    assert register("a9", "203.0.113.50, 198.51.100.1") == 429
    # From an address that is not a proxy, the header counts for nothing.
    assert [register(f"c{i}", f"192.0.2.{i}", source="127.0.0.5") for i in range(3)] == \
        [201, 201, 429]


def test_the_encryption_service_is_limited_per_user_on_every_transport(server_factory):
    server = server_factory("--encryption-limit", "3")
    alice = server.register("alice")
    bob = server.register("bob")
    for _ in range(3):
        server.api("POST", "/encrypt", {"message": "x"}, token=alice["token"])
    status, body, headers = call(server, "POST", "/encrypt", {"message": "x"}, token=alice["token"])
    assert status == 429 and "Retry-After" in headers
    ws = server.ws(token=alice["token"])
    refused = ws.request("encrypt", message="x")
    assert not refused["ok"] and refused["error"]["code"] == "rate_limited"
    assert server.api("POST", "/encrypt", {"message": "x"}, token=bob["token"])  # bob's own


def test_a_login_flood_waits_for_the_password_threads_or_is_told_to_retry(server_factory):
    server = server_factory("--password-threads", "1", "--password-queue", "1",
                            "--login-free-failures", "0")
    server.register("alice")
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: login(server, "alice"), range(24)))
    statuses = [status for status, _, _ in results]
    assert 200 in statuses and 503 in statuses, statuses
    assert set(statuses) <= {200, 503}, statuses
    busy = next(r for r in results if r[0] == 503)
    assert busy[1]["error"]["code"] == "unavailable" and busy[2]["Retry-After"] == "1"
    assert login(server, "alice")[0] == 200  # and it recovers


def test_limits_hold_across_the_nodes_of_a_cluster(server_factory, redis_url):
    nodes = [server_factory("--bus", redis_url, "--register-limit", "3") for _ in range(2)]
    # A fresh address each run: the counters outlive the nodes in the suite's shared Redis.
    source = "127.{}.{}.{}".format(*random.sample(range(1, 255), 3))
    statuses = [call(nodes[i % 2], "POST", "/auth/register",
                     {"username": f"n{i}", "password": "pass-word-1"}, source=source)[0]
                for i in range(4)]
    assert statuses == [201, 201, 201, 429]
