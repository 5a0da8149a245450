"""Integration harness: starts the real `parley` binary on port 0 and talks to it over real
sockets (HTTP via http.client, WebSocket via the `websockets` library or raw frames).

PARLEY_BIN selects the binary (default: build/parley), so the same suite runs against the
AddressSanitizer build.
"""
import base64
import hashlib
import hmac
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
from websockets.sync.client import connect as ws_connect

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARLEY_BIN = os.environ.get("PARLEY_BIN", os.path.join(ROOT, "build", "parley"))
# Under AddressSanitizer memory figures mean nothing (its quarantine keeps freed memory).
SANITIZED = os.environ.get("PARLEY_SANITIZED") == "1"
TOKEN_SECRET = "integration-test-secret-0123456789abcdef"
TIMEOUT = 10  # seconds any single wait may take before the test fails
# The master key of every node on a postgres:// store (a cluster must be given one; the embedded
# default makes its own in the data directory).
MASTER_KEY = "q6Lr7mD1Hn3cY0m0fKp3cJ0nq2o3dV7bX8u4aP9s1Ww="


class Server:
    """One parley process. Its stderr (the structured log) is collected in `log_lines`."""

    def __init__(self, data_dir, *extra_args, env=None):
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.port = None
        self.log_lines = []
        self._log_changed = threading.Condition()
        self._listening = threading.Event()
        # In a cluster a session hears its user's events only once Redis confirmed the node's
        # subscriptions; for a connection authenticated at the upgrade, the protocol's sign of
        # that is the reply to a `sync` (protocol.md §5.1). The cluster fixture sets this so that
        # ws() returns only then: without it a test raced the subscription.
        self.sync_on_connect = False

    def start(self):
        args = [PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                "--token-secret", TOKEN_SECRET, *self.extra_args]
        env = dict(os.environ, **(self.env or {}))
        if any(a.startswith("postgres") for a in self.extra_args):
            env.setdefault("PARLEY_MASTER_KEY", MASTER_KEY)
        self._listening.clear()
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=env, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        if not self._listening.wait(TIMEOUT):
            self.proc.kill()
            raise RuntimeError("parley did not start:\n" + "\n".join(self.log_lines[-20:]))
        return self

    def _read_log(self, proc):
        for line in proc.stderr:
            line = line.rstrip("\n")
            with self._log_changed:
                self.log_lines.append(line)
                self._log_changed.notify_all()
            m = re.search(r"event=listening addr=127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._listening.set()

    def log_mark(self):
        """Where the log stands now, for wait_log(after=…)."""
        with self._log_changed:
            return len(self.log_lines)

    def wait_log(self, *needles, timeout=TIMEOUT, after=0):
        """Waits for a log line holding every needle, among the lines from `after` on (a
        log_mark()); returns it."""
        def find():
            return next((l for l in self.log_lines[after:] if all(n in l for n in needles)), None)
        with self._log_changed:
            if not self._log_changed.wait_for(find, timeout):
                raise AssertionError(f"no log line with {needles}:\n" + "\n".join(self.log_lines[-20:]))
            return find()

    @property
    def base(self):
        return f"127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and waits for the exit; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(TIMEOUT + 10)
        # The process is gone, but its last log lines may still be in the pipe: the reader ends
        # at end of file, so once it has, log_lines holds everything the process wrote.
        if self.proc:
            self._reader.join(TIMEOUT)
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def rss_kib(self):
        """The server's anonymous resident memory: its heap, not the database pages it maps."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        raise AssertionError("no RssAnon")

    def restart(self):
        self.stop()
        return self.start()

    # ---- REST ---------------------------------------------------------------------------------
    def request(self, method, path, body=None, token=None, raw=None, headers=None):
        """Returns (status, parsed JSON or text, response headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=payload, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        parsed = json.loads(data) if data and ctype.startswith("application/json") else data.decode()
        return resp.status, parsed, dict(resp.getheaders())

    def api(self, method, path, body=None, token=None, expect=200):
        status, data, _ = self.request(method, path, body, token)
        assert status == expect, f"{method} {path} -> {status} {data}"
        return data

    def register(self, username, password=None):
        password = password or f"password-{username}"
        self.api("POST", "/auth/register", {"username": username, "password": password}, expect=201)
        return self.login(username, password)

    def login(self, username, password=None):
        password = password or f"password-{username}"
        return self.api("POST", "/auth/login", {"username": username, "password": password})

    # ---- WebSocket ----------------------------------------------------------------------------
    def ws(self, token=None, query_token=None, headers=None):
        url = f"ws://{self.base}/ws"
        if query_token:
            url += "?access_token=" + query_token
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        client = WsClient(ws_connect(url, additional_headers=h, open_timeout=TIMEOUT,
                                     max_size=None, close_timeout=TIMEOUT))
        if (token or query_token) and self.sync_on_connect:
            client.request("sync")
        return client


class WsClient:
    """A Parley WebSocket client: request() waits for the matching reply and keeps the events
    that arrive meanwhile, in order, for event()."""

    def __init__(self, conn):
        self.conn = conn
        self.ids = itertools.count(1)
        self.events = []
        self.replies = {}

    def send_json(self, obj):
        self.conn.send(json.dumps(obj))

    def _read(self, timeout=TIMEOUT):
        frame = json.loads(self.conn.recv(timeout=timeout))
        if "ev" in frame:
            self.events.append(frame)
        else:
            self.replies[frame.get("re")] = frame
        return frame

    def start(self, op, **fields):
        """Sends a request without waiting; returns its id."""
        req_id = next(self.ids)
        self.send_json({"op": op, "id": req_id, **fields})
        return req_id

    def reply(self, req_id, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while req_id not in self.replies:
            self._read(max(0.01, deadline - time.monotonic()))
        return self.replies.pop(req_id)

    def request(self, op, **fields):
        return self.reply(self.start(op, **fields))

    def ok(self, op, **fields):
        r = self.request(op, **fields)
        assert r["ok"], r
        return r

    def event(self, ev=None, timeout=TIMEOUT, where=None):
        """The next event (of kind ev, matching where) — waits for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if (ev is None or e["ev"] == ev) and (where is None or where(e)):
                    return self.events.pop(i)
            self._read(max(0.01, deadline - time.monotonic()))

    def send_msg(self, body, conv=None, to=None, client_msg_id=None, **extra):
        fields = {"body": body, "client_msg_id": client_msg_id or str(uuid.uuid4()), **extra}
        if conv:
            fields["conv"] = conv
        if to:
            fields["to"] = to
        return self.ok("send", **fields)["msg"]

    def close(self):
        self.conn.close()


def make_jwt(claims, secret=TOKEN_SECRET, alg="HS256"):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def raw_ws(server, token, rcvbuf=None, early=b""):
    """A bare socket after a hand-made WebSocket handshake, for sending frames no client library
    will produce (invalid UTF-8, unmasked frames…), or for not reading at all. `early` is sent in
    the same write as the upgrade request, before the 101 arrives."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws?access_token={token} HTTP/1.1\r\nHost: {server.base}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode() + early)
    response = b""
    while not response.endswith(b"\r\n\r\n"):
        chunk = s.recv(1)  # byte by byte: frames right behind the 101 stay in the socket
        assert chunk, "connection closed during handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return s


def ws_frame(payload, opcode=0x1, mask=True):
    header = bytes([0x80 | opcode])
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    if n < 126:
        header += bytes([mask_bit | n])
    elif n < 65536:
        header += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class FrameReader:
    """Reads server frames from a raw socket, one at a time."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        """(opcode, payload) of the next frame, or None when the socket closes."""
        while True:
            if len(self.buf) >= 2:
                opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
                offset = 2
                if n == 126:
                    n, offset = int.from_bytes(self.buf[2:4], "big"), 4
                elif n == 127:
                    n, offset = int.from_bytes(self.buf[2:10], "big"), 10
                if len(self.buf) >= offset + n:
                    payload = self.buf[offset:offset + n]
                    self.buf = self.buf[offset + n:]
                    return opcode, payload
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk


def read_close_code(sock):
    """Reads server frames until a close frame; returns its status code (None if the socket
    closed without one)."""
    frames = FrameReader(sock)
    while (frame := frames.next()) is not None:
        opcode, payload = frame
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
    return None


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    code = s.stop()
    assert code in (0, -signal.SIGKILL), "\n".join(s.log_lines[-30:])


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(*args, data_dir=None, env=None):
        s = Server(data_dir or tmp_path / f"data{len(started)}", *args, env=env).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def wait_until(what, check, timeout=TIMEOUT):
    """Polls check() until it returns something truthy, for what has no event to await (a
    receiver's requests, PostgreSQL's views, a log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def postgres_url():
    """A fresh schema on the PostgreSQL server of PARLEY_TEST_POSTGRES (scripts/run-tests starts
    one with scripts/services), as a store URL whose search_path is that schema; dropped after."""
    server_url = os.environ.get("PARLEY_TEST_POSTGRES")
    if not server_url:
        pytest.skip("PARLEY_TEST_POSTGRES is not set (make test sets it: scripts/services)")
    schema = f"it_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-q", server_url, "-c", f"CREATE SCHEMA {schema}"], check=True,
                   capture_output=True)
    yield server_url + ("&" if "?" in server_url else "?") + f"options=-csearch_path%3D{schema}"
    subprocess.run(["psql", "-q", server_url, "-c", f"DROP SCHEMA {schema} CASCADE"],
                   capture_output=True)


@pytest.fixture
def pg_server(tmp_path, postgres_url):
    """A node on the PostgreSQL store (its data directory holds only the token key)."""
    s = Server(tmp_path / "data", "--store", postgres_url).start()
    yield s
    code = s.stop()
    assert code in (0, -signal.SIGKILL), "\n".join(s.log_lines[-30:])


@pytest.fixture
def redis_url():
    """The Redis server of PARLEY_TEST_REDIS (scripts/run-tests starts one with scripts/services)."""
    url = os.environ.get("PARLEY_TEST_REDIS")
    if not url:
        pytest.skip("PARLEY_TEST_REDIS is not set (make test sets it: scripts/services)")
    return url


@pytest.fixture
def kafka_url():
    """The Kafka broker of PARLEY_TEST_KAFKA (scripts/run-tests starts one with scripts/services),
    with a topic of this test's own: kafka://HOST:PORT/TOPIC."""
    url = os.environ.get("PARLEY_TEST_KAFKA")
    if not url:
        pytest.skip("PARLEY_TEST_KAFKA is not set (make test sets it: scripts/services)")
    return f"{url}/it.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def flush_redis(url):
    """Empties the test Redis. Each test has a schema of its own, so user ids repeat from one
    test to the next: presence entries left by an earlier test's nodes (killed ones keep theirs
    for 30 s, and are then taken over by a live node) would speak of another test's users."""
    host, port = url.removeprefix("redis://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
        assert s.recv(16).startswith(b"+OK")


@pytest.fixture
def cluster(tmp_path, postgres_url, redis_url):
    """Nodes sharing one PostgreSQL schema and one Redis (emptied first): cluster(n) starts n of
    them; cluster(n, log=kafka_url) puts their message log on Kafka too; args are added to each
    node's command line, env to its environment."""
    started = []
    flush_redis(redis_url)

    def make(n, log=None, args=(), env=None):
        extra = (["--log", log] if log else []) + list(args)
        for _ in range(n):
            node = Server(tmp_path / f"node{len(started)}", "--store", postgres_url,
                          "--bus", redis_url, *extra, env=env)
            node.sync_on_connect = True
            started.append(node.start())
        for node in started:
            node.wait_log("event=bus_connected")
        return list(started)

    yield make
    for s in started:
        if s.proc and s.proc.poll() is None:
            code = s.stop()
            assert code in (0, -signal.SIGKILL), "\n".join(s.log_lines[-30:])
