// An end-to-end encrypted direct conversation between two browsers: the text shows on both
// sides and never reaches the server (its API returns envelopes, and no file in its data
// directory holds the words); the safety numbers match; a new device of the peer is announced
// and can read what is sent after it joined, not before.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { test } from "node:test";
import { conversation, expectNoConsoleErrors, messages, person, root, screenshot, sendMessage, startChat, serverAndBrowser, png } from "./harness.ts";

  // Without encryption at rest, so that a plaintext the browser let through would show in the
  // data directory as it is.
const fixture = serverAndBrowser(["--encrypt-at-rest", "false"]);

async function devicesOf(user: string, token: string): Promise<string[]> {
  const r = await fixture.server.api<{ devices: { device: string }[] }>("GET", `/keys/users/${user}?one_time=0`, undefined, token);
  return r.devices.map((d) => d.device);
}

// The browser publishes its device when the page is idle after signing in: wait for it.
async function published(user: string, token: string, count: number) {
  for (let i = 0; i < 200 && (await devicesOf(user, token)).length < count; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await devicesOf(user, token)).length, count, `${user} has ${count} device(s) in the directory`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test("an encrypted direct conversation: readable on both sides, never by the server", async () => {
  const [alice, bob] = await Promise.all(["alice", "bob"].map((u) => fixture.server.user(u)));
  const aliceToken = String(alice.session.token);
  const a = await person(fixture.browser, fixture.server, alice.session);
  const b = await person(fixture.browser, fixture.server, bob.session);
  await published("bob", aliceToken, 1);

  await startChat(a.page, "bob", { e2ee: true });
  await a.page.getByRole("heading", { name: /bob/ }).getByLabel("end-to-end encrypted").waitFor();
  await sendMessage(a.page, "the eagle lands at noon");
  await messages(a.page).filter({ hasText: "the eagle lands at noon" }).getByLabel(/Sent|Delivered|Read/).waitFor();

  await conversation(b.page, "alice").click();
  await messages(b.page).filter({ hasText: "the eagle lands at noon" }).waitFor();
  await sendMessage(b.page, "copy that, over");
  await messages(a.page).filter({ hasText: "copy that, over" }).waitFor();

  // An edit is encrypted too.
  const mine = messages(a.page).filter({ hasText: "the eagle lands at noon" });
  await mine.hover();
  await mine.getByRole("button", { name: "Edit" }).click();
  await a.page.getByRole("textbox", { name: "Message" }).fill("the eagle lands at one");
  await a.page.getByRole("textbox", { name: "Message" }).press("Enter");
  await messages(b.page).filter({ hasText: "the eagle lands at one" }).waitFor();

  // A file: encrypted in the browser, shown (opened there) to the other side.
  const chooser = a.page.waitForEvent("filechooser");
  await a.page.getByRole("button", { name: "Attach file" }).click();
  const picture = png(40, 30);
  await (await chooser).setFiles({ name: "secret-map.png", mimeType: "image/png", buffer: picture });
  await a.page.waitForFunction(() => (document.querySelector("progress") as HTMLProgressElement | null)?.value === 1);
  await sendMessage(a.page, "the map");
  const image = messages(b.page).filter({ hasText: "the map" }).getByRole("img", { name: "secret-map.png" });
  await image.waitFor();
  await b.page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth === 40, await image.elementHandle());
  const download = b.page.waitForEvent("download");
  await messages(b.page).getByRole("button", { name: "Download secret-map.png" }).click();
  const saved = await (await download).path();
  assert.deepEqual(readFileSync(saved), picture, "the download is the original file");

  // What the server holds: envelopes, and nowhere the words.
  const conv = new URL(a.page.url()).hash.replace("#/c/", "");
  const page = await fixture.server.api<{ messages: { body: string }[] }>("GET", `/conversations/${conv}/messages`, undefined, aliceToken);
  assert.equal(page.messages.length, 3);
  const attached = page.messages[2] as unknown as { attachments: { id: string; name: string }[] };
  assert.equal(attached.attachments[0].name, "encrypted.bin", "the server never learns the file's name");
  const stored = await fetch(`${fixture.server.url}/files/${attached.attachments[0].id}`, { headers: { Authorization: `Bearer ${aliceToken}` } });
  const ciphertext = Buffer.from(await stored.arrayBuffer());
  assert.equal(ciphertext.length, picture.length + 16, "the picture, encrypted (plus its tag)");
  assert.equal(ciphertext.includes(picture.subarray(0, 16)), false, "no PNG header in what the server stores");
  for (const m of page.messages) {
    const env = JSON.parse(m.body);
    assert.equal(env.v, 1);
    assert.ok(env.ct && env.sig && env.nonce);
  }
  for (const file of filesUnder(fixture.server.dataDir)) {
    const bytes = readFileSync(file);
    for (const words of ["eagle lands", "copy that", "secret-map"]) assert.equal(bytes.includes(words), false, `"${words}" in ${file}`);
    assert.equal(bytes.includes(picture.subarray(0, 16)), false, `the picture in ${file}`);
  }

  // Both see the same safety number.
  const numbers: string[] = [];
  for (const p of [a.page, b.page]) {
    await p.getByRole("button", { name: "Safety number" }).click();
    const digits = p.getByLabel(/^Safety number: /);
    await digits.waitFor();
    numbers.push((await digits.getAttribute("aria-label"))!);
    await p.getByRole("button", { name: "Close" }).click();
  }
  assert.match(numbers[0], /^Safety number: (\d{5} ){11}\d{5}$/);
  assert.equal(numbers[0], numbers[1]);
  await screenshot(a.page, "encrypted-chat");

  // Bob signs in on a second browser: a new device. Alice is told; what she sends next reaches
  // it, what was sent before does not.
  const bob2 = await fixture.server.api<{ token: string; refresh_token: string; expires_in: number; user: unknown }>("POST", "/auth/login", { username: "bob", password: bob.password });
  const b2 = await person(fixture.browser, fixture.server, { token: bob2.token, refresh_token: bob2.refresh_token, expires_at: Date.now() + bob2.expires_in * 1000, user: bob2.user });
  await published("bob", aliceToken, 2);
  await a.page.getByRole("alert").filter({ hasText: "bob added a new device" }).waitFor();
  await sendMessage(a.page, "hello to your new device");
  await conversation(b2.page, "alice").click();
  await messages(b2.page).filter({ hasText: "hello to your new device" }).waitFor();
  await messages(b2.page).filter({ hasText: "Cannot decrypt" }).first().waitFor();
  await messages(b.page).filter({ hasText: "hello to your new device" }).waitFor();
  expectNoConsoleErrors(a, b, b2);
  for (const p of [a, b, b2]) await p.context.close();
});

