// The file routes (docs/protocol.md, "Files"): POST /files (the raw body, or multipart/form-data
// with a part named `file`), GET /files/{id} (Range, ETag, a signed URL instead of a token),
// GET /files/{id}/url. Uploads stream to storage through the blocking pool a megabyte at a time;
// downloads stream from it 1 MiB at a time (net/response_body.hpp).
//
// Threads: handlers run on the connection's shard; everything that touches storage is offloaded.
#include "api/files/file_routes.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "api/codec.hpp"
#include "api/files/multipart.hpp"
#include "core/time.hpp"
#include "files/content_type.hpp"
#include "net/offload.hpp"
#include "net/request_body.hpp"
#include "net/response_body.hpp"
#include "service/file_service.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

namespace {

// Uploads are written to storage in pieces of this size (one blocking-pool hop each).
constexpr std::size_t kWriteChunk = 1 << 20;
// What a multipart body may carry besides the file: boundaries, part headers, small fields.
constexpr std::uint64_t kMultipartOverhead = 64 * 1024;

json::object file_json(const chat::FileRecord& f) {
  return json::object{{"id", f.id},     {"name", f.name},         {"mime", f.mime},
                      {"size", f.size}, {"sha256", f.sha256},     {"created_at", format_rfc3339(f.created_at)}};
}

Result<Caller> authenticate(ApiContext& ctx, const HttpRequest& req) {
  auto token = bearer_token(req.authorization);
  if (!token) return make_error(Errc::unauthenticated, "missing bearer token");
  return ctx.service.authenticate(*token);
}

// RFC 6266 / RFC 8187: an ASCII fallback and the UTF-8 name percent-encoded.
std::string content_disposition(std::string_view type, std::string_view name) {
  std::string ascii, encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : name) {
    const bool plain = std::isalnum(c) || std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    ascii += c < 0x80 && c >= 0x20 && c != '"' && c != '\\' && c != '%' ? static_cast<char>(c) : '_';
    if (plain) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  return std::string(type) + "; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

// Inline only for types a browser shows without running anything (files/content_type.hpp).
std::string disposition_of(const chat::FileRecord& f) {
  return content_disposition(files::safe_inline(f.mime) ? "inline" : "attachment", f.name);
}

// The file's bytes in [offset, offset + length), read on the blocking pool.
class BlobBody final : public net::ResponseBody {
 public:
  BlobBody(ApiContext& ctx, std::unique_ptr<files::BlobReader> reader, std::uint64_t offset,
           std::uint64_t length)
      : ctx_(ctx), reader_(std::move(reader)), offset_(offset), length_(length) {}
  std::uint64_t size() const override { return length_; }
  asio::awaitable<std::size_t> read_some(std::span<char> into) override {
    if (read_ >= length_) co_return 0;
    into = into.subspan(0, std::min<std::uint64_t>(into.size(), length_ - read_));
    auto n = co_await net::offload(ctx_.blocking, [&] { return reader_->read(offset_ + read_, into); });
    if (!n) co_return 0;  // logged by the store; the server ends the connection
    read_ += *n;
    co_return *n;
  }

 private:
  ApiContext& ctx_;
  std::unique_ptr<files::BlobReader> reader_;
  const std::uint64_t offset_;
  const std::uint64_t length_;
  std::uint64_t read_ = 0;
};

// A single "bytes=" range of a file of `size` bytes: [first, last], or nullopt for no usable
// Range (absent, several ranges, another unit: the whole file is sent), or {size, 0} when it
// cannot be satisfied.
struct ByteRange {
  std::uint64_t first = 0, last = 0;
  bool unsatisfiable = false;
};
std::optional<ByteRange> parse_range(std::string_view header, std::uint64_t size) {
  if (!header.starts_with("bytes=")) return std::nullopt;
  auto spec = header.substr(6);
  if (spec.find(',') != std::string_view::npos) return std::nullopt;
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  const auto a = spec.substr(0, dash), b = spec.substr(dash + 1);
  ByteRange r;
  if (a.empty()) {  // the last N bytes
    auto n = number(b);
    if (!n) return std::nullopt;
    if (*n == 0 || size == 0) return ByteRange{0, 0, true};
    r.first = size - std::min(*n, size);
    r.last = size - 1;
    return r;
  }
  auto first = number(a);
  if (!first) return std::nullopt;
  auto last = b.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : number(b);
  if (!last || *last < *first) return std::nullopt;  // invalid: ignored (RFC 9110 §14.2)
  if (*first >= size) return ByteRange{0, 0, true};
  r.first = *first;
  r.last = std::min(*last, size - 1);
  return r;
}

class FileRoutes {
 public:
  explicit FileRoutes(ApiContext& ctx) : ctx_(ctx), files_(*ctx.files) {}

  asio::awaitable<HttpResponse> upload(HttpRequest& req) {
    auto caller = authenticate(ctx_, req);
    if (!caller) co_return error_response(caller.error());
    const auto boundary = multipart_boundary(req.content_type);
    std::string name = query_param(req.query, "name").value_or("");
    if (!boundary && name.empty()) {
      co_return error_response(make_error(
          Errc::bad_request, "name the file (?name=…), or send multipart/form-data with a part named file"));
    }
    auto begun = co_await net::offload(ctx_.blocking, [&] { return files_.begin_upload(caller->user_id, name); });
    if (!begun) co_return error_response(begun.error());
    std::unique_ptr<FileService::Upload> upload = std::move(*begun);

    std::string chunk;
    chunk.reserve(kWriteChunk);
    std::optional<MultipartReader> multipart;
    if (boundary) multipart.emplace(*boundary, [&chunk](std::string_view bytes) { chunk.append(bytes); });
    std::array<char, 64 * 1024> piece{};
    for (;;) {
      const std::size_t n = co_await req.body_stream->read_some(piece);
      if (n == 0) break;
      const std::string_view bytes(piece.data(), n);
      if (multipart) {
        if (!multipart->feed(bytes)) co_return error_response(make_error(Errc::bad_request, multipart->error()));
      } else {
        chunk.append(bytes);
      }
      if (chunk.size() >= kWriteChunk) {
        auto written = co_await net::offload(ctx_.blocking, [&] { return upload->write(chunk); });
        if (!written) co_return error_response(written.error());
        chunk.clear();
      }
    }
    if (multipart && !multipart->finish()) {
      co_return error_response(make_error(Errc::bad_request, multipart->error()));
    }
    auto finished = co_await net::offload(ctx_.blocking, [&]() -> Result<chat::FileRecord> {
      if (!chunk.empty()) {
        if (auto s = upload->write(chunk); !s) return s.error();
      }
      if (multipart && name.empty()) upload->rename(multipart->filename());
      return upload->finish();
    });
    if (!finished) co_return error_response(finished.error());
    co_return json_response(201, json::object{{"file", file_json(*finished)}});
  }

  // GET /files/{id}: with a bearer token, or with the query of a signed URL.
  asio::awaitable<HttpResponse> download(HttpRequest& req) {
    const std::string& id = req.params[0];
    chat::UserId user = 0;
    if (auto sig = query_param(req.query, "sig")) {
      auto who = files_.verify_url(id, query_param(req.query, "user").value_or(""),
                                   query_param(req.query, "expires").value_or(""), *sig);
      if (!who) co_return error_response(who.error());
      user = *who;
    } else {
      auto caller = authenticate(ctx_, req);
      if (!caller) co_return error_response(caller.error());
      user = caller->user_id;
    }
    const auto thumb = query_param(req.query, "thumb");
    if (thumb && *thumb != "1" && *thumb != "0") {
      co_return error_response(make_error(Errc::bad_request, "thumb must be 1 or 0"));
    }
    const bool want_thumb = thumb == "1";
    // The file (or its thumbnail), and either a URL the storage serves it from or a reader.
    struct Opened {
      chat::FileRecord file;
      std::optional<std::string> url;
      std::unique_ptr<files::BlobReader> reader;
    };
    auto opened = co_await net::offload(ctx_.blocking, [&]() -> Result<Opened> {
      auto file = files_.readable(id, user);
      if (!file) return file.error();
      std::string key = file->storage_key;
      if (want_thumb) {
        auto thumb_key = files_.thumbnail(*file);
        if (!thumb_key) return thumb_key.error();
        key = std::move(*thumb_key);
        // The thumbnail is a JPEG of its own: its type, name and validator.
        file->mime = "image/jpeg";
        file->name += ".thumb.jpg";
        file->sha256 += "-thumb";
      }
      Opened out{std::move(*file), {}, {}};
      out.url = files_.blobs().download_url(key, files_.options().signed_url_ttl, out.file.mime,
                                            disposition_of(out.file));
      if (out.url) return out;
      auto reader = files_.blobs().open(key);
      if (!reader) return reader.error();
      out.reader = std::move(*reader);
      return out;
    });
    if (!opened) co_return error_response(opened.error());
    auto& file = opened->file;
    auto& reader = opened->reader;

    HttpResponse r;
    if (opened->url) {
      // Object storage serves the bytes itself, Range included, from a pre-signed URL.
      r.status = 302;
      r.content_type.clear();
      r.headers.emplace_back("Location", *opened->url);
      co_return r;
    }
    const std::string etag = "\"" + file.sha256 + "\"";
    r.headers.emplace_back("ETag", etag);
    r.headers.emplace_back("Cache-Control", "private, no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Content-Security-Policy", "sandbox; default-src 'none'");
    r.headers.emplace_back("Accept-Ranges", "bytes");
    r.headers.emplace_back("Content-Disposition", disposition_of(file));
    if (!req.if_none_match.empty() &&
        (req.if_none_match == etag || req.if_none_match == "*" ||
         req.if_none_match.find(etag) != std::string::npos)) {
      r.status = 304;
      r.content_type.clear();
      co_return r;
    }
    r.content_type = file.mime;
    const std::uint64_t size = reader->size();
    std::uint64_t first = 0, length = size;
    if (auto range = parse_range(req.range, size)) {
      if (range->unsatisfiable) {
        auto e = error_response(make_error(Errc::bad_request, "the range is past the end of the file"));
        e.status = 416;
        e.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
        co_return e;
      }
      r.status = 206;
      first = range->first;
      length = range->last - range->first + 1;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range->first) + "-" +
                                                  std::to_string(range->last) + "/" + std::to_string(size));
    }
    r.body_stream = std::make_shared<BlobBody>(ctx_, std::move(reader), first, length);
    co_return r;
  }

