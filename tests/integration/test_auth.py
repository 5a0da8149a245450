"""Accounts and tokens over REST: register, login, refresh rotation, logout, /me, and every
kind of bad token."""
import base64
import json
import time

from conftest import make_jwt


def test_register_login_me(server):
    status, body, _ = server.request("POST", "/auth/register",
                                     {"username": "alice", "password": "password-alice"})
    assert status == 201
    assert body["user"]["username"] == "alice"
    status, body, _ = server.request("POST", "/auth/register",
                                     {"username": "alice", "password": "another-password"})
    assert status == 409 and body["error"]["code"] == "conflict"

    login = server.login("alice")
    assert set(login) >= {"token", "refresh_token", "user", "expires_in"}
    me = server.api("GET", "/me", token=login["token"])
    assert me["user"]["username"] == "alice"


def test_bad_credentials_are_401(server):
    server.register("alice")
    for body in ({"username": "alice", "password": "wrong-password"},
                 {"username": "nobody", "password": "password-alice"}):
        status, data, _ = server.request("POST", "/auth/login", body)
        assert status == 401 and data["error"]["code"] == "unauthenticated"


def test_register_validates_input(server):
    for body in ({"username": "a", "password": "password-1"},
                 {"username": "has space", "password": "password-1"},
                 {"username": "bob", "password": "short"},
                 {"username": "bob"}, {"password": "password-1"},
                 {"username": 5, "password": "password-1"}):
        status, data, _ = server.request("POST", "/auth/register", body)
        assert status == 400, body
        assert data["error"]["code"] == "bad_request"
    # None of them created bob.
    status, _, _ = server.request("POST", "/auth/login", {"username": "bob", "password": "password-1"})
    assert status == 401


def test_refresh_rotates_and_old_token_stops_working(server):
    first = server.register("alice")
    second = server.api("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    assert server.api("GET", "/me", token=second["token"])["user"]["username"] == "alice"
    status, data, _ = server.request("POST", "/auth/refresh",
                                     {"refresh_token": first["refresh_token"]})
    assert status == 401
    third = server.api("POST", "/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert third["token"]


def test_logout_revokes_the_session(server):
    login = server.register("alice")
    other = server.login("alice")  # another device
    server.api("POST", "/auth/logout", token=login["token"])
    status, _, headers = server.request("GET", "/me", token=login["token"])
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer"
    status, _, _ = server.request("POST", "/auth/refresh", {"refresh_token": login["refresh_token"]})
    assert status == 401
    # The other session is untouched.
    assert server.api("GET", "/me", token=other["token"])["user"]["username"] == "alice"


def test_bad_tokens_are_401(server):
    login = server.register("alice")
    uid, now = login["user"]["id"], int(time.time())
    claims = {"sub": str(uid), "name": "alice", "sid": 1, "iat": now}
    good = make_jwt({**claims, "exp": now + 600})
    assert server.api("GET", "/me", token=good)["user"]["username"] == "alice"

    expired = make_jwt({**claims, "exp": now - 1})
    forged = make_jwt({**claims, "exp": now + 600}, secret="not-the-server-secret-at-all-00000")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    alg_none = none_header + "." + good.split(".")[1] + "."
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for token in (expired, forged, alg_none, tampered, "garbage", ""):
        status, data, _ = server.request("GET", "/me", token=token or None)
        assert status == 401, token
        assert data["error"]["code"] == "unauthenticated"
    status, _, _ = server.request("GET", "/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert status == 401


def test_logout_closes_that_sessions_websockets_only(server):
    from websockets.exceptions import ConnectionClosed
    import pytest
    laptop = server.register("alice")
    phone = server.login("alice")
    on_laptop = server.ws(token=laptop["token"])
    on_phone = server.ws(token=phone["token"])
    server.api("POST", "/auth/logout", token=laptop["token"])
    assert on_laptop.event("session") == {"ev": "session", "change": "revoked"}
    with pytest.raises(ConnectionClosed) as e:
        on_laptop.conn.recv(timeout=5)
    assert e.value.rcvd.code == 4001
    assert on_phone.ok("ping")  # the other device stays connected
    assert [ev for ev in on_phone.events if ev["ev"] == "session"] == []
