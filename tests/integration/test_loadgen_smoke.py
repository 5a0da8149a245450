"""A short smoke run of the benchmark's load generator (bench/loadgen) against the real server:
the benchmark must keep working, and what it reports must add up. The benchmarks themselves run
with `make bench`, not here."""
import json
import os
import subprocess

from conftest import PARLEY_BIN, TOKEN_SECRET

LOADGEN = os.path.join(os.path.dirname(PARLEY_BIN), "parley_loadgen")


def run_loadgen(server, *args):
    r = subprocess.run([LOADGEN, "--url", f"ws://{server.base}", "--protocol", "parley",
                        "--secret", TOKEN_SECRET, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_loadgen_dm_sse_idle_and_ingest(server, tmp_path):
    users = [{"name": f"lg{i}", "id": server.register(f"lg{i}")["user"]["id"]} for i in range(6)]
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps({"users": users}))

    timeline = tmp_path / "timeline.txt"
    dm = run_loadgen(server, "--scenario", "dm", "--users", str(users_file), "--rate", "300",
                     "--duration", "1", "--warmup", "0.2", "--timeline", str(timeline))
    assert dm["errors"] == 0 and dm["connect_failed"] == 0
    assert dm["acked"] == dm["sent"] > 200
    assert dm["delivered"] == 2 * dm["sent"]  # the recipient's session and the sender's own
    assert dm["latency"]["samples"] > 0 and dm["latency"]["p99_ms"] < 1000
    # The timeline holds every measured delivery, in send order, and its latencies are the
    # ones the percentiles came from.
    lines = [tuple(map(int, line.split())) for line in timeline.read_text().splitlines()]
    assert len(lines) == dm["latency"]["samples"]
    assert [sent for sent, _ in lines] == sorted(sent for sent, _ in lines)
    assert max(latency for _, latency in lines) / 1000 == dm["latency"]["max_ms"]

    # sse: the recipients read GET /events; each message reaches the recipient's stream and
    # the sender's own socket, and the latency is the streams'.
    sse = run_loadgen(server, "--scenario", "sse", "--users", str(users_file), "--rate", "300",
                      "--duration", "1", "--warmup", "0.2")
    assert sse["errors"] == 0 and sse["connect_failed"] == 0 and sse["connections"] == 6
    assert sse["acked"] == sse["sent"] > 200
    assert sse["delivered"] == 2 * sse["sent"]
    assert 0 < sse["latency"]["samples"] <= sse["sent"] and sse["latency"]["p99_ms"] < 1000

    idle = run_loadgen(server, "--scenario", "idle", "--connections", "300")
    assert idle["connections"] == 300 and idle["connect_failed"] == 0

    ingest = run_loadgen(server, "--scenario", "ingest", "--users", str(users_file),
                         "--window", "16", "--duration", "1", "--warmup", "0.2")
    assert ingest["errors"] == 0 and ingest["acked_per_second"] > 100
    # Everything acked is stored, and nothing more than was sent: the three pairs' last seqs
    # add up to between what was acknowledged and what was sent.
    stored = 0
    for a, b in ((0, 1), (2, 3), (4, 5)):
        token = server.login(f"lg{a}")["token"]
        page = server.api("GET", f"/chat/messages?recipient=lg{b}&limit=1", token=token)
        stored += page["messages"][0]["seq"]
    assert dm["acked"] + sse["acked"] + ingest["acked"] <= stored <= dm["sent"] + sse["sent"] + ingest["sent"]


def test_write_path_benchmark_acks_every_message(tmp_path):
    """bench/write_path: every message it appends is acknowledged, and the figures add up."""
    program = os.path.join(os.path.dirname(PARLEY_BIN), "parley_write_path")
    r = subprocess.run([program, "--dir", str(tmp_path), "--conversations", "20", "--messages", "3000",
                        "--warmup", "300", "--in-flight", "256"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["failed"] == 0 and out["messages"] == 3000
    assert out["acked_per_s"] > 0 and 3000 / 1024 <= out["commits"] <= 3000
