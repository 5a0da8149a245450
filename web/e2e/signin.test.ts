// "Sign in with …" for the OpenID providers the server lists, and the tokens a finished
// sign-in hands back in the URL fragment (docs/protocol.md §2). The provider's side of the
// flow is tested against a real provider in tests/integration/test_oidc.py.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { expectNoConsoleErrors, launch, person, Server } from "./harness.ts";

let server: Server;
let browser: Browser;

before(async () => {
  // A provider the server lists without contacting it (discovery happens at the first start).
  process.env.E2E_OIDC_SECRET = "a secret nobody checks in this test";
  const config = join(process.env.TMPDIR ?? "/tmp", `parley-e2e-oidc-${process.pid}.toml`);
  writeFileSync(config, '[oidc.test]\nissuer = "https://127.0.0.1:9"\nclient_id = "parley"\nclient_secret_env = "E2E_OIDC_SECRET"\ndisplay_name = "Test ID"\n');
  server = new Server(["--config", config]);
  await server.start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test("a button per provider, and the tokens from the fragment sign the user in", async () => {
  const p = await person(browser, server);
  const link = p.page.getByRole("link", { name: "Sign in with Test ID" });
  await link.waitFor();
  const href = new URL((await link.getAttribute("href"))!, server.url);
  assert.equal(href.pathname, "/auth/oidc/test/start");
  assert.equal(href.searchParams.get("redirect_uri"), `${server.url}/`);

  // Where the callback sends the browser back (from the provider's site: a new page load): the
  // app with the tokens in its fragment.
  await p.page.goto("about:blank");
  const hana = await server.user("hana");
  const s = hana.session as { token: string; refresh_token: string };
  await p.page.goto(`${server.url}/#access_token=${s.token}&refresh_token=${s.refresh_token}&expires_in=900&token_type=Bearer`);
  await p.page.getByText("hana", { exact: true }).waitFor();
  await p.page.getByRole("button", { name: "New chat" }).waitFor();
  assert.equal(new URL(p.page.url()).hash, "", "the tokens are taken out of the address bar");
  expectNoConsoleErrors(p);
  await p.context.close();
});
