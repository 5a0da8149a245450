#pragma once
// FileCatalog: the records of uploaded files and which messages carry them — the store's role for
// file sharing (docs/architecture.md, "Files"). The bytes are elsewhere (files/blob_store.hpp).
//
// Who may read a file: its uploader, and every member of a conversation in which a stored
// message that is not deleted carries it. A link (file → conv, sender, client_msg_id) is written
// when a send that attaches the file is accepted, before the message is appended; it grants
// nothing until that message is stored, and nothing once it is deleted, so a send that fails, or
// a delete, needs no undo here.
//
// Every method is blocking and thread-safe: call it from the blocking pool, never from a network
// shard. Implemented by SqliteStore and PostgresStore beside Store (the same database); both pass
// the contract suite in tests/contract/file_catalog_contract.hpp.

#include <cstdint>
#include <string_view>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

class FileCatalog {
 public:
  virtual ~FileCatalog() = default;

  // Records a file whose bytes are stored, if its owner's files then take at most quota_bytes
  // together (checked and recorded in one transaction). Errc::quota_exceeded otherwise;
  // Errc::conflict when the id exists.
  virtual Status add_file(const chat::FileRecord& file, std::int64_t quota_bytes) = 0;
  // Errc::not_found when there is no such file.
  virtual Result<chat::FileRecord> get_file(std::string_view id) = 0;
  // The bytes of every file the user owns.
  virtual Result<std::int64_t> bytes_owned(chat::UserId owner) = 0;

  // Records that the message (conv, sender, client_msg_id) carries the file; nothing when it is
  // recorded already.
  virtual Status link_file(std::string_view file_id, std::string_view conv, chat::UserId sender,
                           std::string_view client_msg_id) = 0;
  // Whether user is a member of a conversation where a stored, not deleted, message carries the
  // file (the uploader's own right is the caller's to check).
  virtual Result<bool> shared_with(std::string_view file_id, chat::UserId user) = 0;

  // Files no send ever attached, uploaded before `before`, oldest first, at most `limit`.
  virtual Result<std::vector<chat::FileRecord>> unattached_files(TimeMs before, int limit) = 0;
  // Removes the record (and its links). Errc::not_found when there is none.
  virtual Status remove_file(std::string_view id) = 0;

  // Every file, in id order, after after_id ("" for the first), at most `limit`: the rewrap job
  // (service/rewrap.hpp) walks them.
  virtual Result<std::vector<chat::FileRecord>> files_by_id(std::string_view after_id, int limit) = 0;
  // Stores `name` as the file's name if it still is `expected` (a resealed name); whether it was.
  virtual Result<bool> reseal_file_name(std::string_view id, std::string_view expected,
                                        std::string_view name) = 0;
};

}  // namespace parley
