// The page: the login screen, or the conversation list beside the open conversation. At phone
// width only one of the two shows: the list, or the open conversation with a back button.
import { useEffect, useState } from "preact/hooks";
import type { Store } from "../state/store.ts";
import { Chat } from "./Chat.tsx";
import { Sidebar } from "./Sidebar.tsx";
import { Login } from "./Login.tsx";
import { useStoreState } from "./hooks.ts";
import { onWorkerMessage, registerWorker } from "../state/push.ts";

export function App({ store }: { store: Store }) {
  const state = useStoreState(store);
  useHashRoute(store);
  useServiceWorker(!!state.me);
  if (!state.me) return <Login store={store} notice={state.notice?.text ?? null} />;
  return (
    <div class={`app ${state.open ? "has-open" : ""}`}>
      <Sidebar store={store} state={state} />
      <main class="pane" aria-label="Conversation">
        {state.open && state.conversations.get(state.open) ? (
          <Chat key={state.open} store={store} state={state} conv={state.open} />
        ) : (
          <div class="empty-pane">
            <p>Select a conversation, or start one with “New chat”.</p>
          </div>
        )}
      </main>
      <Notice store={store} />
    </div>
  );
}

// #/c/<id> names the open conversation, so Back and reloads work.
function useHashRoute(store: Store) {
  useEffect(() => {
    const apply = () => {
      const m = /^#\/c\/([0-9a-f-]+)$/.exec(location.hash);
      store.open(m ? m[1] : null);
    };
    apply();
    window.addEventListener("hashchange", apply);
    const off = store.subscribe(() => {
      const want = store.state.open ? `#/c/${store.state.open}` : "";
      if (store.state.me && location.hash !== want && !location.hash.startsWith("#access_token")) {
        history.replaceState(null, "", want || location.pathname + location.search);
      }
    });
    return () => {
      window.removeEventListener("hashchange", apply);
      off();
    };
  }, [store]);
}

// Signed in: the service worker that shows push notifications; a clicked one opens its
// conversation here (state/push.ts).
function useServiceWorker(signedIn: boolean) {
  useEffect(() => {
    if (!signedIn) return;
    registerWorker().catch(() => {});  // no worker: no notifications, nothing else breaks
    return onWorkerMessage((conv) => {
      location.hash = `#/c/${conv}`;
    });
  }, [signedIn]);
}

function Notice({ store }: { store: Store }) {
  const state = useStoreState(store);
  const [shown, setShown] = useState<number | null>(null);
  useEffect(() => {
    if (!state.notice) return;
    setShown(state.notice.id);
    const t = setTimeout(() => store.dismissNotice(), 8000);
    return () => clearTimeout(t);
  }, [state.notice?.id]);
  if (!state.notice || shown !== state.notice.id) return null;
  return (
    <div class="notice" role="alert">
      <span>{state.notice.text}</span>
      <button type="button" class="icon" aria-label="Dismiss" onClick={() => store.dismissNotice()}>
        ×
      </button>
    </div>
  );
}
