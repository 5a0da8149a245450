// Writing: a textbox named "Message" and a "Send" button. Enter sends, Shift+Enter is a new
// line; Escape leaves reply or edit mode. Files come from the "Attach file" button (or a drop
// on the chat) and show their upload progress until sent with the next message.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../api/types.ts";
import type { State, Store } from "../state/store.ts";
import { Paperclip } from "./icons.tsx";
import { snippet } from "./MessageRow.tsx";

export type ComposerMode = { kind: "new" } | { kind: "reply"; msg: Message } | { kind: "edit"; msg: Message };

export function Composer({ store, state, conv, mode, setMode }: { store: Store; state: State; conv: string; mode: ComposerMode; setMode(m: ComposerMode): void }) {
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const uploads = state.uploads.filter((u) => u.conv === conv);
  const uploading = uploads.some((u) => !u.file && !u.error);
  const ready = uploads.some((u) => u.file);

  useEffect(() => {
    if (mode.kind === "edit") {
      const plain = store.textOf(mode.msg);
      setText(plain && "text" in plain ? plain.text : "");
    }
    // On the next frame: a dialog that opened this conversation has closed by then (a modal
    // dialog keeps focus inside it while open).
    const frame = requestAnimationFrame(() => input.current?.focus());
    return () => cancelAnimationFrame(frame);
  }, [mode]);

  const submit = () => {
    const body = text.trim();
    if (mode.kind === "edit") {
      if (body) void store.edit(conv, mode.msg.seq, body);
    } else {
      if (!body && !ready) return;
      if (uploading) {
        store.notify(new Error("Wait for the upload to finish, then send."));
        return;
      }
      store.sendWithUploads(conv, body, mode.kind === "reply" ? mode.msg.seq : null);
    }
    setText("");
    setMode({ kind: "new" });
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {mode.kind !== "new" && (
        <div class="composer-mode">
          <span>
            {mode.kind === "reply" ? `Replying to ${mode.msg.from}: ` : "Editing: "}
            <em>{snippet(store, mode.msg)}</em>
          </span>
          <button type="button" class="icon" aria-label={mode.kind === "reply" ? "Cancel reply" : "Cancel edit"} onClick={() => (setMode({ kind: "new" }), setText(""))}>
            ×
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul class="uploads">
          {uploads.map((u) => (
            <li key={u.key}>
              <span><Paperclip /> {u.name}</span>
              {u.error ? (
                <span class="error" role="alert">{u.error}</span>
              ) : (
                <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
              )}
              <button type="button" class="icon" aria-label={`Remove ${u.name}`} onClick={() => store.dropUpload(u.key)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div class="composer-row">
        <button
          type="button"
          class="icon"
          aria-label="Attach file"
          title="Attach file"
          onClick={() => fileInput.current?.click()}
        >
          <Paperclip />
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          aria-label="Choose files"
          onChange={(e) => {
            for (const f of e.currentTarget.files ?? []) store.upload(conv, f);
            e.currentTarget.value = "";
          }}
        />
        <textarea
          ref={input}
          aria-label="Message"
          placeholder="Write a message"
          rows={1}
          value={text}
          onInput={(e) => {
            setText(e.currentTarget.value);
            if (e.currentTarget.value) store.typing(conv);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              submit();
            } else if (e.key === "Escape" && mode.kind !== "new") {
              e.preventDefault();
              setMode({ kind: "new" });
              setText("");
            }
          }}
        />
        <button type="submit">{mode.kind === "edit" ? "Save" : "Send"}</button>
      </div>
    </form>
  );
}
