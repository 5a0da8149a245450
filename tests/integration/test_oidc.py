"""Sign in with an OpenID provider (docs/protocol.md §2), against a real one: oidc-provider
(tests/oidc, pinned) over HTTPS on loopback, with a CA, certificate and signing keys this module
makes, and Parley trusting that CA for the provider only. The code flow runs without a browser:
an HTTP client with a cookie jar fills in the provider's development login and consent forms.
ID tokens for the backend login (POST /api/auth/login) are signed here with the provider's own
keys, or forged."""
import base64
import datetime
import html
import http.cookiejar
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac as crypto_hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from conftest import TIMEOUT

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROVIDER_JS = os.path.join(ROOT, "tests", "oidc", "provider.mjs")
SECRET = "test-client-secret-0123456789abcdef"
BACKEND_SECRET = "backend-login-secret-0123456789abcdef"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_int(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SigningKey:
    """A provider signing key: its private JWK for oidc-provider, and signing here."""

    def __init__(self, kid, kind="RSA"):
        self.kid, self.kind = kid, kind
        self.key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RSA"
                    else ec.generate_private_key(ec.SECP256R1()))

    @property
    def alg(self):
        return "RS256" if self.kind == "RSA" else "ES256"

    def private_jwk(self):
        if self.kind == "RSA":
            n = self.key.private_numbers()
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64_int(n.public_numbers.n), "e": b64_int(n.public_numbers.e),
                    "d": b64_int(n.d), "p": b64_int(n.p), "q": b64_int(n.q),
                    "dp": b64_int(n.dmp1), "dq": b64_int(n.dmq1), "qi": b64_int(n.iqmp)}
        n = self.key.private_numbers()
        pad = lambda v: b64(v.to_bytes(32, "big"))
        return {"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                "x": pad(n.public_numbers.x), "y": pad(n.public_numbers.y), "d": pad(n.private_value)}

    def sign(self, claims, header=None):
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        signing_input = (b64(json.dumps(header).encode()) + "." +
                         b64(json.dumps(claims).encode())).encode()
        if self.kind == "RSA":
            sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input.decode() + "." + b64(sig)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, and a certificate for 127.0.0.1 that it signed."""
    d = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Parley test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


class Provider:
    """oidc-provider on https://127.0.0.1:PORT with the given signing keys."""

    def __init__(self, tmp_path, pki, keys):
        self.tmp_path, self.pki, self.keys = tmp_path, pki, keys
        self.port = free_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, parley_port):
        callback = f"http://127.0.0.1:{parley_port}/auth/oidc/{{}}/callback"
        clients = [
            {"client_id": "parley", "client_secret": SECRET, "redirect_uris": [
                callback.format(name) for name in ("test", "linked", "nolink")]},
            {"client_id": "parley-es", "client_secret": SECRET,
             "redirect_uris": [callback.format("es")], "id_token_signed_response_alg": "ES256"},
        ]
        config = {"port": self.port, "issuer": self.issuer, "cert": self.pki["cert"],
                  "key": self.pki["key"], "jwks": {"keys": [k.private_jwk() for k in self.keys]},
                  "clients": clients}
        path = self.tmp_path / f"provider-{self.port}.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(["node", PROVIDER_JS, str(path)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "listening", line
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(TIMEOUT)


def parley_config(tmp_path, provider, pki):
    common = f'issuer = "{provider.issuer}"\nclient_secret_env = "TEST_OIDC_SECRET"\n' \
             f'ca_file = "{pki["ca"]}"\n'
    path = tmp_path / "parley.toml"
    path.write_text(
        f'[oidc.test]\n{common}client_id = "parley"\ndisplay_name = "Test ID"\n'
        f'link_by_email = true\n'
        f'[oidc.linked]\n{common}client_id = "parley"\nlink_by_email = true\n'
        f'[oidc.nolink]\n{common}client_id = "parley"\n'
        f'[oidc.es]\n{common}client_id = "parley-es"\nalgorithms = ["ES256"]\n')
    return str(path)


