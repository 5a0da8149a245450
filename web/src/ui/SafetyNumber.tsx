// The 60 digits two people compare, in person or over another channel, to know that the
// devices their messages are encrypted for are really each other's (docs/security.md).
import { useEffect, useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { Store } from "../state/store.ts";
import { Dialog } from "./Dialog.tsx";

export function SafetyNumber({ store, me, peer, onClose }: { store: Store; me: string; peer: string; onClose(): void }) {
  const [digits, setDigits] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    store.encryption.safetyNumber(me, peer).then(setDigits, (e) => setError(describe(e)));
  }, [peer]);
  const groups = digits ? digits.match(/.{5}/g)! : [];
  return (
    <Dialog title={`Safety number with ${peer}`} onClose={onClose}>
      <p>
        Compare these numbers with {peer}'s screen. If they match, your messages are encrypted only for your devices and
        theirs. They change when either of you adds or replaces a device.
      </p>
      {error && <p class="error" role="alert">{error}</p>}
      {digits ? (
        <p class="safety-number" aria-label={`Safety number: ${groups.join(" ")}`}>
          {groups.map((g) => (
            <span>{g}</span>
          ))}
        </p>
      ) : (
        !error && <p>Computing…</p>
      )}
    </Dialog>
  );
}
