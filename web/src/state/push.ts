// Push notifications in the browser (docs/protocol.md §12): the service worker (/sw.js) that
// shows them, and this login session's Web Push subscription. The person turns them on (the
// browser asks for permission then, never at load); the subscription is the browser's, stored
// by the server for this login session (logging out ends it).
import type { Rest } from "../api/rest.ts";
import type { PushSubscriptionInfo } from "../api/types.ts";

export type PushState = "unsupported" | "blocked" | "off" | "on";

export function pushSupported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// Registers the worker (idempotent), so that clicks on notifications open conversations.
export async function registerWorker(): Promise<ServiceWorkerRegistration | null> {
  if (!pushSupported()) return null;
  return navigator.serviceWorker.register("/sw.js", { scope: "/" });
}

// Messages from the worker: a clicked notification names the conversation to open.
export function onWorkerMessage(open: (conv: string) => void): () => void {
  if (!("serviceWorker" in navigator)) return () => {};
  const listener = (e: MessageEvent) => {
    if (e.data && e.data.type === "open-conversation" && typeof e.data.conv === "string") open(e.data.conv);
  };
  navigator.serviceWorker.addEventListener("message", listener);
  return () => navigator.serviceWorker.removeEventListener("message", listener);
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.length) return false;
  const view = new Uint8Array(a);
  return view.every((x, i) => x === b[i]);
}

async function current(rest: Rest): Promise<PushSubscriptionInfo | undefined> {
  const { subscriptions } = await rest.pushSubscriptions();
  return subscriptions.find((s) => s.current);
}

export async function pushState(rest: Rest): Promise<PushState> {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  if (Notification.permission !== "granted") return "off";
  const registration = await navigator.serviceWorker.getRegistration("/");
  const local = await registration?.pushManager.getSubscription();
  return local && (await current(rest)) ? "on" : "off";
}

// Asks for permission, subscribes with the server's VAPID key and tells the server. Throws an
// Error whose message a person can read.
export async function enablePush(rest: Rest): Promise<void> {
  if (!pushSupported()) throw new Error("This browser cannot show notifications.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error("Notifications are blocked for this site: allow them in the browser's settings.");
  }
  const registration = (await registerWorker()) ?? (await navigator.serviceWorker.ready);
  const key = keyBytes((await rest.vapidPublicKey()).public_key);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    // Made for another server key (the server's was replaced): it cannot be used.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await rest.pushSubscribe(subscription.toJSON());
}

export async function disablePush(rest: Rest): Promise<void> {
  const mine = await current(rest);
  if (mine) await rest.pushUnsubscribe(mine.id);
  const registration = await navigator.serviceWorker.getRegistration("/");
  await (await registration?.pushManager.getSubscription())?.unsubscribe();
}
