#include "files/s3/s3_blob_store.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/url.hpp"
#include "net/http_client.hpp"
#include "net/web_client.hpp"

namespace parley::files {

namespace {

Error storage_error(std::string_view op, std::string_view key, const S3BlobStore::Response& r) {
  log::error("event=file_storage_error op={} key={} status={} error=\"{}\"", op, key, r.status,
             r.status ? r.body.substr(0, 300) : r.error);
  return make_error(Errc::unavailable, "file storage error");
}

std::string xml_value(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  const auto a = xml.find(open);
  if (a == std::string_view::npos) return {};
  const auto b = xml.find(close, a + open.size());
  if (b == std::string_view::npos) return {};
  return std::string(xml.substr(a + open.size(), b - a - open.size()));
}

// "http://host:port" → host, port (net/web_client.hpp's URL parser).
std::pair<std::string, std::uint16_t> parse_endpoint(const std::string& endpoint) {
  const auto url = net::parse_web_url(endpoint);
  if (!url || url->tls) {
    throw std::invalid_argument("endpoint must be http://HOST:PORT (TLS: put a local proxy in front), got " + endpoint);
  }
  const int port = std::stoi(url->port);
  if (port <= 0 || port > 65535) throw std::invalid_argument("bad endpoint port in " + endpoint);
  return {url->host, static_cast<std::uint16_t>(port)};
}

class S3Writer final : public BlobWriter {
 public:
  S3Writer(S3BlobStore& store, std::string key) : store_(store), key_(std::move(key)) {}
  ~S3Writer() override {
    if (!committed_ && !upload_id_.empty()) {
      auto r = store_.call("DELETE", key_, {{"uploadId", upload_id_}}, {}, {});
      if (r.status != 204 && r.status != 200 && r.status != 404) {
        log::warn("event=s3_abort_failed key={} status={}", key_, r.status);
      }
    }
  }

  Status write(std::string_view piece) override {
    if (committed_) return make_error(Errc::internal, "write after commit");
    buffer_.append(piece);
    while (buffer_.size() >= store_.options().part_bytes) {
      if (auto s = upload_part(std::string_view(buffer_).substr(0, store_.options().part_bytes)); !s) return s;
      buffer_.erase(0, store_.options().part_bytes);
    }
    return ok_status();
  }

  Status commit() override {
    if (committed_) return make_error(Errc::internal, "committed twice");
    if (upload_id_.empty()) {
      auto r = store_.call("PUT", key_, {}, {}, buffer_);
      if (r.status != 200) return storage_error("put", key_, r);
    } else {
      if (!buffer_.empty()) {
        if (auto s = upload_part(buffer_); !s) return s;
      }
      std::string xml = "<CompleteMultipartUpload>";
      for (std::size_t i = 0; i < etags_.size(); ++i) {
        xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags_[i] +
               "</ETag></Part>";
      }
      xml += "</CompleteMultipartUpload>";
      auto r = store_.call("POST", key_, {{"uploadId", upload_id_}}, {}, xml);
      // A complete can fail inside a 200 (S3 sends the status first, then an <Error>).
      if (r.status != 200 || r.body.find("<Error>") != std::string::npos) {
        return storage_error("complete_multipart", key_, r);
      }
    }
    committed_ = true;
    buffer_.clear();
    return ok_status();
  }

 private:
  Status upload_part(std::string_view part) {
    if (upload_id_.empty()) {
      auto r = store_.call("POST", key_, {{"uploads", ""}}, {}, {});
      upload_id_ = r.status == 200 ? xml_value(r.body, "UploadId") : "";
      if (upload_id_.empty()) return storage_error("create_multipart", key_, r);
    }
    const auto number = std::to_string(etags_.size() + 1);
    auto r = store_.call("PUT", key_, {{"partNumber", number}, {"uploadId", upload_id_}}, {}, part);
    if (r.status != 200 || r.etag.empty()) return storage_error("upload_part", key_, r);
    etags_.push_back(r.etag);
    return ok_status();
  }

