// Builders for the tests' messages.
import type { Message } from "../src/api/types.ts";

export function msg(seq: number, fields: Partial<Message> = {}): Message {
  return {
    id: `id-${seq}`,
    conv: "c1",
    seq,
    from: "alice",
    body: `message ${seq}`,
    attachments: [],
    reply_to: null,
    client_msg_id: `cm-${seq}`,
    ts: "2026-12-06T10:00:00.000Z",
    ...fields,
  };
}
