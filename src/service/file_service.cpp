#include "service/file_service.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "core/logging.hpp"
#include "core/utf8.hpp"
#include "files/content_type.hpp"

namespace parley {

namespace json = boost::json;
using chat::FileRecord;
using chat::UserId;

namespace {

constexpr std::size_t kMaxNameBytes = 255;

// Length of the UTF-8 sequence a lead byte starts (1 for anything invalid: it is replaced).
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Characters a name never shows: C0 and C1 controls, DEL, and the bidirectional overrides and
// isolates that make "gpj.exe" read as "exe.jpg".
bool hidden(std::string_view ch) {
  const auto b0 = static_cast<unsigned char>(ch[0]);
  if (ch.size() == 1) return b0 < 0x20 || b0 == 0x7F;
  if (ch.size() == 2) return b0 == 0xC2 && static_cast<unsigned char>(ch[1]) < 0xA0;
  if (ch.size() == 3 && b0 == 0xE2) {
    const auto b1 = static_cast<unsigned char>(ch[1]), b2 = static_cast<unsigned char>(ch[2]);
    if (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) return true;  // U+202A–U+202E
    if (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9) return true;  // U+2066–U+2069
  }
  return false;
}

Error quota_error(std::uint64_t quota) {
  return make_error(Errc::quota_exceeded,
                    "this upload would pass your storage quota of " + std::to_string(quota) +
                        " bytes");
}

}  // namespace

std::string sanitize_file_name(std::string_view name) {
  // The last path component, whichever separator the client's system uses.
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = sequence_length(static_cast<unsigned char>(name[i]));
    const std::string_view ch = name.substr(i, n);
    if (ch.size() < n || !is_valid_utf8(ch)) {
      out += '_';
      ++i;
      continue;
    }
    if (!hidden(ch)) out += ch;
    i += n;
  }
  const auto first = out.find_first_not_of(" .");
  if (first == std::string::npos) return "file";
  const auto last = out.find_last_not_of(" .");
  out = out.substr(first, last - first + 1);
  if (out.size() > kMaxNameBytes) {
    // Keep the extension when there is a short one: "….png".
    const auto dot = out.rfind('.');
    const std::string ext = dot != std::string::npos && out.size() - dot <= 16 ? out.substr(dot) : "";
    out = std::string(truncate_utf8(out, kMaxNameBytes - ext.size())) + ext;
  }
  return out;
}

std::string attachments_json(std::span<const FileRecord> files) {
  if (files.empty()) return {};
  json::array a;
  for (const auto& f : files) {
    a.push_back(json::object{{"id", f.id}, {"name", f.name}, {"mime", f.mime}, {"size", f.size}});
  }
  return json::serialize(a);
}

FileService::FileService(FileCatalog& catalog, files::BlobStore& blobs, const Clock& clock,
                         IdGenerator& ids, std::string url_key, FileOptions options,
                         const crypto::MessageSealer* sealer)
    : catalog_(catalog), blobs_(blobs), clock_(clock), ids_(ids), url_key_(std::move(url_key)),
      options_(options), sealer_(sealer) {}

Result<FileRecord> FileService::load(std::string_view id) {
  auto file = catalog_.get_file(id);
  if (!file || !sealer_) return file;
  if (auto s = sealer_->open_file_name(file->id, file->name); !s) return s.error();
  return file;
}

// ---- uploads

FileService::Upload::Upload(FileService& service, UserId owner, std::string name,
                            std::int64_t quota_left, std::unique_ptr<files::BlobWriter> writer,
                            std::string id, std::string key)
    : service_(service), owner_(owner), name_(std::move(name)), quota_left_(quota_left),
      writer_(std::move(writer)), id_(std::move(id)), key_(std::move(key)) {}

Status FileService::Upload::write(std::string_view piece) {
  if (!writer_) return make_error(Errc::internal, "upload already finished");
  if (size_ + piece.size() > service_.options_.max_upload_bytes) {
    return make_error(Errc::too_large, "the file is over the upload limit of " +
                                           std::to_string(service_.options_.max_upload_bytes) +
                                           " bytes");
  }
  if (static_cast<std::int64_t>(size_ + piece.size()) > quota_left_) {
    return quota_error(service_.options_.upload_quota_bytes);
  }
  if (head_.size() < files::kSniffBytes) {
    head_.append(piece.substr(0, files::kSniffBytes - head_.size()));
  }
  sha_.update(piece);
  if (auto s = writer_->write(piece); !s) return s;
  size_ += piece.size();
  return ok_status();
}

