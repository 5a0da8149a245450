// A group's members: who they are and their role, add someone (owners and admins), remove
// someone (owners and admins, as the server allows), leave; and the group's id, which others
// need to join it with its passcode.
import { useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { State, Store } from "../state/store.ts";
import { Dialog } from "./Dialog.tsx";

export function Members({ store, state, conv, onClose }: { store: Store; state: State; conv: string; onClose(): void }) {
  const view = state.conversations.get(conv);
  const me = state.me!.username;
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const members = view?.members ?? [];
  const myRole = members.find((m) => m.username === me)?.role ?? view?.summary.role;
  const canManage = myRole === "owner" || myRole === "admin";
  const run = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(describe(e));
    }
  };
  return (
    <Dialog title={`Members of ${view?.summary.name ?? "group"}`} onClose={onClose}>
      <p>
        Group id: <code>{conv}</code>
      </p>
      <ul class="members">
        {members.map((m) => (
          <li key={m.username}>
            <span>
              {m.username} <small>{m.role}</small>
            </span>
            {canManage && m.username !== me && (myRole === "owner" || m.role === "member") && (
              <button type="button" class="secondary" aria-label={`Remove ${m.username}`} onClick={() => run(() => store.removeMember(conv, m.username))}>
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {canManage && (
        <form onSubmit={(e) => (e.preventDefault(), void run(() => store.addMember(conv, name.trim()).then(() => setName(""))))}>
          <label>
            Add member
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </label>
          <button type="submit">Add</button>
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      <button type="button" class="danger" onClick={() => run(() => store.removeMember(conv, me).then(onClose))}>
        Leave group
      </button>
    </Dialog>
  );
}
