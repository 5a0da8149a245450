#include "api/hub.hpp"

#include <algorithm>
#include <stdexcept>

#include "api/codec.hpp"

namespace parley::api {

namespace {

// Every event's JSON begins {"ev":"NAME" (codec.cpp renders "ev" first, on every node).
std::string_view event_name(std::string_view json) {
  constexpr std::string_view kPrefix = R"({"ev":")";
  if (!json.starts_with(kPrefix)) return {};
  json.remove_prefix(kPrefix.size());
  return json.substr(0, json.find('"'));
}

}  // namespace

RenderedEvent::RenderedEvent(chat::EnvelopePtr envelope)
    : envelope_(std::move(envelope)),
      json_(net::OutFrame::Kind::text, event_frame(envelope_->event)),
      name_(event_name(json_.payload())),
      position_(chat::message_position(envelope_->event)) {}

namespace {
std::atomic<std::size_t> next_wire_format_slot{0};
}

WireFormat::WireFormat(Render render) : render_(render), slot_(next_wire_format_slot++) {
  if (slot_ >= kMaxWireFormats) {
    throw std::logic_error("more wire formats than WireFormat::kMaxWireFormats");
  }
}

RenderedEvent::~RenderedEvent() {
  for (auto& f : formats_) delete f.load(std::memory_order_acquire);
}

net::Frame RenderedEvent::frame_in(const std::shared_ptr<const RenderedEvent>& event,
                                   const WireFormat& format) {
  auto& slot = event->formats_[format.slot_];
  const net::OutFrame* frame = slot.load(std::memory_order_acquire);
  if (!frame) {
    // Two shards may render at once: one rendering wins, the other is dropped.
    auto* mine = new net::OutFrame(net::OutFrame::Kind::text,
                                   format.render_(event->name(), event->json()));
    const net::OutFrame* expected = nullptr;
    if (slot.compare_exchange_strong(expected, mine, std::memory_order_acq_rel)) {
      frame = mine;
    } else {
      delete mine;
      frame = expected;
    }
  }
  return net::Frame(event, frame);
}

Hub::Hub(net::ShardPool& shards, Bus* bus) : shards_(shards), bus_(bus), index_(shards.size()) {}

namespace {
constexpr std::size_t kMaskBits = 64;
}

void Hub::mark(std::size_t shard, chat::UserId user, bool has_sessions) {
  if (shard >= kMaskBits) return;
  const ShardMask bit = ShardMask{1} << shard;
  std::lock_guard lock(shards_of_mutex_);
  if (has_sessions) {
    shards_of_[user] |= bit;
  } else if (auto it = shards_of_.find(user); it != shards_of_.end()) {
    it->second &= ~bit;
    if (it->second == 0) shards_of_.erase(it);
  }
}

Hub::ShardMask Hub::shards_with_sessions(const std::vector<chat::UserId>& users) const {
  ShardMask all = ~ShardMask{0};
  if (shards_.size() < kMaskBits) all = (ShardMask{1} << shards_.size()) - 1;
  // Shards past the mask's bits are not summarized: always post to them.
  ShardMask mask = shards_.size() > kMaskBits ? all : 0;
  std::lock_guard lock(shards_of_mutex_);
  for (const auto user : users) {
    if (auto it = shards_of_.find(user); it != shards_of_.end()) mask |= it->second;
    if (mask == all) break;
  }
  return mask;
}

void Hub::attach(std::size_t shard, chat::UserId user, std::shared_ptr<EventSink> sink,
                 Bus::Ready ready) {
  auto& sinks = index_[shard].by_user[user];
  if (sinks.empty()) mark(shard, user, true);
  sinks.push_back(std::move(sink));
  sessions_.fetch_add(1, std::memory_order_relaxed);
  if (bus_) {
    bus_->watch(user, std::move(ready));
  } else if (ready) {
    ready();
  }
}

void Hub::detach(std::size_t shard, chat::UserId user, const EventSink* sink) {
  auto& by_user = index_[shard].by_user;
  auto it = by_user.find(user);
  if (it == by_user.end()) return;
  auto& sinks = it->second;
  const auto before = sinks.size();
  std::erase_if(sinks, [sink](const auto& s) { return s.get() == sink; });
  sessions_.fetch_sub(before - sinks.size(), std::memory_order_relaxed);
  if (bus_) {
    for (auto n = before - sinks.size(); n > 0; --n) bus_->unwatch(user);
  }
  if (sinks.empty()) {
    by_user.erase(it);
    mark(shard, user, false);
  }
}

void Hub::deliver(const chat::EnvelopePtr& envelope) { fan_out(envelope, false); }

void Hub::deliver_to_all(const chat::EnvelopePtr& envelope) { fan_out(envelope, true); }

void Hub::fan_out(const chat::EnvelopePtr& envelope, bool everyone) {
  const ShardMask mask = everyone ? ~ShardMask{0} : shards_with_sessions(envelope->recipients);
  if (mask == 0) return;  // no recipient has a session on this node
  auto event = std::make_shared<const RenderedEvent>(envelope);
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    if (shard < kMaskBits && (mask & (ShardMask{1} << shard)) == 0) continue;
    shards_.mailbox(shard).post([this, shard, event, everyone] {
      // deliver() never detaches synchronously (a connection closes, and its session detaches,
      // in a later handler), so iterating the live index is safe.
      const auto& by_user = index_[shard].by_user;
      if (everyone) {
        for (const auto& [user, sinks] : by_user) {
          for (const auto& sink : sinks) sink->deliver(event);
        }
        return;
      }
      if (by_user.empty()) return;
      for (const auto user : event->envelope().recipients) {
        auto it = by_user.find(user);
        if (it == by_user.end()) continue;
        for (const auto& sink : it->second) sink->deliver(event);
      }
    });
  }
}

}  // namespace parley::api
