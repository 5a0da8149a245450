"""A node on the PostgreSQL store (--store postgres://…) keeps the same promises as on SQLite:
the durability and chat tests run again, unchanged, against a real PostgreSQL server."""
import os
import subprocess

import test_chat_rest
import test_durability
from conftest import ROOT


def test_restart_keeps_data_and_tokens(pg_server):
    test_durability.test_restart_keeps_data_and_tokens(pg_server)


def test_kill_9_after_a_burst_loses_no_acked_message(pg_server):
    test_durability.test_kill_9_after_a_burst_loses_no_acked_message(pg_server)


def test_the_log_names_the_store_without_a_password(pg_server):
    line = pg_server.wait_log("event=listening")
    assert "store=postgres:127.0.0.1:" in line and "password" not in line


def test_direct_messages_and_paging(pg_server):
    test_chat_rest.test_direct_messages_and_paging(pg_server)


def test_rest_send_is_idempotent_with_client_msg_id(pg_server):
    test_chat_rest.test_rest_send_is_idempotent_with_client_msg_id(pg_server)


def test_groups_lifecycle(pg_server):
    test_chat_rest.test_groups_lifecycle(pg_server)


def test_conversations_list_unread_and_last_message(pg_server):
    test_chat_rest.test_conversations_list_unread_and_last_message(pg_server)


def test_postgresql_down_means_unavailable_then_back_without_a_restart(pg_server):
    alice = pg_server.register("alice")["token"]
    pg_server.register("bob")
    pg_server.api("POST", "/chat/send", {"recipient": "bob", "message": "before"}, token=alice)
    services = os.path.join(ROOT, "scripts", "services")
    subprocess.run([services, "stop", "postgres"], check=True, capture_output=True)
    try:
        status, body, _ = pg_server.request("POST", "/chat/send",
                                            {"recipient": "bob", "message": "during"}, token=alice)
        assert status == 503 and body["error"]["code"] == "unavailable"
    finally:
        subprocess.run([services, "start", "postgres"], check=True, capture_output=True)
    # The pool drops the dead connections and opens new ones: no restart of the node.
    after = pg_server.api("POST", "/chat/send", {"recipient": "bob", "message": "after"}, token=alice)
    assert after["seq"] == 2  # "during" was refused and left no trace
    page = pg_server.api("GET", "/chat/messages?recipient=bob", token=alice)
    assert [m["body"] for m in page["messages"]] == ["before", "after"]
