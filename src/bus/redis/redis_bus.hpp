#pragma once
// RedisBus: the cluster Bus, on Redis pub/sub (docs/operations.md, "Redis bus"), through hiredis.
//
// Channels (interest-based: a node subscribes only to what its own sessions need):
//   parley:group:<id>  one per group. A node subscribes while it has sessions of at least one
//                      member, so it receives only the traffic of groups with members here. A
//                      group's messages, receipts, edits and typing go there once, with their
//                      recipients; each node delivers to the ones it has.
//   parley:user:<id>   one per user, subscribed while the node has sessions of the user: what
//                      is addressed to users rather than to a group — direct conversations (two
//                      members: their users' channels are their interest), presence, logouts,
//                      and membership changes (so that the node of a member just added learns
//                      of the group and subscribes to it).
//   parley:cluster     every node: facts every node must learn whoever is connected where —
//                      a conversation's members changed (drop the cached list), a login session
//                      was revoked (refuse its tokens).
//   parley:node:<id>   one per node: notes addressed to it (send_to_node).
// Events for users with sessions on this node are handed to the sink directly, not through
// Redis; a node ignores what it published itself.
//
// Which groups: when a user's first session here is watched and its channel confirmed, the
// loader asks the store for the user's groups (options.groups_of) and subscribes to them; a
// membership change for a watched user (published here or received on the user's channel)
// subscribes or unsubscribes its group. A session's watch() is ready once the user's channel
// and all its groups' channels are confirmed. A membership change reaches the sink only once
// the group's channel is confirmed: a client that fetches the group's history on hearing it was
// added misses nothing (docs/protocol.md §5.7).
//
// Threads, each with what it owns: the publisher drains a queue and pipelines PUBLISH commands
// on its connection (one thread: the order of publication is kept); the subscriber waits on its
// connection and on a wake-up descriptor for SUBSCRIBE/UNSUBSCRIBE requests, and runs the
// callbacks waiting for Redis to confirm a subscription; the loader calls groups_of, which may
// block on the store.
// When Redis is unreachable the connections retry every 200 ms; events published meanwhile reach
// only this node's sessions (they are durable in the store; clients catch up with sync), and once
// the subscriber is back, on_reconnect runs so that sessions can be told to sync.
// Thread-safety: every public method from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bus/bus.hpp"
#include "core/result.hpp"
#include "crypto/keyring.hpp"
#include "redis/redis_client.hpp"

namespace parley {

struct RedisBusOptions {
  RedisAddress address;
  std::string node_id;  // unique per node (a UUID): tells our own messages from the others'
  // Renders an event as clients receive it (api::event_frame), once, on the publishing node.
  std::function<std::string(const chat::Event&)> render;
  // Seals each rendered event before it goes to Redis, and opens what other nodes sealed, with
  // the conversation as context (docs/security.md: the relay carries no plaintext). nullptr:
  // frames travel as rendered (--encrypt-at-rest false); a sealed one from another node is
  // still opened if this ring can.
  const crypto::Keyring* relay_keys = nullptr;
  // The groups a user is a member of (Store::groups_of). Called on the loader thread; may
  // block. An error is retried every 200 ms while the user is watched. Unset: no groups.
  std::function<Result<std::vector<chat::ConvId>>(chat::UserId)> groups_of;
  // Runs on the subscriber thread after a reconnect, and after the first connect if sessions
  // were watched before it (they were told they were ready: Redis was away).
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
  using Callbacks = std::vector<std::function<void()>>;
  struct Watched {
    int sessions = 0;
    std::uint64_t epoch = 0;   // which first watch() this is: a load for an older one is dropped
    bool ready = false;        // its channels are confirmed: later watch()es are ready at once
    std::unordered_set<chat::ConvId> groups;  // its groups, each counted in group_users_
    std::vector<Ready> waiting;               // watch() callbacks until then
  };

  void publisher_loop();
  void subscriber_loop();
  void loader_loop();
  void wake_subscriber();
  void receive(const std::string& channel, const std::string& payload);
  void deliver(const chat::EnvelopePtr& envelope);

  // ---- interest; the *_locked ones with watch_mutex_ held. Callbacks they cannot run under
  // the lock go into `later`, for the caller to run after unlocking.
  void subscribe_locked(const std::string& channel);
  void unsubscribe_locked(const std::string& channel);
  // `then` runs once none of `channels` has a SUBSCRIBE in flight: now (into `later`) or when
  // Redis answers the last of them (or the connection drops).
  void after_confirmed_locked(const std::vector<std::string>& channels, std::function<void()> then,
                              Callbacks& later);
  void join_group_locked(Watched& user, const chat::ConvId& group);
  void leave_group_locked(Watched& user, const chat::ConvId& group);
  // A membership change of `group`: each (user, in group?) of a watched user joins or leaves
  // it. The envelope goes to the sink once the group's channel is confirmed.
  void apply_membership(const chat::EnvelopePtr& envelope, const chat::ConvId& group,
                        const std::vector<std::pair<chat::UserId, bool>>& members);
  // The user's channel holds: the loader reads its groups (load_groups), subscribes to them,
  // and once they hold too the user is ready (mark_ready). `epoch`: as in Watched.
  void queue_load(chat::UserId user, std::uint64_t epoch);
  void load_groups(chat::UserId user, std::uint64_t epoch);
  void mark_ready(chat::UserId user, std::uint64_t epoch);
  // Redis answered one SUBSCRIBE of the channel: when it was the last one in flight, runs what
  // waits for it. confirm_all: the connection is gone, run everything waiting.
  void confirm(const std::string& channel);
  void confirm_all();
  void enqueue(std::vector<std::pair<std::string, std::string>> items);

  const RedisBusOptions options_;
  const std::string node_channel_;  // parley:node:<our id>
  Sink sink_;
  NoteSink note_sink_;
  std::atomic<bool> stopping_{false};

  std::mutex publish_mutex_;
  std::condition_variable publish_wanted_;
  std::deque<std::pair<std::string, std::string>> outbox_;  // channel, payload

  std::mutex watch_mutex_;
  std::unordered_map<chat::UserId, Watched> watched_;   // users with sessions on this node
  std::unordered_map<chat::ConvId, int> group_users_;   // group → watched users in it
  std::uint64_t next_epoch_ = 0;
  std::vector<std::pair<bool, std::string>> changes_;   // (subscribe?, channel) not yet sent
  struct Unconfirmed {
    int subscribes = 0;  // SUBSCRIBEs of the channel sent and not yet answered
    Callbacks then;      // what waits for the last of them
  };
  std::unordered_map<std::string, Unconfirmed> unconfirmed_;  // by channel
  bool subscribed_ = false;  // the subscriber is connected
  std::deque<std::pair<chat::UserId, std::uint64_t>> to_load_;  // (user, epoch) for the loader
  std::condition_variable load_wanted_;
  int wake_fd_ = -1;  // eventfd: wakes the subscriber

  std::thread publisher_;
  std::thread subscriber_;
  std::thread loader_;
};

}  // namespace parley
