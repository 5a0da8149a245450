#pragma once
// A fresh PostgreSQL schema for one test, dropped with everything in it afterwards.
//
// The server is the one PARLEY_TEST_POSTGRES names (a libpq URL; scripts/run-tests starts it
// with scripts/services and sets the variable, so `make test` always runs these tests). url()
// is that URL with search_path set to the schema: a store opened on it sees only this test's
// tables.
#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <unistd.h>

#include "store/postgres/pg.hpp"

namespace parley::testing {

inline std::optional<std::string> test_postgres_url() {
  const char* url = std::getenv("PARLEY_TEST_POSTGRES");
  if (!url || !*url) return std::nullopt;
  return std::string(url);
}

class PgSchema {
 public:
  explicit PgSchema(const std::string& server_url) : admin_(server_url) {
    static std::atomic<int> counter{0};
    name_ = "test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    admin_.exec_script("DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
    url_ = server_url + (server_url.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + name_;
  }
  ~PgSchema() { admin_.exec_script("DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  PgSchema(const PgSchema&) = delete;
  PgSchema& operator=(const PgSchema&) = delete;

  const std::string& url() const { return url_; }

 private:
  pg::Connection admin_;
  std::string name_;
  std::string url_;
};

}  // namespace parley::testing
