// Log in or register with a password, or sign in with a configured OpenID provider; a second
// step asks for the authenticator code when the account has one (docs/protocol.md §2).
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { describe } from "../api/errors.ts";
import type { Provider } from "../api/types.ts";
import { kSignInStarted, type Store } from "../state/store.ts";

export function Login({ store, notice }: { store: Store; notice: string | null }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  // Why the user is here (a session that ended, a refused sign-in link) until they act.
  const shown = error ?? notice;
  const [busy, setBusy] = useState(false);
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [providers, setProviders] = useState<Provider[]>([]);

  useEffect(() => {
    store.rest.providers().then((p) => setProviders(p.providers), () => setProviders([]));
  }, [store]);

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    store.dismissNotice();
    try {
      await what();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };

  const login = () =>
    run(async () => {
      const r = await store.login(username.trim(), password);
      if (r.challenge) setChallenge(r.challenge);
    });
  const register = () => run(() => store.register(username.trim(), password));

  if (challenge) {
    return (
      <Card onSubmit={() => void run(() => store.loginWithCode(challenge, code.trim()))}>
        <p>Enter the code from your authenticator app, or a recovery code.</p>
        <label>
          Code
          <input value={code} onInput={(e) => setCode(e.currentTarget.value)} autoComplete="one-time-code" inputMode="numeric" autoFocus required />
        </label>
        {shown && <p class="error" role="alert">{shown}</p>}
        <button type="submit" disabled={busy}>Verify</button>
        <button type="button" class="secondary" onClick={() => setChallenge(null)}>Back</button>
      </Card>
    );
  }

  return (
    <Card onSubmit={() => void login()}>
      <label>
        Username
        <input name="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} autoComplete="username" autoFocus required />
      </label>
      <label>
        Password
        <input name="password" type="password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} autoComplete="current-password" required />
      </label>
      {shown && <p class="error" role="alert">{shown}</p>}
      <div class="row">
        <button type="submit" disabled={busy}>Log in</button>
        <button type="button" class="secondary" disabled={busy} onClick={(e) => (e.currentTarget.form?.reportValidity() ? void register() : undefined)}>
          Register
        </button>
      </div>
      {providers.length > 0 && (
        <div class="providers">
          {providers.map((p) => (
            <a
              class="button secondary"
              href={`${p.start_url}?redirect_uri=${encodeURIComponent(location.origin + "/")}`}
              onClick={() => sessionStorage.setItem(kSignInStarted, String(Date.now()))}
            >
              Sign in with {p.display_name}
            </a>
          ))}
        </div>
      )}
    </Card>
  );
}

// The login screen's centred card: the app's name over one form.
function Card({ onSubmit, children }: { onSubmit(): void; children: ComponentChildren }) {
  return (
    <div class="login">
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        <h1>Parley</h1>
        {children}
      </form>
    </div>
  );
}