void FileService::Upload::rename(std::string_view name) { name_ = sanitize_file_name(name); }

Result<FileRecord> FileService::Upload::finish() {
  if (!writer_) return make_error(Errc::internal, "upload already finished");
  if (auto s = writer_->commit(); !s) return s.error();
  writer_.reset();
  FileRecord f;
  f.id = id_;
  f.owner_id = owner_;
  f.name = name_;
  f.mime = files::detect_mime(head_);
  f.size = static_cast<std::int64_t>(size_);
  f.sha256 = sha_.hex_digest();
  f.storage_key = key_;
  f.created_at = service_.clock_.now_ms();
  // The quota is checked again with the record, in one transaction: two uploads at once cannot
  // both fit in what only one does.
  FileRecord stored = f;
  if (service_.sealer_) stored.name = service_.sealer_->seal_file_name(f.id, f.name);
  if (auto s = service_.catalog_.add_file(stored, static_cast<std::int64_t>(
                                                      service_.options_.upload_quota_bytes));
      !s) {
    if (auto removed = service_.blobs_.remove(key_); !removed) {
      log::warn("event=file_orphan_blob key={} reason=\"record failed\"", key_);
    }
    return s.error();
  }
  log::info("event=file_uploaded id={} owner={} size={} mime={}", f.id, f.owner_id, f.size, f.mime);
  return f;
}

Result<std::unique_ptr<FileService::Upload>> FileService::begin_upload(UserId owner,
                                                                       std::string_view name) {
  auto used = catalog_.bytes_owned(owner);
  if (!used) return used.error();
  const auto quota = static_cast<std::int64_t>(options_.upload_quota_bytes);
  if (*used >= quota) return quota_error(options_.upload_quota_bytes);
  std::string id = ids_.uuid_v7(clock_.now_ms());
  // Spread over 256 directories by the id's random tail, so none grows without bound.
  std::string key = "f/" + id.substr(id.size() - 2) + "/" + id;
  auto writer = blobs_.create(key);
  if (!writer) return writer.error();
  return std::unique_ptr<Upload>(new Upload(*this, owner, sanitize_file_name(name), quota - *used,
                                            std::move(*writer), std::move(id), std::move(key)));
}

// ---- downloads

Result<FileRecord> FileService::readable(std::string_view id, UserId user) {
  auto file = load(id);
  if (!file) return file.error();
  if (file->owner_id == user) return file;
  auto shared = catalog_.shared_with(id, user);
  if (!shared) return shared.error();
  if (!*shared) return make_error(Errc::forbidden, "this file was not shared with you");
  return file;
}

std::string FileService::thumbnail_key(const FileRecord& file) const {
  return "t/" + file.id.substr(file.id.size() - 2) + "/" + file.id + "-" +
         std::to_string(options_.thumbnails.max_side) + ".jpg";
}

Result<std::string> FileService::thumbnail(const FileRecord& file) {
  if (!files::thumbnail_supported(file.mime)) {
    return make_error(Errc::unprocessable, "no thumbnail for files of type " + file.mime);
  }
  const std::string key = thumbnail_key(file);
  if (auto cached = blobs_.open(key); cached) {
    return key;
  } else if (cached.error().code != Errc::not_found) {
    return cached.error();
  }
  if (static_cast<std::uint64_t>(file.size) > options_.thumbnails.max_input_bytes) {
    return make_error(Errc::unprocessable, "the image is too large for a thumbnail");
  }
  auto original = blobs_.open(file.storage_key);
  if (!original) return original.error();
  std::string bytes((*original)->size(), '\0');
  for (std::size_t at = 0; at < bytes.size();) {
    auto n = (*original)->read(at, std::span(bytes.data() + at, bytes.size() - at));
    if (!n) return n.error();
    if (*n == 0) return make_error(Errc::unavailable, "file storage returned a short file");
    at += *n;
  }
  auto jpeg = files::make_thumbnail(bytes, options_.thumbnails);
  if (!jpeg) {
    log::info("event=thumbnail_refused id={} reason=\"{}\"", file.id, jpeg.error().message);
    return jpeg.error();
  }
  auto writer = blobs_.create(key);
  if (!writer) return writer.error();
  if (auto s = (*writer)->write(*jpeg); !s) return s.error();
  if (auto s = (*writer)->commit(); !s) return s.error();
  return key;
}

std::string FileService::signature(std::string_view file_id, std::string_view user,
                                   std::string_view expires) const {
  std::string input = "parley-file-url\n";
  input.append(file_id).append("\n").append(user).append("\n").append(expires);
  return auth::hmac_sha256(url_key_, input);
}

