// The reference stack's persistence (bench/run.py's "reference-stack"): the reference design's
// own consumer process. server.js publishes every message to a Kafka topic (kafkajs, key = the
// conversation); this process reads the topic in a kafkajs consumer group and writes each message
// into PostgreSQL with node-postgres, exactly as the design's snippet does — one INSERT per
// message, awaited in eachMessage:
//
//   eachMessage: async ({ message }) => { await db.query('INSERT INTO messages (...) VALUES (...)', [...]) }
//
// Everything else is kafkajs's and pg's defaults: the consumer handles one partition at a time
// (partitionsConsumedConcurrently 1), commits offsets after each batch it has processed
// (autoCommit), and each INSERT is its own transaction, committed (with fsync, PostgreSQL's
// synchronous_commit default) before the next message. A failed INSERT throws out of
// eachMessage, and kafkajs retries from that message. Two things the snippet leaves open are
// set here for the benchmark: the topic is created (if missing) with 16 partitions, as Parley
// makes its own, and the group reads a new topic from its beginning (fromBeginning), so that no
// message sent while the group was joining is skipped.
//
//   DATABASE_URL=postgres://…  PG_SCHEMA=refstack  KAFKA_BROKERS=127.0.0.1:9092
//   KAFKA_TOPIC=chat-messages  KAFKA_GROUP=chat-messages.store  [KAFKA_PARTITIONS=16]  node consumer.js
// creates PG_SCHEMA.messages if missing, and prints "consuming" once the group has its partitions.
"use strict";
const { Kafka } = require("kafkajs");
const { Client } = require("pg");

const schema = process.env.PG_SCHEMA || "public";
if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
  console.error("PG_SCHEMA must be a plain lower-case identifier");
  process.exit(2);
}
const topic = process.env.KAFKA_TOPIC || "chat-messages";
const groupId = process.env.KAFKA_GROUP || `${topic}.store`;
const partitions = Number(process.env.KAFKA_PARTITIONS || 16);

async function main() {
  // One connection: eachMessage runs one INSERT at a time (and a Pool's idle timeout would swap
  // the PostgreSQL backend, whose CPU the bench counts, between runs).
  const db = new Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.messages (
    id UUID PRIMARY KEY,
    conv TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sender TEXT NOT NULL,
    client_msg_id TEXT,
    body TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL)`);
  const insert = `INSERT INTO ${schema}.messages (id, conv, seq, sender, client_msg_id, body, ts)
                  VALUES ($1, $2, $3, $4, $5, $6, $7)`;

  const kafka = new Kafka({ clientId: `reference-consumer-${process.pid}`,
                            brokers: (process.env.KAFKA_BROKERS || "127.0.0.1:9092").split(",") });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
                             waitForLeaders: true });  // false, no error, when it exists
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId });
  consumer.on(consumer.events.GROUP_JOIN, () => console.log("consuming"));
  consumer.on(consumer.events.CRASH, (e) => console.error(`consumer crashed: ${e.payload.error}`));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const m = JSON.parse(message.value.toString());
      await db.query(insert, [m.id, m.conv, m.seq, m.from, m.client_msg_id, m.body, m.ts]);
    },
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    consumer.disconnect().then(() => db.end()).finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
