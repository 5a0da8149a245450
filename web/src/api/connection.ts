// The client's line to the server: one event channel and the ops of docs/protocol.md §5.3.
//
// Events come over /ws; where WebSocket cannot connect (a proxy that strips upgrades) but the
// server answers HTTP, over /events (server-sent events, §7.1) instead. Ops go over the
// WebSocket when it is open, and over the REST routes of §3 otherwise, so that a history page
// or a send does not wait for a reconnect. `typing` has no REST route and is dropped then.
//
// Reconnects by itself with back-off (0.5 s doubling to 10 s, with jitter), at once when the
// browser says it is online again or the page becomes visible, and when a ping goes
// unanswered (a socket that looks open after the laptop slept). Every time the channel is
// (re)established, `onOpen` runs: the store catches up with `sync` (§5.7).
//
// Threads: the browser's one. Owned by the Store (state/store.ts).
import { ApiError, fromErrorBody } from "./errors.ts";
import type { Rest } from "./rest.ts";
import type { HistoryPage, Message, Presence, ServerEvent, SyncState } from "./types.ts";

export type ChannelState = "connecting" | "online" | "offline" | "signed_out";
export type ChannelMode = "ws" | "sse";

export interface ConnectionHandlers {
  onEvent(ev: ServerEvent): void;
  onOpen(): void; // authenticated and subscribed: catch up now
  onState(state: ChannelState, mode: ChannelMode): void;
  onSignedOut(): void;
}

// Where a send goes: a conversation id, and for a direct one its peer (the REST route of a
// direct send names the recipient).
export interface SendTarget {
  conv: string;
  peer?: string;
}

export interface SendFields {
  client_msg_id: string;
  body: string;
  reply_to?: number | null;
  attachments?: string[];
}

const kRequestTimeoutMs = 15_000;
const kPingEveryMs = 25_000;
const kEventNames = ["message", "message_updated", "receipt", "typing", "presence", "conversation", "session", "resync", "devices", "ready"];

interface PendingReply {
  resolve(v: Record<string, unknown>): void;
  reject(e: ApiError): void;
  timer: ReturnType<typeof setTimeout>;
}

export class Connection {
  private ws: WebSocket | null = null;
  private sse: EventSource | null = null;
  private lastEventId = "";
  private authenticated = false;
  private nextId = 1;
  private pending = new Map<number, PendingReply>();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private failures = 0;
  private wsFailuresBeforeAuth = 0;
  private stopped = true;
  // Bumped by every connect() and teardown(): an attempt that finds it changed after an await
  // was overtaken (the browser woke twice, say) and gives up, leaving no orphan socket.
  private generation = 0;
  private state: ChannelState = "offline";
  mode: ChannelMode;

  constructor(
    private readonly rest: Rest,
    private readonly handlers: ConnectionHandlers,
    opts: { mode?: ChannelMode; base?: string } = {},
  ) {
    this.mode = opts.mode ?? "ws";
  }

  get channelState(): ChannelState {
    return this.state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    this.teardown();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState("offline");
  }

  // The browser is back (network, or the tab shown after sleep): reconnect now if down, and
  // check a connection that claims to be up.
  private wake = () => {
    if (this.stopped || document.visibilityState === "hidden") return;
    if (this.state === "online") {
      this.checkAlive();
      return;
    }
    if (this.state === "connecting") return; // an attempt is under way
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failures = 0;
    this.connect();
  };

  private setState(s: ChannelState) {
    if (this.state === s) return;
    this.state = s;
    this.handlers.onState(s, this.mode);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.teardown();
    const generation = this.generation;
    this.setState("connecting");
    const token = await this.rest.token();
    if (this.stopped || generation !== this.generation) return;
    if (!token) return this.signedOut();
    if (this.mode === "sse") return this.openEvents(token);
    this.openSocket(token);
  }

