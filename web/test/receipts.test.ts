// What one's own messages show about receipts (src/state/receipts.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeCursors, receiptView } from "../src/state/receipts.ts";

test("cursors only move forward, whatever order receipts arrive in", () => {
  let c = mergeCursors(new Map(), [{ user: "bob", delivered_seq: 5, read_seq: 3 }]);
  c = mergeCursors(c, [{ user: "bob", delivered_seq: 4, read_seq: 4 }]);
  assert.deepEqual(c.get("bob"), { delivered_seq: 5, read_seq: 4 });
  assert.equal(mergeCursors(c, [{ user: "bob", delivered_seq: 1, read_seq: 1 }]), c, "no change, same map");
});

test("a direct message goes sent → delivered → read", () => {
  let c = mergeCursors(new Map(), [
    { user: "alice", delivered_seq: 9, read_seq: 9 },
    { user: "bob", delivered_seq: 6, read_seq: 6 },
  ]);
  assert.equal(receiptView(7, "alice", "direct", c).label, "Sent");
  c = mergeCursors(c, [{ user: "bob", delivered_seq: 7, read_seq: 6 }]);
  assert.equal(receiptView(7, "alice", "direct", c).state, "delivered");
  c = mergeCursors(c, [{ user: "bob", delivered_seq: 7, read_seq: 7 }]);
  const v = receiptView(7, "alice", "direct", c);
  assert.equal(v.state, "read");
  assert.equal(v.label, "Read");
});

test("in a group it counts who read it, the sender left out", () => {
  let c = mergeCursors(new Map(), [
    { user: "alice", delivered_seq: 3, read_seq: 3 },
    { user: "bob", delivered_seq: 3, read_seq: 0 },
    { user: "carol", delivered_seq: 0, read_seq: 0 },
    { user: "dave", delivered_seq: 3, read_seq: 3 },
  ]);
  let v = receiptView(3, "alice", "group", c);
  assert.equal(v.others, 3);
  assert.equal(v.readBy, 1);
  assert.equal(v.label, "Read by 1");
  assert.equal(v.state, "sent", "not delivered to carol yet");
  c = mergeCursors(c, [{ user: "carol", delivered_seq: 3, read_seq: 3 }, { user: "bob", delivered_seq: 3, read_seq: 3 }]);
  v = receiptView(3, "alice", "group", c);
  assert.equal(v.state, "read");
  assert.equal(v.label, "Read by all 3");
});

test("a read cursor past the message counts as delivered too", () => {
  const c = mergeCursors(new Map(), [{ user: "bob", delivered_seq: 0, read_seq: 8 }]);
  assert.equal(receiptView(5, "alice", "direct", c).state, "read");
});
