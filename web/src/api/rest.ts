// The REST side of docs/protocol.md §2–§3 and §9: one place that knows the routes, adds the
// access token, refreshes it once when it has expired (a single refresh shared by concurrent
// callers: refresh tokens rotate, so two refreshes with the same one would log the user out),
// and turns every refusal into an ApiError.
//
// The login session (access and refresh token) lives in localStorage so that a reload stays
// signed in; `onSignedOut` runs when the server no longer accepts it.
import { ApiError, fromErrorBody } from "./errors.ts";
import type {
  DeviceBundle,
  DeviceRecord,
  FileInfo,
  Group,
  HistoryPage,
  LoginReply,
  Message,
  Presence,
  Provider,
  PushSubscriptionInfo,
  SessionInfo,
  SyncState,
  User,
} from "./types.ts";

const kStorageKey = "parley.session";

export interface StoredSession {
  token: string;
  refresh_token: string;
  // When the access token expires, in ms since the epoch (refreshed a little before).
  expires_at: number;
  user: User;
}

export class Rest {
  private session: StoredSession | null = null;
  private refreshing: Promise<boolean> | null = null;
  onSignedOut: () => void = () => {};
  onSessionChanged: (s: StoredSession | null) => void = () => {};

  constructor(private readonly base = "") {
    this.session = readStored();
    // Another tab of this browser signed in, refreshed or signed out: the session is shared.
    window.addEventListener("storage", (e) => {
      if (e.key !== kStorageKey) return;
      const was = this.session;
      this.session = readStored();
      if (was && !this.session) this.onSignedOut();
    });
  }

  get current(): StoredSession | null {
    return this.session;
  }

  adopt(reply: LoginReply): StoredSession {
    this.session = {
      token: reply.token,
      refresh_token: reply.refresh_token,
      expires_at: Date.now() + reply.expires_in * 1000,
      user: reply.user,
    };
    this.save();
    return this.session;
  }

  forget(): void {
    this.session = null;
    this.save();
  }

  private save(): void {
    try {
      if (this.session) localStorage.setItem(kStorageKey, JSON.stringify(this.session));
      else localStorage.removeItem(kStorageKey);
    } catch {
      // Private mode without storage: the session lasts as long as the page.
    }
    this.onSessionChanged(this.session);
  }

  // A valid access token: the current one, or a refreshed one when it expires within 30 s.
  async token(): Promise<string | null> {
    if (!this.session) return null;
    if (this.session.expires_at - Date.now() < 30_000) await this.refresh();
    return this.session?.token ?? null;
  }

  // Rotates the refresh token. False when the server refused it (then the user is signed out).
  // Refresh tokens rotate, so one refresh at a time: in this tab (one shared promise) and
  // across the browser's tabs (a Web Lock; a tab that finds the stored token already rotated
  // by another takes that one instead of spending the old).
  refresh(): Promise<boolean> {
    const used = this.session?.refresh_token;
    this.refreshing ??= withLock("parley-refresh", async () => {
      try {
        const stored = readStored();
        if (stored && stored.refresh_token !== used && stored.expires_at - Date.now() > 30_000) {
          this.session = stored;
          return true;
        }
        const rt = stored?.refresh_token ?? this.session?.refresh_token;
        if (!rt) return false;
        const reply = await this.call<LoginReply>("POST", "/auth/refresh", { refresh_token: rt }, { auth: false });
        this.adopt(reply);
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.code === "unauthenticated") {
          this.forget();
          this.onSignedOut();
        }
        return false;
      }
    }).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  // One request. `auth`: send the access token and, on 401, refresh once and try again.
  async call<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
    const auth = opts.auth ?? true;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (auth) {
        const t = await this.token();
        if (!t) throw new ApiError("unauthenticated", "You are signed out. Log in again.", 401);
        headers.Authorization = `Bearer ${t}`;
      }
      let res: Response;
      try {
        res = await fetch(this.base + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch {
        throw new ApiError("network", "cannot reach the server");
      }
      if (res.status === 401 && auth && attempt === 0 && (await this.refresh())) continue;
      return (await parse(res)) as T;
    }
  }

