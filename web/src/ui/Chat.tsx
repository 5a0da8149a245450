// One open conversation: its header (name, presence or members), the messages (virtualized,
// older ones paged in as the user scrolls up), who is typing, and the composer. Files dropped
// anywhere on it are uploaded and attached to the next message.
import { useMemo, useState } from "preact/hooks";
import type { Message } from "../api/types.ts";
import type { OutgoingMessage } from "../state/outbox.ts";
import type { State, Store } from "../state/store.ts";
import { Composer, type ComposerMode } from "./Composer.tsx";
import { presenceText } from "./format.ts";
import { Back, Lock } from "./icons.tsx";
import { Members } from "./Members.tsx";
import { SafetyNumber } from "./SafetyNumber.tsx";
import { MessageRow, PendingRow, snippet } from "./MessageRow.tsx";
import { VirtualList } from "./VirtualList.tsx";

type Row = { kind: "message"; msg: Message } | { kind: "pending"; out: OutgoingMessage } | { kind: "top"; loading: boolean; more: boolean };

export function Chat({ store, state, conv }: { store: Store; state: State; conv: string }) {
  const view = state.conversations.get(conv)!;
  const s = view.summary;
  const me = state.me!.username;
  const [mode, setMode] = useState<ComposerMode>({ kind: "new" });
  const [members, setMembers] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [safety, setSafety] = useState(false);

  const pending = state.outbox.filter((o) => o.conv === conv);
  const rows = useMemo<Row[]>(
    () => [
      { kind: "top", loading: view.loadingOlder || !view.loaded, more: view.hasOlder },
      ...view.messages.map((msg) => ({ kind: "message" as const, msg })),
      ...pending.map((out) => ({ kind: "pending" as const, out })),
    ],
    [view.messages, view.loadingOlder, view.loaded, view.hasOlder, state.outbox],
  );
  const bySeq = useMemo(() => new Map(view.messages.map((m) => [m.seq, m])), [view.messages]);
  // The newest message from someone else, for screen readers (the list itself is not live).
  let newestIncoming: Message | undefined;
  for (let i = view.messages.length - 1; i >= 0 && !newestIncoming; i--) {
    if (view.messages[i].from !== me && !view.messages[i].deleted) newestIncoming = view.messages[i];
  }
  const typers = [...view.typing.entries()].filter(([u, until]) => u !== me && until > Date.now()).map(([u]) => u);
  const subtitle = s.kind === "direct" ? presenceText(state.presence.get(s.peer ?? "")) : view.members ? `${view.members.length} members` : "group";

  return (
    <section
      class={`chat ${dragging ? "dragging" : ""}`}
      aria-label={`Chat with ${s.name}`}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        for (const f of e.dataTransfer?.files ?? []) store.upload(conv, f);
      }}
    >
      <header class="chat-head">
        <a class="button icon back" href="#" aria-label="Back to conversations">
          <Back />
        </a>
        <div class="chat-title">
          <h2>
            {s.name}
            {s.e2ee && (
              <>
                {" "}
                <span class="lock" role="img" title="End-to-end encrypted" aria-label="end-to-end encrypted">
                  <Lock />
                </span>
              </>
            )}
          </h2>
          <span class="subtitle" aria-live="polite">{subtitle}</span>
        </div>
        {s.e2ee && s.peer && (
          <button type="button" class="secondary" onClick={() => setSafety(true)}>
            Safety number
          </button>
        )}
        {s.kind === "group" && (
          <button type="button" class="secondary" onClick={() => setMembers(true)}>
            Members
          </button>
        )}
      </header>
      {s.e2ee &&
        state.deviceNotices
          .filter((n) => n.user === s.peer || (view.members ?? []).some((m) => m.username === n.user))
          .map((n) => (
            <div class="device-notice" role="alert" key={n.user}>
              <Lock /> {n.user} added a new device ({n.added.join(", ")}). Messages from now on are encrypted for it too. If you did not expect this, compare safety numbers.
              <button type="button" class="secondary" onClick={() => store.encryption.dismiss(n.user)}>
                Dismiss
              </button>
            </div>
          ))}
      <VirtualList
        label="Messages"
        items={rows}
        keyOf={(r) => (r.kind === "message" ? `m${r.msg.seq}` : r.kind === "pending" ? `p${r.out.clientMsgId}` : "top")}
        onReachTop={() => void store.loadOlder(conv)}
        render={(r) =>
          r.kind === "top" ? (
            <div class="history-edge">{r.loading ? "Loading…" : r.more ? "" : "This is the start of the conversation."}</div>
          ) : r.kind === "pending" ? (
            <PendingRow out={r.out} store={store} />
          ) : (
            <MessageRow
              msg={r.msg}
              me={me}
              kind={s.kind}
              cursors={view.cursors}
              replyTo={r.msg.reply_to ? bySeq.get(r.msg.reply_to) : undefined}
              store={store}
              plain={s.e2ee ? store.textOf(r.msg) : undefined}
              encrypted={s.e2ee}
              replyPlain={s.e2ee && r.msg.reply_to ? store.textOf(bySeq.get(r.msg.reply_to) ?? r.msg) : undefined}
              setMode={setMode}
            />
          )
        }
      />
      <div class="sr-only" aria-live="polite">
        {newestIncoming && `${newestIncoming.from}: ${snippet(store, newestIncoming)}`}
      </div>
      <div class="typing" aria-live="polite">
        {typers.length === 1 ? `${typers[0]} is typing…` : typers.length > 1 ? `${typers.join(", ")} are typing…` : ""}
      </div>
      <Composer store={store} state={state} conv={conv} mode={mode} setMode={setMode} />
      {members && <Members store={store} state={state} conv={conv} onClose={() => setMembers(false)} />}
      {safety && s.peer && <SafetyNumber store={store} me={me} peer={s.peer} onClose={() => setSafety(false)} />}
    </section>
  );
}
