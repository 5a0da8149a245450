#pragma once
// RedisBus: the cluster Bus, on Redis pub/sub (DESIGN.md §3), through hiredis.
//
// Channels:
//   parley:user:<id>   one per user. A node subscribes to the channels of the users it has
//                      sessions of (watch/unwatch), so it receives only their events
//                      (interest-based). An event goes to each recipient's channel.
//   parley:cluster     every node: facts every node must learn whoever is connected where —
//                      a conversation's members changed (drop the cached list), a login session
//                      was revoked (refuse its tokens).
//   parley:node:<id>   one per node: notes addressed to it (send_to_node).
// Events for users with sessions on this node are handed to the sink directly, not through
// Redis; a node ignores what it published itself.
//
// Two connections, each with a thread of its own: the publisher drains a queue and pipelines
// PUBLISH commands (one thread, one connection: the order of publication is kept); the
// subscriber waits on the socket and on a wake-up descriptor for SUBSCRIBE/UNSUBSCRIBE requests,
// and runs watch()'s ready callbacks when Redis confirms a subscription.
// When Redis is unreachable both retry every 200 ms; events published meanwhile reach only this
// node's sessions (they are durable in the store; clients catch up with sync), and once the
// subscriber is back, on_reconnect runs so that sessions can be told to sync.
// Thread-safety: every public method from any thread.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus/bus.hpp"
#include "redis/redis_client.hpp"

namespace parley {

struct RedisBusOptions {
  RedisAddress address;
  std::string node_id;  // unique per node (a UUID): tells our own messages from the others'
  // Renders an event as clients receive it (api::event_frame), once, on the publishing node.
  std::function<std::string(const chat::Event&)> render;
  // Runs on the subscriber thread after a reconnect (not the first connect).
  std::function<void()> on_reconnect;
};

class RedisBus final : public Bus {
 public:
  explicit RedisBus(RedisBusOptions options);
  ~RedisBus() override;
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  void publish(chat::EnvelopePtr envelope) override;
  void set_sink(Sink sink) override { sink_ = std::move(sink); }
  void watch(chat::UserId user, Ready ready) override;
  void unwatch(chat::UserId user) override;
  void send_to_node(const std::string& node, std::string payload) override;
  void set_note_sink(NoteSink sink) override { note_sink_ = std::move(sink); }
  void stop() override;

 private:
  void publisher_loop();
  void subscriber_loop();
  void wake_subscriber();
  void receive(const std::string& channel, const std::string& payload);
  // Redis answered one SUBSCRIBE of the user's channel: when it was the last one in flight,
  // runs the ready callbacks waiting for it. confirm_all: the connection is gone, run them all.
  void confirm(chat::UserId user);
  void confirm_all();
  void enqueue(std::vector<std::pair<std::string, std::string>> items);

  const RedisBusOptions options_;
  const std::string node_channel_;  // parley:node:<our id>
  Sink sink_;
  NoteSink note_sink_;

  std::mutex publish_mutex_;
  std::condition_variable publish_wanted_;
  std::deque<std::pair<std::string, std::string>> outbox_;  // channel, payload
  bool stopping_ = false;

  std::mutex watch_mutex_;
  std::unordered_map<chat::UserId, int> watched_;     // user → sessions on this node
  std::vector<std::pair<bool, chat::UserId>> changes_;  // (subscribe?, user) not yet sent
  struct Unconfirmed {
    int subscribes = 0;        // SUBSCRIBEs of the user's channel sent and not yet answered
    std::vector<Ready> ready;  // watch() callbacks waiting for the last of them
  };
  std::unordered_map<chat::UserId, Unconfirmed> unconfirmed_;
  bool subscribed_ = false;                           // the subscriber is connected
  int wake_fd_ = -1;                                  // eventfd: wakes the subscriber

  std::thread publisher_;
  std::thread subscriber_;
};

}  // namespace parley
