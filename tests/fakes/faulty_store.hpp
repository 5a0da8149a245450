#pragma once
// FaultyStore: wraps a real Store and fails append_messages on demand (a full disk, a lost
// database), like LevelDB's FaultInjectionTestEnv. Everything else passes through.
#include <atomic>

#include "store/store.hpp"

namespace parley::testing {

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store& inner) : inner_(inner) {}
  void fail_appends(bool fail) { fail_appends_ = fail; }

  Result<chat::User> create_user(std::string_view u, std::string_view h, TimeMs now) override {
    return inner_.create_user(u, h, now);
  }
  Result<chat::UserCredentials> find_credentials(std::string_view u) override {
    return inner_.find_credentials(u);
  }
  Result<chat::User> find_user(std::string_view u) override { return inner_.find_user(u); }
  Result<chat::User> get_user(chat::UserId id) override { return inner_.get_user(id); }
  Result<chat::Conversation> get_or_create_direct(chat::UserId a, chat::UserId b,
                                                  const chat::ConvId& id, TimeMs now,
                                                  bool e2ee) override {
    return inner_.get_or_create_direct(a, b, id, now, e2ee);
  }
  Result<std::optional<chat::ConvId>> find_direct(chat::UserId a, chat::UserId b) override {
    return inner_.find_direct(a, b);
  }
  Result<chat::Conversation> create_group(const NewGroup& g) override {
    return inner_.create_group(g);
  }
  Result<chat::Conversation> get_conversation(std::string_view id) override {
    return inner_.get_conversation(id);
  }
  Result<std::vector<chat::Member>> members(std::string_view conv) override {
    return inner_.members(conv);
  }
  Status add_member(std::string_view c, chat::UserId u, chat::Role r, TimeMs now) override {
    return inner_.add_member(c, u, r, now);
  }
  Status remove_member(std::string_view c, chat::UserId u, TimeMs now) override {
    return inner_.remove_member(c, u, now);
  }
  Result<std::vector<chat::Departure>> departures_of(chat::UserId u) override {
    return inner_.departures_of(u);
  }
  Result<std::vector<chat::UserId>> contacts_of(chat::UserId u) override {
    return inner_.contacts_of(u);
  }
  Result<std::vector<chat::ConvId>> groups_of(chat::UserId u) override {
    return inner_.groups_of(u);
  }
  Result<std::pair<chat::Cursors, bool>> advance_cursors(std::string_view c, chat::UserId u,
                                                         chat::Seq d, chat::Seq r) override {
    return inner_.advance_cursors(c, u, d, r);
  }
  Status record_last_seen(std::span<const std::pair<chat::UserId, TimeMs>> seen) override {
    return inner_.record_last_seen(seen);
  }
  Result<chat::Message> change_message(std::string_view c, chat::Seq seq, chat::UserId sender,
                                       std::optional<std::string> body, TimeMs now) override {
    return inner_.change_message(c, seq, sender, std::move(body), now);
  }
  Result<chat::HistoryPage> changes(std::string_view c, std::int64_t after, int limit) override {
    return inner_.changes(c, after, limit);
  }
  Result<std::vector<chat::Message>> messages_by_id(std::string_view after, int limit) override {
    return inner_.messages_by_id(after, limit);
  }
  Result<int> reseal_messages(std::span<const Resealed> changes) override {
    return inner_.reseal_messages(changes);
  }
  Result<std::vector<chat::ConversationSummary>> conversations_of(chat::UserId u) override {
    return inner_.conversations_of(u);
  }
  std::vector<Result<chat::Appended>> append_messages(std::span<const chat::NewMessage> batch,
                                                      TimeMs now, IdGenerator& ids,
                                                      std::span<const LogPosition> positions) override {
    if (fail_appends_) {
      return std::vector<Result<chat::Appended>>(
          batch.size(), Result<chat::Appended>(make_error(Errc::unavailable, "injected fault")));
    }
    return inner_.append_messages(batch, now, ids, positions);
  }
  Result<std::optional<std::int64_t>> log_position(std::string_view topic,
                                                   int partition) override {
    return inner_.log_position(topic, partition);
  }
  Result<std::optional<chat::Message>> message(std::string_view conv, chat::Seq seq) override {
    return inner_.message(conv, seq);
  }
  Result<chat::HistoryPage> history(std::string_view conv, const HistoryQuery& q) override {
    return inner_.history(conv, q);
  }

 private:
  Store& inner_;
  std::atomic<bool> fail_appends_{false};
};

}  // namespace parley::testing
