"""The binary's command line: help, configuration from flags, environment and TOML, clear
errors, clean shutdown."""
import os
import re
import subprocess

import pytest

from conftest import PARLEY_BIN, SANITIZED, Server


def run(*args, env=None):
    return subprocess.run([PARLEY_BIN, *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


def test_help_documents_every_option():
    top = run("--help")
    assert top.returncode == 0 and "serve" in top.stdout
    serve = run("serve", "--help")
    assert serve.returncode == 0
    for option in ("--listen", "--data-dir", "--store", "--log", "--bus", "--config",
                   "--max-payload-bytes", "--max-outbound-bytes", "--token-secret",
                   "--access-token-ttl", "--allowed-origins", "--group-commit-max-batch",
                   "--drain-timeout", "PARLEY_LISTEN"):
        assert option in serve.stdout, option


def test_version_names_the_allocator_that_serves_malloc():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("parley ")
    # Release builds link tcmalloc (CMake PARLEY_ALLOCATOR); the name is read at run time from
    # where `malloc` resolves, so a build that lost the library says glibc and fails here.
    allocator = re.search(r"\(allocator: ([^)]+)\)", r.stdout).group(1)
    if SANITIZED:
        assert allocator != "tcmalloc"  # the sanitizer's own
    else:
        assert allocator == "tcmalloc"


@pytest.mark.parametrize("args,needle", [
    (["--store", "mysql://localhost/x"], "--store must be"),
    (["--log", "kafka://localhost:9092"], "--log kafka://… needs --store postgres://"),
    (["--log", "nats://localhost:4222"], "--log must be local or kafka://"),
    (["--bus", "nats://localhost:4222"], "--bus must be local or redis://"),
    # Refused before any service is reached (nothing listens on port 1).
    (["--store", "postgres://parley@127.0.0.1:1/x", "--log", "kafka://127.0.0.1:1?lanes=0",
      "--bus", "redis://127.0.0.1:1"], "--log: lanes=N (1…64) expected"),
    (["--bus", "redis://localhost:port"], "--bus: bad port"),
    (["--listen", "nonsense"], "--listen"),
    (["--token-secret", "short"], "32 bytes"),
])
def test_config_errors_exit_2_with_a_reason(tmp_path, args, needle):
    r = run("serve", "--data-dir", str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr


def test_an_unreachable_postgres_fails_start_with_the_server_named(tmp_path):
    r = run("serve", "--data-dir", str(tmp_path),
            "--store", "postgres://parley:s3cret@127.0.0.1:1/chat?connect_timeout=2")
    assert r.returncode != 0
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/chat" in r.stderr, r.stderr
    assert "s3cret" not in r.stderr


def test_bad_config_files_are_refused(tmp_path):
    for content, needle in (("no-such-setting = 1\n", "no-such-setting"),
                            ("max-payload-bytes = 12\n", "max-payload-bytes"),
                            ("listen = [\n", "parley.toml")):
        config = tmp_path / "parley.toml"
        config.write_text(content)
        r = run("serve", "--data-dir", str(tmp_path), "--config", str(config))
        assert r.returncode != 0 and needle in r.stderr, (content, r.stderr)


def test_usage_errors_are_reported():
    r = run("serve", "--no-such-flag")
    assert r.returncode != 0 and "no-such-flag" in r.stderr
    r = run("serve", "--max-payload-bytes", "12")
    assert r.returncode != 0
    r = run("serve", "--log-commits", "eventually")
    assert r.returncode != 0 and "--log-commits" in r.stderr and "replayable" in r.stderr


def test_environment_and_config_file(tmp_path):
    config = tmp_path / "parley.toml"
    config.write_text('max-payload-bytes = 2048\nlog-level = "info"\n')
    s = Server(tmp_path / "data", "--config", str(config)).start()
    try:
        token = s.register("alice")["token"]
        s.register("bob")
        status, _, _ = s.request("POST", "/chat/send", {"recipient": "bob", "message": "x" * 3000},
                                 token=token)
        assert status == 413  # the file's limit applies
    finally:
        s.stop()
    # The environment overrides the file.
    s = Server(tmp_path / "data", "--config", str(config),
               env={"PARLEY_MAX_PAYLOAD_BYTES": "65536"}).start()
    try:
        token = s.login("alice")["token"]
        s.api("POST", "/chat/send", {"recipient": "bob", "message": "x" * 3000}, token=token)
    finally:
        s.stop()


def test_sigterm_drains_and_closes_websockets_with_1001(server):
    from websockets.exceptions import ConnectionClosed
    token = server.register("alice")["token"]
    authed = server.ws(token=token)
    assert authed.ok("ping")
    anonymous = server.ws()  # connected, not yet authenticated: it is told too
    server.proc.terminate()
    for ws in (authed, anonymous):
        with pytest.raises(ConnectionClosed) as e:
            while True:
                ws.conn.recv(timeout=5)
        assert e.value.rcvd.code == 1001
    assert server.proc.wait(15) == 0


def test_one_log_line_per_request_and_connection_and_no_secrets(server):
    login = server.register("alice")
    server.register("bob")
    token = login["token"]
    server.api("POST", "/chat/send", {"recipient": "bob", "message": "very-private-body"}, token=token)
    ws = server.ws(query_token=token)
    ws.ok("ping")
    ws.close()
    server.stop()
    log = "\n".join(server.log_lines)
    for secret in (token, login["refresh_token"], "password-alice", "very-private-body"):
        assert secret not in log
    requests = [l for l in server.log_lines if "event=http " in l]
    assert any("method=POST path=/chat/send status=200" in l for l in requests)
    assert any("path=/ws status=101" in l for l in requests)
    # Each request line, and each connection's closing line, appears once per request/connection.
    assert len([l for l in requests if "path=/auth/register" in l]) == 2
    closes = [l for l in server.log_lines if "event=conn_close" in l]
    assert len(closes) == len({re.search(r"conn=(\d+)", l).group(1) for l in closes})