  // --- accounts (§2) ---
  register(username: string, password: string) {
    return this.call<{ user: User }>("POST", "/auth/register", { username, password }, { auth: false });
  }
  login(username: string, password: string) {
    return this.call<LoginReply>("POST", "/auth/login", { username, password, device: deviceName() }, { auth: false });
  }
  loginWithCode(challenge: string, code: string) {
    return this.call<LoginReply>("POST", "/auth/login/mfa", { challenge, code }, { auth: false });
  }
  providers() {
    return this.call<{ providers: Provider[] }>("GET", "/auth/providers", undefined, { auth: false });
  }
  logout() {
    return this.call<{ ok: boolean }>("POST", "/auth/logout");
  }
  logoutAll() {
    return this.call<{ ok: boolean; sessions_ended: number }>("POST", "/auth/logout-all");
  }
  sessions() {
    return this.call<{ sessions: SessionInfo[] }>("GET", "/auth/sessions");
  }
  endSession(id: number) {
    return this.call<{ ok: boolean }>("DELETE", `/auth/sessions/${id}`);
  }

  // --- push notifications (§12) ---
  vapidPublicKey() {
    return this.call<{ public_key: string }>("GET", "/push/vapid-public-key", undefined, { auth: false });
  }
  pushSubscribe(subscription: PushSubscriptionJSON) {
    return this.call<PushSubscriptionInfo>("POST", "/push/subscriptions", subscription);
  }
  pushSubscriptions() {
    return this.call<{ subscriptions: PushSubscriptionInfo[] }>("GET", "/push/subscriptions");
  }
  pushUnsubscribe(id: number) {
    return this.call<{ ok: boolean }>("DELETE", `/push/subscriptions/${id}`);
  }

  // --- conversations (§3) ---
  sync() {
    return this.call<SyncState>("GET", "/sync");
  }
  openDirect(recipient: string, e2ee = false) {
    return this.call<Group & { created: boolean }>("POST", "/conversations/direct", { recipient, e2ee });
  }
  createGroup(name: string, members: string[], passcode?: string, e2ee = false) {
    return this.call<Group>("POST", "/groups/create", { name, members, e2ee, ...(passcode ? { passcode } : {}) });
  }
  group(id: string) {
    return this.call<Group>("GET", `/groups/${enc(id)}`);
  }
  addMember(id: string, member: string) {
    return this.call<Group>("PUT", `/groups/${enc(id)}/add-member`, { member });
  }
  removeMember(id: string, member: string) {
    return this.call<{ conv: string; removed: string }>("DELETE", `/groups/${enc(id)}/remove-member`, { member });
  }
  join(id: string, passcode?: string) {
    return this.call<Group>("POST", `/groups/${enc(id)}/join`, passcode ? { passcode } : {});
  }
  history(conv: string, q: { before?: number; after?: number; limit?: number }) {
    return this.call<HistoryPage>("GET", `/conversations/${enc(conv)}/messages${query(q)}`);
  }
  changes(conv: string, after: number, limit = 200) {
    return this.call<HistoryPage>("GET", `/conversations/${enc(conv)}/changes${query({ after, limit })}`);
  }
  sendDirect(recipient: string, body: Record<string, unknown>) {
    return this.call<Message>("POST", "/chat/send", { recipient, ...body });
  }
  sendGroup(conv: string, body: Record<string, unknown>) {
    return this.call<Message>("POST", `/groups/${enc(conv)}/send`, body);
  }
  cursor(conv: string, which: "read" | "delivered", seq: number) {
    return this.call<{ conv: string; delivered_seq: number; read_seq: number }>(
      "POST",
      `/conversations/${enc(conv)}/${which}`,
      { seq },
    );
  }
  edit(conv: string, seq: number, message: string) {
    return this.call<Message>("PATCH", `/conversations/${enc(conv)}/messages/${seq}`, { message });
  }
  remove(conv: string, seq: number) {
    return this.call<Message>("DELETE", `/conversations/${enc(conv)}/messages/${seq}`);
  }
  presence(user: string) {
    return this.call<Presence>("GET", `/users/${enc(user)}/presence`);
  }

