// Push notifications in the browser: a person turns them on, the server pushes a message for
// them while they are away, and the service worker shows it.
//
// What is real: Chromium, the app and its service worker, Parley and its rules, and the push
// service — web-push-testing (tests/webpush), which checks the VAPID signature and decrypts what
// Parley sent. What is not: Chromium's own push service (Google's, not reachable here), so the
// browser's PushManager is given the local push service's subscription instead of asking
// Google for one, and the decrypted push is handed to the service worker over the DevTools
// protocol (ServiceWorker.deliverPushMessage), as the push service would hand it over.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { expectNoConsoleErrors, messages, person, root, serverAndBrowser } from "./harness.ts";

const fixture = serverAndBrowser(["--push-coalesce-ms", "100", "--web-push-services", "127.0.0.1"]);
let pushService: ChildProcess;
let pushPort = 0;

before(async () => {
  pushService = spawn(process.execPath, [join(root, "tests/webpush/service.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((ok) => createInterface({ input: pushService.stdout! }).once("line", ok));
  pushPort = JSON.parse(line).port;
});
after(() => {
  pushService?.kill();
});

async function pushCall<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${pushPort}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
}

test("notifications: turned on in the app, pushed while away, shown by the service worker", async () => {
  const server = fixture.server;
  const alice = await server.user("alice");
  const bob = await server.user("bob");
  const { public_key } = await server.api<{ public_key: string }>("GET", "/push/vapid-public-key");
  const { data: local } = await pushCall<{ data: { endpoint: string; keys: { p256dh: string; auth: string }; clientHash: string } }>(
    "/subscribe",
    { applicationServerKey: public_key, userVisibleOnly: "true" },
  );

  const b = await person(fixture.browser, server, bob.session, {
    setup: async (context) => {
      await context.grantPermissions(["notifications"], { origin: server.url });
      // The browser's subscription comes from the local push service (see the top). A script
      // as text: tsx would wrap a function's inner functions in a helper the page lacks.
      const json = JSON.stringify({ endpoint: local.endpoint, keys: local.keys });
      await context.addInitScript(`{
        const json = ${json};
        // Kept across page loads, as the browser keeps a subscription.
        const kept = localStorage.getItem("test.push-subscription-key");
        const make = (key) => ({
          endpoint: json.endpoint,
          options: { applicationServerKey: key, userVisibleOnly: true },
          toJSON: () => ({ endpoint: json.endpoint, expirationTime: null, keys: json.keys }),
          unsubscribe: async () => {
            current = null;
            localStorage.removeItem("test.push-subscription-key");
            return true;
          },
        });
        let current = kept ? make(new Uint8Array(JSON.parse(kept)).buffer) : null;
        PushManager.prototype.subscribe = async function (options) {
          const key = new Uint8Array(options.applicationServerKey);
          localStorage.setItem("test.push-subscription-key", JSON.stringify(Array.from(key)));
          current = make(key.buffer);
          return current;
        };
        PushManager.prototype.getSubscription = async function () { return current; };
      }`);
    },
  });

  // Bob turns notifications on.
  await b.page.getByRole("button", { name: "Notifications" }).click();
  const dialog = b.page.getByRole("dialog", { name: "Notifications" });
  await dialog.getByRole("button", { name: "Turn on notifications" }).click();
  await dialog.getByText("This device gets a notification").waitFor();
  const { subscriptions } = await server.api<{ subscriptions: { type: string; endpoint: string }[] }>(
    "GET", "/push/subscriptions", undefined, String(bob.session.token));
  assert.deepEqual(subscriptions.map((s) => [s.type, s.endpoint]), [["web_push", local.endpoint]]);

  // Bob goes away (the tab leaves the app for a page without it); Alice writes.
  b.allow(/status of 404/);  // that page's /favicon.ico
  await b.page.goto(server.url + "/favicon.svg");
  const conv = await server.api<{ id: string }>("POST", "/conversations/direct", { recipient: "bob" }, String(alice.session.token));
  await server.api("POST", "/chat/send", { recipient: "bob", message: "Lunch at noon?" }, String(alice.session.token));

  // The push service received it, checked and decrypted it.
  let pushed: string[] = [];
  for (const deadline = Date.now() + 10_000; !pushed.length && Date.now() < deadline; ) {
    pushed = (await pushCall<{ data: { messages: string[] } }>("/get-notifications", { clientHash: local.clientHash })).data.messages;
    if (!pushed.length) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(pushed.length, 1);
  assert.equal(JSON.parse(pushed[0]).conv, conv.id);

  // Handed to the service worker, it shows the notification.
  await b.page.goto(server.url + "/");
  await b.page.getByRole("button", { name: "Notifications" }).waitFor();
  const cdp = await b.context.newCDPSession(b.page);
  const registration = new Promise<string>((ok) =>
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e: { registrations: { registrationId: string; scopeURL: string }[] }) => {
      const r = e.registrations.find((x) => x.scopeURL === server.url + "/");
      if (r) ok(r.registrationId);
    }),
  );
  await cdp.send("ServiceWorker.enable");
  await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.url, registrationId: await registration, data: pushed[0] });
  const shown = await b.page.waitForFunction(async () => {
    const r = await navigator.serviceWorker.ready;
    const list = await r.getNotifications();
    return list.length ? list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })) : null;
  });
  assert.deepEqual(await shown.jsonValue(), [
    { title: "alice", body: "Lunch at noon?", tag: `conv:${conv.id}`, data: { conv: conv.id, seq: 1 } },
  ]);

  // Clicked: the app opens the conversation. (Headless Chromium cannot click a system
  // notification: the worker is handed the click event the browser would send it.)
  const [worker] = b.context.serviceWorkers();
  assert.ok(worker, "the app's service worker runs");
  await worker.evaluate(`(async () => {
    const [n] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n }));
  })()`);
  await b.page.waitForFunction((id) => location.hash === `#/c/${id}`, conv.id);
  await messages(b.page).filter({ hasText: "Lunch at noon?" }).waitFor();
  const left = await b.page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).length);
  assert.equal(left, 0, "the clicked notification is closed");

  // Turned off: the server forgets the subscription.
  await b.page.getByRole("button", { name: "Notifications" }).click();
  await b.page.getByRole("dialog", { name: "Notifications" }).getByRole("button", { name: "Turn off notifications" }).click();
  await b.page.getByRole("dialog", { name: "Notifications" }).getByRole("button", { name: "Turn on notifications" }).waitFor();
  const after = await server.api<{ subscriptions: unknown[] }>("GET", "/push/subscriptions", undefined, String(bob.session.token));
  assert.deepEqual(after.subscriptions, []);
  expectNoConsoleErrors(b);
  await b.context.close();
});