  private openSocket(token: string) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    let authenticated = false;
    ws.onopen = () => {
      // The token goes in the first frame, not the URL: URLs end up in logs.
      this.request("auth", { token }).then(
        () => {
          authenticated = true;
          this.wsFailuresBeforeAuth = 0;
          this.opened();
        },
        (e: ApiError) => {
          if (this.ws !== ws) return;
          if (e.code === "unauthenticated") void this.reauthenticate();
          else ws.close(4000, "authentication did not complete"); // onclose reconnects
        },
      );
    };
    ws.onmessage = (m) => this.frame(String(m.data));
    ws.onclose = (c) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failAll();
      // A socket that never got as far as authenticating (refused, or cut by a proxy that
      // does not pass WebSocket) counts against WebSocket; a refused token does not.
      if (!authenticated && c.code !== 4001 && ++this.wsFailuresBeforeAuth >= 2) void this.maybeFallBack();
      if (c.code === 4001) return void this.reauthenticate();
      this.scheduleReconnect();
    };
  }

  // WebSocket failed twice before it could authenticate. If plain HTTP works, the way is
  // blocked for WebSocket only: use server-sent events from now on (until the page reloads).
  private async maybeFallBack() {
    try {
      const res = await fetch("/healthz");
      if (res.ok && this.mode === "ws") {
        this.mode = "sse";
        this.handlers.onState(this.state, this.mode);
      }
    } catch {
      /* the server is down: keep trying WebSocket */
    }
  }

  // EventSource cannot send headers: the token goes in the URL (§7), the one place it does.
  private openEvents(token: string) {
    const q = new URLSearchParams({ access_token: token });
    if (this.lastEventId) q.set("last_event_id", this.lastEventId);
    const es = new EventSource(`/events?${q}`);
    this.sse = es;
    for (const name of kEventNames) {
      es.addEventListener(name, (e) => {
        const me = e as MessageEvent;
        if (me.lastEventId) this.lastEventId = me.lastEventId;
        let ev: ServerEvent;
        try {
          ev = JSON.parse(String(me.data)) as ServerEvent;
        } catch {
          return;
        }
        if (ev.ev === "ready") return this.opened();
        this.event(ev);
      });
    }
    es.onerror = () => {
      if (this.sse !== es) return;
      // EventSource retries by itself, with the same (maybe expired) token: take over, with a
      // token that is fresh (rest.token() refreshes one about to expire, and only then).
      es.close();
      this.sse = null;
      this.authenticated = false;
      this.scheduleReconnect();
    };
  }

  private opened() {
    this.authenticated = true;
    this.failures = 0;
    this.setState("online");
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.checkAlive(), kPingEveryMs);
    this.handlers.onOpen();
  }

  private checkAlive() {
    if (!this.ws || !this.authenticated) return;
    const ws = this.ws;
    this.request("ping", {}, 10_000).catch(() => {
      if (this.ws === ws) ws.close(4000, "no answer to ping");
    });
  }

  private scheduleReconnect() {
    if (this.stopped) return;
    this.authenticated = false;
    this.setState("offline");
    const delay = Math.min(10_000, 500 * 2 ** this.failures) * (0.75 + Math.random() * 0.5);
    this.failures = Math.min(this.failures + 1, 8);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  // The server refused the token (expired, or its session ended): refresh, then reconnect.
  private async reauthenticate() {
    this.teardown();
    if (await this.rest.refresh()) return this.scheduleReconnect();
    if (!this.rest.current) return this.signedOut();
    this.scheduleReconnect();
  }

  private signedOut() {
    this.stopped = true;
    this.teardown();
    this.setState("signed_out");
    this.handlers.onSignedOut();
  }

  private teardown() {
    this.generation++;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.authenticated = false;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
    }
    if (this.sse) {
      this.sse.close();
      this.sse = null;
    }
    this.failAll();
  }

  private failAll() {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ApiError("offline", "the connection closed before the answer came"));
    }
    this.pending.clear();
  }

  private frame(text: string) {
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    if ("re" in f) {
      const p = this.pending.get(f.re as number);
      if (!p) return;
      this.pending.delete(f.re as number);
      clearTimeout(p.timer);
      if (f.ok) p.resolve(f);
      else p.reject(fromErrorBody({ error: f.error }, 0));
      return;
    }
    if (typeof f.ev === "string") this.event(f as unknown as ServerEvent);
  }

  private event(ev: ServerEvent) {
    if (ev.ev === "session") {
      if (ev.change === "revoked") return this.signedOut();
      // The token expired on a live connection: a new one within the grace keeps it (§2).
      void this.rest.refresh().then(async (ok) => {
        const token = ok ? await this.rest.token() : null;
        if (token && this.ws) this.request("auth", { token }).catch(() => this.ws?.close());
      });
      return;
    }
    this.handlers.onEvent(ev);
  }

  private request(op: string, fields: Record<string, unknown>, timeoutMs = kRequestTimeoutMs): Promise<Record<string, unknown>> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new ApiError("offline", "not connected"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError("timeout", "no answer from the server"));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ op, id, ...fields }));
    });
  }

  // Ops over the socket when it is up and authenticated, else over REST.
  private get live(): boolean {
    return this.mode === "ws" && this.authenticated && this.ws?.readyState === WebSocket.OPEN;
  }

  async send(to: SendTarget, fields: SendFields): Promise<Message> {
    if (this.live) return (await this.request("send", { conv: to.conv, ...fields })).msg as Message;
    const body = { message: fields.body, client_msg_id: fields.client_msg_id, reply_to: fields.reply_to ?? undefined, attachments: fields.attachments };
    return to.peer ? this.rest.sendDirect(to.peer, body) : this.rest.sendGroup(to.conv, body);
  }

  async history(conv: string, q: { before?: number; after?: number; limit?: number }): Promise<HistoryPage> {
    if (this.live) return (await this.request("history", { conv, ...q })) as unknown as HistoryPage;
    return this.rest.history(conv, q);
  }

  async changes(conv: string, after: number): Promise<HistoryPage> {
    if (this.live) return (await this.request("history", { conv, changed_after: after, limit: 200 })) as unknown as HistoryPage;
    return this.rest.changes(conv, after);
  }

  async sync(): Promise<SyncState> {
    if (this.live) return (await this.request("sync", {})) as unknown as SyncState;
    return this.rest.sync();
  }

  async cursor(conv: string, which: "read" | "delivered", seq: number): Promise<void> {
    if (this.live) await this.request(which, { conv, seq });
    else await this.rest.cursor(conv, which, seq);
  }

  async edit(conv: string, seq: number, body: string): Promise<Message> {
    if (this.live) return (await this.request("edit", { conv, seq, body })).msg as Message;
    return this.rest.edit(conv, seq, body);
  }

  async remove(conv: string, seq: number): Promise<Message> {
    if (this.live) return (await this.request("delete", { conv, seq })).msg as Message;
    return this.rest.remove(conv, seq);
  }

  typing(conv: string): void {
    if (this.live) this.request("typing", { conv }).catch(() => {});
  }

  async presence(user: string): Promise<Presence> {
    if (this.live) return (await this.request("presence", { user })) as unknown as Presence;
    return this.rest.presence(user);
  }
}