@pytest.fixture
def oidc(tmp_path, pki, server_factory):
    """(parley, provider, rsa key, ec key): a node with four providers on one oidc-provider."""
    rsa_key, ec_key = SigningKey("rsa-1"), SigningKey("ec-1", "EC")
    provider = Provider(tmp_path, pki, [rsa_key, ec_key])
    parley = server_factory("--config", parley_config(tmp_path, provider, pki),
                            "--backend-login-secret", BACKEND_SECRET, "--oidc-key-refetch", "1",
                            env={"TEST_OIDC_SECRET": SECRET})
    provider.start(parley.port)
    yield parley, provider, rsa_key, ec_key
    provider.stop()


# ---- a browser without a browser

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, ca):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            NoRedirect, urllib.request.HTTPCookieProcessor(self.jar),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))

    def get(self, url, data=None):
        try:
            r = self.opener.open(urllib.request.Request(url, data=data), timeout=TIMEOUT)
            return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def to_callback(self, parley, provider_name, login, return_to=None):
        """Starts a sign-in and logs in at the provider; returns the callback URL it sends the
        browser back to (not yet followed)."""
        start = f"http://{parley.base}/auth/oidc/{provider_name}/start"
        if return_to:
            start += "?redirect_uri=" + urllib.parse.quote(return_to, safe="")
        status, headers, body = self.get(start)
        assert status == 302, (status, body)
        url = headers["Location"]
        for _ in range(12):
            status, headers, body = self.get(url)
            if status not in (302, 303):
                # The provider's development interaction: a login form, then a consent form.
                action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', body).group(1))
                fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body))
                if 'name="login"' in body:
                    fields.update({"login": login, "password": "anything"})
                status, headers, body = self.get(urllib.parse.urljoin(url, action),
                                                 urllib.parse.urlencode(fields).encode())
                assert status in (302, 303), (status, body[:300])
            url = urllib.parse.urljoin(url, headers["Location"])
            if url.startswith(f"http://{parley.base}/"):
                return url
        raise AssertionError("the provider never sent the browser back")

    def sign_in(self, parley, provider_name, login):
        status, _, body = self.get(self.to_callback(parley, provider_name, login))
        assert status == 200, body
        return json.loads(body)


# ---- the code flow