// One device of the reference client (reference_peer.py, tests/integration/e2ee_client.py).
function referencePeer(user: string, device: string) {
  const proc = spawn(join(root, "build/venv/bin/python"), [join(import.meta.dirname, "reference_peer.py"), String(fixture.server.port), user, device], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const answer = async () => {
    const next = await lines.next();
    if (next.done) throw new Error("the reference peer exited");
    return JSON.parse(next.value) as Record<string, unknown>;
  };
  return {
    ready: answer(),
    async ask(cmd: Record<string, unknown>) {
      proc.stdin!.write(JSON.stringify(cmd) + "\n");
      return answer();
    },
    close: () => proc.kill(),
  };
}

test("the browser and the reference client read each other's messages", async () => {
  const carol = await fixture.server.user("carol");
  await fixture.server.user("dave", "password-dave");
  const carolToken = String(carol.session.token);
  const c = await person(fixture.browser, fixture.server, carol.session);
  await published("carol", carolToken, 1);
  const dave = referencePeer("dave", "reference-1");
  try {
    await dave.ready;
    await startChat(c.page, "dave", { e2ee: true });
    await sendMessage(c.page, "sealed in a browser");
    await messages(c.page).filter({ hasText: "sealed in a browser" }).getByLabel(/Sent|Delivered|Read/).waitFor();
    const conv = new URL(c.page.url()).hash.replace("#/c/", "");

    assert.deepEqual(await dave.ask({ cmd: "read", conv }), { ok: true, texts: ["sealed in a browser"] });
    await dave.ask({ cmd: "send", conv, to: "carol", members: ["carol", "dave"], text: "sealed by the reference client" });
    await messages(c.page).filter({ hasText: "sealed by the reference client" }).waitFor();
    expectNoConsoleErrors(c);
  } finally {
    dave.close();
    await c.context.close();
  }
});

test("two tabs of one browser are one device: both read, and a reload keeps what they learned", async () => {
  const [ivy, jon] = await Promise.all(["ivy", "jon"].map((u) => fixture.server.user(u)));
  const ivyToken = String(ivy.session.token);
  const i = await person(fixture.browser, fixture.server, ivy.session);
  const j = await person(fixture.browser, fixture.server, jon.session);
  // A second tab of Jon's browser: the same storage, so the same device.
  const tab2 = await j.context.newPage();
  const tab2Errors: string[] = [];
  tab2.on("console", (m) => m.type() === "error" && tab2Errors.push(m.text()));
  await tab2.goto(fixture.server.url + "/");
  await tab2.getByRole("button", { name: "New chat" }).waitFor();
  await published("jon", ivyToken, 1);

  await startChat(i.page, "jon", { e2ee: true });
  await sendMessage(i.page, "one device, two tabs");
  for (const page of [j.page, tab2]) {
    await conversation(page, "ivy").click();
    await messages(page).filter({ hasText: "one device, two tabs" }).waitFor();
  }
  assert.equal((await devicesOf("jon", ivyToken)).length, 1, "still one device");
  // What either tab learned (the sender key) is kept for both: a reload still reads it.
  await tab2.reload();
  await conversation(tab2, "ivy").click();
  await messages(tab2).filter({ hasText: "one device, two tabs" }).waitFor();
  await sendMessage(i.page, "and the next one");
  await messages(j.page).filter({ hasText: "and the next one" }).waitFor();
  await messages(tab2).filter({ hasText: "and the next one" }).waitFor();
  assert.deepEqual(tab2Errors, []);
  expectNoConsoleErrors(i, j);
  await i.context.close();
  await j.context.close();
});