  S3BlobStore& store_;
  const std::string key_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  bool committed_ = false;
};

class S3Reader final : public BlobReader {
 public:
  S3Reader(S3BlobStore& store, std::string key, std::uint64_t size)
      : store_(store), key_(std::move(key)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<char> into) override {
    if (offset >= size_ || into.empty()) return std::size_t{0};
    const auto last = std::min<std::uint64_t>(size_, offset + into.size()) - 1;
    auto r = store_.call("GET", key_, {},
                         {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last)}}, {});
    if (r.status != 206 && r.status != 200) return storage_error("get", key_, r);
    const std::size_t n = std::min(r.body.size(), into.size());
    std::copy_n(r.body.data(), n, into.data());
    return n;
  }

 private:
  S3BlobStore& store_;
  const std::string key_;
  const std::uint64_t size_;
};

}  // namespace

S3Options parse_s3_url(const std::string& url) {
  if (!url.starts_with("s3://")) throw std::invalid_argument("not an s3:// URL: " + url);
  std::string rest = url.substr(5);
  const auto q = rest.find('?');
  const std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
  S3Options o;
  o.bucket = rest.substr(0, q);
  if (o.bucket.empty() || o.bucket.find('/') != std::string::npos) {
    throw std::invalid_argument("s3://BUCKET?endpoint=…: the bucket is missing or has a '/'");
  }
  const std::string endpoint = query_param(query, "endpoint").value_or("");
  if (endpoint.empty()) throw std::invalid_argument("s3://BUCKET needs ?endpoint=http://HOST:PORT");
  std::tie(o.endpoint_host, o.endpoint_port) = parse_endpoint(endpoint);
  o.public_base = query_param(query, "public_endpoint").value_or("");
  if (o.public_base.empty()) o.public_base = endpoint;
  while (!o.public_base.empty() && o.public_base.back() == '/') o.public_base.pop_back();
  if (auto region = query_param(query, "region"); region && !region->empty()) {
    o.credentials.region = *region;
  }
  const char* id = std::getenv("PARLEY_S3_ACCESS_KEY_ID");
  const char* secret = std::getenv("PARLEY_S3_SECRET_ACCESS_KEY");
  if (id && secret) {
    o.credentials.access_key_id = id;
    o.credentials.secret_access_key = secret;
  } else if (const char* file = std::getenv("PARLEY_S3_CREDENTIALS_FILE")) {
    std::ifstream in(file);
    if (!in) throw std::invalid_argument(std::string("cannot read PARLEY_S3_CREDENTIALS_FILE ") + file);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("access_key_id=")) o.credentials.access_key_id = line.substr(14);
      if (line.starts_with("secret_access_key=")) o.credentials.secret_access_key = line.substr(18);
    }
  }
  if (o.credentials.access_key_id.empty() || o.credentials.secret_access_key.empty()) {
    throw std::invalid_argument(
        "no S3 credentials: set PARLEY_S3_ACCESS_KEY_ID and PARLEY_S3_SECRET_ACCESS_KEY, or "
        "PARLEY_S3_CREDENTIALS_FILE");
  }
  return o;
}

S3BlobStore::S3BlobStore(S3Options options)
    : options_(std::move(options)),
      http_(std::make_unique<net::HttpClient>(options_.endpoint_host, options_.endpoint_port)) {
  auto head = call("HEAD", "", {}, {}, {});
  if (head.status == 404) {
    auto made = call("PUT", "", {}, {}, {});
    if (made.status != 200) {
      throw std::runtime_error("--files " + describe() + ": cannot create the bucket (status " +
                               std::to_string(made.status) + ")");
    }
    log::info("event=s3_bucket_created bucket={}", options_.bucket);
  } else if (head.status != 200) {
    throw std::runtime_error("--files " + describe() + ": the bucket cannot be reached (" +
                             (head.status ? "status " + std::to_string(head.status) : head.error) +
                             "; check the endpoint and the credentials)");
  }
}

