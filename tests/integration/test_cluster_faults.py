"""Faults under steady load on a three-node cluster (Kafka log, PostgreSQL store, Redis bus):
users on every node keep chatting through a fault, and the checker (chat_checker.py) finds
zero acked messages lost, zero duplicates and zero order violations. Real servers, started by
scripts/run-tests with scripts/services; each fault is a real process stopped or killed."""
import os
import subprocess
import time

import pytest
from chat_checker import ChatTraffic
from conftest import ROOT

SERVICES = os.path.join(ROOT, "scripts", "services")
STEADY = 8  # acks of every user before the fault, and again after it


def services(action, name):
    subprocess.run([SERVICES, action, name], check=True, capture_output=True)


@pytest.fixture
def loaded_cluster(cluster, kafka_url):
    """Three nodes on Kafka with the checker's users spread over them, chatting steadily."""
    nodes = cluster(3, log=kafka_url)
    for node in nodes:
        node.wait_log("event=log_partitions_assigned")
    traffic = ChatTraffic(nodes).start()
    traffic.wait_everyone_acked(STEADY)
    yield nodes, traffic


def load_goes_on_and_nothing_is_lost(traffic, survivor):
    """After the fault: every user gets STEADY more sends acked (so the cluster has recovered),
    then the checker's verdict."""
    traffic.wait_everyone_acked(STEADY, since=traffic.acked_by(), timeout=90)
    report = traffic.finish(history_node=survivor)
    report.assert_clean()
    return report


def reconnects_of_the_bus(node):
    return sum("event=bus_connected" in line for line in node.log_lines)


def test_no_fault_the_checker_sees_every_message_live(loaded_cluster):
    nodes, traffic = loaded_cluster
    report = load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    # Without a fault nothing needs catching up: every message arrived live, no send retried.
    assert (report.caught_up, report.caught_up_at_end, report.retries, report.reconnects) == (
        0, 0, 0, 0), report


def test_kill_9_a_node_its_users_reconnect_elsewhere_and_sync(loaded_cluster):
    nodes, traffic = loaded_cluster
    nodes[1].kill()
    report = load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    assert report.reconnects >= 2, report  # user1 and user4 lived on the killed node


def test_restart_redis_sessions_resync(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "redis")
    services("start", "redis")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])
    assert all(reconnects_of_the_bus(node) == 2 for node in nodes)


def test_restart_the_kafka_broker(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "kafka")
    services("start", "kafka")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])


def test_stop_postgresql_for_10_seconds(loaded_cluster):
    nodes, traffic = loaded_cluster
    services("stop", "postgres")
    try:
        time.sleep(10)  # the outage itself: its length is the test's subject
    finally:
        services("start", "postgres")
    load_goes_on_and_nothing_is_lost(traffic, nodes[0])
