#pragma once
// Hub: this node's fan-out. Knows which users have sessions on which shard, and delivers each
// published event to every online session of its recipients (docs/architecture.md §3, "Fan-out").
//
// An event is rendered once (RenderedEvent: one rendering per wire format, shared by every
// session that receives it) and handed once to each shard that has a session of a recipient
// (`shards_of_`, a summary the shards keep up to date, so a shard with none is not woken for
// it); each shard then looks up its own sessions (shard-local index, no locks). Posts from one
// thread keep their order, so each session sees a conversation's messages in seq order
// (invariant 4, docs/architecture.md). A session is in the summary before attach() returns, so
// every event published after that reaches it.
// Threads: attach/detach on the session's shard; deliver() from any thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bus/bus.hpp"
#include "chat/events.hpp"
#include "net/shards.hpp"
#include "net/ws_frame.hpp"

namespace parley::api {

// A wire format besides Parley's own JSON (Socket.IO's `42["message",{…}]`, say): how to write
// an event in it, from the event's name and its JSON. Defined once per format, as a static
// that lives as long as the process; the first kMaxWireFormats get a slot in every
// RenderedEvent. Threads: construct before the server starts.
class WireFormat {
 public:
  static constexpr std::size_t kMaxWireFormats = 4;
  using Render = std::string (*)(std::string_view name, std::string_view json);
  // Throws std::logic_error past kMaxWireFormats.
  explicit WireFormat(Render render);
  WireFormat(const WireFormat&) = delete;
  WireFormat& operator=(const WireFormat&) = delete;

 private:
  friend class RenderedEvent;
  Render render_;
  std::size_t slot_;
};

// One published event with its renderings, made once per event and shared (immutable) by every
// session that receives it, on any shard.
class RenderedEvent {
 public:
  // Renders Parley's JSON (docs/protocol.md, "Events") now.
  explicit RenderedEvent(chat::EnvelopePtr envelope);
  const chat::Envelope& envelope() const { return *envelope_; }
  const chat::Event& event() const { return envelope_->event; }
  // The JSON as a WebSocket text frame, sharing the event's lifetime (no copy per session). Its
  // payload() is the JSON text itself, which SSE and long-poll carry.
  static net::Frame json_frame(const std::shared_ptr<const RenderedEvent>& event) {
    return net::Frame(event, &event->json_);
  }
  std::string_view json() const { return json_.payload(); }
  // The event in `format`, as a WebSocket text frame: rendered by the first session that asks,
  // on whichever shard, and shared by every later one (thread-safe).
  static net::Frame frame_in(const std::shared_ptr<const RenderedEvent>& event,
                             const WireFormat& format);
  ~RenderedEvent();
  RenderedEvent(const RenderedEvent&) = delete;
  RenderedEvent& operator=(const RenderedEvent&) = delete;
  // The event's name in docs/protocol.md ("message", "receipt", …): SSE's `event:` field.
  std::string_view name() const { return name_; }

  // Where a message or message_updated event stands in its conversation (for the transports
  // that resume from a cursor, api/stream_cursor.hpp); nullopt for every other event. Relayed
  // events carry it typed (chat::RelayedEvent::position): nothing parses their JSON.
  using Position = chat::MessagePosition;
  const std::optional<Position>& position() const { return position_; }

 private:
  chat::EnvelopePtr envelope_;
  net::OutFrame json_;
  std::string_view name_;  // into json_
  std::optional<Position> position_;
  // frame_in's renderings, by WireFormat slot: installed once (compare-and-swap), freed with
  // the event.
  mutable std::array<std::atomic<const net::OutFrame*>, WireFormat::kMaxWireFormats> formats_{};
};
using EventPtr = std::shared_ptr<const RenderedEvent>;

// A session that receives events (api/client_session.hpp).
class EventSink {
 public:
  virtual ~EventSink() = default;
  // On the sink's shard.
  virtual void deliver(const EventPtr& event) = 0;
};

class Hub {
 public:
  // `bus`, if given, hears which users have sessions on this node (Bus::watch/unwatch).
  explicit Hub(net::ShardPool& shards, Bus* bus = nullptr);

  // `ready` runs once the user's events are sure to reach this node (Bus::watch), on any
  // thread: it must only post work.
  void attach(std::size_t shard, chat::UserId user, std::shared_ptr<EventSink> sink,
              Bus::Ready ready);
  void detach(std::size_t shard, chat::UserId user, const EventSink* sink);

  void deliver(const chat::EnvelopePtr& envelope);
  // To every session on this node, whoever it belongs to (the `resync` notice).
  void deliver_to_all(const chat::EnvelopePtr& envelope);

  std::size_t sessions() const { return sessions_.load(std::memory_order_relaxed); }

 private:
  // Renders the event once and posts it to every shard, for the recipients' sessions there
  // (or, `everyone`, for all of them).
  void fan_out(const chat::EnvelopePtr& envelope, bool everyone);

  // Bit i of a user's mask: shard i has a session of theirs. Shards beyond 64 are always posted.
  using ShardMask = std::uint64_t;
  ShardMask shards_with_sessions(const std::vector<chat::UserId>& users) const;
  void mark(std::size_t shard, chat::UserId user, bool has_sessions);

  struct ShardIndex {
    std::unordered_map<chat::UserId, std::vector<std::shared_ptr<EventSink>>> by_user;
  };
  net::ShardPool& shards_;
  Bus* bus_;
  std::vector<ShardIndex> index_;  // index_[i] is touched only on shard i
  std::atomic<std::size_t> sessions_{0};
  mutable std::mutex shards_of_mutex_;
  std::unordered_map<chat::UserId, ShardMask> shards_of_;  // guarded by shards_of_mutex_
};

}  // namespace parley::api
