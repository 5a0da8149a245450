// The conversation list, most recent activity first, with unread counts and online dots, and
// the account menu: new chat, new group, join a group, sessions and devices, log out.
import { useEffect, useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { SessionInfo } from "../api/types.ts";
import type { ConversationView, State, Store } from "../state/store.ts";
import { Dialog } from "./Dialog.tsx";
import { Notifications } from "./Notifications.tsx";
import { ago, shortWhen } from "./format.ts";
import { Lock } from "./icons.tsx";

type Open = null | "chat" | "group" | "join" | "sessions" | "notifications";

export function Sidebar({ store, state }: { store: Store; state: State }) {
  const [dialog, setDialog] = useState<Open>(null);
  const close = () => setDialog(null);
  return (
    <nav class="sidebar" aria-label="Conversations">
      <header class="sidebar-head">
        <div class="me">
          <strong>{state.me?.username}</strong>
          <ChannelBadge state={state} />
        </div>
        <div class="row wrap">
          <button type="button" onClick={() => setDialog("chat")}>New chat</button>
          <button type="button" class="secondary" onClick={() => setDialog("group")}>New group</button>
          <button type="button" class="secondary" onClick={() => setDialog("join")}>Join group</button>
          <button type="button" class="secondary" onClick={() => setDialog("sessions")}>Sessions</button>
          <button type="button" class="secondary" onClick={() => setDialog("notifications")}>Notifications</button>
          <button type="button" class="secondary" onClick={() => void store.logout()}>Log out</button>
        </div>
      </header>
      <ul class="conv-list" role="list">
        {state.order.map((id) => {
          const v = state.conversations.get(id);
          return v ? <ConversationItem key={id} view={v} state={state} /> : null;
        })}
        {state.order.length === 0 && <li class="hint">No conversations yet.</li>}
      </ul>
      {dialog === "chat" && <NewChat store={store} onClose={close} />}
      {dialog === "group" && <NewGroup store={store} onClose={close} />}
      {dialog === "join" && <JoinGroup store={store} onClose={close} />}
      {dialog === "sessions" && <Sessions store={store} onClose={close} />}
      {dialog === "notifications" && <Notifications store={store} onClose={close} />}
    </nav>
  );
}

function ChannelBadge({ state }: { state: State }) {
  const text = state.channel === "online" ? (state.mode === "sse" ? "connected (events)" : "connected") : state.channel === "connecting" ? "connecting…" : "offline";
  return (
    <span class={`channel ${state.channel}`} role="status">
      {text}
    </span>
  );
}

function ConversationItem({ view, state }: { view: ConversationView; state: State }) {
  const s = view.summary;
  const online = s.peer ? state.presence.get(s.peer)?.online : false;
  const last = s.last_message;
  const preview = !last ? "No messages yet" : last.deleted ? "Message deleted" : s.e2ee ? "Encrypted message" : last.body || (last.attachments.length ? `File: ${last.attachments[0].name}` : "");
  const active = state.open === s.conv;
  return (
    <li>
      <a class={`conv ${active ? "active" : ""}`} href={`#/c/${s.conv}`} aria-current={active ? "page" : undefined}>
        <span class="avatar" aria-hidden="true">
          {s.kind === "group" ? "#" : s.name.slice(0, 1).toUpperCase()}
          {online && <span class="dot" />}
        </span>
        <span class="conv-text">
          <span class="conv-name">
            {s.name}
            {s.e2ee && (
              <>
                {" "}
                <span class="lock" role="img" aria-label="end-to-end encrypted">
                  <Lock size={12} />
                </span>
              </>
            )}
            {online && <span class="sr-only"> (online)</span>}
          </span>
          <span class="conv-preview">{last && s.kind === "group" ? `${last.from}: ${preview}` : preview}</span>
        </span>
        <span class="conv-meta">
          {last && <time dateTime={last.ts}>{shortWhen(last.ts)}</time>}
          {s.unread > 0 && (
            <span class="badge" role="img" aria-label={`${s.unread} unread`}>
              {s.unread}
            </span>
          )}
        </span>
      </a>
    </li>
  );
}

// A form in a dialog that runs one action and shows its error. An action that yields a
// conversation opens it once the dialog has closed: focus then moves to its composer (a modal
// dialog keeps focus from leaving it while it is open).
function useAction(onDone: () => void) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      const result = await what();
      onDone();
      if (typeof result === "string") location.hash = `#/c/${result}`;
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

function NewChat({ store, onClose }: { store: Store; onClose: () => void }) {
  const [name, setName] = useState("");
  const [e2ee, setE2ee] = useState(false);
  const { error, busy, run } = useAction(onClose);
  return (
    <Dialog title="New chat" onClose={onClose}>
      <form onSubmit={(e) => (e.preventDefault(), void run(() => store.openDirect(name.trim(), e2ee)))}>
        <label>
          Username
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required autoFocus />
        </label>
        <Encrypted checked={e2ee} onChange={setE2ee} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>Start chat</button>
      </form>
    </Dialog>
  );
}

function NewGroup({ store, onClose }: { store: Store; onClose: () => void }) {
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const [passcode, setPasscode] = useState("");
  const [e2ee, setE2ee] = useState(false);
  const { error, busy, run } = useAction(onClose);
  const list = members.split(/[\s,]+/).filter(Boolean);
  return (
    <Dialog title="New group" onClose={onClose}>
      <form onSubmit={(e) => (e.preventDefault(), void run(() => store.createGroup(name.trim(), list, passcode || undefined, e2ee)))}>
        <label>
          Group name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required autoFocus />
        </label>
        <label>
          Members (usernames, separated by commas)
          <input value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
        </label>
        <label>
          Passcode to join (optional)
          <input value={passcode} onInput={(e) => setPasscode(e.currentTarget.value)} type="password" autoComplete="new-password" />
        </label>
        <Encrypted checked={e2ee} onChange={setE2ee} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>Create group</button>
      </form>
    </Dialog>
  );
}

// "End-to-end encrypted": the server stores and relays only what the members' devices encrypted
// (docs/protocol.md §11). It cannot be changed later.
function Encrypted({ checked, onChange }: { checked: boolean; onChange(v: boolean): void }) {
  return (
    <label class="check">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.currentTarget.checked)} />
      <span>
        End-to-end encrypted <small>(only the members' devices can read it; cannot be changed later)</small>
      </span>
    </label>
  );
}

