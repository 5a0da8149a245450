// Two people chat in a direct conversation: the list, receipts, typing, edits, deletes and
// replies, as each of them sees it in their own browser.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { conversation, expectNoConsoleErrors, messages, person, screenshot, sendMessage, startChat, serverAndBrowser } from "./harness.ts";

const fixture = serverAndBrowser();

test("register and log in from the login screen", async () => {
  const p = await person(fixture.browser, fixture.server);
  const { page } = p;
  await page.getByRole("textbox", { name: "Username" }).fill("newcomer");
  await page.getByRole("textbox", { name: "Password" }).fill("a good long password");
  await screenshot(page, "login");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("button", { name: "New chat" }).waitFor();
  // Requests still in flight when the session ends (the device being published) get 401; so
  // does the wrong password below.
  p.allow(/status of 401/);
  await page.getByRole("button", { name: "Log out" }).click();
  // A wrong password is refused with the server's reason, and the form stays.
  await page.getByRole("textbox", { name: "Username" }).fill("newcomer");
  await page.getByRole("textbox", { name: "Password" }).fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: /password/i }).waitFor();
  await page.getByRole("textbox", { name: "Password" }).fill("a good long password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "New chat" }).waitFor();
  expectNoConsoleErrors(p);
  await p.context.close();
});

test("a direct conversation: delivery, read receipts, typing, edit, delete, reply", async () => {
  const alice = await fixture.server.user("alice");
  const bob = await fixture.server.user("bob");
  const a = await person(fixture.browser, fixture.server, alice.session);
  const b = await person(fixture.browser, fixture.server, bob.session);

  // Alice opens a chat with Bob and writes; Enter sends.
  await startChat(a.page, "bob");
  const composer = a.page.getByRole("textbox", { name: "Message" });
  await composer.fill("Hello Bob");
  await composer.press("Enter");
  await messages(a.page).filter({ hasText: "Hello Bob" }).getByLabel("Sent").or(messages(a.page).filter({ hasText: "Hello Bob" }).getByLabel("Delivered")).waitFor();

  // Bob's list shows it with an unread count; his device has it, so Alice sees ✓✓.
  const item = conversation(b.page, "alice");
  await item.getByLabel("1 unread").waitFor();
  await item.getByText("Hello Bob").waitFor();
  await messages(a.page).filter({ hasText: "Hello Bob" }).getByLabel("Delivered").waitFor();

  // Bob opens it: it is read, and Alice sees that.
  await item.click();
  await messages(b.page).filter({ hasText: "Hello Bob" }).waitFor();
  await messages(a.page).filter({ hasText: "Hello Bob" }).getByLabel("Read").waitFor();
  assert.equal(await item.getByLabel(/unread/).count(), 0);

  // Typing shows on the other side.
  await b.page.getByRole("textbox", { name: "Message" }).pressSequentially("Hi Al", { delay: 20 });
  await a.page.getByText("bob is typing…").waitFor();
  await b.page.getByRole("textbox", { name: "Message" }).fill("Hi Alice!");
  await b.page.getByRole("button", { name: "Send" }).click();
  await messages(a.page).filter({ hasText: "Hi Alice!" }).waitFor();
  // Sending ends the typing notice.
  await a.page.getByText("bob is typing…").waitFor({ state: "detached" });

  // Alice replies to Bob's message, then edits and deletes her own.
  const bobs = messages(a.page).filter({ hasText: "Hi Alice!" });
  await bobs.hover();
  await bobs.getByRole("button", { name: "Reply" }).click();
  await sendMessage(a.page, "Good to see you");
  await messages(b.page).filter({ hasText: "Good to see you" }).getByText("↪ bob: Hi Alice!").waitFor();

  const first = messages(a.page).filter({ hasText: "Hello Bob" });
  await first.hover();
  await first.getByRole("button", { name: "Edit" }).click();
  await composer.fill("Hello Bob, edited");
  await composer.press("Enter");
  await messages(b.page).filter({ hasText: "Hello Bob, edited" }).getByText("edited", { exact: true }).waitFor();

  const reply = messages(a.page).filter({ hasText: "Good to see you" });
  await reply.hover();
  a.page.once("dialog", (d) => void d.accept());
  await reply.getByRole("button", { name: "Delete" }).click();
  await messages(b.page).filter({ hasText: "This message was deleted." }).waitFor();
  assert.equal(await messages(b.page).filter({ hasText: "Good to see you" }).count(), 0);

  // Every message shows once on both sides.
  for (const p of [a.page, b.page]) assert.equal(await messages(p).count(), 3);
  await screenshot(a.page, "direct-chat");
  expectNoConsoleErrors(a, b);
  await a.context.close();
  await b.context.close();
});

