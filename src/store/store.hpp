#pragma once
// Store: where users, conversations, members and messages live (login sessions:
// store/account_catalog.hpp).
//
// Sized to what the chat service needs, not to what SQL can do. Every method is blocking and
// thread-safe: call it from the blocking pool or the message writer, never from a network shard.
// Implementations: store/sqlite (embedded default); store/postgres (cluster, later).
// Every implementation passes the contract suite in tests/contract/store_contract.hpp.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

class IdGenerator;

struct NewGroup {
  chat::ConvId id;
  std::string title;
  chat::UserId creator_id = 0;
  std::string passcode_hash;
  std::vector<chat::UserId> members;  // besides the creator, who becomes owner
  TimeMs now = 0;
  bool e2ee = false;  // chat::Conversation::e2ee
};

struct HistoryQuery {
  std::optional<chat::Seq> before;  // messages with seq < before, newest page first
  std::optional<chat::Seq> after;   // messages with seq > after, oldest page first
  int limit = 50;
};

// The stores read a page with one row more than `limit`: its presence says there is more.
// Drops it — the last row read, or (extra_first) the first of a page read backwards and put back
// in seq order — and sets has_more.
inline void drop_extra_row(chat::HistoryPage& page, std::int64_t limit, bool extra_first = false) {
  if (static_cast<std::int64_t>(page.messages.size()) <= limit) return;
  page.messages.erase(extra_first ? page.messages.begin() : page.messages.end() - 1);
  page.has_more = true;
}

// A message's stored body and attachments, before and after they were sealed again under
// another key (Store::reseal_messages).
struct Resealed {
  chat::ConvId conv;
  chat::Seq seq = 0;
  std::string body_before, attachments_before;
  std::string body, attachments;
};

// A new message as stored, once the writer has given it its seq (and the id and time it came
// with, or else the writer's): what every Store's append_messages returns for it.
inline chat::Message stored_message(const chat::NewMessage& nm, chat::Seq seq, std::string id,
                                    TimeMs now) {
  chat::Message m;
  m.id = std::move(id);
  m.conv = nm.conv;
  m.seq = seq;
  m.sender_id = nm.sender_id;
  m.from = nm.from;
  m.body = nm.body;
  m.reply_to = nm.reply_to;
  m.attachments = nm.attachments;
  m.client_msg_id = nm.client_msg_id;
  m.ts = nm.ts != 0 ? nm.ts : now;  // 0: a record of an older build
  return m;
}

// Where a batch of the cluster message log (Kafka) was read from: the partition's consumed
// position moves from `from` to `to` in the same transaction as the batch's messages — and only
// if it still is `from` (-1: none is stored, and only if none is). A node that lost the
// partition but still works on an old batch (a zombie) therefore cannot commit it, nor can one
// ahead of a position the store lost, and a replay starts right after the last committed batch
// (docs/operations.md, "Kafka message log").
struct LogPosition {
  std::string topic;
  int partition = 0;
  std::int64_t from = 0;
  std::int64_t to = 0;
};

inline Error fenced_error() {
  return make_error(Errc::conflict,
                    "fenced: the log position moved (another node now owns the partition)");
}

class Store {
 public:
  virtual ~Store() = default;

  // Users. create_user fails with Errc::conflict when the username is taken.
  virtual Result<chat::User> create_user(std::string_view username, std::string_view password_hash,
                                         TimeMs now) = 0;
  virtual Result<chat::UserCredentials> find_credentials(std::string_view username) = 0;
  virtual Result<chat::User> find_user(std::string_view username) = 0;
  virtual Result<chat::User> get_user(chat::UserId id) = 0;

