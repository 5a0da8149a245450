// What a message of one's own shows about where it got to (docs/protocol.md §6.1): pending
// (not yet acknowledged), ✓ sent, ✓✓ delivered, and read — in a direct conversation "Read",
// in a group "Read by N". Members' cursors only move forward (mergeCursors). Pure; tested in
// test/receipts.test.ts.
import type { Cursors } from "../api/types.ts";

export type CursorMap = ReadonlyMap<string, { delivered_seq: number; read_seq: number }>;

export function mergeCursors(held: CursorMap, incoming: readonly Cursors[]): CursorMap {
  let out: Map<string, { delivered_seq: number; read_seq: number }> | null = null;
  for (const c of incoming) {
    const have = (out ?? held).get(c.user);
    const next = {
      delivered_seq: Math.max(have?.delivered_seq ?? 0, c.delivered_seq),
      read_seq: Math.max(have?.read_seq ?? 0, c.read_seq),
    };
    if (have && have.delivered_seq === next.delivered_seq && have.read_seq === next.read_seq) continue;
    out ??= new Map(held);
    out.set(c.user, next);
  }
  return out ?? held;
}

export interface ReceiptView {
  state: "sent" | "delivered" | "read";
  readBy: number; // members other than the sender whose read cursor passed the message
  deliveredTo: number;
  others: number; // members other than the sender
  label: string; // what the UI shows, and its accessible name
}

// `members`: the conversation's members (the sender included); `cursors` theirs.
export function receiptView(seq: number, sender: string, kind: "direct" | "group", cursors: CursorMap): ReceiptView {
  let others = 0;
  let readBy = 0;
  let deliveredTo = 0;
  for (const [user, c] of cursors) {
    if (user === sender) continue;
    others++;
    if (c.read_seq >= seq) readBy++;
    if (c.delivered_seq >= seq || c.read_seq >= seq) deliveredTo++;
  }
  let state: ReceiptView["state"] = "sent";
  if (others > 0 && readBy === others) state = "read";
  else if (others > 0 && deliveredTo === others) state = "delivered";
  let label: string;
  if (kind === "group" && readBy > 0) label = readBy === others ? `Read by all ${others}` : `Read by ${readBy}`;
  else if (state === "read") label = "Read";
  else if (state === "delivered") label = "Delivered";
  else label = "Sent";
  if (kind === "group" && readBy > 0) state = readBy === others ? "read" : state;
  return { state, readBy, deliveredTo, others, label };
}
