// The "Notifications" dialog: turns push notifications on or off for this browser and login
// (state/push.ts). The browser asks for permission only when the person presses the button.
import { useEffect, useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { Store } from "../state/store.ts";
import { disablePush, enablePush, pushState, type PushState } from "../state/push.ts";
import { Dialog } from "./Dialog.tsx";

const explanations: Record<PushState, string> = {
  unsupported: "This browser cannot show notifications.",
  blocked: "Notifications are blocked for this site. Allow them in the browser's site settings, then come back.",
  off: "Get a notification on this device when a message arrives while Parley is closed or you are away.",
  on: "This device gets a notification when a message arrives while you are away.",
};

export function Notifications({ store, onClose }: { store: Store; onClose: () => void }) {
  const [state, setState] = useState<PushState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const refresh = () => pushState(store.rest).then(setState, (e) => setError(describe(e)));
  useEffect(() => void refresh(), []);
  const run = (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    action()
      .then(refresh, (e) => setError(describe(e)))
      .finally(() => setBusy(false));
  };
  return (
    <Dialog title="Notifications" onClose={onClose}>
      <p>{state ? explanations[state] : "…"}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {state === "off" && (
        <button type="button" disabled={busy} onClick={() => run(() => enablePush(store.rest))}>
          Turn on notifications
        </button>
      )}
      {state === "on" && (
        <button type="button" class="secondary" disabled={busy} onClick={() => run(() => disablePush(store.rest))}>
          Turn off notifications
        </button>
      )}
    </Dialog>
  );
}