  // Conversations and membership.
  // The direct conversation of a and b; created as new_id (end-to-end encrypted when e2ee) when
  // there is none. An existing one is returned as it is, whatever its e2ee.
  virtual Result<chat::Conversation> get_or_create_direct(chat::UserId a, chat::UserId b,
                                                          const chat::ConvId& new_id, TimeMs now,
                                                          bool e2ee) = 0;
  virtual Result<std::optional<chat::ConvId>> find_direct(chat::UserId a, chat::UserId b) = 0;
  virtual Result<chat::Conversation> create_group(const NewGroup& group) = 0;
  virtual Result<chat::Conversation> get_conversation(std::string_view id) = 0;
  virtual Result<std::vector<chat::Member>> members(std::string_view conv) = 0;
  // Errc::conflict when already a member.
  virtual Status add_member(std::string_view conv, chat::UserId user, chat::Role role,
                            TimeMs now) = 0;
  // Errc::not_found when not a member. When the owner leaves, the longest-standing remaining
  // admin becomes owner, else the longest-standing member.
  virtual Status remove_member(std::string_view conv, chat::UserId user, TimeMs now) = 0;
  virtual Result<std::vector<chat::ConversationSummary>> conversations_of(chat::UserId user) = 0;
  // Conversations the user was removed from or left, and when: the newest 200.
  virtual Result<std::vector<chat::Departure>> departures_of(chat::UserId user) = 0;
  // Everyone who shares at least one conversation with user (presence goes only to them).
  virtual Result<std::vector<chat::UserId>> contacts_of(chat::UserId user) = 0;
  // The groups (not direct conversations) the user is a member of: the cluster bus subscribes
  // to their channels while the user has sessions on a node.
  virtual Result<std::vector<chat::ConvId>> groups_of(chat::UserId user) = 0;

  // Receipts. Moves the member's cursors forward to the given seqs (0: leave that one), clamped
  // to the conversation's last_seq; never backwards; reading implies delivery. Returns the
  // cursors afterwards and whether they moved. Errc::not_found when not a member.
  virtual Result<std::pair<chat::Cursors, bool>> advance_cursors(std::string_view conv,
                                                                 chat::UserId user,
                                                                 chat::Seq delivered,
                                                                 chat::Seq read) = 0;
  // Last seen: stores the latest time of each (user, time); older times never overwrite newer.
  virtual Status record_last_seen(std::span<const std::pair<chat::UserId, TimeMs>> seen) = 0;

  // Messages. append_messages is the group commit: in one durable transaction it dedupes each
  // message on (conv, sender, client_msg_id) — a duplicate yields the stored message as it is now
  // (edited or deleted since, if so) — and gives every new one the next seq of its conversation,
  // and an id and timestamp (`now`) unless it came with them. One result per input, in order.
  // Called by exactly one writer thread at a time (invariant 3, docs/architecture.md).
  // With `positions` (the cluster log's sequencer: one per partition the batch was read from),
  // each log position moves in the same transaction; if any is not at its `from`, nothing is
  // stored and every result is Errc::conflict (fenced_error).
  virtual std::vector<Result<chat::Appended>> append_messages(
      std::span<const chat::NewMessage> batch, TimeMs now, IdGenerator& ids,
      std::span<const LogPosition> positions) = 0;
  // The next offset of (topic, partition) to consume, as append_messages stored it; nullopt when
  // nothing was ever stored for it.
  virtual Result<std::optional<std::int64_t>> log_position(std::string_view topic,
                                                           int partition) = 0;
  virtual Result<chat::HistoryPage> history(std::string_view conv, const HistoryQuery& q) = 0;
  // One message of conv as it is now (an edit or a deletion included); nullopt when there is no
  // such seq (yet). Unlike history(), it reads what the writer holds without moving it into the
  // database first: the push dispatcher reads the newest message of every push.
  virtual Result<std::optional<chat::Message>> message(std::string_view conv, chat::Seq seq) = 0;
  // Edits (body set) or deletes (body empty: a tombstone) message seq of conv, if sender_id sent
  // it, giving it the conversation's next rev. Errc::not_found for no such message,
  // Errc::forbidden when someone else sent it, Errc::conflict when it is already deleted.
  virtual Result<chat::Message> change_message(std::string_view conv, chat::Seq seq,
                                               chat::UserId sender_id,
                                               std::optional<std::string> body, TimeMs now) = 0;
  // Messages of conv changed after rev `after`, in rev order (at most limit, has_more says if
  // there are more).
  virtual Result<chat::HistoryPage> changes(std::string_view conv, std::int64_t after,
                                            int limit) = 0;

  // Encryption at rest (service/rewrap.hpp). Stored messages in id order after `after_id` (""
  // for the first), at most limit, with body and attachments as stored; messages the writer
  // holds but has not moved into the database yet may be missing (a later pass finds them).
  virtual Result<std::vector<chat::Message>> messages_by_id(std::string_view after_id,
                                                            int limit) = 0;
  // Replaces the body and attachments of each message whose stored ones are still the given
  // `before` ones (a message edited or deleted meanwhile is left as it is); no rev moves, no
  // event: the content is the same. Returns how many were replaced.
  virtual Result<int> reseal_messages(std::span<const Resealed> changes) = 0;
};

}  // namespace parley
