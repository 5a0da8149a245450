// The client's state and everything that changes it. The UI reads `store.state` (a new object
// after every change) and calls the actions; the store talks to the server through
// Connection (events, ops) and Rest (accounts, groups, files).
//
// How the pieces fit (docs/protocol.md §5.7): when the channel opens, catchUp() runs `sync`,
// drops conversations the user left, fetches what each loaded conversation lacks (new
// messages after the newest held, edits after the rev caught up to), and retries the outbox.
// Live events merge by the same rules (state/timeline.ts, state/receipts.ts), so history
// and events can overlap or arrive in any order and nothing shows twice.
import { Connection, type ChannelMode, type ChannelState } from "../api/connection.ts";
import { ApiError, describe } from "../api/errors.ts";
import { Rest } from "../api/rest.ts";
import type { FileInfo, Member, Message, Presence, ServerEvent, Summary, User } from "../api/types.ts";
import { sealFile, type SealedFile } from "../e2ee/files.ts";
import { Encryption, type DeviceNotice, type Plain } from "./encryption.ts";
import { Outbox, newClientMsgId, type OutgoingMessage } from "./outbox.ts";
import { mergeCursors, type CursorMap } from "./receipts.ts";
import { firstHole, mergeMessages, newestSeq, oldestSeq, revOf } from "./timeline.ts";

export interface ConversationView {
  summary: Summary;
  messages: readonly Message[];
  loaded: boolean; // the newest page has been fetched
  hasOlder: boolean;
  loadingOlder: boolean;
  cursors: CursorMap; // every member's receipt cursors
  caughtUpRev: number; // R of §5.7: edits up to here are applied
  typing: ReadonlyMap<string, number>; // user → shown until (ms)
  members: readonly Member[] | null; // groups, once fetched
}

export interface PendingUpload {
  key: string;
  conv: string;
  name: string;
  progress: number; // 0..1
  file: FileInfo | null; // set when uploaded
  sealed: SealedFile | null; // in an encrypted conversation: what opens the uploaded ciphertext
  error: string | null;
  abort: AbortController;
}

export interface State {
  me: User | null;
  channel: ChannelState;
  mode: ChannelMode;
  conversations: ReadonlyMap<string, ConversationView>;
  order: readonly string[]; // conversation ids, most recent activity first
  open: string | null;
  presence: ReadonlyMap<string, Presence>;
  outbox: readonly OutgoingMessage[];
  uploads: readonly PendingUpload[];
  notice: { text: string; id: number } | null;
  // End-to-end encrypted conversations (state/encryption.ts): what this browser could open,
  // keyed by message id and rev, and new devices of people the user talks to.
  decrypted: ReadonlyMap<string, Plain>;
  deviceNotices: readonly DeviceNotice[];
}

// Set in sessionStorage when this tab leaves for an OpenID provider (ui/Login.tsx).
export const kSignInStarted = "parley.signin-started";
const kTypingShownMs = 5000;
const kTypingEveryMs = 2500;
const kHistoryPage = 50;

export class Store {
  readonly rest = new Rest();
  readonly conn: Connection;
  readonly encryption: Encryption;
  state: State;
  private listeners = new Set<() => void>();
  private outbox: Outbox;
  private pumpTimer: ReturnType<typeof setTimeout> | null = null;
  private lastTypingSent = new Map<string, number>();
  private catchingUp: Promise<void> | null = null;
  private catchUpAgain = false;
  private noticeId = 0;
  private deliveredSent = new Map<string, number>();
  private olderFailedAt = new Map<string, number>();
  // The outbox waits for the first sync: a direct conversation's REST send names its peer.
  private synced = false;

