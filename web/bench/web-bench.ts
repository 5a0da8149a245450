// The web client's performance against a local server (docs/performance.md, "The web client"):
//   1. initial load: the compressed size of the JavaScript and CSS index.html pulls in, and the
//      time from navigation to an interactive conversation list (median of 5 cold loads);
//   2. scrolling a conversation of 10,000 messages, all loaded into the (virtualized) list,
//      top to bottom: frame times from Chromium's trace (devtools.timeline frames).
// Run by `make bench` (after the server benchmarks) or by hand:
//   cd web && PARLEY_BIN=../build/parley node --import tsx bench/web-bench.ts [--messages N]
import { gzipSync } from "node:zlib";
import { launch, person, Server } from "../e2e/harness.ts";

const args = process.argv.slice(2);
const messageCount = Number(args[args.indexOf("--messages") + 1] || 10_000) || 10_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const server = new Server();
await server.start();
const browser = await launch();
try {
  // --- 1. initial load ---
  const html = await (await fetch(server.url + "/")).text();
  let compressed = 0;
  for (const [, path] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const res = await fetch(server.url + path, { headers: { "Accept-Encoding": "gzip" } });
    const body = Buffer.from(await res.arrayBuffer());
    // fetch decompresses; what went over the wire is the gzip form the server holds.
    compressed += res.headers.get("content-encoding") === "gzip" ? gzipSync(body, { level: 9 }).length : body.length;
  }
  const alice = await server.user("alice");
  const bob = await server.user("bob");
  const token = String(bob.session.token);

  // 10,000 messages from Bob to Alice, 32 requests at a time.
  let next = 1;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i <= messageCount; i = next++) {
        const body = i % 7 === 0 ? `message ${i}: a longer one, to give the list rows of different heights. `.repeat(3) : `message ${i}`;
        await server.api("POST", "/chat/send", { recipient: "alice", message: body, client_msg_id: `bench-${i}` }, token);
      }
    }),
  );
  console.error(`web-bench: ${messageCount} messages stored in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const loads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    await context.addInitScript((s) => localStorage.setItem("parley.session", s), JSON.stringify(alice.session));
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(server.url + "/");
    await page.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: /^bob/ }).waitFor();
    loads.push(Date.now() - t0);
    await context.close();
  }

  // --- 2. scrolling 10,000 messages ---
  const p = await person(browser, server, alice.session);
  const page = p.page;
  await page.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: /^bob/ }).click();
  const list = page.getByRole("log", { name: "Messages" });
  await list.getByText(`message ${messageCount}`, { exact: true }).waitFor();
  // Page in the whole history by scrolling to the top until its start shows.
  const t1 = Date.now();
  // (Each round scrolls to the top; the list asks for the page before it and keeps the viewport
  // where it was, so the next round scrolls up again.)
  while (!(await list.getByText("This is the start of the conversation.").isVisible())) {
    await list.evaluate((el) => (el.scrollTop = 0));
    await page.waitForTimeout(20);
  }
  const pagedIn = Date.now() - t1;
  const rendered = await list.locator(".vrow").count();

  await browser.startTracing(page, { categories: ["toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline", "disabled-by-default-devtools.timeline.frame"] });
  // Wheel down through the whole conversation, as a person flinging a trackpad would.
  const box = (await list.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const scrollStart = Date.now();
  for (;;) {
    await page.mouse.wheel(0, 1200);
    const left = await list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    if (left < 2) break;
  }
  const scrollMs = Date.now() - scrollStart;
  type TraceEvent = { name: string; ts: number; ph: string; dur?: number; pid: number; tid: number; args?: { name?: string } };
  const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] };
  if (process.env.BENCH_TRACE) (await import("node:fs")).writeFileSync(process.env.BENCH_TRACE, JSON.stringify(trace));
  const frames = trace.traceEvents.filter((e) => e.name === "DrawFrame").map((e) => e.ts / 1000).sort((a, b) => a - b);
  const intervals = frames.slice(1).map((t, i) => t - frames[i]);
  // The page's main thread: how long each task ran. Frame intervals also hold the time the
  // browser waited for the next wheel event from this script; a long task is the page's own.
  const main = trace.traceEvents.find((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain");
  const tasks = trace.traceEvents
    .filter((e) => main && e.pid === main.pid && e.tid === main.tid && e.ph === "X" && e.name === "RunTask" && e.dur !== undefined)
    .map((e) => e.dur! / 1000);
  const rowsInDom = await list.locator(".vrow").count();

  const result = {
    date: new Date().toISOString(),
    compressed_js_css_bytes: compressed,
    load_to_interactive_list_ms: { median: median(loads), runs: loads },
    messages: messageCount,
    history_paged_in_ms: pagedIn,
    rows_in_dom_at_top: rendered,
    rows_in_dom_after_scroll: rowsInDom,
    scroll: {
      duration_ms: scrollMs,
      frames: frames.length,
      frame_interval_ms: {
        median: +median(intervals).toFixed(2),
        p95: +percentile(intervals, 95).toFixed(2),
        p99: +percentile(intervals, 99).toFixed(2),
        max: +Math.max(...intervals).toFixed(2),
      },
      frames_over_50ms: intervals.filter((d) => d > 50).length,
      main_thread_tasks: tasks.length,
      task_ms: tasks.length === 0 ? null : { p50: +median(tasks).toFixed(2), p95: +percentile(tasks, 95).toFixed(2), p99: +percentile(tasks, 99).toFixed(2), max: +Math.max(...tasks).toFixed(2) },
      tasks_over_50ms: tasks.filter((d) => d > 50).length,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  await p.context.close();
} finally {
  await browser.close();
  await server.dispose();
}
