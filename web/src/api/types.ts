// The server's objects as docs/protocol.md §3 defines them. Only what the client reads is typed.

export interface User {
  id: number;
  username: string;
  name?: string;
  last_seen?: string | null;
  provider?: string;
}

export interface Attachment {
  id: string;
  name: string;
  mime: string;
  size: number;
}

export interface Message {
  id: string;
  conv: string;
  seq: number;
  from: string;
  body: string | null;
  attachments: Attachment[];
  reply_to: number | null;
  client_msg_id: string;
  ts: string;
  edited_at?: string;
  deleted?: boolean;
  rev?: number;
}

export interface Summary {
  conv: string;
  kind: "direct" | "group";
  name: string;
  peer?: string;
  role: string;
  e2ee: boolean;
  last_seq: number;
  last_rev: number;
  read_seq: number;
  delivered_seq: number;
  unread: number;
  last_message: Message | null;
  created_at?: string;
}

export interface Cursors {
  user: string;
  delivered_seq: number;
  read_seq: number;
}

export interface HistoryPage {
  conv?: string;
  messages: Message[];
  has_more: boolean;
  receipts: Cursors[];
}

export interface SyncState {
  conversations: Summary[];
  left: { conv: string; at: string }[];
}

export interface Member {
  username: string;
  role: "owner" | "admin" | "member";
  joined_at: string;
  delivered_seq: number;
  read_seq: number;
}

export interface Group {
  id: string;
  kind: "group" | "direct";
  name: string;
  has_passcode: boolean;
  created_at: string;
  last_seq: number;
  e2ee: boolean;
  members?: Member[];
  peer?: string;
}

export interface Presence {
  user: string;
  online: boolean;
  last_seen: string | null;
}

export interface FileInfo {
  id: string;
  name: string;
  mime: string;
  size: number;
  sha256: string;
  created_at: string;
}

export interface LoginReply {
  token: string;
  refresh_token: string;
  expires_in: number;
  user: User;
}

export interface SessionInfo {
  id: number;
  device: string;
  provider: string;
  created_at: string;
  last_used_at: string;
  current: boolean;
}

// A push subscription as GET /push/subscriptions lists it (docs/protocol.md §12.1).
export interface PushSubscriptionInfo {
  id: number;
  type: "web_push" | "webhook" | "fcm";
  created_at: string;
  current: boolean;
  endpoint?: string;
}

// What a push notification carries (§12.2).
export interface PushNotification {
  type: "message";
  conv: string;
  group: boolean;
  title: string;
  sender: string;
  seq: number;
  count: number;
  body: string;
  preview?: string;
}

export interface Provider {
  name: string;
  display_name: string;
  start_url: string;
}

// Events of docs/protocol.md §5.5, as they arrive on /ws and /events.
export type ServerEvent =
  | { ev: "message"; msg: Message }
  | { ev: "message_updated"; msg: Message }
  | { ev: "receipt"; conv: string; user: string; delivered_seq: number; read_seq: number }
  | { ev: "typing"; conv: string; user: string }
  | { ev: "presence"; user: string; online: boolean; last_seen: string | null }
  | { ev: "conversation"; conv: string; change: "created" | "added" | "removed"; user?: string; by?: string }
  | { ev: "session"; change: "revoked" | "expired"; grace_ms?: number }
  | { ev: "resync" }
  | { ev: "devices"; user: string }
  | { ev: "ready"; cursor?: string };

// The key directory (docs/protocol.md §11.1). Binary values are base64url without padding.
export interface DeviceBundle {
  identity_key: string;
  dh_key: string;
  dh_signature: string;
  signed_prekey: { id: number; key: string; signature: string };
}

export interface DeviceRecord extends DeviceBundle {
  device: string;
  created_at: string;
  one_time_prekey?: { id: number; key: string } | null;
}

// An end-to-end encrypted body (§11.2), serialized into the message's body string.
export interface Envelope {
  v: 1;
  device: string;
  key: string;
  nonce: string;
  ct: string;
  sig: string;
  keys?: KeyBox[];
}

export interface KeyBox {
  user: string;
  device: string;
  spk: number;
  opk?: number;
  ek: string;
  nonce: string;
  ct: string;
}
