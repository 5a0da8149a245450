// Merging history pages and live events by seq and rev (src/state/timeline.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { firstHole, highestRev, mergeMessages, newestSeq, oldestSeq } from "../src/state/timeline.ts";
import { msg } from "./helpers.ts";

const seqs = (list: readonly { seq: number }[]) => list.map((m) => m.seq);

test("a page and live events that overlap keep one message per seq, in order", () => {
  let held = mergeMessages([], [msg(3), msg(4)]);
  held = mergeMessages(held, [msg(1), msg(2), msg(3)]); // an older page overlapping the live ones
  held = mergeMessages(held, [msg(5), msg(4)]); // a live event repeated
  assert.deepEqual(seqs(held), [1, 2, 3, 4, 5]);
});

test("nothing new returns the same array, so nothing re-renders", () => {
  const held = mergeMessages([], [msg(1), msg(2)]);
  assert.equal(mergeMessages(held, [msg(2)]), held);
  assert.equal(mergeMessages(held, []), held);
});

test("the higher rev wins whichever arrives first", () => {
  const edited = msg(2, { body: "edited", rev: 3, edited_at: "2026-12-06T10:01:00.000Z" });
  // The edit's event overtook the message's own event.
  let held = mergeMessages([msg(1)], [edited]);
  held = mergeMessages(held, [msg(2)]);
  assert.equal(held[1].body, "edited");
  // A tombstone with a higher rev replaces the edit; an older edit does not undo it.
  const deleted = msg(2, { body: null, deleted: true, rev: 4 });
  held = mergeMessages(held, [deleted]);
  held = mergeMessages(held, [edited]);
  assert.equal(held[1].deleted, true);
  assert.equal(highestRev(held), 4);
});

test("a live message that skips seqs leaves a hole to fetch after", () => {
  const held = mergeMessages([msg(1), msg(2)], [msg(5)]);
  assert.equal(firstHole(held), 2);
  const filled = mergeMessages(held, [msg(3), msg(4)]);
  assert.equal(firstHole(filled), null);
  assert.equal(newestSeq(filled), 5);
  assert.equal(oldestSeq(filled), 1);
  assert.equal(newestSeq([]), 0);
});
