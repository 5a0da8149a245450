// Messages the user sent that the server has not acknowledged yet (docs/protocol.md §5.6).
//
// Each send gets a client_msg_id once, when the user presses Send, and keeps it through every
// retry: the server stores a key once, forever, so a retry after a lost ack returns the stored
// message instead of a second copy. An entry leaves the outbox when the message it names is
// seen from the server: as the send's ack, or as its `message` event, or in a history page —
// whichever comes first (acknowledge()). Until then the UI shows it as pending, after the
// conversation's messages.
//
// Order: one message per conversation is in flight at a time, so the server stores them in the
// order they were written whatever the transport (parallel REST requests, a failure of the
// first after the second was accepted, encryption that finishes out of order could all swap
// them). A message refused for good does not hold up the ones after it.
//
// Retry policy: transient failures (no connection, unavailable, rate limited, timeouts) are
// retried with exponential back-off from 1 s to 30 s, and at once when the connection comes
// back (reconnected()); anything else (the server refused the message) fails for good and the
// user can retry or discard it by hand.
//
// Pure and clock-free: every method takes `now` in milliseconds. Unit-tested in
// test/outbox.test.ts.
import type { Message } from "../api/types.ts";
import type { SealedFile } from "../e2ee/files.ts";

export type OutboxState = "queued" | "sending" | "waiting" | "failed";

export interface OutgoingMessage {
  clientMsgId: string;
  conv: string;
  body: string;
  replyTo: number | null;
  attachments: string[];
  // Shown while pending: the files' names and types.
  attachmentInfo: { id: string; name: string; mime: string; size: number }[];
  // In an encrypted conversation, the files' keys, sent inside the encrypted message.
  sealedFiles?: SealedFile[];
  state: OutboxState;
  attempts: number;
  nextAttemptAt: number;
  error?: string;
  createdAt: number;
}

export const kFirstRetryMs = 1000;
export const kMaxRetryMs = 30_000;

export function backoffMs(attempts: number): number {
  return Math.min(kMaxRetryMs, kFirstRetryMs * 2 ** Math.max(0, attempts - 1));
}

let counter = 0;
export function newClientMsgId(): string {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  counter = (counter + 1) % 1e9;
  return `w-${random}-${counter}`;
}

export class Outbox {
  private items: OutgoingMessage[] = [];

  constructor(initial: OutgoingMessage[] = []) {
    // Entries that were being sent when the page went away are retried.
    this.items = initial.map((m) => (m.state === "sending" ? { ...m, state: "queued", nextAttemptAt: 0 } : m));
  }

  all(): readonly OutgoingMessage[] {
    return this.items;
  }

  forConversation(conv: string): OutgoingMessage[] {
    return this.items.filter((m) => m.conv === conv);
  }

  add(entry: Omit<OutgoingMessage, "state" | "attempts" | "nextAttemptAt" | "createdAt">, now: number): OutgoingMessage {
    const m: OutgoingMessage = { ...entry, state: "queued", attempts: 0, nextAttemptAt: now, createdAt: now };
    this.items = [...this.items, m];
    return m;
  }

  // The entries to send now, each marked as sending: per conversation the first one not yet
  // acknowledged, when it is due and nothing of that conversation is in flight.
  takeDue(now: number): OutgoingMessage[] {
    const due: OutgoingMessage[] = [];
    const heads = this.heads();
    this.items = this.items.map((m) => {
      if (heads.get(m.conv) !== m || m.state === "sending" || m.nextAttemptAt > now) return m;
      const sending = { ...m, state: "sending" as const, attempts: m.attempts + 1 };
      due.push(sending);
      return sending;
    });
    return due;
  }

  // Per conversation, the first entry that is not failed: the only one that may be sent.
  private heads(): Map<string, OutgoingMessage> {
    const heads = new Map<string, OutgoingMessage>();
    for (const m of this.items) if (m.state !== "failed" && !heads.has(m.conv)) heads.set(m.conv, m);
    return heads;
  }

  // The message the server stored for one of ours (its ack, its event, or a history page)
  // removes the entry. Returns whether it was ours.
  acknowledge(msg: Message, me: string): boolean {
    if (msg.from !== me) return false;
    const before = this.items.length;
    this.items = this.items.filter((m) => !(m.clientMsgId === msg.client_msg_id && m.conv === msg.conv));
    return this.items.length !== before;
  }

  // A send failed: retried later when the failure is transient, else kept as failed.
  failed(clientMsgId: string, error: string, transient: boolean, now: number): void {
    this.items = this.items.map((m) => {
      if (m.clientMsgId !== clientMsgId) return m;
      if (!transient) return { ...m, state: "failed", error };
      return { ...m, state: "waiting", error, nextAttemptAt: now + backoffMs(m.attempts) };
    });
  }

  // The connection is back: everything waiting or in flight on the old one goes again now.
  reconnected(): void {
    this.items = this.items.map((m) =>
      m.state === "waiting" || m.state === "sending" ? { ...m, state: "queued", nextAttemptAt: 0 } : m,
    );
  }

  // The user asked to try a failed message again.
  retry(clientMsgId: string): void {
    this.items = this.items.map((m) =>
      m.clientMsgId === clientMsgId ? { ...m, state: "queued", nextAttemptAt: 0, attempts: 0, error: undefined } : m,
    );
  }

  discard(clientMsgId: string): void {
    this.items = this.items.filter((m) => m.clientMsgId !== clientMsgId);
  }

  // When the next entry that may be sent falls due, for the retry timer; null when none will
  // (the rest wait behind one in flight, whose answer wakes the outbox).
  nextWake(): number | null {
    let t: number | null = null;
    for (const m of this.heads().values()) {
      if (m.state !== "sending") t = t === null ? m.nextAttemptAt : Math.min(t, m.nextAttemptAt);
    }
    return t;
  }
}