test("keyboard only: Tab to the composer, Enter sends, Shift+Enter is a new line, Escape closes a dialog", async () => {
  const carol = await fixture.server.user("carol");
  await fixture.server.user("dan");
  const c = await person(fixture.browser, fixture.server, carol.session);
  const page = c.page;
  // Tab reaches "New chat" first; Enter opens its dialog and Escape closes it.
  await page.getByRole("button", { name: "New chat" }).waitFor();
  await page.keyboard.press("Tab");
  await assertFocused(page, page.getByRole("button", { name: "New chat" }));
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "New chat" });
  await dialog.waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  // Focus went back to "New chat": Enter again, and this time start the chat.
  await assertFocused(page, page.getByRole("button", { name: "New chat" }));
  await page.keyboard.press("Enter");
  await assertFocusedSoon(dialog.getByRole("textbox", { name: "Username" }));
  await page.keyboard.type("dan");
  await page.keyboard.press("Enter");
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.waitFor();
  await assertFocusedSoon(composer);
  await page.keyboard.type("line one");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("line two");
  await page.keyboard.press("Enter");
  const sent = messages(page).filter({ hasText: "line one" });
  await sent.waitFor();
  assert.equal(await sent.locator(".body").innerText(), "line one\nline two");
  assert.equal(await composer.inputValue(), "");
  expectNoConsoleErrors(c);
  await c.context.close();
});

async function assertFocusedSoon(locator: import("playwright-core").Locator) {
  await locator.waitFor();
  await locator.page().waitForFunction((el) => el === document.activeElement, await locator.elementHandle());
}

async function assertFocused(page: import("playwright-core").Page, locator: import("playwright-core").Locator) {
  const focused = await locator.evaluate((el) => el === document.activeElement);
  assert.ok(focused, "expected the element to have focus");
  void page;
}

test("sessions and devices: one device logs out another", async () => {
  const erin = await fixture.server.user("erin");
  const laptop = await person(fixture.browser, fixture.server, erin.session);
  // A second device signs in through the form.
  const phone = await person(fixture.browser, fixture.server);
  await phone.page.getByRole("textbox", { name: "Username" }).fill("erin");
  await phone.page.getByRole("textbox", { name: "Password" }).fill(erin.password);
  await phone.page.getByRole("button", { name: "Log in" }).click();
  await phone.page.getByRole("button", { name: "New chat" }).waitFor();

  await laptop.page.getByRole("button", { name: "Sessions" }).click();
  const dialog = laptop.page.getByRole("dialog", { name: "Sessions and devices" });
  await dialog.getByText("(this device)").waitFor();
  const other = dialog.getByRole("button", { name: /^Log out Parley web/ });
  await other.click();
  // The phone is signed out at once (its socket is closed with the session) and says why.
  await phone.page.getByRole("button", { name: "Log in" }).waitFor();
  await phone.page.getByRole("alert").filter({ hasText: "Your session has ended" }).waitFor();
  await other.waitFor({ state: "detached" });
  expectNoConsoleErrors(laptop, phone);
  await laptop.context.close();
  await phone.context.close();
});

test("dark mode follows the system; a file dropped on the chat is uploaded", async () => {
  const [fay, gus] = await Promise.all([fixture.server.user("fay"), fixture.server.user("gus")]);
  const context = await fixture.browser.newContext({ colorScheme: "dark", viewport: { width: 1200, height: 800 } });
  await context.addInitScript((s) => localStorage.setItem("parley.session", s), JSON.stringify(fay.session));
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(fixture.server.url + "/");
  await startChat(page, "gus");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(20, 23, 28)", "the dark palette");

  const drop = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["meeting notes\n"], "notes.txt", { type: "text/plain" }));
    return dt;
  });
  await page.dispatchEvent("section.chat", "dragover", { dataTransfer: drop });
  await page.dispatchEvent("section.chat", "drop", { dataTransfer: drop });
  await page.waitForFunction(() => (document.querySelector("progress") as HTMLProgressElement | null)?.value === 1);
  await sendMessage(page, "notes attached");
  const g = await person(fixture.browser, fixture.server, gus.session);
  await conversation(g.page, "fay").click();
  await messages(g.page).filter({ hasText: "notes attached" }).getByRole("button", { name: "Download notes.txt" }).waitFor();
  await screenshot(page, "dark");
  assert.deepEqual(errors, []);
  expectNoConsoleErrors(g);
  await context.close();
  await g.context.close();
});

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, at a 30 s step.
function totp(secret: string, step: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", key).update(counter).digest();
  const at = h[h.length - 1] & 15;
  return String((h.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

test("an account with a second factor: the code step after the password, a wrong code refused", async () => {
  const kim = await fixture.server.user("kim");
  const token = String(kim.session.token);
  const { secret } = await fixture.server.api<{ secret: string }>("POST", "/auth/mfa/totp", { password: kim.password }, token);
  const step = Math.floor(Date.now() / 30_000);
  await fixture.server.api("POST", "/auth/mfa/totp/confirm", { code: totp(secret, step) }, token);

  const p = await person(fixture.browser, fixture.server);
  p.allow(/status of 401/); // the password step answers 401 mfa_required, the wrong code 401
  await p.page.getByRole("textbox", { name: "Username" }).fill("kim");
  await p.page.getByRole("textbox", { name: "Password" }).fill(kim.password);
  await p.page.getByRole("button", { name: "Log in" }).click();
  const code = p.page.getByRole("textbox", { name: "Code" });
  await code.fill("000000");
  await p.page.getByRole("button", { name: "Verify" }).click();
  await p.page.getByRole("alert").waitFor();
  // Each step's code works once (the confirm used this one): the next step's.
  await code.fill(totp(secret, step + 1));
  await p.page.getByRole("button", { name: "Verify" }).click();
  await p.page.getByRole("button", { name: "New chat" }).waitFor();
  expectNoConsoleErrors(p);
  await p.context.close();
});
