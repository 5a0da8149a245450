#pragma once
// The chat domain's value types, shared by every layer. Plain data: no I/O, no threads.
// Field names follow docs/architecture.md §6 (data model) and docs/protocol.md ("Message").

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"

namespace parley::chat {

using UserId = std::int64_t;
using SessionId = std::int64_t;
using Seq = std::int64_t;
using ConvId = std::string;  // UUIDv7 text

struct User {
  UserId id = 0;
  std::string username;
  std::string name;
  TimeMs created_at = 0;
  std::optional<TimeMs> last_seen_at;
  // From the OpenID provider the user first signed in with (empty for password accounts but
  // `provider`, which is "password"): the reference data model's fields.
  std::string email;
  std::string image;
  std::string provider = "password";
  std::string oauth_id;  // the provider's `sub`
};

// A user with the secret needed to check a password login. Never leaves the service layer.
struct UserCredentials {
  User user;
  std::string password_hash;
};

enum class ConvKind { direct, group };
enum class Role { owner, admin, member };

std::string_view to_string(ConvKind k);
std::string_view to_string(Role r);
std::optional<Role> role_from_string(std::string_view s);

struct Conversation {
  ConvId id;
  ConvKind kind = ConvKind::group;
  std::string title;
  UserId creator_id = 0;
  std::string passcode_hash;  // empty: the group cannot be joined by passcode
  TimeMs created_at = 0;
  Seq last_seq = 0;
  std::int64_t last_rev = 0;  // the rev of the latest edit or delete
  // End-to-end encrypted (docs/protocol.md §11): bodies are envelopes the server never opens.
  // Set at creation, never changed.
  bool e2ee = false;
};

// A member's receipt cursors; both only move forward (docs/protocol.md §6.1, "Receipts").
struct Cursors {
  Seq delivered_seq = 0;
  Seq read_seq = 0;
};

// A conversation the user is no longer in (sync tells clients which ones they left).
struct Departure {
  ConvId conv;
  TimeMs at = 0;
};

// A stored file's record (docs/protocol.md, "Files"): the bytes are in file storage under
// storage_key (files/blob_store.hpp).
struct FileRecord {
  std::string id;  // UUIDv7
  UserId owner_id = 0;
  std::string name;  // sanitized (service/file_service.hpp)
  std::string mime;  // detected from the bytes
  std::int64_t size = 0;
  std::string sha256;  // lowercase hex
  std::string storage_key;
  TimeMs created_at = 0;
};

// The end-to-end encryption key directory (docs/protocol.md §11.1, store/device_catalog.hpp).
// Keys are kept as the base64url text clients sent, checked by service/key_directory.hpp.
struct OneTimePrekey {
  std::int64_t id = 0;
  std::string key;  // X25519 public key
};

// One device's public keys.
struct DeviceKeys {
  UserId user_id = 0;
  std::string device;        // the device's name, unique per user
  std::string identity_key;  // Ed25519 public key
  std::string dh_key;        // X25519 public key, signed by the identity key
  std::string dh_signature;
  std::int64_t signed_prekey_id = 0;
  std::string signed_prekey;  // X25519 public key, signed by the identity key
  std::string signed_prekey_signature;
  TimeMs created_at = 0;
  // Filled by reads: how many one-time prekeys are left, and the one handed out (claims).
  std::int64_t one_time_prekeys = 0;
  std::optional<OneTimePrekey> one_time_prekey;
};

struct Member {
  UserId user_id = 0;
  std::string username;
  Role role = Role::member;
  TimeMs joined_at = 0;
  Seq joined_seq = 0;
  Seq delivered_seq = 0;
  Seq read_seq = 0;
};

struct Message {
  std::string id;  // UUIDv7
  ConvId conv;
  Seq seq = 0;
  UserId sender_id = 0;
  std::string from;  // sender's username
  std::string body;
  std::optional<Seq> reply_to;
  std::string client_msg_id;
  // The files it carries: a JSON array of {id, name, mime, size}, written by the server from the
  // files' records (service/file_service.hpp, attachments_json), never by a client; empty for
  // none. Kept as its JSON text so that every format that carries a message (the journal, Kafka,
  // the SQL column) carries it unchanged.
  std::string attachments;
  TimeMs ts = 0;
  // Edits and deletes: rev orders a conversation's changes (1, 2, 3… per conversation; 0 for a
  // message never changed). A deleted message keeps its place as a tombstone with an empty body.
  std::optional<TimeMs> edited_at;
  bool deleted = false;
  std::int64_t rev = 0;
};

// A message as submitted, before the writer gives it a seq.
struct NewMessage {
  ConvId conv;
  UserId sender_id = 0;
  std::string from;
  std::string client_msg_id;
  std::string body;
  std::optional<Seq> reply_to;
  std::string attachments = {};  // as Message::attachments
  // Given when the server accepts the message (ChatService::append), before anything is stored:
  // what it is sealed against (crypto/message_sealer.hpp). A retry keeps the stored original's.
  std::string id = {};
  // The time it was accepted, given with the id: the stored message's ts. Fixed before the log,
  // so that replaying the cluster's log rewrites exactly the same row (docs/operations.md,
  // "Kafka message log"). 0 only in records of builds that gave it in the writer.
  TimeMs ts = 0;
};

// The outcome of appending one message: the stored message, and whether it was stored before
// (a retried client_msg_id), in which case it must not be delivered again.
struct Appended {
  Message msg;
  bool duplicate = false;
};

// One page of history, oldest first.
struct HistoryPage {
  std::vector<Message> messages;
  bool has_more = false;
  // Every member's receipt cursors, so a client can show per message "delivered to all" and
  // "read by N of M". Filled by the service, not the store.
  std::vector<Member> receipts;
};

// What a member sees of one of their conversations (GET /conversations, the sync op).
struct ConversationSummary {
  Conversation conversation;
  Role role = Role::member;
  std::string peer;  // direct conversations: the other user's username
  Seq read_seq = 0;
  Seq delivered_seq = 0;
  Seq joined_seq = 0;       // the conversation's last_seq when this member joined
  std::int64_t unread = 0;  // messages from others after read_seq
  std::optional<Message> last_message;
};

}  // namespace parley::chat