  // GET /files/{id}/url → {url, expires_at}: the caller must be able to read the file now.
  asio::awaitable<HttpResponse> signed_url(HttpRequest& req) {
    auto caller = authenticate(ctx_, req);
    if (!caller) co_return error_response(caller.error());
    const std::string& id = req.params[0];
    auto file = co_await net::offload(ctx_.blocking, [&] { return files_.readable(id, caller->user_id); });
    if (!file) co_return error_response(file.error());
    const auto url = files_.sign_url(id, caller->user_id);
    co_return json_response(200, json::object{{"url", url.url}, {"expires_at", format_rfc3339(url.expires_at)}});
  }

 private:
  ApiContext& ctx_;
  FileService& files_;
};

}  // namespace

void add_file_routes(net::Router& router, ApiContext& ctx) {
  if (!ctx.files) return;
  auto routes = std::make_shared<FileRoutes>(ctx);
  const auto max_upload = ctx.files->options().max_upload_bytes;
  router.add("POST", "/files", [routes](HttpRequest& req) { return routes->upload(req); },
             {.max_body_bytes = static_cast<std::size_t>(max_upload + kMultipartOverhead), .stream_body = true});
  router.add("GET", "/files/{}/url", [routes](HttpRequest& req) { return routes->signed_url(req); });
  router.add("GET", "/files/{}", [routes](HttpRequest& req) { return routes->download(req); });
}

}  // namespace parley::api
