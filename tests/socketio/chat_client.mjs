// Drives Parley with the official socket.io-client for tests/integration/test_socketio_client.py,
// and prints what happened as one JSON object: the test asserts on it.
//   node chat_client.mjs URL ALICE_TOKEN BOB_TOKEN GROUP_CONV COUNT [TRANSPORTS]
// TRANSPORTS: the client's `transports`, comma-separated (default websocket; "polling,websocket"
// is the client's own default: long-polling first, then the upgrade).
import { io } from "socket.io-client";

const [url, aliceToken, bobToken, group, countText, transportsText] = process.argv.slice(2);
const count = Number(countText);
const transports = (transportsText || "websocket").split(",");
const options = (token) => ({ transports, auth: { token }, reconnection: false, timeout: 5000 });

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

const out = {};

// A bad token: connect_error with the server's message, and no connection.
const intruder = io(url, options("not-a-token"));
try {
  await connected(intruder);
  out.bad_token = "connected";
} catch (e) {
  out.bad_token = e.message;
}
intruder.close();

const alice = io(url, options(aliceToken));
const bob = io(url, options(bobToken));
await Promise.all([connected(alice), connected(bob)]);

const received = [];
bob.on("message", (ev) => received.push(ev.msg));
const receipts = [];
alice.on("receipt", (ev) => receipts.push(ev));

// DMs with acks, in order; each reply is the /ws reply.
const acked = [];
for (let i = 0; i < count; i++) {
  const reply = await alice.timeout(5000).emitWithAck("send", {
    to: "siobob", client_msg_id: `dm-${i}`, body: `dm ${i}` });
  acked.push(reply);
}
// A retry of the first: the same message, stored once.
out.retry = await alice.timeout(5000).emitWithAck("send", {
  to: "siobob", client_msg_id: "dm-0", body: "dm 0" });
// A group message, and an error in an ack.
out.group = await alice.timeout(5000).emitWithAck("send", {
  conv: group, client_msg_id: "group-0", body: "to the group" });
out.error = await alice.timeout(5000).emitWithAck("send", {
  to: "nobody-at-all", client_msg_id: "x", body: "x" });

// Bob has everything (count DMs + the group message); he marks the last DM read.
const deadline = Date.now() + 5000;
while (received.length < count + 1 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 10));
}
const lastDm = acked[acked.length - 1].msg;
out.read = await bob.timeout(5000).emitWithAck("read", { conv: lastDm.conv, seq: lastDm.seq });
while (receipts.length < 1 && Date.now() < deadline + 5000) {
  await new Promise((r) => setTimeout(r, 10));
}
// sync over Socket.IO, as a reconnecting client runs it.
out.sync = await bob.timeout(5000).emitWithAck("sync", {});

// The transport each ended on (after an upgrade, "websocket").
out.transports = [alice.io.engine.transport.name, bob.io.engine.transport.name];
out.acked = acked;
out.received = received.slice();
out.receipts = receipts;

// Bob goes away; Alice sends three more; Bob comes back, runs sync as a reconnecting client
// does, and fetches what he missed after the last seq he had.
bob.close();
const missed = [];
for (let i = 0; i < 3; i++) {
  missed.push(await alice.timeout(5000).emitWithAck("send", {
    to: "siobob", client_msg_id: `missed-${i}`, body: `missed ${i}` }));
}
const back = io(url, options(bobToken));
await connected(back);
const resync = await back.timeout(5000).emitWithAck("sync", {});
const dm = resync.conversations.find((c) => c.conv === lastDm.conv || c.id === lastDm.conv);
const history = await back.timeout(5000).emitWithAck("history", {
  conv: lastDm.conv, after: lastDm.seq });
out.reconnect = { missed, last_seq: dm ? dm.last_seq : null, history };
alice.close();
back.close();
// Exit once the line is written: stdout to a pipe is asynchronous, and exit() would cut it.
process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
