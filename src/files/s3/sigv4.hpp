#pragma once
// AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing process"), the
// subset S3 needs: a request signed in its Authorization header, and a pre-signed URL (query
// signing). On OpenSSL's SHA-256 and HMAC-SHA-256. Checked against AWS's published examples
// (sigv4_test.cpp) and, for real, by the S3-compatible server of the integration tests.
//
// Pure functions; threads: any.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.hpp"
#include "core/url.hpp"

namespace parley::files::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region = "us-east-1";
  std::string service = "s3";
};

struct Request {
  std::string method;  // "GET", "PUT", …
  std::string path;    // as sent: each segment already uri_encode'd ("/bucket/a%20b")
  // Query parameters, not encoded (encoded and sorted when signing); a value may be empty.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, host included; names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  // The hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
};

std::string sha256_hex(std::string_view data);
// "20130524T000000Z" for a time in ms.
std::string amz_date(TimeMs at);

// The canonical request (step 1), for tests and error reports.
std::string canonical_request(const Request& request);
// The Authorization header value. The request's headers must include x-amz-date equal to
// `date` (and x-amz-content-sha256 for S3).
std::string authorization(const Credentials& credentials, const Request& request,
                          std::string_view date);
// The query string of a pre-signed URL (the request's own query parameters, then the X-Amz-*
// ones and X-Amz-Signature), valid for expires_seconds from `date`. Only the host header is
// signed.
std::string presigned_query(const Credentials& credentials, Request request, std::string_view date,
                            long expires_seconds);

}  // namespace parley::files::sigv4
