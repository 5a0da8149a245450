"""Several nodes on one PostgreSQL and one Redis (--bus redis://…): users on different nodes
talk in real time, and what one node changes in memory (membership, logouts) reaches the
others. Real servers, started by scripts/run-tests with scripts/services."""
import os
import subprocess

import pytest
from conftest import ROOT
from websockets.exceptions import ConnectionClosed


def test_users_on_two_nodes_exchange_direct_and_group_messages_live(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]      # another node, the same database
    carol = a.register("carol")["token"]
    wa, wb, wc = a.ws(token=alice), b.ws(token=bob), a.ws(token=carol)

    sent = wa.send_msg("hi bob", to="bob")
    got = wb.event("message")["msg"]
    assert (got["id"], got["seq"], got["from"]) == (sent["id"], 1, "alice")
    reply = wb.send_msg("hi alice", to="alice")
    assert wa.event("message", where=lambda e: e["msg"]["from"] == "bob")["msg"]["id"] == reply["id"]

    gid = a.api("POST", "/groups/create", {"name": "team", "members": ["bob", "carol"]},
                token=alice, expect=201)["id"]
    from_b = wb.send_msg("to the team", conv=gid)  # bob's node learns the group from the store
    for w in (wa, wc):
        e = w.event("message", where=lambda e: e["msg"]["conv"] == gid)
        assert e["msg"]["id"] == from_b["id"]


def test_a_member_added_on_one_node_can_send_at_once_on_another(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    dave = b.register("dave")["token"]
    gid = a.api("POST", "/groups/create", {"name": "g", "members": []}, token=alice, expect=201)["id"]
    wd = b.ws(token=dave)
    # Node b caches the members (alice only): dave is refused.
    assert wd.request("send", conv=gid, body="let me in", client_msg_id="d1")["error"]["code"] in (
        "not_member", "forbidden")
    a.api("PUT", f"/groups/{gid}/add-member", {"member": "dave"}, token=alice)
    wa = a.ws(token=alice)
    # The cluster notice (drop the cached members) goes out before dave's own "added" event,
    # on the same Redis connection: once dave hears it, node b knows.
    assert wd.event("conversation")["change"] == "added"
    msg = wd.send_msg("hello", conv=gid)
    assert wa.event("message")["msg"]["id"] == msg["id"]


def test_logout_on_one_node_closes_that_session_on_another_and_refuses_its_token(cluster):
    a, b = cluster(2)
    login = a.register("alice")
    ws_on_b = b.ws(token=login["token"])
    assert ws_on_b.ok("ping")
    a.api("POST", "/auth/logout", {}, token=login["token"])
    assert ws_on_b.event("session")["change"] == "revoked"
    with pytest.raises(ConnectionClosed) as e:
        ws_on_b.ok("ping")
    assert e.value.rcvd.code == 4001
    status, _, _ = b.request("GET", "/me", token=login["token"])
    assert status == 401


def test_after_a_redis_restart_sessions_are_told_to_resync_and_live_delivery_resumes(cluster):
    a, b = cluster(2)
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]
    wa, wb = a.ws(token=alice), b.ws(token=bob)
    services = os.path.join(ROOT, "scripts", "services")
    subprocess.run([services, "stop", "redis"], check=True, capture_output=True)
    try:
        # Redis is down: the send is still acked (durable in PostgreSQL), bob just misses it live.
        missed = wa.send_msg("while redis was down", to="bob")
    finally:
        subprocess.run([services, "start", "redis"], check=True, capture_output=True)
    # Both nodes reconnect and tell their sessions to sync, which finds the missed message.
    assert wb.event("resync") == {"ev": "resync"}
    assert wa.event("resync") == {"ev": "resync"}
    state = wb.ok("sync")
    conv = next(c for c in state["conversations"] if c["conv"] == missed["conv"])
    assert conv["last_seq"] == missed["seq"]
    after = wa.send_msg("and after", to="bob")
    assert wb.event("message", where=lambda e: e["msg"]["id"] == after["id"])
