// The reference server: the chat job of Parley's benchmark done the way the reference design
// does it — Socket.IO v4 with @socket.io/redis-adapter (so any number of such servers share
// rooms through Redis pub/sub), configured as the Socket.IO documentation recommends for
// production: WebSocket transport only (no long-polling upgrade dance), no per-message deflate,
// the Redis adapter with a duplicated subscriber client, and NODE_ENV=production.
//
// Same contract as Parley's load test needs: a JWT (HS256, the same secret and claims) in the
// CONNECT auth payload; `send {to|conv, client_msg_id, body}` with an ack `{ok, msg}`; `message`
// events to every socket of the recipients (DM: both users' rooms; group: the group's room,
// joined with `join conv`). Like Parley it numbers each conversation's messages (in each
// process's memory: two nodes number a conversation each on their own).
//
// Two ways to run it:
// - memory-only (bench/run.py's "reference"): without KAFKA_BROKERS it stores nothing.
// - the reference design's own architecture (bench/run.py's "reference-stack"): with
//   KAFKA_BROKERS and KAFKA_TOPIC every message is also published to Kafka with kafkajs, and a
//   separate process, consumer.js, writes it into PostgreSQL. As in the design's snippet, the
//   send to Kafka is fired and NOT awaited: the message is emitted through the Redis adapter,
//   `kafkaProducer.send(…)` is called, and the sender is acked at once, so an ack promises
//   neither Kafka nor PostgreSQL. A failed send is counted and its first few errors logged
//   (the .catch attached to it); GET /stats on the server's port reports the counts
//   ({sent, produced, errors}). The message's key is its conversation, so a conversation stays in
//   one partition (kafkajs's DefaultPartitioner, murmur2 as Java's). The producer keeps
//   kafkajs's defaults: acks -1 (all in-sync replicas), no idempotence, retries 5, no
//   compression, one produce request per send() (kafkajs does not linger to batch).
//
//   PORT=0 TOKEN_SECRET=… REDIS_URL=redis://127.0.0.1:6379 node server.js
//   … KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=chat-messages node server.js
// prints "listening PORT" when ready.
"use strict";
const { createServer } = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const kafkaBrokers = process.env.KAFKA_BROKERS || "";
const kafkaTopic = process.env.KAFKA_TOPIC || "chat-messages";

const secret = process.env.TOKEN_SECRET || "";
if (secret.length < 32) {
  console.error("TOKEN_SECRET (>= 32 bytes) is required");
  process.exit(2);
}

function verify(token) {
  const parts = String(token || "").split(".");
  if (parts.length !== 3) return null;
  const [h, p, s] = parts;
  const header = JSON.parse(Buffer.from(h, "base64url").toString());
  if (header.alg !== "HS256") return null;
  const expected = crypto.createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url");
  if (s.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(s), Buffer.from(expected))) {
    return null;
  }
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  return claims.exp * 1000 > Date.now() ? claims : null;
}

async function main() {
  const pub = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379" });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);

  // The reference stack: a kafkajs producer, created as its documentation shows. Passing the
  // default partitioner explicitly is what silences kafkajs 2's warning about it.
  let kafkaProducer = null;
  const produce = { sent: 0, produced: 0, errors: 0 };
  if (kafkaBrokers) {
    const { Kafka, Partitioners } = require("kafkajs");
    const kafka = new Kafka({ clientId: `reference-${process.pid}`, brokers: kafkaBrokers.split(",") });
    kafkaProducer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await kafkaProducer.connect();
  }

  const httpServer = createServer((req, res) => {
    // Everything but /socket.io/ (which Socket.IO answers first): the bench's counters.
    if (req.url === "/stats") {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(produce));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub),
    transports: ["websocket"],
    perMessageDeflate: false,
    serveClient: false,
    maxHttpBufferSize: 64 * 1024,
  });

  io.use((socket, next) => {
    try {
      const claims = verify(socket.handshake.auth && socket.handshake.auth.token);
      if (!claims) return next(new Error("unauthenticated"));
      socket.data.user = claims.name;
      next();
    } catch (e) {
      next(new Error("unauthenticated"));
    }
  });

  const lastSeq = new Map();
  io.on("connection", (socket) => {
    const me = socket.data.user;
    socket.join(`user:${me}`);
    socket.on("join", (conv, ack) => {
      socket.join(`conv:${conv}`);
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("send", (req, ack) => {
      if (!req || typeof req.body !== "string" || (!req.to && !req.conv)) {
        if (typeof ack === "function") ack({ ok: false, error: { code: "bad_request" } });
        return;
      }
      const conv = req.conv || [me, req.to].sort().join(":");
      const seq = (lastSeq.get(conv) || 0) + 1;
      lastSeq.set(conv, seq);
      const msg = {
        id: crypto.randomUUID(), conv, seq, from: me, body: req.body, attachments: [],
        reply_to: null, client_msg_id: req.client_msg_id, ts: new Date().toISOString(),
      };
      const rooms = req.conv ? `conv:${conv}` : [`user:${req.to}`, `user:${me}`];
      io.to(rooms).emit("message", msg);
      if (kafkaProducer) {
        // The design's snippet: the send is not awaited before the ack.
        produce.sent++;
        kafkaProducer.send({ topic: kafkaTopic, messages: [{ key: conv, value: JSON.stringify(msg) }] })
          .then(() => { produce.produced++; })
          .catch((e) => {
            if (produce.errors++ < 5) console.error(`kafka send failed: ${e.message}`);
          });
      }
      if (typeof ack === "function") ack({ ok: true, msg });
    });
  });

  httpServer.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
    console.log(`listening ${httpServer.address().port}`);
  });
  const stop = () => io.close(() => Promise.all([pub.quit(), sub.quit(), kafkaProducer && kafkaProducer.disconnect()])
    .finally(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
