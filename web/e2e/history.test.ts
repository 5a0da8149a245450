// A long conversation: the newest page first, older pages as the reader scrolls up (the view
// stays on what they were reading), and only the rows near the viewport in the page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { conversation, expectNoConsoleErrors, messages, person, serverAndBrowser } from "./harness.ts";

const fixture = serverAndBrowser();

test("infinite scroll upwards through 400 messages, virtualized", async () => {
  const [alice, bob] = await Promise.all(["alice", "bob"].map((u) => fixture.server.user(u)));
  const token = String(bob.session.token);
  for (let i = 1; i <= 400; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        fixture.server.api("POST", "/chat/send", { recipient: "alice", message: `number ${i + k}`, client_msg_id: `h${i + k}` }, token),
      ),
    );
  }
  const p = await person(fixture.browser, fixture.server, alice.session);
  const { page } = p;
  await conversation(page, "bob").click();
  const list = page.getByRole("log", { name: "Messages" });
  const row = (n: number) => messages(page).filter({ has: page.getByText(`number ${n}`, { exact: true }) });
  await row(400).waitFor();
  assert.equal(await row(300).count(), 0, "only the newest page at first");

  // Scrolling to the top brings the page before (the client reads 50 at a time: 351–400
  // first); the message that was at the top, 351, stays in view.
  await list.evaluate((el) => (el.scrollTop = 0));
  await page.locator('.msg[data-seq="350"]').waitFor({ state: "attached" });
  const topSeq = 351;
  const inView = await page.locator(`.msg[data-seq="${topSeq}"]`).evaluate((m) => {
    const box = m.closest(".vlist")!.getBoundingClientRect();
    const r = m.getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom;
  });
  assert.ok(inView, "the message read before the page came is still in view");

  // On up to the first message.
  // (The edge row says so once the first page is in; the list may still move the view back to
  // the message that was on top, so the last scroll to the top comes after.)
  while (!(await list.getByText("This is the start of the conversation.").isVisible())) {
    await list.evaluate((el) => (el.scrollTop = 0));
    await page.waitForTimeout(30);
  }
  await list.evaluate((el) => (el.scrollTop = 0));
  await row(1).waitFor();
  const rendered = await list.locator(".vrow").count();
  assert.ok(rendered < 80, `${rendered} rows in the page for 400 messages`);
  // And back down: the newest again, still few rows.
  await list.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await row(400).waitFor();
  assert.ok((await list.locator(".vrow").count()) < 80);
  expectNoConsoleErrors(p);
  await p.context.close();
});
