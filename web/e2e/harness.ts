// What the end-to-end tests share: a real Parley server (PARLEY_BIN, default build/parley) on
// loopback with its own data directory, users made over its REST API, and Debian's Chromium
// driven by playwright-core, one browser context (one person) per user.
//
// Every page is watched for console errors and uncaught exceptions: a test ends with
// expectNoConsoleErrors(), which fails on any that the test did not declare expected.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before } from "node:test";
import { deflateSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const root = resolve(import.meta.dirname, "../..");
export const parleyBin = process.env.PARLEY_BIN ? resolve(process.env.PARLEY_BIN) : join(root, "build/parley");
export const screenshotDir = process.env.PARLEY_SCREENSHOT_DIR ?? join(root, "build/screenshots");
const chromiumPath = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";
const kTimeoutMs = 15_000;

export class Server {
  proc: ChildProcess | null = null;
  port = 0;
  readonly dataDir = mkdtempSync(join(tmpdir(), "parley-e2e-"));
  log: string[] = [];

  constructor(private readonly extraArgs: string[] = []) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // Starts on a free port the first time, and on the same one after a stop (the pages keep
  // their origin across a restart).
  async start(): Promise<void> {
    const listen = `127.0.0.1:${this.port}`;
    const proc = spawn(parleyBin, ["serve", "--listen", listen, "--data-dir", this.dataDir, ...this.extraArgs], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = proc;
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`parley did not start:\n${this.log.slice(-20).join("\n")}`)), kTimeoutMs);
      let partial = "";
      proc.stderr!.setEncoding("utf8");
      proc.stderr!.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          this.log.push(line);
          const m = /event=listening addr=127\.0\.0\.1:(\d+)/.exec(line);
          if (m) {
            this.port = Number(m[1]);
            clearTimeout(timer);
            ok();
          }
        }
      });
      proc.on("exit", (code) => fail(new Error(`parley exited with ${code}:\n${this.log.slice(-20).join("\n")}`)));
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((ok) => proc.once("exit", ok));
    proc.kill("SIGTERM");
    await exited;
    this.proc = null;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json as T;
  }

  // A registered user and a login session for them.
  async user(username: string, password = "correct horse battery"): Promise<{ username: string; password: string; session: Record<string, unknown> }> {
    await this.api("POST", "/auth/register", { username, password });
    const login = await this.api<{ token: string; refresh_token: string; expires_in: number; user: unknown }>("POST", "/auth/login", { username, password, device: "e2e" });
    const session = { token: login.token, refresh_token: login.refresh_token, expires_at: Date.now() + login.expires_in * 1000, user: login.user };
    return { username, password, session };
  }
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface Person {
  context: BrowserContext;
  page: Page;
  errors: string[];
  // Console messages the test expects (a refused login's 401, a restart's failed reconnects).
  allow(pattern: RegExp): void;
}

// A browser context for one person, with the page open at the app. Signed in already when
// `session` is given (the stored session the app keeps in localStorage).
export async function person(
  browser: Browser,
  server: Server,
  session?: Record<string, unknown>,
  opts: { viewport?: { width: number; height: number }; path?: string; setup?: (c: BrowserContext) => Promise<void> } = {},
): Promise<Person> {
  const viewport = opts.viewport ?? { width: 1200, height: 800 };
  const context = await browser.newContext({ viewport, colorScheme: "light", reducedMotion: "reduce" });
  if (session) {
    await context.addInitScript((s) => {
      if (!localStorage.getItem("parley.session")) localStorage.setItem("parley.session", s);
    }, JSON.stringify(session));
  }
  await opts.setup?.(context);
  const page = await context.newPage();
  page.setDefaultTimeout(kTimeoutMs);
  const errors: string[] = [];
  const allowed: RegExp[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !allowed.some((p) => p.test(m.text()))) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(server.url + (opts.path ?? "/"));
  return { context, page, errors, allow: (p) => allowed.push(p) };
}

export function expectNoConsoleErrors(...people: Person[]): void {
  const all = people.flatMap((p) => p.errors);
  if (all.length) throw new Error(`console errors:\n${all.join("\n")}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

// The conversation in the list whose name is `name`.
export function conversation(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: new RegExp(`^${name}\\b`) });
}

export async function sendMessage(page: Page, text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

export function messages(page: Page) {
  return page.getByRole("log", { name: "Messages" }).getByRole("article");
}

// The file's server and browser: started before its tests, stopped after them.
export function serverAndBrowser(extraArgs: string[] = []): { server: Server; browser: Browser } {
  const fixture = {} as { server: Server; browser: Browser };
  before(async () => {
    fixture.server = new Server(extraArgs);
    await fixture.server.start();
    fixture.browser = await launch();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.server?.dispose();
  });
  return fixture;
}

// "New chat" with `username` (end-to-end encrypted if asked), as a person would start it.
export async function startChat(page: Page, username: string, opts: { e2ee?: boolean } = {}): Promise<void> {
  await page.getByRole("button", { name: "New chat" }).click();
  const dialog = page.getByRole("dialog", { name: "New chat" });
  await dialog.getByRole("textbox", { name: "Username" }).fill(username);
  if (opts.e2ee) await dialog.getByRole("checkbox", { name: /End-to-end encrypted/ }).check();
  await dialog.getByRole("button", { name: "Start chat" }).click();
  await page.getByRole("textbox", { name: "Message" }).waitFor();
}

// A real PNG (RGB, a gradient), made here so the test needs no fixture file.
export function png(width: number, height: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([(x * 4) & 255, (y * 5) & 255, 160], 1 + x * 3);
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
