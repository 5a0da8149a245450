// Drives Parley's Engine.IO echo (parley serve --protocol-test, /engine.io/) with the official
// engine.io-client for tests/integration/test_socketio_client.py: opens a socket on the given
// transports, sends text and binary messages, and prints as one JSON object what came back and
// which transport the socket ended on.
//   node echo_client.mjs URL TRANSPORTS
import { Socket } from "engine.io-client";

const [url, transportsText] = process.argv.slice(2);
const transports = transportsText.split(",");
const socket = new Socket(url, { path: "/engine.io/", transports });

const sent = ["hello", "é ☃ 🎉", new Uint8Array([0, 1, 2, 255]), "x".repeat(100000)];
const echoes = [];
const opened = new Promise((resolve, reject) => {
  socket.once("open", resolve);
  socket.once("error", reject);
});
const done = new Promise((resolve) => {
  socket.on("message", (data) => {
    echoes.push(typeof data === "string" ? { text: data } : { binary: Array.from(new Uint8Array(data)) });
    if (echoes.length === sent.length) resolve();
  });
});

const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: "timed out", echoes }));
  process.exit(1);
}, 10000);
await opened;
// With an upgrade, wait for it: messages then go over the WebSocket.
if (transports.length > 1) await new Promise((resolve) => socket.once("upgrade", resolve));
for (const message of sent) socket.send(message);
await done;
clearTimeout(timer);
const closed = new Promise((resolve) => socket.once("close", (reason) => resolve(reason)));
const transport = socket.transport.name;
socket.close();
// Exit once the line is written: stdout to a pipe is asynchronous, and exit() would cut it.
process.stdout.write(JSON.stringify({ transport, echoes, close: await closed }) + "\n",
                     () => process.exit(0));