function JoinGroup({ store, onClose }: { store: Store; onClose: () => void }) {
  const [id, setId] = useState("");
  const [passcode, setPasscode] = useState("");
  const { error, busy, run } = useAction(onClose);
  return (
    <Dialog title="Join group" onClose={onClose}>
      <form onSubmit={(e) => (e.preventDefault(), void run(() => store.join(id.trim(), passcode || undefined)))}>
        <label>
          Group id
          <input value={id} onInput={(e) => setId(e.currentTarget.value)} required autoFocus />
        </label>
        <label>
          Passcode
          <input value={passcode} onInput={(e) => setPasscode(e.currentTarget.value)} type="password" autoComplete="off" />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>Join</button>
      </form>
    </Dialog>
  );
}

function Sessions({ store, onClose }: { store: Store; onClose: () => void }) {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => store.rest.sessions().then((r) => setSessions(r.sessions), (e) => setError(describe(e)));
  useEffect(() => void load(), []);
  return (
    <Dialog title="Sessions and devices" onClose={onClose}>
      {error && <p class="error" role="alert">{error}</p>}
      <ul class="sessions">
        {(sessions ?? []).map((s) => (
          <li key={s.id}>
            <span>
              <strong>{s.device || "Unknown device"}</strong>
              {s.current && " (this device)"}
              <br />
              <small>
                {s.provider} · signed in {ago(s.created_at)} · last used {ago(s.last_used_at)}
              </small>
            </span>
            {!s.current && (
              <button type="button" class="secondary" aria-label={`Log out ${s.device}`} onClick={() => store.rest.endSession(s.id).then(load, (e) => setError(describe(e)))}>
                Log out
              </button>
            )}
          </li>
        ))}
      </ul>
      <button type="button" class="danger" onClick={() => void store.logout(true)}>
        Log out everywhere
      </button>
    </Dialog>
  );
}
