// The phone-width layout (390 px): the list, or the open conversation with a way back; no
// sideways scrolling.
import assert from "node:assert/strict";
import { test } from "node:test";
import { conversation, expectNoConsoleErrors, messages, person, screenshot, sendMessage, serverAndBrowser } from "./harness.ts";

const fixture = serverAndBrowser();

test("at 390 px: the list, then the conversation alone, then back", async () => {
  const [alice, bob] = await Promise.all(["alice", "bob"].map((u) => fixture.server.user(u)));
  await fixture.server.api("POST", "/chat/send", { recipient: "alice", message: "Are you on your phone?", client_msg_id: "m1" }, String(bob.session.token));
  const p = await person(fixture.browser, fixture.server, alice.session, { viewport: { width: 390, height: 844 } });
  const { page } = p;
  const list = page.getByRole("navigation", { name: "Conversations" });
  await conversation(page, "bob").click();
  await messages(page).filter({ hasText: "Are you on your phone?" }).waitFor();
  assert.equal(await list.isVisible(), false, "the list gives way to the conversation");
  await sendMessage(page, "Yes, 390 pixels wide");
  await messages(page).filter({ hasText: "Yes, 390 pixels wide" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
  await screenshot(page, "phone");
  await page.getByRole("link", { name: "Back to conversations" }).click();
  await list.waitFor();
  expectNoConsoleErrors(p);
  await p.context.close();
});
