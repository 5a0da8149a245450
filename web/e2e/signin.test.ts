// "Sign in with …" for the OpenID providers the server lists, and the tokens a finished
// sign-in hands back in the URL fragment (docs/protocol.md §2). The provider's side of the
// flow is tested against a real provider in tests/integration/test_oidc.py.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { expectNoConsoleErrors, person, serverAndBrowser } from "./harness.ts";

// A provider the server lists without contacting it (discovery happens at the first start).
process.env.E2E_OIDC_SECRET = "a secret nobody checks in this test";
const config = join(tmpdir(), `parley-e2e-oidc-${process.pid}.toml`);
writeFileSync(config, '[oidc.test]\nissuer = "https://127.0.0.1:9"\nclient_id = "parley"\nclient_secret_env = "E2E_OIDC_SECRET"\ndisplay_name = "Test ID"\n');
const fixture = serverAndBrowser(["--config", config]);

test("a button per provider; the tokens it brings back sign in, a link's do not", async () => {
  const p = await person(fixture.browser, fixture.server);
  const link = p.page.getByRole("link", { name: "Sign in with Test ID" });
  await link.waitFor();
  const href = new URL((await link.getAttribute("href"))!, fixture.server.url);
  assert.equal(href.pathname, "/auth/oidc/test/start");
  assert.equal(href.searchParams.get("redirect_uri"), `${fixture.server.url}/`);

  // A link with someone's tokens that this tab did not ask for signs nobody in (login CSRF).
  const hana = await fixture.server.user("hana");
  const s = hana.session as { token: string; refresh_token: string };
  const fragment = `#access_token=${s.token}&refresh_token=${s.refresh_token}&expires_in=900&token_type=Bearer`;
  await p.page.goto("about:blank");
  await p.page.goto(`${fixture.server.url}/${fragment}`);
  await p.page.getByRole("alert").filter({ hasText: "not started here" }).waitFor();
  await p.page.getByRole("button", { name: "Log in" }).waitFor();
  assert.equal(new URL(p.page.url()).hash, "", "the tokens are taken out of the address bar");

  // The real way: the button (this provider cannot be reached, so the start route fails), then
  // the callback sends the browser back to the app with the tokens in its fragment.
  // (The start route's 503, and the favicon.ico the browser asks for on that JSON page.)
  p.allow(/status of 503/);
  p.allow(/status of 404/);
  await p.page.getByRole("link", { name: "Sign in with Test ID" }).click();
  await p.page.waitForURL(/\/auth\/oidc\/test\/start/);
  await p.page.goto(`${fixture.server.url}/${fragment}`);
  await p.page.getByText("hana", { exact: true }).waitFor();
  await p.page.getByRole("button", { name: "New chat" }).waitFor();
  assert.equal(new URL(p.page.url()).hash, "", "the tokens are taken out of the address bar");
  expectNoConsoleErrors(p);
  await p.context.close();
});