S3BlobStore::~S3BlobStore() = default;

std::string S3BlobStore::describe() const {
  return "s3://" + options_.bucket + " at " + options_.endpoint_host + ":" +
         std::to_string(options_.endpoint_port);
}

std::string S3BlobStore::path_of(std::string_view key) const {
  std::string path = "/" + percent_encode(options_.bucket);
  if (!key.empty()) path += "/" + percent_encode(key, false);
  return path;
}

S3BlobStore::Response S3BlobStore::call(std::string_view method, std::string_view key,
                                        std::vector<std::pair<std::string, std::string>> query,
                                        std::vector<std::pair<std::string, std::string>> headers,
                                        std::string_view body) {
  const std::string date = sigv4::amz_date(SystemClock().now_ms());
  const std::string payload = sigv4::sha256_hex(body);
  headers.emplace_back("host", http_->host_header());
  headers.emplace_back("x-amz-date", date);
  headers.emplace_back("x-amz-content-sha256", payload);
  sigv4::Request req{std::string(method), path_of(key), query, headers, payload};
  headers.emplace_back("Authorization", sigv4::authorization(options_.credentials, req, date));
  std::string target = req.path;
  for (std::size_t i = 0; i < query.size(); ++i) {
    target += (i ? "&" : "?") + percent_encode(query[i].first) + "=" + percent_encode(query[i].second);
  }
  // The Host header is the client's own (the same value).
  headers.erase(std::remove_if(headers.begin(), headers.end(), [](const auto& h) { return h.first == "host"; }),
                headers.end());
  Response out;
  auto r = http_->send(method, target, headers, body, 256 << 20);
  if (!r) {
    out.error = r.error().message;
    return out;
  }
  out.status = r->status;
  out.body = std::move(r->body);
  out.etag = r->header("ETag");
  out.content_length = r->header("Content-Length");
  return out;
}

Result<std::unique_ptr<BlobWriter>> S3BlobStore::create(std::string_view key) {
  if (key.empty()) return make_error(Errc::bad_request, "invalid storage key");
  return std::unique_ptr<BlobWriter>(std::make_unique<S3Writer>(*this, std::string(key)));
}

Result<std::unique_ptr<BlobReader>> S3BlobStore::open(std::string_view key) {
  if (key.empty()) return make_error(Errc::not_found, "no such blob");
  auto r = call("HEAD", key, {}, {}, {});
  if (r.status == 404) return make_error(Errc::not_found, "no such blob");
  if (r.status != 200) return storage_error("head", key, r);
  const auto size = std::strtoull(r.content_length.c_str(), nullptr, 10);
  return std::unique_ptr<BlobReader>(std::make_unique<S3Reader>(*this, std::string(key), size));
}

Status S3BlobStore::remove(std::string_view key) {
  if (key.empty()) return ok_status();
  auto r = call("DELETE", key, {}, {}, {});
  if (r.status != 204 && r.status != 200 && r.status != 404) return storage_error("delete", key, r);
  return ok_status();
}

std::optional<std::string> S3BlobStore::download_url(std::string_view key, std::chrono::seconds ttl,
                                                     std::string_view content_type,
                                                     std::string_view content_disposition) {
  const std::string date = sigv4::amz_date(SystemClock().now_ms());
  std::string host = options_.public_base.substr(options_.public_base.find("://") + 3);
  sigv4::Request req{"GET", path_of(key),
                     {{"response-content-type", std::string(content_type)},
                      {"response-content-disposition", std::string(content_disposition)}},
                     {{"host", host}}, ""};
  return options_.public_base + req.path + "?" +
         sigv4::presigned_query(options_.credentials, req, date, static_cast<long>(ttl.count()));
}

}  // namespace parley::files
