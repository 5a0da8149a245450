#include "files/s3/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace parley::files::sigv4 {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* data, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Header values: leading and trailing spaces trimmed, inner runs of spaces made one.
std::string trim_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string canonical_query(const Request& r) {
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : r.query) q.emplace_back(percent_encode(k), percent_encode(v));
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

// "host;x-amz-date" and the canonical header lines, names lowercase and sorted.
std::pair<std::string, std::string> canonical_headers(const Request& r) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : r.headers) h.emplace_back(lower(k), trim_value(v));
  std::sort(h.begin(), h.end());
  std::string names, lines;
  for (const auto& [k, v] : h) {
    if (!names.empty()) names += ';';
    names += k;
    lines += k + ":" + v + "\n";
  }
  return {names, lines};
}

std::string scope(const Credentials& c, std::string_view date) {
  return std::string(date.substr(0, 8)) + "/" + c.region + "/" + c.service + "/aws4_request";
}

std::string signature(const Credentials& c, const Request& r, std::string_view date) {
  const std::string to_sign = "AWS4-HMAC-SHA256\n" + std::string(date) + "\n" + scope(c, date) +
                              "\n" + sha256_hex(canonical_request(r));
  std::string key = hmac("AWS4" + c.secret_access_key, date.substr(0, 8));
  key = hmac(key, c.region);
  key = hmac(key, c.service);
  key = hmac(key, "aws4_request");
  const std::string mac = hmac(key, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return hex(out, len);
}

std::string amz_date(TimeMs at) {
  const std::time_t seconds = at / 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_request(const Request& r) {
  const auto [names, lines] = canonical_headers(r);
  return r.method + "\n" + r.path + "\n" + canonical_query(r) + "\n" + lines + "\n" + names + "\n" +
         r.payload_hash;
}

std::string authorization(const Credentials& c, const Request& r, std::string_view date) {
  return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + scope(c, date) +
         ",SignedHeaders=" + canonical_headers(r).first + ",Signature=" + signature(c, r, date);
}

std::string presigned_query(const Credentials& c, Request r, std::string_view date,
                            long expires_seconds) {
  r.payload_hash = "UNSIGNED-PAYLOAD";
  r.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  r.query.emplace_back("X-Amz-Credential", c.access_key_id + "/" + scope(c, date));
  r.query.emplace_back("X-Amz-Date", std::string(date));
  r.query.emplace_back("X-Amz-Expires", std::to_string(expires_seconds));
  r.query.emplace_back("X-Amz-SignedHeaders", canonical_headers(r).first);
  const std::string sig = signature(c, r, date);
  return canonical_query(r) + "&X-Amz-Signature=" + sig;
}

}  // namespace parley::files::sigv4
