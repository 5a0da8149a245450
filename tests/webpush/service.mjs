// A real Web Push service for tests/integration/test_push.py: web-push-testing (pinned in
// package.json), which checks each push's VAPID signature and decrypts its aes128gcm payload,
// bound to 127.0.0.1 on a port of the system's choosing (its own CLI listens on every interface
// and names its endpoints after "localhost").
//   node service.mjs          prints {"port": N} once it serves
// Besides web-push-testing's routes (/subscribe, /notify/:hash, /get-notifications,
// /expire-subscription/:hash — all POST), two for the tests:
//   POST /requests/:hash       {"data": [{"headers": {...}, "status": N}]}: every push received
//                              for the subscription, with its request headers and our answer
//   POST /fail-next/:hash      {"status": 503, "count": 1, "retry_after": "1"}: answer the next
//                              `count` pushes with that status instead of accepting them
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const TestingServer = require("web-push-testing/src/server.js");
const { PushApiModel } = require("web-push-testing/src/PushApiModel.js");

const model = new PushApiModel();
const server = new TestingServer(model, 0);
const app = server._app;
const received = new Map();  // hash → [{headers, status}]
const failures = new Map();  // hash → {status, count, retry_after}

app.use("/notify/:hash", (req, res, next) => {
  const hash = req.params.hash;
  const entry = { headers: { ...req.headers }, status: 201 };
  if (!received.has(hash)) received.set(hash, []);
  received.get(hash).push(entry);
  const fail = failures.get(hash);
  if (fail && fail.count > 0) {
    fail.count -= 1;
    entry.status = fail.status;
    if (fail.retry_after) res.set("Retry-After", String(fail.retry_after));
    res.status(fail.status).send({ error: { message: "failing on purpose" } });
    return;
  }
  res.on("finish", () => { entry.status = res.statusCode; });
  next();
});
app.post("/requests/:hash", (req, res) => {
  res.status(200).send({ data: received.get(req.params.hash) || [] });
});
app.post("/fail-next/:hash", (req, res) => {
  failures.set(req.params.hash, { status: 503, count: 1, ...req.body });
  res.sendStatus(200);
});

const listener = app.listen(0, "127.0.0.1", () => {
  const { port } = listener.address();
  model.notifyUrl = `http://127.0.0.1:${port}/notify/`;
  server.setRequestHandlers();
  console.log(JSON.stringify({ port }));
});