  // --- the key directory of end-to-end encryption (§11.1) ---
  putDevice(device: string, bundle: DeviceBundle) {
    return this.call<{ device: DeviceRecord; created: boolean }>("PUT", `/keys/devices/${enc(device)}`, bundle);
  }
  addOneTimePrekeys(device: string, prekeys: { id: number; key: string }[]) {
    return this.call<{ one_time_prekeys: number }>("POST", `/keys/devices/${enc(device)}/one-time`, { prekeys });
  }
  myDevices() {
    return this.call<{ devices: (DeviceRecord & { one_time_prekeys: number })[] }>("GET", "/keys/devices");
  }
  userDevices(user: string, claimOneTime: boolean) {
    return this.call<{ user: string; devices: DeviceRecord[] }>("GET", `/keys/users/${enc(user)}${claimOneTime ? "" : "?one_time=0"}`);
  }

  // --- files (§9) ---
  // Uploads with progress (fetch cannot report an upload's progress; XMLHttpRequest can).
  // `name`: what the server records (an encrypted file's is neutral: its real name is secret).
  async upload(file: Blob, name: string, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<FileInfo> {
    const token = await this.token();
    if (!token) throw new ApiError("unauthenticated", "You are signed out. Log in again.", 401);
    return new Promise<FileInfo>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}/files?name=${encodeURIComponent(name)}`);
      xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError("network", "the upload was interrupted"));
      xhr.onabort = () => reject(new ApiError("aborted", "upload cancelled"));
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON: described by status below */
        }
        if (xhr.status === 201) resolve((body as { file: FileInfo }).file);
        else reject(fromErrorBody(body, xhr.status, retryAfter(xhr.getResponseHeader("Retry-After"))));
      };
      signal?.addEventListener("abort", () => xhr.abort());
      xhr.send(file);
    });
  }

  // A file's bytes as stored (for an encrypted file, the ciphertext to open).
  async fileBytes(id: string): Promise<ArrayBuffer> {
    const t = await this.token();
    const res = await fetch(`${this.base}/files/${enc(id)}`, { headers: t ? { Authorization: `Bearer ${t}` } : {} }).catch(() => {
      throw new ApiError("network", "cannot reach the server");
    });
    if (!res.ok) await parse(res);
    return res.arrayBuffer();
  }

  // A file's bytes (or its thumbnail) as an object URL for <img>/<a download>: images cannot
  // carry the Authorization header themselves.
  async fileUrl(id: string, thumb: boolean): Promise<string> {
    const t = await this.token();
    const res = await fetch(`${this.base}/files/${enc(id)}${thumb ? "?thumb=1" : ""}`, {
      headers: t ? { Authorization: `Bearer ${t}` } : {},
    }).catch(() => {
      throw new ApiError("network", "cannot reach the server");
    });
    if (!res.ok) await parse(res);
    return URL.createObjectURL(await res.blob());
  }
}

function readStored(): StoredSession | null {
  try {
    const raw = localStorage.getItem(kStorageKey);
    return raw ? (JSON.parse(raw) as StoredSession) : null;
  } catch {
    return null;
  }
}

// `fn` under an exclusive Web Lock of this origin, where the browser has them.
function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return navigator.locks ? (navigator.locks.request(name, fn) as unknown as Promise<T>) : fn();
}

async function parse(res: Response): Promise<unknown> {
  let body: unknown = null;
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (res.ok) return body;
  throw fromErrorBody(body, res.status, retryAfter(res.headers.get("Retry-After")));
}

function retryAfter(h: string | null): number | undefined {
  const n = h ? Number(h) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function query(q: Record<string, number | undefined>): string {
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return `Parley web — ${browser}${os ? ` on ${os}` : ""}`;
}