SignedUrl FileService::sign_url(std::string_view file_id, UserId user) const {
  const TimeMs expires_at = clock_.now_ms() + options_.signed_url_ttl.count() * 1000;
  const std::string expires = std::to_string(expires_at / 1000);
  const std::string who = std::to_string(user);
  SignedUrl out;
  out.url = "/files/" + std::string(file_id) + "?user=" + who + "&expires=" + expires +
            "&sig=" + signature(file_id, who, expires);
  out.expires_at = (expires_at / 1000) * 1000;
  return out;
}

Result<UserId> FileService::verify_url(std::string_view file_id, std::string_view user,
                                       std::string_view expires, std::string_view sig) const {
  auto forbidden = [] { return make_error(Errc::forbidden, "the signed URL is invalid or expired"); };
  UserId who = 0;
  std::int64_t until = 0;
  if (std::from_chars(user.data(), user.data() + user.size(), who).ptr != user.data() + user.size() ||
      std::from_chars(expires.data(), expires.data() + expires.size(), until).ptr !=
          expires.data() + expires.size()) {
    return forbidden();
  }
  if (!auth::constant_time_equal(sig, signature(file_id, user, expires))) return forbidden();
  if (clock_.now_ms() / 1000 >= until) return forbidden();
  return who;
}

// ---- attachments

Result<std::string> FileService::resolve_attachments(UserId sender, std::span<const std::string> ids) {
  if (ids.empty()) return std::string();
  if (ids.size() > options_.max_attachments) {
    return make_error(Errc::bad_request, "at most " + std::to_string(options_.max_attachments) +
                                             " attachments per message");
  }
  std::vector<FileRecord> files;
  for (const auto& id : ids) {
    for (const auto& seen : files) {
      if (seen.id == id) return make_error(Errc::bad_request, "a file is attached twice: " + id);
    }
    auto file = load(id);
    if (!file) {
      if (file.error().code == Errc::not_found) return make_error(Errc::not_found, "no such file: " + id);
      return file.error();
    }
    if (file->owner_id != sender) {
      return make_error(Errc::forbidden, "you can attach only files you uploaded: " + id);
    }
    files.push_back(std::move(*file));
  }
  return attachments_json(files);
}

Status FileService::link_attachments(std::span<const std::string> ids, const chat::NewMessage& m) {
  for (const auto& id : ids) {
    if (auto s = catalog_.link_file(id, m.conv, m.sender_id, m.client_msg_id); !s) return s;
  }
  return ok_status();
}

// ---- rewrap

Result<bool> FileService::reseal(const FileRecord& stored) {
  bool changed = false;
  if (sealer_ && !sealer_->file_name_is_current(stored.name)) {
    std::string name = stored.name;
    if (auto s = sealer_->open_file_name(stored.id, name); !s) return s.error();
    auto replaced = catalog_.reseal_file_name(stored.id, stored.name, sealer_->seal_file_name(stored.id, name));
    if (!replaced) return replaced.error();
    changed = *replaced;
  }
  auto blob = blobs_.reseal(stored.storage_key);
  if (!blob) {
    if (blob.error().code == Errc::not_found) return changed;  // removed meanwhile (orphan expiry)
    return blob.error();
  }
  if (*blob) {
    changed = true;
    if (auto s = blobs_.remove(thumbnail_key(stored)); !s) {
      log::warn("event=file_orphan_blob key={} reason=\"remove failed\"", thumbnail_key(stored));
    }
  }
  return changed;
}

// ---- cleanup

Result<int> FileService::expire_orphans(int limit) {
  const TimeMs before = clock_.now_ms() - options_.orphan_upload_ttl.count() * 1000;
  auto orphans = catalog_.unattached_files(before, limit);
  if (!orphans) return orphans.error();
  int removed = 0;
  for (const auto& f : *orphans) {
    // The record first: a blob without a record is garbage nobody can reach, the reverse a
    // record whose download fails.
    if (auto s = catalog_.remove_file(f.id); !s && s.error().code != Errc::not_found) return s.error();
    for (const auto& key : {f.storage_key, thumbnail_key(f)}) {
      if (auto s = blobs_.remove(key); !s) {
        log::warn("event=file_orphan_blob key={} reason=\"remove failed\"", key);
      }
    }
    ++removed;
  }
  if (removed) log::info("event=file_orphans_expired count={}", removed);
  return removed;
}

}  // namespace parley
