#include "api/hub.hpp"

#include <algorithm>

#include "api/codec.hpp"

namespace parley::api {

Hub::Hub(net::ShardPool& shards, Bus* bus) : shards_(shards), bus_(bus), index_(shards.size()) {}

void Hub::attach(std::size_t shard, chat::UserId user, std::shared_ptr<EventSink> sink,
                 Bus::Ready ready) {
  index_[shard].by_user[user].push_back(std::move(sink));
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
  if (sinks.empty()) by_user.erase(it);
}

void Hub::deliver(const chat::EnvelopePtr& envelope) { fan_out(envelope, false); }

void Hub::deliver_to_all(const chat::EnvelopePtr& envelope) { fan_out(envelope, true); }

void Hub::fan_out(const chat::EnvelopePtr& envelope, bool everyone) {
  auto frame = net::text_frame(event_frame(envelope->event));
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    shards_.mailbox(shard).post([this, shard, envelope, frame, everyone] {
      // deliver() never detaches synchronously (a connection closes, and its session detaches,
      // in a later handler), so iterating the live index is safe.
      const auto& by_user = index_[shard].by_user;
      if (everyone) {
        for (const auto& [user, sinks] : by_user) {
          for (const auto& sink : sinks) sink->deliver(*envelope, frame);
        }
        return;
      }
      if (by_user.empty()) return;
      for (const auto user : envelope->recipients) {
        auto it = by_user.find(user);
        if (it == by_user.end()) continue;
        for (const auto& sink : it->second) sink->deliver(*envelope, frame);
      }
    });
  }
}

}  // namespace parley::api
