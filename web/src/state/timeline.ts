// What the client holds of one conversation's messages, and how history pages and live events
// merge into it (docs/protocol.md §5.6, §5.7). Pure functions over plain arrays, so that the
// rules are unit-tested (test/timeline.test.ts) and every render sees a new array when
// something changed.
//
// Rules:
//  - one entry per seq, kept in ascending seq order;
//  - of two versions of a message, the one with the higher rev wins (a message without rev is
//    rev 0), so an old `message` event arriving after a `message_updated` changes nothing;
//  - the run held can have holes (a live message that skipped seqs): firstHole() names the
//    first, and the caller fetches history after it.
import type { Message } from "../api/types.ts";

export function revOf(m: Message): number {
  return m.rev ?? 0;
}

// `held` merged with `incoming`. Returns `held` itself when nothing changed.
export function mergeMessages(held: readonly Message[], incoming: readonly Message[]): readonly Message[] {
  if (incoming.length === 0) return held;
  const bySeq = new Map<number, Message>();
  for (const m of held) bySeq.set(m.seq, m);
  let changed = false;
  for (const m of incoming) {
    const have = bySeq.get(m.seq);
    if (have && revOf(have) >= revOf(m)) continue;
    bySeq.set(m.seq, m);
    changed = true;
  }
  if (!changed) return held;
  // The common case, a live message after the newest, needs no sort.
  const merged = [...bySeq.values()];
  merged.sort((a, b) => a.seq - b.seq);
  return merged;
}

// The seq after which messages are missing inside the run held: the first hole, or null.
export function firstHole(held: readonly Message[]): number | null {
  for (let i = 1; i < held.length; i++) {
    if (held[i].seq !== held[i - 1].seq + 1) return held[i - 1].seq;
  }
  return null;
}

export function newestSeq(held: readonly Message[]): number {
  return held.length ? held[held.length - 1].seq : 0;
}

export function oldestSeq(held: readonly Message[]): number {
  return held.length ? held[0].seq : 0;
}

// The highest rev among the messages held: how far edits and deletes have been seen.
export function highestRev(held: readonly Message[]): number {
  let r = 0;
  for (const m of held) r = Math.max(r, revOf(m));
  return r;
}
