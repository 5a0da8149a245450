// Parley's service worker: shows push notifications (docs/protocol.md §12.2) and opens the
// conversation when one is clicked. Plain JavaScript, served as /sw.js beside index.html (not
// bundled: a worker's script URL must stay the same across builds).
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let n = null;
  try {
    n = event.data ? event.data.json() : null;
  } catch {
    n = null;
  }
  if (!n || n.type !== "message" || typeof n.conv !== "string") {
    // A push must show something (userVisibleOnly): a neutral line rather than nothing.
    event.waitUntil(self.registration.showNotification("Parley", { body: "New message" }));
    return;
  }
  event.waitUntil(
    self.registration.showNotification(String(n.title || n.sender || "Parley"), {
      body: String(n.body || "New message"),
      // One notification per conversation: a newer one replaces it, and says so.
      tag: `conv:${n.conv}`,
      renotify: true,
      icon: "/favicon.svg",
      data: { conv: n.conv, seq: n.seq },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const conv = event.notification.data && event.notification.data.conv;
  const target = conv ? `/#/c/${conv}` : "/";
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        // The conversation first: focusing can be refused (without a user's click), and the
        // app should show the conversation either way.
        if (conv) open.postMessage({ type: "open-conversation", conv });
        await open.focus().catch(() => undefined);
        return;
      }
      await self.clients.openWindow(target);
    })(),
  );
});
