// A group of three in three browsers: members, "read by N" receipts, files with thumbnails,
// and leaving.
import assert from "node:assert/strict";
import { test } from "node:test";
import { conversation, expectNoConsoleErrors, messages, person, screenshot, sendMessage, startChat, serverAndBrowser, png } from "./harness.ts";

const fixture = serverAndBrowser();

test("a group: create, read by N, add and remove members, leave", async () => {
  const [alice, bob, carol, dave] = await Promise.all(["alice", "bob", "carol", "dave"].map((u) => fixture.server.user(u)));
  const a = await person(fixture.browser, fixture.server, alice.session);
  const b = await person(fixture.browser, fixture.server, bob.session);
  const c = await person(fixture.browser, fixture.server, carol.session);

  await a.page.getByRole("button", { name: "New group" }).click();
  const form = a.page.getByRole("dialog", { name: "New group" });
  await form.getByRole("textbox", { name: "Group name" }).fill("team");
  await form.getByRole("textbox", { name: /Members/ }).fill("bob, carol");
  await form.getByRole("button", { name: "Create group" }).click();
  await sendMessage(a.page, "Welcome to the team");

  // Bob reads it: "Read by 1"; Carol too: "Read by all 2".
  await conversation(b.page, "team").click();
  await messages(b.page).filter({ hasText: "Welcome to the team" }).waitFor();
  await messages(a.page).filter({ hasText: "Welcome to the team" }).getByText("Read by 1").waitFor();
  await conversation(c.page, "team").click();
  await messages(a.page).filter({ hasText: "Welcome to the team" }).getByText("Read by all 2").waitFor();
  await sendMessage(b.page, "Glad to be here");
  await messages(a.page).filter({ hasText: "Glad to be here" }).getByText("bob", { exact: true }).waitFor();
  await screenshot(a.page, "group-receipts");

  // Alice adds Dave, who sees the group and its history.
  await a.page.getByRole("button", { name: "Members" }).click();
  const members = a.page.getByRole("dialog", { name: "Members of team" });
  await members.getByRole("textbox", { name: "Add member" }).fill("dave");
  await members.getByRole("button", { name: "Add", exact: true }).click();
  await members.getByText("dave").waitFor();
  const d = await person(fixture.browser, fixture.server, dave.session);
  await conversation(d.page, "team").click();
  await messages(d.page).filter({ hasText: "Welcome to the team" }).waitFor();

  // Alice removes Carol: the group leaves Carol's list.
  await members.getByRole("button", { name: "Remove carol" }).click();
  await conversation(c.page, "team").waitFor({ state: "detached" });
  await members.getByRole("button", { name: "Close" }).click();

  // Bob leaves by himself.
  await b.page.getByRole("button", { name: "Members" }).click();
  await b.page.getByRole("dialog", { name: "Members of team" }).getByRole("button", { name: "Leave group" }).click();
  await conversation(b.page, "team").waitFor({ state: "detached" });
  expectNoConsoleErrors(a, b, c, d);
  for (const p of [a, b, c, d]) await p.context.close();
});

test("a passcode group joined by id", async () => {
  const [erin, frank] = await Promise.all(["erin", "frank"].map((u) => fixture.server.user(u)));
  const e = await person(fixture.browser, fixture.server, erin.session);
  await e.page.getByRole("button", { name: "New group" }).click();
  const form = e.page.getByRole("dialog", { name: "New group" });
  await form.getByRole("textbox", { name: "Group name" }).fill("open-house");
  await form.getByLabel("Passcode to join (optional)").fill("sesame");
  await form.getByRole("button", { name: "Create group" }).click();
  await e.page.getByRole("textbox", { name: "Message" }).waitFor();
  const id = new URL(e.page.url()).hash.replace("#/c/", "");
  assert.match(id, /^[0-9a-f-]{36}$/);

  const f = await person(fixture.browser, fixture.server, frank.session);
  f.allow(/status of 403/);
  await f.page.getByRole("button", { name: "Join group" }).click();
  const join = f.page.getByRole("dialog", { name: "Join group" });
  await join.getByRole("textbox", { name: "Group id" }).fill(id);
  await join.getByLabel("Passcode").fill("wrong");
  await join.getByRole("button", { name: "Join" }).click();
  await join.getByRole("alert").waitFor();
  await join.getByLabel("Passcode").fill("sesame");
  await join.getByRole("button", { name: "Join" }).click();
  await f.page.getByRole("heading", { name: "open-house" }).waitFor();
  expectNoConsoleErrors(e, f);
  await e.context.close();
  await f.context.close();
});

test("a file: upload with progress, a thumbnail for the others, download", async () => {
  const [gina, hal] = await Promise.all(["gina", "hal"].map((u) => fixture.server.user(u)));
  const g = await person(fixture.browser, fixture.server, gina.session);
  const h = await person(fixture.browser, fixture.server, hal.session);
  await startChat(g.page, "hal");

  const chooser = g.page.waitForEvent("filechooser");
  await g.page.getByRole("button", { name: "Attach file" }).click();
  await (await chooser).setFiles({ name: "sunset.png", mimeType: "image/png", buffer: png(64, 48) });
  // The upload shows its progress, then the message goes with the file.
  await g.page.getByRole("progressbar", { name: "Uploading sunset.png" }).waitFor();
  await g.page.waitForFunction(() => (document.querySelector("progress") as HTMLProgressElement | null)?.value === 1);
  await sendMessage(g.page, "Look at this");

  await conversation(h.page, "gina").click();
  const thumb = messages(h.page).filter({ hasText: "Look at this" }).getByRole("img", { name: "sunset.png" });
  await thumb.waitFor();
  await h.page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0, await thumb.elementHandle());
  const download = h.page.waitForEvent("download");
  await messages(h.page).getByRole("button", { name: "Download sunset.png" }).click();
  assert.equal((await download).suggestedFilename(), "sunset.png");
  expectNoConsoleErrors(g, h);
  await g.context.close();
  await h.context.close();
});
