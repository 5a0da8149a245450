// The connection comes and goes: a server restart mid-conversation, messages written while it
// is down, and a browser that can only use server-sent events. Nothing is lost and nothing
// shows twice.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { conversation, expectNoConsoleErrors, messages, person, sendMessage, startChat, serverAndBrowser } from "./harness.ts";

const fixture = serverAndBrowser();

async function texts(page: Page): Promise<string[]> {
  return messages(page).locator(".body").allInnerTexts();
}

test("the server restarts mid-conversation: both sides catch up, without duplicates", async () => {
  const [alice, bob] = await Promise.all(["alice", "bob"].map((u) => fixture.server.user(u)));
  const a = await person(fixture.browser, fixture.server, alice.session);
  const b = await person(fixture.browser, fixture.server, bob.session);
  const down = /ERR_CONNECTION_REFUSED|WebSocket connection to .* failed/;
  a.allow(down);
  b.allow(down);

  await startChat(a.page, "bob");
  await sendMessage(a.page, "before the restart");
  await conversation(b.page, "alice").click();
  await messages(b.page).filter({ hasText: "before the restart" }).waitFor();

  await fixture.server.stop();
  await a.page.getByRole("status").filter({ hasText: /offline|connecting/ }).waitFor();
  // Written while the server is down: shown as waiting, sent when it is back.
  await sendMessage(a.page, "written while down");
  await messages(a.page).filter({ hasText: "written while down" }).getByLabel(/Waiting to send|Sending/).waitFor();

  await fixture.server.start();
  // Meanwhile someone writes from elsewhere (REST), which neither page saw live.
  const conv = new URL(a.page.url()).hash.replace("#/c/", "");
  await fixture.server.api("POST", "/chat/send", { recipient: "alice", message: "from bob's phone", client_msg_id: "phone-1" }, String(bob.session.token));

  for (const p of [a.page, b.page]) {
    await p.getByRole("status").filter({ hasText: /^connected/ }).waitFor({ timeout: 20_000 });
    await messages(p).filter({ hasText: "written while down" }).waitFor();
    await messages(p).filter({ hasText: "from bob's phone" }).waitFor();
  }
  await messages(a.page).filter({ hasText: "written while down" }).getByLabel(/Sent|Delivered|Read/).waitFor();
  // The server stored each once (the retry and Bob's phone raced: either may be second), and
  // both pages show exactly what it stored, in its order.
  const page = await fixture.server.api<{ messages: { body: string }[] }>("GET", `/conversations/${conv}/messages`, undefined, String(alice.session.token));
  const stored = page.messages.map((m) => m.body);
  assert.deepEqual([...stored].sort(), ["before the restart", "from bob's phone", "written while down"]);
  for (const p of [a.page, b.page]) assert.deepEqual(await texts(p), stored);
  expectNoConsoleErrors(a, b);
  await a.context.close();
  await b.context.close();
});

test("the connection drops between a send and its ack: the message shows once", async () => {
  const [erin, frank] = await Promise.all(["erin", "frank"].map((u) => fixture.server.user(u)));
  // Erin's socket goes through a relay that swallows what the server says about "lost in
  // transit" (its message event and its ack) and then cuts the connection: a network that
  // fails right after the server stored the message. Later sockets pass untouched.
  let cut = false;
  const e = await person(fixture.browser, fixture.server, erin.session, {
    setup: (context) =>
      context.routeWebSocket(/\/ws$/, (ws) => {
        const upstream = ws.connectToServer();
        ws.onMessage((m) => upstream.send(m));
        upstream.onMessage((m) => {
          if (!cut && String(m).includes("lost in transit")) {
            if (String(m).startsWith('{"re"')) {
              cut = true;
              void ws.close({ code: 4000, reason: "network gone" });
            }
            return;
          }
          ws.send(m);
        });
      }),
  });
  const f = await person(fixture.browser, fixture.server, frank.session);
  await startChat(e.page, "frank");
  await sendMessage(e.page, "first");
  await messages(e.page).filter({ hasText: "first" }).getByLabel(/Sent|Delivered|Read/).waitFor();

  await sendMessage(e.page, "lost in transit");
  await conversation(f.page, "erin").click();
  await messages(f.page).filter({ hasText: "lost in transit" }).waitFor();
  await messages(e.page).filter({ hasText: "lost in transit" }).getByLabel(/Sent|Delivered|Read/).waitFor();
  assert.ok(cut, "the relay cut the connection after the server stored the message");
  for (const p of [e.page, f.page]) assert.deepEqual(await texts(p), ["first", "lost in transit"]);
  const conv = new URL(e.page.url()).hash.replace("#/c/", "");
  const stored = await fixture.server.api<{ messages: { body: string }[] }>("GET", `/conversations/${conv}/messages`, undefined, String(erin.session.token));
  assert.deepEqual(stored.messages.map((m) => m.body), ["first", "lost in transit"]);
  expectNoConsoleErrors(e, f);
  await e.context.close();
  await f.context.close();
});

test("where WebSocket is blocked: events over server-sent events, sends over REST", async () => {
  const [carol, dan] = await Promise.all(["carol", "dan"].map((u) => fixture.server.user(u)));
  // A proxy that cuts every WebSocket: the client finds plain HTTP works and falls back.
  const c = await person(fixture.browser, fixture.server, carol.session, { setup: (context) => context.routeWebSocket(/\/ws$/, (ws) => void ws.close()) });
  const d = await person(fixture.browser, fixture.server, dan.session);
  await c.page.getByRole("status").filter({ hasText: "connected (events)" }).waitFor();
  await startChat(d.page, "carol");
  await sendMessage(d.page, "can you hear me?");
  await conversation(c.page, "dan").click();
  await messages(c.page).filter({ hasText: "can you hear me?" }).waitFor();
  await sendMessage(c.page, "loud and clear");
  await messages(d.page).filter({ hasText: "loud and clear" }).waitFor();
  await messages(d.page).filter({ hasText: "can you hear me?" }).getByLabel("Read").waitFor();
  assert.deepEqual(await texts(c.page), ["can you hear me?", "loud and clear"]);
  expectNoConsoleErrors(c, d);
  await c.context.close();
  await d.context.close();
});
