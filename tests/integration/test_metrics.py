"""GET /metrics: Prometheus text with the node's counters, which must track what happened."""
import re


def metrics(server):
    status, text, headers = server.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_metrics_track_connections_requests_and_group_commit(server):
    before = metrics(server)
    alice = server.register("alice")["token"]
    server.register("bob")
    a, b = server.ws(token=alice), server.ws(token=server.login("bob")["token"])
    ids = [a.start("send", to="bob", client_msg_id=f"m{i}", body="x") for i in range(30)]
    assert all(a.reply(i)["ok"] for i in ids)
    a.request("send", to="bob", client_msg_id="m0", body="x")  # a retry: through the writer too
    server.request("GET", "/nope")

    m = metrics(server)
    assert m["parley_websocket_sessions"] == 2
    assert m["parley_websockets_opened_total"] == 2
    assert m["parley_messages_committed_total"] == 31
    assert 1 <= m["parley_commit_batches_total"] < 31  # group commit: fewer fsyncs than messages
    assert m['parley_http_requests_total{class="4xx"}'] == before['parley_http_requests_total{class="4xx"}'] + 1
    assert m['parley_http_requests_total{class="2xx"}'] >= 3  # register ×2, login
    assert m["parley_connections_open"] >= 3  # two WebSockets and this request
    assert m["parley_slow_consumer_closes_total"] == 0
    info = [name for name in m if name.startswith("parley_build_info{")]
    assert len(info) == 1 and m[info[0]] == 1
    assert re.fullmatch(r'parley_build_info\{version="[0-9.]+",allocator="[^"]+"\}', info[0])
    assert all(re.fullmatch(r"parley_[a-z_]+(\{[a-z]+=\"[a-z0-9_]+\"\})?", name)
               for name in m if name not in info)
    # Push notifications: nobody subscribed, nothing sent or waiting.
    assert m['parley_push_total{outcome="sent"}'] == 0
    assert m["parley_push_jobs"] == 0
