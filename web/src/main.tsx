// Entry point: one Store for the page, rendered by <App>.
import { render } from "preact";
import { App } from "./ui/App.tsx";
import { Store } from "./state/store.ts";
import "./styles.css";

// `?transport=sse` starts on server-sent events + REST, as when WebSocket is blocked.
const mode = new URLSearchParams(location.search).get("transport") === "sse" ? "sse" : "ws";
const store = new Store({ mode });
// Tokens from an OpenID sign-in come back in the fragment (docs/protocol.md §2).
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.has("access_token")) {
  history.replaceState(null, "", location.pathname + location.search);
  void store.adoptFragment(fragment).catch((e) => store.notify(e));
}
store.start();
render(<App store={store} />, document.getElementById("app")!);
