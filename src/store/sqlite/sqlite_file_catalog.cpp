// SqliteStore as a FileCatalog (store/file_catalog.hpp): the files and file_links tables.
#include "store/sqlite/reader_lease.hpp"
#include "store/sqlite/shared.hpp"

namespace parley {

using sqlite::Db;
using sqlite::Query;
using sqlite::storage_error;
using namespace chat;

namespace {

#define PARLEY_FILE_COLUMNS "id, owner_id, name, mime, size, sha256, storage_key, created_at"

FileRecord read_file(const Query& q) {
  FileRecord f;
  f.id = q.text(0);
  f.owner_id = q.i64(1);
  f.name = q.text(2);
  f.mime = q.text(3);
  f.size = q.i64(4);
  f.sha256 = q.text(5);
  f.storage_key = q.text(6);
  f.created_at = q.i64(7);
  return f;
}

}  // namespace

Status SqliteStore::add_file(const FileRecord& file, std::int64_t quota_bytes) {
  return sqlite::write_transaction(write_mutex_, *writer_, "add_file", [&]() -> Status {
    Query used(*writer_, "SELECT coalesce(sum(size), 0) FROM files WHERE owner_id = ?");
    used.bind(1, file.owner_id);
    if (!used.step()) return storage_error(*writer_, "add_file");
    if (used.i64(0) + file.size > quota_bytes) {
      return make_error(Errc::quota_exceeded,
                        "this upload would pass your storage quota of " +
                            std::to_string(quota_bytes) + " bytes");
    }
    Query q(*writer_, "INSERT INTO files(" PARLEY_FILE_COLUMNS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, file.id).bind(2, file.owner_id).bind(3, file.name).bind(4, file.mime)
        .bind(5, file.size).bind(6, file.sha256).bind(7, file.storage_key).bind(8, file.created_at);
    q.step();
    if (sqlite::is_constraint(q)) return make_error(Errc::conflict, "file id exists");
    if (q.failed()) return storage_error(*writer_, "add_file");
    return ok_status();
  });
}

Result<FileRecord> SqliteStore::get_file(std::string_view id) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_FILE_COLUMNS " FROM files WHERE id = ?");
  q.bind(1, id);
  if (q.step()) return read_file(q);
  if (q.failed()) return storage_error(*lease, "get_file");
  return make_error(Errc::not_found, "no such file");
}

Result<std::int64_t> SqliteStore::bytes_owned(UserId owner) {
  auto lease = read();
  Query q(*lease, "SELECT coalesce(sum(size), 0) FROM files WHERE owner_id = ?");
  q.bind(1, owner);
  if (q.step()) return q.i64(0);
  return storage_error(*lease, "bytes_owned");
}

Status SqliteStore::link_file(std::string_view file_id, std::string_view conv, UserId sender,
                              std::string_view client_msg_id) {
  return sqlite::write_transaction(write_mutex_, *writer_, "link_file", [&]() -> Status {
    Query q(*writer_, "INSERT OR IGNORE INTO file_links(file_id, conversation_id, sender_id, "
                      "client_msg_id) VALUES(?, ?, ?, ?)");
    q.bind(1, file_id).bind(2, conv).bind(3, sender).bind(4, client_msg_id);
    q.step();
    if (q.failed()) return storage_error(*writer_, "link_file");
    return ok_status();
  });
}

Result<bool> SqliteStore::shared_with(std::string_view file_id, UserId user) {
  // The conversations where the file may have been shared with the user; their messages still
  // in the inbox are moved first, so an acknowledged message counts at once.
  std::vector<std::string> convs;
  {
    auto lease = read();
    Query q(*lease, "SELECT DISTINCT l.conversation_id FROM file_links l JOIN members mm "
                    "ON mm.conversation_id = l.conversation_id AND mm.user_id = ? "
                    "WHERE l.file_id = ?");
    q.bind(1, user).bind(2, file_id);
    while (q.step()) convs.push_back(q.text(0));
    if (q.failed()) return storage_error(*lease, "shared_with");
  }
  if (convs.empty()) return false;
  for (const auto& conv : convs) {
    if (auto moved = settle(conv); !moved) return moved.error();
  }
  auto lease = read();
  Query q(*lease, "SELECT 1 FROM file_links l "
                  "JOIN members mm ON mm.conversation_id = l.conversation_id AND mm.user_id = ? "
                  "JOIN messages m ON m.conversation_id = l.conversation_id "
                  "  AND m.sender_id = l.sender_id AND m.client_msg_id = l.client_msg_id "
                  "WHERE l.file_id = ? AND m.deleted_at IS NULL LIMIT 1");
  q.bind(1, user).bind(2, file_id);
  if (q.step()) return true;
  if (q.failed()) return storage_error(*lease, "shared_with");
  return false;
}

Result<std::vector<FileRecord>> SqliteStore::unattached_files(TimeMs before, int limit) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_FILE_COLUMNS " FROM files f WHERE created_at < ? AND NOT EXISTS "
                  "(SELECT 1 FROM file_links l WHERE l.file_id = f.id) "
                  "ORDER BY created_at LIMIT ?");
  q.bind(1, before).bind(2, std::int64_t{limit});
  std::vector<FileRecord> out;
  while (q.step()) out.push_back(read_file(q));
  if (q.failed()) return storage_error(*lease, "unattached_files");
  return out;
}

Status SqliteStore::remove_file(std::string_view id) {
  return sqlite::write_transaction(write_mutex_, *writer_, "remove_file", [&]() -> Status {
    Query links(*writer_, "DELETE FROM file_links WHERE file_id = ?");
    links.bind(1, id);
    links.step();
    if (links.failed()) return storage_error(*writer_, "remove_file");
    Query q(*writer_, "DELETE FROM files WHERE id = ?");
    q.bind(1, id);
    q.step();
    if (q.failed()) return storage_error(*writer_, "remove_file");
    if (sqlite3_changes(writer_->handle()) == 0) return make_error(Errc::not_found, "no such file");
    return ok_status();
  });
}

Result<std::vector<FileRecord>> SqliteStore::files_by_id(std::string_view after_id, int limit) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_FILE_COLUMNS " FROM files WHERE id > ? ORDER BY id LIMIT ?");
  q.bind(1, after_id).bind(2, std::int64_t{limit});
  std::vector<FileRecord> out;
  while (q.step()) out.push_back(read_file(q));
  if (q.failed()) return storage_error(*lease, "files_by_id");
  return out;
}

Result<bool> SqliteStore::reseal_file_name(std::string_view id, std::string_view expected,
                                           std::string_view name) {
  bool replaced = false;
  auto s = sqlite::write_transaction(write_mutex_, *writer_, "reseal_file_name", [&]() -> Status {
    Query q(*writer_, "UPDATE files SET name = ? WHERE id = ? AND name = ?");
    q.bind(1, name).bind(2, id).bind(3, expected);
    q.step();
    if (q.failed()) return storage_error(*writer_, "reseal_file_name");
    replaced = sqlite3_changes(writer_->handle()) > 0;
    return ok_status();
  });
  if (!s) return s.error();
  return replaced;
}

}  // namespace parley
