// The outbox: one client_msg_id per message through every retry, and no message twice
// (src/state/outbox.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Outbox, backoffMs, kMaxRetryMs, newClientMsgId } from "../src/state/outbox.ts";
import { msg } from "./helpers.ts";

function entry(conv = "c1", body = "hi") {
  return { clientMsgId: newClientMsgId(), conv, body, replyTo: null, attachments: [], attachmentInfo: [] };
}

test("a send that failed on the way is retried under the same client_msg_id", () => {
  const box = new Outbox();
  const e = box.add(entry(), 0);
  const [first] = box.takeDue(0);
  assert.equal(first.clientMsgId, e.clientMsgId);
  assert.equal(first.state, "sending");
  // The connection dropped between the send and its ack.
  box.failed(e.clientMsgId, "not connected", true, 100);
  assert.deepEqual(box.takeDue(100 + backoffMs(1) - 1), [], "not before its back-off");
  const [again] = box.takeDue(100 + backoffMs(1));
  assert.equal(again.clientMsgId, e.clientMsgId);
  assert.equal(again.attempts, 2);
});

test("the stored message leaves the outbox however it arrives, so it shows once", () => {
  const box = new Outbox();
  const e = box.add(entry(), 0);
  box.takeDue(0);
  // Someone else's message with the same key is not ours.
  assert.equal(box.acknowledge(msg(7, { client_msg_id: e.clientMsgId, from: "bob" }), "alice"), false);
  // The message event (or a history page after a reconnect) names our key: it is stored.
  assert.equal(box.acknowledge(msg(7, { client_msg_id: e.clientMsgId }), "alice"), true);
  assert.equal(box.all().length, 0);
  // The late ack of the same send changes nothing.
  assert.equal(box.acknowledge(msg(7, { client_msg_id: e.clientMsgId }), "alice"), false);
});

test("a reconnect sends everything in flight or waiting at once", () => {
  const box = new Outbox();
  const a = box.add(entry(), 0);
  const b = box.add(entry("c2"), 0);
  box.takeDue(0);
  box.failed(a.clientMsgId, "unavailable", true, 0);
  box.reconnected();
  const due = box.takeDue(1);
  assert.deepEqual(due.map((m) => m.clientMsgId).sort(), [a.clientMsgId, b.clientMsgId].sort());
});

test("a refused message fails for good until the user retries it", () => {
  const box = new Outbox();
  const e = box.add(entry(), 0);
  box.takeDue(0);
  box.failed(e.clientMsgId, "Too large", false, 0);
  assert.equal(box.all()[0].state, "failed");
  assert.deepEqual(box.takeDue(1e9), []);
  assert.equal(box.nextWake(), null);
  box.retry(e.clientMsgId);
  assert.equal(box.takeDue(1e9)[0].clientMsgId, e.clientMsgId);
  box.discard(e.clientMsgId);
  assert.equal(box.all().length, 0);
});

test("one message per conversation in flight, so the server stores them in the order written", () => {
  const box = new Outbox();
  const a = box.add(entry("c1", "a"), 0);
  box.add(entry("c1", "b"), 0);
  const other = box.add(entry("c2", "c"), 0);
  assert.deepEqual(box.takeDue(0).map((m) => m.body), ["a", "c"]);
  assert.deepEqual(box.takeDue(1), [], "b waits for a's answer");
  assert.equal(box.nextWake(), null, "nothing to wake for until an answer comes");
  box.acknowledge(msg(1, { conv: "c1", client_msg_id: a.clientMsgId }), "alice");
  box.acknowledge(msg(1, { conv: "c2", client_msg_id: other.clientMsgId }), "alice");
  assert.deepEqual(box.takeDue(2).map((m) => m.body), ["b"]);
});

test("a message refused for good does not hold up the next", () => {
  const box = new Outbox();
  const a = box.add(entry("c1", "too long"), 0);
  box.add(entry("c1", "next"), 0);
  box.takeDue(0);
  box.failed(a.clientMsgId, "Too large", false, 0);
  assert.deepEqual(box.takeDue(1).map((m) => m.body), ["next"]);
});

test("in one conversation nothing overtakes a message waiting to be retried", () => {
  const box = new Outbox();
  const first = box.add(entry("c1", "first"), 0);
  box.takeDue(0);
  box.failed(first.clientMsgId, "unavailable", true, 0);
  const second = box.add(entry("c1", "second"), 10);
  const other = box.add(entry("c2", "elsewhere"), 10);
  const due = box.takeDue(20);
  assert.deepEqual(due.map((m) => m.clientMsgId), [other.clientMsgId]);
  // The timer wakes for the waiting one, not for the one queued behind it.
  assert.equal(box.nextWake(), backoffMs(1));
  const later = box.takeDue(backoffMs(1));
  assert.deepEqual(later.map((m) => m.body), ["first"]);
  box.acknowledge(msg(3, { conv: "c1", client_msg_id: first.clientMsgId }), "alice");
  assert.deepEqual(box.takeDue(backoffMs(1)).map((m) => m.clientMsgId), [second.clientMsgId]);
});

test("back-off doubles from 1 s and stops at 30 s", () => {
  assert.equal(backoffMs(1), 1000);
  assert.equal(backoffMs(2), 2000);
  assert.equal(backoffMs(3), 4000);
  assert.equal(backoffMs(20), kMaxRetryMs);
});

test("what was being sent when the page closed is sent again after a reload", () => {
  const box = new Outbox();
  const e = box.add(entry(), 0);
  box.takeDue(0);
  const reloaded = new Outbox(JSON.parse(JSON.stringify(box.all())));
  assert.equal(reloaded.takeDue(0)[0].clientMsgId, e.clientMsgId);
});

test("client_msg_ids are unique and within the server's 128 bytes", () => {
  const ids = new Set(Array.from({ length: 1000 }, newClientMsgId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(id.length <= 128);
});