  constructor(opts: { mode?: ChannelMode } = {}) {
    this.conn = new Connection(
      this.rest,
      {
        onEvent: (ev) => this.onEvent(ev),
        onOpen: () => this.onChannelOpen(),
        onState: (channel, mode) => this.set({ channel, mode }),
        onSignedOut: () => this.signedOut("Your session has ended. Log in again."),
      },
      { mode: opts.mode },
    );
    this.rest.onSignedOut = () => this.signedOut("Your session has ended. Log in again.");
    this.encryption = new Encryption(this.rest, () =>
      this.set({ decrypted: this.encryption.plaintexts, deviceNotices: this.encryption.notices }),
    );
    const me = this.rest.current?.user ?? null;
    this.outbox = new Outbox(me ? loadOutbox(me.username) : []);
    this.state = {
      me,
      channel: "offline",
      mode: this.conn.mode,
      conversations: new Map(),
      order: [],
      open: null,
      presence: new Map(),
      outbox: this.outbox.all(),
      uploads: [],
      notice: null,
      decrypted: new Map(),
      deviceNotices: [],
    };
    document.addEventListener("visibilitychange", () => {
      if (this.state.open) this.markRead(this.state.open);
    });
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(patch: Partial<State>) {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn();
  }

  notify(e: unknown) {
    // Work begun while signed in (a sync, publishing the device) can fail after the session
    // ended; the sign-out already said why, and this must not replace its notice.
    if (e instanceof ApiError && e.code === "unauthenticated" && !this.state.me) return;
    this.set({ notice: { text: describe(e), id: ++this.noticeId } });
  }

  dismissNotice() {
    this.set({ notice: null });
  }

  // ---- session ----

  start() {
    if (this.state.me) this.conn.start();
  }

  async login(username: string, password: string): Promise<{ challenge?: string }> {
    try {
      this.signedIn(this.rest.adopt(await this.rest.login(username, password)).user);
      return {};
    } catch (e) {
      if (e instanceof ApiError && e.code === "mfa_required" && typeof e.details?.challenge === "string") {
        return { challenge: e.details.challenge };
      }
      throw e;
    }
  }

  async loginWithCode(challenge: string, code: string) {
    this.signedIn(this.rest.adopt(await this.rest.loginWithCode(challenge, code)).user);
  }

  // Tokens handed back by an OpenID sign-in in the URL fragment (§2). Only when this tab
  // started a sign-in (ui/Login.tsx marks it): a link carrying someone else's tokens must not
  // sign the reader into that account (login CSRF).
  async adoptFragment(params: URLSearchParams) {
    const token = params.get("access_token");
    const refresh = params.get("refresh_token");
    const started = Number(sessionStorage.getItem(kSignInStarted) ?? 0);
    sessionStorage.removeItem(kSignInStarted);
    if (!token || !refresh) return;
    if (!started || Date.now() - started > 15 * 60_000) {
      throw new ApiError("forbidden", "this sign-in link was not started here: sign in again from this page");
    }
    const expires = Number(params.get("expires_in") ?? 900);
    const res = await fetch("/me", { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new ApiError("unauthenticated", "the sign-in did not complete: try again");
    const me = (await res.json()) as { user: User };
    this.signedIn(this.rest.adopt({ token, refresh_token: refresh, expires_in: expires, user: me.user }).user);
  }

  async register(username: string, password: string) {
    await this.rest.register(username, password);
    await this.login(username, password);
  }

  async logout(all = false) {
    try {
      if (all) await this.rest.logoutAll();
      else await this.rest.logout();
    } catch {
      // Signed out locally whatever the server said: the tokens are forgotten below.
    }
    this.signedOut(null);
  }

  private signedIn(me: User) {
    this.outbox = new Outbox(loadOutbox(me.username));
    this.set({ me, outbox: this.outbox.all(), notice: null });
    this.conn.start();
  }

  private signedOut(why: string | null) {
    this.conn.stop();
    this.synced = false;
    this.encryption.reset();
    this.rest.forget();
    for (const u of this.state.uploads) u.abort.abort();
    this.set({
      me: null,
      conversations: new Map(),
      order: [],
      open: null,
      presence: new Map(),
      uploads: [],
      decrypted: new Map(),
      deviceNotices: [],
      channel: "signed_out",
      notice: why ? { text: why, id: ++this.noticeId } : null,
    });
  }

  // ---- catching up (§5.7) ----

  private onChannelOpen() {
    this.outbox.reconnected();
    this.outboxChanged();
    void this.catchUp();
  }

  // One catch-up at a time; a request while one runs makes it run once more after.
  catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return this.catchingUp;
    }
    this.catchingUp = (async () => {
      do {
        this.catchUpAgain = false;
        try {
          await this.catchUpOnce();
        } catch (e) {
          if (!(e instanceof ApiError && e.transient)) this.notify(e);
        }
      } while (this.catchUpAgain);
    })().finally(() => {
      this.catchingUp = null;
    });
    return this.catchingUp;
  }

  private async catchUpOnce() {
    const sync = await this.conn.sync();
    const convs = new Map<string, ConversationView>();
    for (const s of sync.conversations) {
      const held = this.state.conversations.get(s.conv);
      convs.set(s.conv, held ? { ...held, summary: s } : emptyView(s));
    }
    const open = this.state.open && convs.has(this.state.open) ? this.state.open : null;
    this.set({ conversations: convs, order: sync.conversations.map((s) => s.conv), open });
    if (!this.synced) {
      this.synced = true;
      this.pump();
    }
    this.watchDevices();

    const work: Promise<unknown>[] = [];
    for (const view of convs.values()) {
      const s = view.summary;
      if (view.loaded) {
        if (s.last_seq > newestSeq(view.messages)) work.push(this.fetchAfter(s.conv, newestSeq(view.messages)));
        if (s.last_rev > view.caughtUpRev) work.push(this.fetchChanges(s.conv, view.caughtUpRev, s.last_rev));
      }
      if (s.last_seq > s.delivered_seq) this.delivered(s.conv, s.last_seq);
      if (s.peer && !this.state.presence.has(s.peer)) work.push(this.refreshPresence(s.peer));
    }
    if (open && !convs.get(open)!.loaded) work.push(this.loadNewest(open));
    await Promise.all(work);
  }

  private async fetchAfter(conv: string, after: number) {
    for (;;) {
      const page = await this.conn.history(conv, { after, limit: 200 });
      this.mergePage(conv, page.messages, page.receipts);
      if (!page.has_more || page.messages.length === 0) return;
      after = newestSeq(page.messages);
    }
  }

  private async fetchChanges(conv: string, after: number, upTo: number) {
    for (;;) {
      const page = await this.conn.changes(conv, after);
      // Only messages held are replaced; others come in their current state when paged in.
      const view = this.view(conv);
      if (!view) return;
      const held = new Set(view.messages.map((m) => m.seq));
      this.mergePage(conv, page.messages.filter((m) => held.has(m.seq)), []);
      if (!page.has_more || page.messages.length === 0) break;
      after = Math.max(...page.messages.map(revOf));
    }
    this.updateView(conv, (v) => ({ ...v, caughtUpRev: Math.max(v.caughtUpRev, upTo) }));
  }

  private async loadNewest(conv: string) {
    const page = await this.conn.history(conv, { limit: kHistoryPage });
    this.updateView(conv, (v) => ({
      ...v,
      loaded: true,
      hasOlder: page.has_more,
      caughtUpRev: Math.max(v.caughtUpRev, v.summary.last_rev),
    }));
    this.mergePage(conv, page.messages, page.receipts);
    // Messages held from live events before the page may leave a hole between the two, and
    // messages committed after the page was read may not have come yet.
    const hole = firstHole(this.view(conv)?.messages ?? []);
    if (hole !== null) await this.fetchAfter(conv, hole);
    const v = this.view(conv);
    if (v && v.summary.last_seq > newestSeq(v.messages)) await this.fetchAfter(conv, newestSeq(v.messages));
    this.markRead(conv);
  }

  async loadOlder(conv: string) {
    const view = this.view(conv);
    if (!view || !view.hasOlder || view.loadingOlder) return;
    // After a failure, not again for a while: the list asks at every layout near the top.
    if (Date.now() - (this.olderFailedAt.get(conv) ?? 0) < 5000) return;
    this.updateView(conv, (v) => ({ ...v, loadingOlder: true }));
    try {
      const page = await this.conn.history(conv, { before: oldestSeq(view.messages) || undefined, limit: kHistoryPage });
      this.mergePage(conv, page.messages, page.receipts);
      this.updateView(conv, (v) => ({ ...v, hasOlder: page.has_more, loadingOlder: false }));
    } catch (e) {
      this.olderFailedAt.set(conv, Date.now());
      this.updateView(conv, (v) => ({ ...v, loadingOlder: false }));
      this.notify(e);
    }
  }

  // After each sync, when the page is idle: publishes this browser's device (the first time;
  // others can then start encrypted conversations with it), and notes the devices of the
  // people in encrypted conversations, so that a device added later can be pointed out.
  private watchDevices() {
    const me = this.state.me?.username;
    if (!me) return;
    const people = new Set<string>();
    for (const v of this.state.conversations.values()) {
      if (!v.summary.e2ee) continue;
      if (v.summary.peer) people.add(v.summary.peer);
      for (const m of v.members ?? []) if (m.username !== me) people.add(m.username);
    }
    const later = (fn: () => void) => ("requestIdleCallback" in window ? requestIdleCallback(fn, { timeout: 2000 }) : setTimeout(fn, 200));
    later(() => {
      if (this.state.me?.username !== me) return; // signed out (or in as someone else) meanwhile
      void this.encryption.remember(me, [...people]).catch((e) => this.notify(e));
    });
  }

  private decryptIfNeeded(conv: string, messages: readonly Message[]) {
    const me = this.state.me?.username;
    if (me && messages.length && this.view(conv)?.summary.e2ee) this.encryption.decrypt(me, messages);
  }

  // The text to show for a message: its body, or in an encrypted conversation what this
  // browser could open (undefined while it is being opened).
  textOf(m: Message): Plain | undefined {
    if (!this.view(m.conv)?.summary.e2ee) return { text: m.body ?? "" };
    return this.state.decrypted.get(Encryption.keyOf(m));
  }

  private mergePage(conv: string, messages: Message[], receipts: { user: string; delivered_seq: number; read_seq: number }[]) {
    this.decryptIfNeeded(conv, messages);
    const me = this.state.me?.username ?? "";
    let acked = false;
    for (const m of messages) acked = this.outbox.acknowledge(m, me) || acked;
    this.updateView(conv, (v) => ({
      ...v,
      messages: mergeMessages(v.messages, messages),
      cursors: mergeCursors(v.cursors, receipts),
    }));
    if (acked) this.outboxChanged();
  }

  // ---- live events (§5.5) ----

  private onEvent(ev: ServerEvent) {
    switch (ev.ev) {
      case "message":
        return this.onMessage(ev.msg);
      case "message_updated":
        return this.onMessageUpdated(ev.msg);
      case "receipt":
        return this.onReceipt(ev.conv, ev.user, ev.delivered_seq, ev.read_seq);
      case "typing":
        return this.onTyping(ev.conv, ev.user);
      case "presence":
        return this.setPresence({ user: ev.user, online: ev.online, last_seen: ev.last_seen });
      case "conversation":
        if (ev.user && ev.user !== this.state.me?.username && this.view(ev.conv)) {
          if (ev.change === "removed" && this.view(ev.conv)?.summary.e2ee) void this.encryption.memberLeft(this.state.me!.username, ev.conv);
          void this.refreshMembers(ev.conv);
          return;
        }
        return void this.catchUp();
      case "resync":
        return void this.catchUp();
      case "devices": {
        const me = this.state.me?.username;
        if (!me) return;
        // Encrypted conversations shared with that user (all of them, for one's own devices;
        // a group whose members this client has not read counts too).
        const shared = [...this.state.conversations.values()]
          .filter(
            (v) =>
              v.summary.e2ee &&
              (ev.user === me || v.summary.peer === ev.user || (v.summary.kind === "group" && (!v.members || v.members.some((m) => m.username === ev.user)))),
          )
          .map((v) => v.summary.conv);
        return void this.encryption.devicesChanged(me, ev.user, shared).catch(() => {});
      }
      default:
        return;
    }
  }

  private onMessage(msg: Message) {
    const me = this.state.me?.username;
    const view = this.view(msg.conv);
    if (!view) {
      // A conversation this client has not seen (a first direct message): sync brings it.
      void this.catchUp();
      return;
    }
    this.decryptIfNeeded(msg.conv, [msg]);
    const newest = newestSeq(view.messages);
    const gap = view.loaded && msg.seq > newest + 1;
    const mine = msg.from === me;
    this.updateView(msg.conv, (v) => {
      const s = v.summary;
      const isNew = msg.seq > s.last_seq;
      const summary: Summary = isNew
        ? {
            ...s,
            last_seq: msg.seq,
            last_message: msg,
            unread: mine ? s.unread : s.unread + 1,
            ...(mine ? { read_seq: msg.seq, delivered_seq: msg.seq } : {}),
          }
        : s;
      const typing = new Map(v.typing);
      typing.delete(msg.from);
      // Kept even before the first page arrives: a message committed after the page was read
      // may have its event come before the page (the page then leaves a hole, fetched below).
      return { ...v, summary, typing, messages: mergeMessages(v.messages, [msg]) };
    });
    if (me && this.outbox.acknowledge(msg, me)) this.outboxChanged();
    this.bump(msg.conv);
    if (gap) void this.fetchAfter(msg.conv, newest).catch(() => this.catchUp());
    if (!mine) {
      if (this.state.open === msg.conv) this.markRead(msg.conv);
      else this.delivered(msg.conv, msg.seq);
    }
  }

  private onMessageUpdated(msg: Message) {
    this.decryptIfNeeded(msg.conv, [msg]);
    this.updateView(msg.conv, (v) => {
      const s = v.summary;
      const summary =
        s.last_message && s.last_message.seq === msg.seq && revOf(msg) > revOf(s.last_message)
          ? { ...s, last_message: msg, last_rev: Math.max(s.last_rev, revOf(msg)) }
          : { ...s, last_rev: Math.max(s.last_rev, revOf(msg)) };
      // A message held is replaced, a newer one kept (§5.6: it may overtake its own event); one
      // older than the oldest held is left to the page that brings it, in its current state
      // (inserting it would make paging skip what lies between).
      const held = v.messages.some((m) => m.seq === msg.seq);
      const newer = msg.seq > newestSeq(v.messages);
      return { ...v, summary, messages: held || newer ? mergeMessages(v.messages, [msg]) : v.messages };
    });
  }

  private onReceipt(conv: string, user: string, delivered_seq: number, read_seq: number) {
    this.updateView(conv, (v) => {
      const cursors = mergeCursors(v.cursors, [{ user, delivered_seq, read_seq }]);
      let summary = v.summary;
      if (user === this.state.me?.username && read_seq > summary.read_seq) {
        summary = { ...summary, read_seq, unread: read_seq >= summary.last_seq ? 0 : summary.unread };
      }
      return { ...v, cursors, summary };
    });
  }

  private onTyping(conv: string, user: string) {
    const until = Date.now() + kTypingShownMs;
    this.updateView(conv, (v) => ({ ...v, typing: new Map(v.typing).set(user, until) }));
    setTimeout(() => {
      this.updateView(conv, (v) => {
        if ((v.typing.get(user) ?? 0) > Date.now()) return v;
        const typing = new Map(v.typing);
        typing.delete(user);
        return { ...v, typing };
      });
    }, kTypingShownMs + 50);
  }

  private setPresence(p: Presence) {
    this.set({ presence: new Map(this.state.presence).set(p.user, p) });
  }

  async refreshPresence(user: string) {
    try {
      this.setPresence(await this.conn.presence(user));
    } catch {
      /* not shown: presence is a nicety */
    }
  }

  // ---- reading ----

  open(conv: string | null) {
    if (conv === this.state.open) return;
    this.set({ open: conv });
    if (!conv) return;
    const view = this.view(conv);
    if (!view) return;
    if (!view.loaded) void this.loadNewest(conv).catch((e) => this.notify(e));
    else this.markRead(conv);
    if (view.summary.kind === "group" && !view.members) void this.refreshMembers(conv);
    if (view.summary.peer) void this.refreshPresence(view.summary.peer);
  }

  // The open conversation is being looked at: everything in it is read.
  markRead(conv: string) {
    if (this.state.open !== conv || document.visibilityState !== "visible") return;
    const view = this.view(conv);
    if (!view?.loaded) return;
    const newest = newestSeq(view.messages);
    if (newest <= view.summary.read_seq) return;
    this.updateView(conv, (v) => ({ ...v, summary: { ...v.summary, read_seq: newest, unread: 0 } }));
    this.conn.cursor(conv, "read", newest).catch(() => {
      // Lost with the connection: the next sync shows it unread, and it is marked again.
    });
  }

  private delivered(conv: string, seq: number) {
    if ((this.deliveredSent.get(conv) ?? 0) >= seq) return;
    this.deliveredSent.set(conv, seq);
    this.conn.cursor(conv, "delivered", seq).catch(() => this.deliveredSent.delete(conv));
  }

  async refreshMembers(conv: string) {
    try {
      const g = await this.rest.group(conv);
      this.updateView(conv, (v) => ({
        ...v,
        members: g.members ?? [],
        cursors: mergeCursors(v.cursors, (g.members ?? []).map((m) => ({ user: m.username, delivered_seq: m.delivered_seq, read_seq: m.read_seq }))),
      }));
    } catch (e) {
      this.notify(e);
    }
  }

  // ---- writing ----

  send(conv: string, body: string, replyTo: number | null, files: FileInfo[] = [], sealedFiles: SealedFile[] = []) {
    const shown = sealedFiles.length ? sealedFiles : files;
    this.outbox.add(
      {
        clientMsgId: newClientMsgId(),
        conv,
        body,
        replyTo,
        attachments: files.map((f) => f.id),
        attachmentInfo: shown.map(({ id, name, mime, size }) => ({ id, name, mime, size })),
        ...(sealedFiles.length ? { sealedFiles } : {}),
      },
      Date.now(),
    );
    this.outboxChanged();
  }

  retry(clientMsgId: string) {
    this.outbox.retry(clientMsgId);
    this.outboxChanged();
  }

  discard(clientMsgId: string) {
    this.outbox.discard(clientMsgId);
    this.outboxChanged();
  }

  private outboxChanged() {
    if (this.state.me) saveOutbox(this.state.me.username, this.outbox.all());
    this.set({ outbox: this.outbox.all() });
    this.pump();
  }

  // Sends what is due, and sets a timer for what waits.
  private pump() {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    if (!this.state.me || !this.synced) return;
    const now = Date.now();
    const due = this.outbox.takeDue(now);
    if (due.length) this.set({ outbox: this.outbox.all() });
    for (const m of due) {
      const view = this.view(m.conv);
      const target = { conv: m.conv, peer: view?.summary.peer };
      this.sealed(m.conv, { text: m.body, files: m.sealedFiles }, m.clientMsgId)
        .then(async ({ body, boxedFor }) => {
          const msg = await this.conn.send(target, { client_msg_id: m.clientMsgId, body, reply_to: m.replyTo, attachments: m.attachments });
          if (boxedFor.length) void this.encryption.accepted(this.state.me!.username, m.conv, boxedFor);
          return msg;
        })
        .then(
          (msg) => this.onMessage(msg),
          (e: unknown) => {
            const err = e instanceof ApiError ? e : new ApiError("network", String(e));
            this.outbox.failed(m.clientMsgId, describe(err), err.transient, Date.now());
            this.outboxChanged();
          },
        );
    }
    const wake = this.outbox.nextWake();
    if (wake !== null && !due.length) this.pumpTimer = setTimeout(() => this.pump(), Math.max(0, wake - Date.now()) + 10);
  }

  // The body to send in `conv`: the text itself, or in an encrypted conversation its envelope
  // for every device of the members (an edit's carries a key box for each of them).
  private async sealed(conv: string, payload: { text: string; files?: SealedFile[] }, clientMsgId: string, edit = false): Promise<{ body: string; boxedFor: string[] }> {
    const view = this.view(conv);
    const me = this.state.me?.username;
    if (!view?.summary.e2ee || !me) return { body: payload.text, boxedFor: [] };
    let members: string[];
    if (view.summary.peer) members = [me, view.summary.peer];
    else {
      if (!view.members) await this.refreshMembers(conv);
      members = (this.view(conv)?.members ?? []).map((m) => m.username);
      // Without the member list the message would carry no key boxes: try again later.
      if (!members.length) throw new ApiError("unavailable", "the group's members could not be read");
    }
    return this.encryption.encrypt(me, conv, members, payload, clientMsgId, edit);
  }

  async edit(conv: string, seq: number, text: string) {
    try {
      const original = this.view(conv)?.messages.find((m) => m.seq === seq);
      // The edit replaces the whole envelope: the files' keys go in it again.
      const before = original ? this.textOf(original) : undefined;
      const files = before && "files" in before ? before.files : undefined;
      const { body, boxedFor } = await this.sealed(conv, { text, files }, original?.client_msg_id ?? "", true);
      const msg = await this.conn.edit(conv, seq, body);
      if (boxedFor.length) void this.encryption.accepted(this.state.me!.username, conv, boxedFor);
      this.onMessageUpdated(msg);
    } catch (e) {
      this.notify(e);
    }
  }

  async remove(conv: string, seq: number) {
    try {
      this.onMessageUpdated(await this.conn.remove(conv, seq));
    } catch (e) {
      this.notify(e);
    }
  }

  typing(conv: string) {
    const now = Date.now();
    if (now - (this.lastTypingSent.get(conv) ?? 0) < kTypingEveryMs) return;
    this.lastTypingSent.set(conv, now);
    this.conn.typing(conv);
  }

  // Uploads a file for the conversation's next message. In an encrypted conversation the
  // browser encrypts it first and the server gets ciphertext under a neutral name.
  upload(conv: string, file: File) {
    const abort = new AbortController();
    const key = newClientMsgId();
    const up: PendingUpload = { key, conv, name: file.name, progress: 0, file: null, sealed: null, error: null, abort };
    this.set({ uploads: [...this.state.uploads, up] });
    const patch = (p: Partial<PendingUpload>) =>
      this.set({ uploads: this.state.uploads.map((u) => (u.key === key ? { ...u, ...p } : u)) });
    const run = async () => {
      if (!this.view(conv)?.summary.e2ee) {
        patch({ file: await this.rest.upload(file, file.name, (progress) => patch({ progress }), abort.signal), progress: 1 });
        return;
      }
      const { bytes, meta } = await sealFile(file);
      const info = await this.rest.upload(new Blob([bytes as BlobPart]), "encrypted.bin", (progress) => patch({ progress }), abort.signal);
      patch({ file: info, sealed: { ...meta, id: info.id }, progress: 1 });
    };
    run().catch((e) => patch({ error: describe(e) }));
  }

  dropUpload(key: string) {
    this.state.uploads.find((u) => u.key === key)?.abort.abort();
    this.set({ uploads: this.state.uploads.filter((u) => u.key !== key) });
  }

  // Sends the composer's text with the conversation's finished uploads.
  sendWithUploads(conv: string, body: string, replyTo: number | null) {
    const ready = this.state.uploads.filter((u) => u.conv === conv && u.file);
    this.send(conv, body, replyTo, ready.map((u) => u.file!), ready.flatMap((u) => (u.sealed ? [u.sealed] : [])));
    this.set({ uploads: this.state.uploads.filter((u) => !(u.conv === conv && u.file)) });
  }

  // ---- conversations and groups ----

  // These three return the conversation's id, known to the store once they resolve; the caller
  // opens it (ui/App.tsx routes by #/c/ID).
  async openDirect(username: string, e2ee = false): Promise<string> {
    if (e2ee) await this.encryption.ready(this.state.me!.username); // published before the first message
    const conv = await this.rest.openDirect(username, e2ee);
    await this.catchUp();
    return conv.id;
  }

  async createGroup(name: string, members: string[], passcode?: string, e2ee = false): Promise<string> {
    if (e2ee) await this.encryption.ready(this.state.me!.username);
    const g = await this.rest.createGroup(name, members, passcode, e2ee);
    await this.catchUp();
    return g.id;
  }

  async join(conv: string, passcode?: string): Promise<string> {
    const g = await this.rest.join(conv, passcode);
    await this.catchUp();
    return g.id;
  }

  async addMember(conv: string, member: string) {
    const g = await this.rest.addMember(conv, member);
    this.updateView(conv, (v) => ({ ...v, members: g.members ?? v.members }));
  }

  async removeMember(conv: string, member: string) {
    await this.rest.removeMember(conv, member);
    if (member === this.state.me?.username) {
      if (this.state.open === conv) this.set({ open: null });
      await this.catchUp();
    } else {
      await this.refreshMembers(conv);
    }
  }

  // ---- helpers ----

  view(conv: string): ConversationView | undefined {
    return this.state.conversations.get(conv);
  }

  private updateView(conv: string, fn: (v: ConversationView) => ConversationView) {
    const v = this.state.conversations.get(conv);
    if (!v) return;
    const next = fn(v);
    if (next === v) return;
    this.set({ conversations: new Map(this.state.conversations).set(conv, next) });
  }

  // Moves a conversation to the top of the list (it has new activity).
  private bump(conv: string) {
    if (this.state.order[0] === conv) return;
    this.set({ order: [conv, ...this.state.order.filter((c) => c !== conv)] });
  }
}

function emptyView(summary: Summary): ConversationView {
  return {
    summary,
    messages: [],
    loaded: false,
    hasOlder: summary.last_seq > 0,
    loadingOlder: false,
    cursors: new Map(),
    caughtUpRev: 0,
    typing: new Map(),
    members: null,
  };
}

// The outbox outlives a reload of its tab: what was written and not yet acknowledged is sent
// again, under the same client_msg_id. sessionStorage, so each tab keeps its own and two tabs
// never overwrite each other's.
function outboxKey(user: string) {
  return `parley.outbox.${user}`;
}

function loadOutbox(user: string): OutgoingMessage[] {
  try {
    return JSON.parse(sessionStorage.getItem(outboxKey(user)) ?? "[]") as OutgoingMessage[];
  } catch {
    return [];
  }
}

function saveOutbox(user: string, items: readonly OutgoingMessage[]) {
  try {
    if (items.length) sessionStorage.setItem(outboxKey(user), JSON.stringify(items));
    else sessionStorage.removeItem(outboxKey(user));
  } catch {
    /* no storage: the outbox lives as long as the page */
  }
}

