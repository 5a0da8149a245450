#include "api/stream_cursor.hpp"

#include <random>

#include "auth/base64.hpp"

namespace parley::api {

namespace {

constexpr std::uint8_t kVersion = 1;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto byte = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    v |= std::uint64_t{byte & 0x7fu} << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// A conversation id (a lowercase UUID) as its 16 bytes.
bool put_uuid(std::string& out, std::string_view id) {
  if (id.size() != 36) return false;
  int hi = -1;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') return false;
      continue;
    }
    const int v = hex_value(id[i]);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>((hi << 4) | v));
      hi = -1;
    }
  }
  return true;
}

bool get_uuid(std::string_view& in, std::string& id) {
  if (in.size() < 16) return false;
  static constexpr char kHex[] = "0123456789abcdef";
  id.clear();
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id.push_back('-');
    const auto byte = static_cast<std::uint8_t>(in[i]);
    id.push_back(kHex[byte >> 4]);
    id.push_back(kHex[byte & 0xf]);
  }
  in.remove_prefix(16);
  return true;
}

}  // namespace

std::string encode_cursor(const DecodedCursor& cursor) {
  std::string bytes;
  bytes.push_back(static_cast<char>(kVersion));
  put_varint(bytes, static_cast<std::uint64_t>(cursor.user));
  put_varint(bytes, cursor.base);
  std::string entries;
  std::uint64_t count = 0;
  for (const auto& [conv, at] : cursor.entries) {
    if (!put_uuid(entries, conv)) continue;  // not a UUID: never a conversation id
    put_varint(entries, static_cast<std::uint64_t>(at.seq));
    put_varint(entries, static_cast<std::uint64_t>(at.rev));
    ++count;
  }
  put_varint(bytes, count);
  bytes += entries;
  return auth::base64url_encode(bytes);
}

std::optional<DecodedCursor> decode_cursor(std::string_view text) {
  if (text.empty() || text.size() > 4096) return std::nullopt;
  auto raw = auth::base64url_decode(text);
  if (!raw || raw->empty() || static_cast<std::uint8_t>((*raw)[0]) != kVersion) return std::nullopt;
  std::string_view in(*raw);
  in.remove_prefix(1);
  DecodedCursor out;
  std::uint64_t user = 0, count = 0;
  if (!get_varint(in, user) || !get_varint(in, out.base) || !get_varint(in, count)) {
    return std::nullopt;
  }
  if (user == 0 || user > INT64_MAX || count > kInlineEntries * 2) return std::nullopt;
  out.user = static_cast<chat::UserId>(user);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string conv;
    std::uint64_t seq = 0, rev = 0;
    if (!get_uuid(in, conv) || !get_varint(in, seq) || !get_varint(in, rev)) return std::nullopt;
    if (seq > INT64_MAX || rev > INT64_MAX) return std::nullopt;
    out.entries[conv] = {static_cast<chat::Seq>(seq), static_cast<std::int64_t>(rev)};
  }
  if (!in.empty()) return std::nullopt;
  return out;
}

// ---- CursorBases

CursorBases::CursorBases(std::size_t max_entries) : max_entries_(max_entries) {
  std::random_device random;
  salt_ = (std::uint64_t{random()} << 32) ^ random();
}

std::uint64_t CursorBases::save(chat::UserId user, Positions positions) {
  std::lock_guard lock(mutex_);
  // Unique per node run (a counter), unguessable, never 0.
  const std::uint64_t id = ((next_++ * 0x9e3779b97f4a7c15ULL) ^ salt_) | 1;
  bases_[id] = Base{user, std::move(positions)};
  order_.push_back(id);
  while (order_.size() > max_entries_) {
    bases_.erase(order_.front());
    order_.pop_front();
  }
  return id;
}

std::optional<Positions> CursorBases::load(chat::UserId user, std::uint64_t id) const {
  std::lock_guard lock(mutex_);
  const auto it = bases_.find(id);
  if (it == bases_.end() || it->second.user != user) return std::nullopt;
  return it->second.positions;
}

std::size_t CursorBases::size() const {
  std::lock_guard lock(mutex_);
  return bases_.size();
}

// ---- StreamPosition

void StreamPosition::reset(Positions positions) {
  positions_ = std::move(positions);
  std::erase_if(positions_, [](const auto& entry) { return entry.second == ConvPosition{}; });
  base_id_ = 0;
  base_.clear();
  cached_.reset();
}

ConvPosition StreamPosition::at(const chat::ConvId& conv, chat::Seq joined) const {
  const auto it = positions_.find(conv);
  return it == positions_.end() ? ConvPosition{joined, 0} : it->second;
}

void StreamPosition::advance(const chat::ConvId& conv, chat::Seq seq, std::int64_t rev) {
  auto& at = positions_[conv];
  const ConvPosition before = at;
  at.seq = std::max(at.seq, seq);
  at.rev = std::max(at.rev, rev);
  if (!(at == before)) cached_.reset();
}

std::string StreamPosition::cursor() {
  if (cached_) return *cached_;
  DecodedCursor c;
  c.user = user_;
  if (base_id_ == 0 && positions_.size() <= kInlineEntries) {
    c.entries = positions_;
  } else {
    for (const auto& [conv, at] : positions_) {
      const auto it = base_.find(conv);
      if (it == base_.end() || !(it->second == at)) c.entries.emplace(conv, at);
    }
    if (base_id_ == 0 || c.entries.size() > kInlineEntries) {  // (re)base: the delta is empty
      base_ = positions_;
      base_id_ = bases_.save(user_, base_);
      c.entries.clear();
    }
    c.base = base_id_;
  }
  cached_ = encode_cursor(c);
  return *cached_;
}

}  // namespace parley::api
