#include "app/keys.hpp"

#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/config_error.hpp"
#include "auth/base64.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "crypto/key_manager.hpp"
#include "store/postgres/postgres_key_catalog.hpp"
#include "store/sqlite/sqlite_key_catalog.hpp"

namespace parley::app {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A secret kept in the data directory: read when it exists, else made by `make` and written
// 0600 (through a temporary file renamed into place, so a crash leaves no half-written key).
template <class Make>
std::string read_or_create_secret(const fs::path& path, Make make) {
  if (fs::exists(path)) return read_file(path);
  const std::string secret = make();
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << secret << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
  return secret + "\n";
}

crypto::SecretKey parse_or_throw(std::string_view text, const std::string& source) {
  auto key = crypto::parse_master_key(text);
  if (!key) throw ConfigError(source + ": " + key.error().message);
  return *key;
}

}  // namespace

std::chrono::milliseconds key_activation(const Config& c) {
  return 6 * std::chrono::milliseconds(c.key_refresh_ms);
}

crypto::SecretKey load_master_key(const Config& c) {
  if (!c.master_key_file.empty()) {
    struct stat st {};
    if (::stat(c.master_key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      log::warn("event=master_key_file_readable path={} mode={:o} hint=\"chmod 600 it\"",
                c.master_key_file, st.st_mode & 0777);
    }
    return parse_or_throw(read_file(c.master_key_file), "--master-key-file " + c.master_key_file);
  }
  if (const char* env = std::getenv("PARLEY_MASTER_KEY"); env && *env) {
    return parse_or_throw(env, "PARLEY_MASTER_KEY");
  }
  if (is_postgres_url(c.store)) {
    throw ConfigError(
        "a postgres:// store needs the master key given explicitly, the same on every node: "
        "--master-key-file PATH or PARLEY_MASTER_KEY (docs/security.md, \"Key management\")");
  }
  fs::create_directories(c.data_dir);
  const auto path = fs::path(c.data_dir) / "master.key";
  return parse_or_throw(
      read_or_create_secret(path,
                            [] { return crypto::format_master_key(crypto::SecretKey::random()); }),
      path.string());
}

std::optional<push::VapidKey> load_vapid_key(const Config& c) {
  if (!c.vapid_key_file.empty()) {
    auto key = push::VapidKey::from_pem(read_file(c.vapid_key_file));
    if (!key) throw ConfigError("--vapid-key-file " + c.vapid_key_file + ": " + key.error().message);
    return std::move(*key);
  }
  if (c.store.starts_with("postgres")) {
    log::info("event=web_push_off reason=\"a postgres:// store needs --vapid-key-file, the same on every node\"");
    return std::nullopt;
  }
  const auto path = fs::path(c.data_dir) / "vapid.pem";
  const std::string pem = read_or_create_secret(path, [] {
    auto made = push::VapidKey::generate();
    if (!made) throw std::runtime_error(made.error().message);
    std::string text = made->to_pem();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  });
  auto key = push::VapidKey::from_pem(pem);
  if (!key) throw ConfigError(path.string() + ": " + key.error().message + "; delete it to make a new one");
  return std::move(*key);
}

std::string load_token_secret(const Config& c) {
  if (!c.token_secret.empty()) {
    if (c.token_secret.size() < 32) throw ConfigError("--token-secret must be at least 32 bytes");
    return c.token_secret;
  }
  const auto path = fs::path(c.data_dir) / "token.key";
  std::string secret = read_or_create_secret(
      path, [] { return auth::base64url_encode(secure_random_bytes(32)); });
  secret = secret.substr(0, secret.find('\n'));
  if (secret.size() < 32) throw std::runtime_error(path.string() + " is too short; delete it");
  return secret;
}

std::unique_ptr<KeyCatalog> open_key_catalog(const Config& c) {
  if (is_postgres_url(c.store)) return std::make_unique<PostgresKeyCatalog>(c.store);
  const std::string path = sqlite_path(c);
  if (auto parent = fs::path(path).parent_path(); !parent.empty()) fs::create_directories(parent);
  return std::make_unique<SqliteKeyCatalog>(path);
}

namespace {
constexpr std::string_view kTokenKeyPurpose = "access token signing";

std::string secret_of(const crypto::SecretKey& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), crypto::kKeyBytes);
}
}  // namespace

auth::SigningKeys::Key DataKeySigningKeys::current() const {
  const auto id = keys_.current();
  auto key = keys_.derive(id, kTokenKeyPurpose);
  if (!key) throw std::logic_error("DataKeySigningKeys: the keyring has no current data key");
  return {"k" + std::to_string(id), secret_of(*key)};
}

std::optional<std::string> DataKeySigningKeys::find(std::string_view kid) const {
  std::uint32_t id = 0;
  if (kid.size() < 2 || kid[0] != 'k') return std::nullopt;
  const auto [end, ec] = std::from_chars(kid.data() + 1, kid.data() + kid.size(), id);
  if (ec != std::errc() || end != kid.data() + kid.size()) return std::nullopt;
  auto key = keys_.derive(id, kTokenKeyPurpose);
  if (!key) return std::nullopt;
  return secret_of(*key);
}

int run_keys_command(const Config& c, KeysAction action) {
  try {
    auto master = load_master_key(c);
    auto catalog = open_key_catalog(c);
    SystemClock clock;
    crypto::KeyManager keys(*catalog, master, clock, key_activation(c));
    if (auto s = keys.load(false); !s) {
      std::fprintf(stderr, "parley keys: %s\n", s.error().message.c_str());
      return 1;
    }
    if (action == KeysAction::rotate) {
      auto id = keys.rotate();
      if (!id) {
        std::fprintf(stderr, "parley keys rotate: %s\n", id.error().message.c_str());
        return 1;
      }
      std::printf(
          "data key %u added. Every node opens with it after its next key refresh (every %u ms) "
          "and seals with it from %s on; older keys keep opening what they sealed, and each node "
          "rewraps those messages to the current key in the background.\n",
          *id, c.key_refresh_ms,
          format_rfc3339(clock.now_ms() + key_activation(c).count()).c_str());
      return 0;
    }
    auto stored = keys.stored();
    if (!stored) {
      std::fprintf(stderr, "parley keys status: %s\n", stored.error().message.c_str());
      return 1;
    }
    std::printf("master key fingerprint %s\n", master.fingerprint().c_str());
    if (stored->empty()) {
      std::printf("no data keys yet: the first start of `parley serve` creates key 1\n");
      return 0;
    }
    std::printf("%-6s %-26s %s\n", "id", "created", "state");
    for (const auto& k : *stored) {
      const char* state = k.id == keys.data_keys().current() ? "current (seals new data)"
                          : k.id > keys.data_keys().current() ? "new (seals once every node has it)"
                                                              : "opens older data";
      std::printf("%-6u %-26s %s\n", k.id, format_rfc3339(k.created_at).c_str(), state);
    }
    auto rewrapped = catalog->value("rewrap_done");
    if (rewrapped && *rewrapped) {
      std::printf("every message and file was resealed with key %s\n", (*rewrapped)->c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley keys: %s\n", e.what());
    return 2;
  }
}

}  // namespace parley::app
