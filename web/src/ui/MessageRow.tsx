// One message: sender (in groups), the message it answers, text or "deleted", attachments,
// time, "edited", and for one's own its receipt (✓ sent, ✓✓ delivered, read) and actions.
import { memo } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { Attachment, Message } from "../api/types.ts";
import type { OutgoingMessage } from "../state/outbox.ts";
import { receiptView, type CursorMap } from "../state/receipts.ts";
import { openFile, type SealedFile } from "../e2ee/files.ts";
import type { Plain } from "../state/encryption.ts";
import type { Store } from "../state/store.ts";
import type { ComposerMode } from "./Composer.tsx";
import { bytes, clock } from "./format.ts";
import { Clock, Lock, Paperclip, Pencil, ReplyIcon, Trash } from "./icons.tsx";

interface Props {
  msg: Message;
  me: string;
  kind: "direct" | "group";
  cursors: CursorMap;
  replyTo: Message | undefined;
  store: Store;
  // What this browser opened of an encrypted message (and of the one it answers); for the
  // memo below, which skips rows whose props did not change while the list scrolls.
  plain: Plain | undefined;
  replyPlain: Plain | undefined;
  encrypted: boolean; // an end-to-end encrypted conversation: files come from `plain`
  setMode(mode: ComposerMode): void;
}

export const MessageRow = memo(function MessageRow({ msg, me, kind, cursors, replyTo, store, setMode, plain, encrypted }: Props) {
  const onReply = () => setMode({ kind: "reply", msg });
  const onEdit = () => setMode({ kind: "edit", msg });
  const mine = msg.from === me;
  const receipt = mine && !msg.deleted ? receiptView(msg.seq, me, kind, cursors) : null;
  return (
    <article class={`msg ${mine ? "mine" : ""} ${msg.deleted ? "deleted" : ""}`} aria-label={`Message from ${msg.from}`} data-seq={msg.seq}>
      <div class="bubble">
        {kind === "group" && !mine && <div class="from">{msg.from}</div>}
        {msg.reply_to && !msg.deleted && (
          <div class="quote">
            ↪ {replyTo ? `${replyTo.from}: ${replyTo.deleted ? "deleted message" : snippet(store, replyTo)}` : `message #${msg.reply_to}`}
          </div>
        )}
        {msg.deleted ? <p class="body muted">This message was deleted.</p> : <Body msg={msg} store={store} />}
        {!msg.deleted &&
          (encrypted
            ? plain && "files" in plain && plain.files?.map((f) => <AttachmentView key={f.id} a={f} sealed={f} store={store} />)
            : msg.attachments.map((a) => <AttachmentView key={a.id} a={a} store={store} />))}
        <div class="meta">
          {msg.edited_at && !msg.deleted && <span class="edited">edited</span>}
          <time dateTime={msg.ts}>{clock(msg.ts)}</time>
          {receipt && (
            <span class={`receipt ${receipt.state}`} role="img" aria-label={receipt.label} title={receipt.label}>
              {receipt.state === "sent" ? "✓" : "✓✓"}
              {kind === "group" && receipt.readBy > 0 && <span class="read-by"> {receipt.label}</span>}
              {kind === "direct" && receipt.state === "read" && <span class="read-by"> Read</span>}
            </span>
          )}
        </div>
      </div>
      {!msg.deleted && (
        <div class="actions">
          <button type="button" class="icon" aria-label="Reply" title="Reply" onClick={onReply}><ReplyIcon /></button>
          {mine && (
            <>
              <button type="button" class="icon" aria-label="Edit" title="Edit" onClick={onEdit}><Pencil /></button>
              <button
                type="button"
                class="icon"
                aria-label="Delete"
                title="Delete"
                onClick={() => confirm("Delete this message for everyone?") && void store.remove(msg.conv, msg.seq)}
              >
                <Trash />
              </button>
            </>
          )}
        </div>
      )}
    </article>
  );
});

// The text, or for an encrypted conversation what this browser could open of it.
function Body({ msg, store }: { msg: Message; store: Store }) {
  if (!msg.body) return null;
  const plain = store.textOf(msg);
  if (!plain) return <p class="body muted">Decrypting…</p>;
  if ("error" in plain) {
    return (
      <p class="body muted">
        <Lock /> Cannot decrypt: {plain.error}
      </p>
    );
  }
  return plain.text ? <p class="body">{plain.text}</p> : null;
}

export function snippet(store: Store, m: Message): string {
  const plain = store.textOf(m);
  return plain && "text" in plain ? plain.text.slice(0, 80) : "encrypted message";
}

// A message written but not acknowledged: sending, waiting to retry, or refused.
export function PendingRow({ out, store }: { out: OutgoingMessage; store: Store }) {
  return (
    <article class={`msg mine pending ${out.state}`} aria-label="Message not yet sent">
      <div class="bubble">
        {out.body && <p class="body">{out.body}</p>}
        {out.attachmentInfo.map((a) => (
          <div class="file">
            <span><Paperclip /> {a.name}</span>
          </div>
        ))}
        <div class="meta">
          {out.state === "failed" ? (
            <span class="error" role="alert">
              Not sent: {out.error}{" "}
              <button type="button" class="link" onClick={() => store.retry(out.clientMsgId)}>Retry</button>{" "}
              <button type="button" class="link" onClick={() => store.discard(out.clientMsgId)}>Discard</button>
            </span>
          ) : (
            <span class="receipt pending" role="img" aria-label={out.state === "waiting" ? "Waiting to send" : "Sending"} title={out.error}>
              <Clock />{out.state === "waiting" ? " waiting to send" : ""}
            </span>
          )}
        </div>
      </div>
    </article>
  );
}

const kThumbTypes = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

// A file of a message: a thumbnail for images, and a download button. The server makes
// thumbnails of plain files; an encrypted one (`sealed`) is fetched whole and opened here.
function AttachmentView({ a, sealed, store }: { a: Attachment; sealed?: SealedFile; store: Store }) {
  const [thumb, setThumb] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const image = kThumbTypes.has(a.mime);
  useEffect(() => {
    if (!image) return;
    let url: string | null = null;
    let live = true;
    blobUrl(store, a.id, sealed, true).then(
      (u) => (live ? setThumb((url = u)) : URL.revokeObjectURL(u)),
      (e) => live && setError(describe(e)),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [a.id]);
  const download = async () => {
    try {
      const url = await blobUrl(store, a.id, sealed, false);
      const link = document.createElement("a");
      link.href = url;
      link.download = a.name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(describe(e));
    }
  };
  return (
    <div class="file">
      {image && thumb && <img class="thumb" src={thumb} alt={a.name} />}
      <button type="button" class="link" onClick={download} aria-label={`Download ${a.name}`}>
        <Paperclip /> {a.name} <small>({bytes(a.size)})</small>
      </button>
      {error && <small class="error">{error}</small>}
    </div>
  );
}

async function blobUrl(store: Store, id: string, sealed: SealedFile | undefined, thumb: boolean): Promise<string> {
  if (!sealed) return store.rest.fileUrl(id, thumb);
  return URL.createObjectURL(await openFile(await store.rest.fileBytes(id), sealed));
}