def test_the_code_flow_signs_a_new_user_in_and_finds_them_again(oidc, pki):
    parley, _, _, _ = oidc
    providers = parley.api("GET", "/auth/providers")["providers"]
    assert {"name": "test", "display_name": "Test ID",
            "start_url": "/auth/oidc/test/start"} in providers
    assert {p["name"] for p in providers} == {"test", "linked", "nolink", "es"}

    first = Browser(pki["ca"]).sign_in(parley, "test", "carol")
    user = first["user"]
    assert user["username"] == "carol" and user["provider"] == "test"
    assert user["oauth_id"] == "carol" and user["email"] == "carol@example.test"
    assert user["name"] == "User carol" and user["image"] == "https://img.example.test/carol.png"
    me = parley.api("GET", "/me", token=first["token"])["user"]
    assert me == user
    sessions = parley.api("GET", "/auth/sessions", token=first["token"])["sessions"]
    assert [s["provider"] for s in sessions] == ["test"]
    # No password: the provider's own second factor guards the account, not Parley's.
    status, body, _ = parley.request("POST", "/auth/mfa/totp", {"password": "x"},
                                     token=first["token"])
    assert status == 403, body
    # The refresh token works as a password login's does.
    assert parley.api("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]})["token"]

    again = Browser(pki["ca"]).sign_in(parley, "test", "carol")
    assert again["user"]["id"] == user["id"]
    other = Browser(pki["ca"]).sign_in(parley, "test", "dave")
    assert other["user"]["id"] != user["id"]
    # An ES256 provider, pinned to ES256.
    es = Browser(pki["ca"]).sign_in(parley, "es", "erin")
    assert es["user"]["provider"] == "es" and es["user"]["username"] == "erin"


def test_a_verified_email_links_accounts_only_where_the_operator_allows_it(oidc, pki):
    parley, _, _, _ = oidc
    carol = Browser(pki["ca"]).sign_in(parley, "test", "carol")["user"]
    linked = Browser(pki["ca"]).sign_in(parley, "linked", "carol")["user"]
    assert linked["id"] == carol["id"]  # the same verified email, both providers trusted to link
    separate = Browser(pki["ca"]).sign_in(parley, "nolink", "carol")["user"]
    assert separate["id"] != carol["id"]
    assert separate["email"] is None  # the address is carol's account's
    assert separate["username"] == "carol2"
    # An email that a provider not trusted for linking vouched for never pulls a sign-in of a
    # trusted one into its account (it could have been planted there).
    planted = Browser(pki["ca"]).sign_in(parley, "nolink", "dave")["user"]
    assert planted["email"] == "dave@example.test"
    dave = Browser(pki["ca"]).sign_in(parley, "linked", "dave")["user"]
    assert dave["id"] != planted["id"] and dave["email"] is None
    # An unverified email never links.
    Browser(pki["ca"]).sign_in(parley, "test", "unverified-zoe")
    zoe = Browser(pki["ca"]).sign_in(parley, "linked", "unverified-zoe")["user"]
    assert zoe["email"] is None and zoe["provider"] == "linked"


def test_the_callback_refuses_a_wrong_state_a_foreign_flow_and_a_replayed_code(oidc, pki):
    parley, _, _, _ = oidc
    browser = Browser(pki["ca"])
    callback = browser.to_callback(parley, "test", "carol")
    # The state in the URL must be this browser's flow's.
    wrong_state = re.sub(r"state=[^&]+", "state=forged", callback)
    status, _, body = browser.get(wrong_state)
    assert status == 401 and "state" in json.loads(body)["error"]["message"]
    # Another browser (no flow cookie) cannot finish it: login CSRF.
    status, _, _ = Browser(pki["ca"]).get(callback)
    assert status == 401
    # The genuine callback still works once…
    replay = Browser(pki["ca"])
    for cookie in browser.jar:  # the flow's cookie, kept aside
        replay.jar.set_cookie(cookie)
    status, _, body = browser.get(callback)
    assert status == 200, body
    # …and its code never twice: the provider refuses it, with the flow's own cookie.
    status, _, body = replay.get(callback)
    assert status == 401 and "invalid_grant" in json.loads(body)["error"]["message"], body
    # The provider's own refusal.
    status, _, body = browser.get(f"http://{parley.base}/auth/oidc/test/callback?error=access_denied")
    assert status == 401 and "access_denied" in json.loads(body)["error"]["message"]
    assert parley.request("GET", "/auth/oidc/nobody/start")[0] == 404


def test_tokens_can_go_back_to_the_app_in_the_fragment_but_only_to_an_allowed_origin(oidc, pki):
    parley, _, _, _ = oidc
    browser = Browser(pki["ca"])
    app = f"http://{parley.base}/app/"
    status, headers, _ = browser.get(browser.to_callback(parley, "test", "carol", return_to=app))
    assert status == 302
    location = headers["Location"]
    assert location.startswith(app + "#access_token=")
    fragment = dict(urllib.parse.parse_qsl(location.split("#", 1)[1]))
    assert parley.api("GET", "/me", token=fragment["access_token"])["user"]["username"] == "carol"
    for evil in ("https://evil.example/steal", f"http://{parley.base}.evil.example/",
                 f"http://{parley.base}/#x", f"http://{parley.base}/\r\nSet-Cookie: a=b",
                 f"http://{parley.base}/ <x>"):
        status, _, body = browser.get(f"http://{parley.base}/auth/oidc/test/start?redirect_uri=" +
                                      urllib.parse.quote(evil, safe=""))
        assert status == 400, (evil, body)


def test_key_rotation_at_the_provider_keeps_sign_ins_working(oidc, pki, tmp_path):
    parley, provider, rsa_key, ec_key = oidc
    assert Browser(pki["ca"]).sign_in(parley, "test", "carol")
    provider.stop()
    provider.keys = [SigningKey("rsa-2"), ec_key]  # a new key; the old one is gone
    provider.start(parley.port)
    # Not a synchronization: the rule under test is time itself. With --oidc-key-refetch 1 the
    # node fetches keys again on an unknown kid at most once a second, so let one pass.
    time.sleep(1.1)
    assert Browser(pki["ca"]).sign_in(parley, "test", "carol")["user"]["username"] == "carol"


# ---- the backend login (POST /api/auth/login)

def claims(provider, **overrides):
    now = int(time.time())
    base = {"iss": provider.issuer, "aud": "parley", "sub": "frank", "iat": now,
            "exp": now + 300, "email": "frank@example.test", "email_verified": True,
            "name": "Frank"}
    return {**base, **overrides}


def backend_login(parley, body, secret=None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else None
    return parley.request("POST", "/api/auth/login", body, headers=headers)


def test_backend_login_takes_a_verified_id_token_or_the_secret_never_a_profile_alone(oidc):
    parley, provider, rsa_key, _ = oidc
    profile = {"email": "frank@example.test", "name": "Frank", "oauth_id": "frank",
               "provider": "test", "image": "https://img.example.test/f.png"}
    status, body, _ = backend_login(parley, profile)  # a forged profile: nothing vouches for it
    assert status == 401 and body["error"]["code"] == "unauthenticated"

    status, body, _ = backend_login(parley, {**profile,
                                             "id_token": rsa_key.sign(claims(provider))})
    assert status == 200, body
    user = body["user"]
    assert {"id", "token", "provider"} <= set(user) and user["provider"] == "test"
    assert parley.api("GET", "/me", token=user["token"])["user"]["oauth_id"] == "frank"

    status, body, _ = backend_login(parley, {**profile, "oauth_id": "gina", "provider": "google",
                                             "email": "gina@example.test"}, secret=BACKEND_SECRET)
    assert status == 200 and body["user"]["provider"] == "google", body
    assert body["user"]["email"] == "gina@example.test"
    status, _, _ = backend_login(parley, profile, secret="not-the-backend-secret-0123456789")
    assert status == 401


def test_backend_login_refuses_every_kind_of_bad_id_token(oidc):
    parley, provider, rsa_key, ec_key = oidc
    profile = {"oauth_id": "frank", "provider": "test"}
    impostor = SigningKey("rsa-1")  # another key under the provider's kid
    public_n = rsa_key.key.public_key().public_numbers().n.to_bytes(256, "big")
    signing_input = (b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()) + "." +
                     b64(json.dumps(claims(provider)).encode()))
    mac = crypto_hmac.HMAC(public_n, hashes.SHA256())
    mac.update(signing_input.encode())
    hs256_with_public_key = signing_input + "." + b64(mac.finalize())
    none = (b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode()) + "." +
            b64(json.dumps(claims(provider)).encode()) + ".")
    now = int(time.time())
    bad = {
        "forged signature": impostor.sign(claims(provider)),
        "expired": rsa_key.sign(claims(provider, exp=now - 120)),
        "wrong audience": rsa_key.sign(claims(provider, aud="someone-else")),
        "wrong issuer": rsa_key.sign(claims(provider, iss="https://evil.example")),
        "alg none": none,
        "HS256 with the public key": hs256_with_public_key,
        "ES256 where RS256 is pinned": ec_key.sign(claims(provider)),
        "unknown kid after a refresh": SigningKey("rsa-9").sign(claims(provider)),
        "another user's token": rsa_key.sign(claims(provider, sub="mallory")),
    }
    for what, token in bad.items():
        status, body, _ = backend_login(parley, {**profile, "id_token": token})
        assert status == 401, (what, body)
    # None of the refusals made an account: the first good token makes "frank", not "frank2".
    status, body, _ = backend_login(parley, {**profile, "id_token": rsa_key.sign(claims(provider))})
    assert status == 200 and body["user"]["username"] == "frank", body
