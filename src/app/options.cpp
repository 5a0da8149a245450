#include "app/options.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <toml++/toml.h>

namespace parley::app {
namespace {

// Applies the settings of a TOML file to the options that neither a flag nor an environment
// variable has set (so the precedence is flag, then environment, then file). Keys are option
// names without the dashes: `listen = "0.0.0.0:8080"`, `allowed-origins = ["https://a.example"]`.
// Throws CLI::ValidationError naming the file and key on any problem (non-zero exit via CLI11).
// The `[oidc.NAME]` tables: one OpenID provider each (docs/operations.md, "Sign in with Google
// and OpenID Connect"). Throws CLI::ValidationError naming the file and key on any problem.
std::vector<OidcProviderConfig> oidc_providers(const toml::node& node, const std::string& path) {
  auto fail = [&path](const std::string& what) {
    throw CLI::ValidationError("--config", path + ": " + what);
  };
  const auto* tables = node.as_table();
  if (!tables) fail("oidc must be a table of providers ([oidc.google] …)");
  std::vector<OidcProviderConfig> out;
  for (auto&& [key, value] : *tables) {
    OidcProviderConfig p;
    p.name = std::string(key.str());
    const std::string where = "oidc." + p.name;
    if (p.name.empty() || p.name.size() > 32 ||
        p.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      fail(where + ": a provider's name is 1-32 of a-z, 0-9 and '-'");
    }
    const auto* t = value.as_table();
    if (!t) fail(where + " must be a table");
    auto text = [&](std::string_view field) -> std::string {
      const auto* v = t->get(field);
      if (!v) return {};
      if (auto s = v->value<std::string>()) return *s;
      fail(where + "." + std::string(field) + " must be a string");
      return {};
    };
    auto list = [&](std::string_view field, std::vector<std::string>& into) {
      const auto* v = t->get(field);
      if (!v) return;
      const auto* array = v->as_array();
      if (!array) fail(where + "." + std::string(field) + " must be an array of strings");
      into.clear();
      for (const auto& item : *array) {
        auto s = item.value<std::string>();
        if (!s) fail(where + "." + std::string(field) + " must be an array of strings");
        into.push_back(*s);
      }
    };
    for (auto&& [field, ignored] : *t) {
      static const std::vector<std::string_view> kFields{
          "issuer", "client_id", "client_secret_file", "client_secret_env", "display_name",
          "scopes", "algorithms", "link_by_email", "ca_file"};
      if (std::find(kFields.begin(), kFields.end(), field.str()) == kFields.end()) {
        fail(where + ": unknown setting '" + std::string(field.str()) +
             (field.str() == "client_secret"
                  ? "' (give the secret in a file or the environment: client_secret_file, "
                    "client_secret_env)"
                  : "'"));
      }
    }
    p.issuer = text("issuer");
    p.client_id = text("client_id");
    p.display_name = text("display_name");
    p.ca_file = text("ca_file");
    list("scopes", p.scopes);
    list("algorithms", p.algorithms);
    if (const auto* link = t->get("link_by_email")) {
      auto b = link->value<bool>();
      if (!b) fail(where + ".link_by_email must be true or false");
      p.link_by_email = *b;
    }
    const bool loopback = p.issuer.starts_with("http://127.") || p.issuer.starts_with("http://localhost");
    if (!p.issuer.starts_with("https://") && !loopback) {
      fail(where + ".issuer must be an https:// URL");
    }
    if (p.client_id.empty()) fail(where + ".client_id is required");
    if (std::find(p.scopes.begin(), p.scopes.end(), "openid") == p.scopes.end()) {
      fail(where + ".scopes must include openid");
    }
    if (p.algorithms.empty()) fail(where + ".algorithms must name RS256 and/or ES256");
    for (const auto& alg : p.algorithms) {
      if (alg != "RS256" && alg != "ES256") {
        fail(where + ".algorithms: " + alg + " is not allowed (RS256, ES256)");
      }
    }
    if (const auto file = text("client_secret_file"); !file.empty()) {
      std::ifstream in(file);
      if (!in) fail(where + ".client_secret_file: cannot read " + file);
      std::getline(in, p.client_secret);
    } else if (const auto env = text("client_secret_env"); !env.empty()) {
      const char* secret = std::getenv(env.c_str());
      if (!secret || !*secret) fail(where + ".client_secret_env: " + env + " is not set");
      p.client_secret = secret;
    }
    while (!p.client_secret.empty() && std::isspace(static_cast<unsigned char>(p.client_secret.back()))) {
      p.client_secret.pop_back();
    }
    out.push_back(std::move(p));
  }
  return out;
}

void apply_config_file(CLI::App& serve, const std::string& path, Config& config) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw CLI::ValidationError("--config", path + ": " + std::string(e.description()));
  }
  for (auto&& [key, node] : table) {
    std::string name(key.str());
    if (name == "oidc") {
      config.oidc_providers = oidc_providers(node, path);
      continue;
    }
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::Option* option = serve.get_option_no_throw("--" + name);
    if (!option || name == "config" || name == "help") {
      throw CLI::ValidationError("--config", path + ": unknown setting '" + name + "'");
    }
    if (option->count() > 0) continue;  // a flag or the environment said otherwise
    auto scalar = [&](const toml::node& n) -> std::string {
      if (auto s = n.value<std::string>()) return *s;
      if (n.is_integer() || n.is_floating_point() || n.is_boolean()) {
        std::ostringstream out;
        if (n.is_boolean()) {
          out << (*n.value<bool>() ? "true" : "false");
        } else if (n.is_integer()) {
          out << *n.value<std::int64_t>();
        } else {
          out << *n.value<double>();
        }
        return out.str();
      }
      throw CLI::ValidationError("--config", path + ": '" + name + "' must be a string or number");
    };
    if (const auto* array = node.as_array()) {
      for (const auto& item : *array) option->add_result(scalar(item));
    } else {
      option->add_result(scalar(node));
    }
    try {
      option->run_callback();
    } catch (const CLI::ParseError& e) {
      throw CLI::ValidationError("--config", path + ": " + name + ": " + e.what());
    }
  }
}

}  // namespace

std::optional<Invocation> parse_command_line(int argc, char** argv, int& exit_code) {
  Invocation inv;
  Config& c = inv.config;

  CLI::App app{"Parley — a real-time chat server (WebSocket, REST).\n"
               "Run `parley serve --help` for the server's options, `parley keys --help` for key "
               "management; docs/operations.md has more.",
               "parley"};
  app.require_subcommand(1);
  app.get_formatter()->column_width(44);

  auto* version = app.add_subcommand("version", "Print the version and exit");
  auto* serve = app.add_subcommand(
      "serve",
      "Run a Parley node. Every option can also be set by its PARLEY_* environment variable or\n"
      "in a TOML file given with --config (key = option name without dashes, e.g.\n"
      "listen = \"0.0.0.0:8080\"). Precedence: flag, then environment, then file.");
  std::string config_file;
  serve->add_option("--config", config_file, "TOML file with settings")->envname("PARLEY_CONFIG");

  auto opt = [&](const char* name, auto& field, const char* env, const char* help) {
    return serve->add_option(name, field, help)->envname(env)->capture_default_str();
  };
  opt("--listen", c.listen, "PARLEY_LISTEN", "HOST:PORT to listen on (port 0: any free port)");
  opt("--data-dir", c.data_dir, "PARLEY_DATA_DIR", "Directory for the database, files and keys");
  opt("--store", c.store, "PARLEY_STORE",
      "Store URL: sqlite:PATH (default sqlite:DATA_DIR/parley.db) or postgres://USER@HOST:PORT/DB");
  opt("--log", c.log, "PARLEY_LOG",
      "Message log: local (the store's writer thread), or kafka://HOST:PORT[,HOST:PORT…][/TOPIC]"
      "[?partitions=N&lanes=N&producer.NAME=V&consumer.NAME=V] (cluster: needs a postgres:// "
      "store and a redis:// bus; docs/operations.md, \"Kafka message log\")");
  opt("--log-commits", c.log_commits, "PARLEY_LOG_COMMITS",
      "Cluster: how the sequencer's PostgreSQL commits end: flushed (each waits for the WAL "
      "flush) or replayable (not: Kafka holds the records, and a replay after a PostgreSQL "
      "crash writes the same rows; docs/operations.md)")
      ->check(CLI::IsMember({"flushed", "replayable"}));
  opt("--bus", c.bus, "PARLEY_BUS", "Event bus between nodes: local");
  opt("--files", c.files, "PARLEY_FILES", "File storage: local:DIR (default local:DATA_DIR/files)");
  opt("--max-upload-bytes", c.max_upload_bytes, "PARLEY_MAX_UPLOAD_BYTES",
      "Largest file accepted by POST /files (larger: 413, nothing kept)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  opt("--upload-quota-bytes", c.upload_quota_bytes, "PARLEY_UPLOAD_QUOTA_BYTES",
      "Bytes of files one user may have stored (past it: 413 quota_exceeded)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 50));
  opt("--signed-url-ttl", c.signed_url_ttl_s, "PARLEY_SIGNED_URL_TTL",
      "Seconds a signed download URL (GET /files/ID/url) stays valid")
      ->check(CLI::Range(1u, 7u * 24 * 3600));
  opt("--orphan-upload-ttl", c.orphan_upload_ttl_s, "PARLEY_ORPHAN_UPLOAD_TTL",
      "Seconds an uploaded file never attached to a message is kept before it is deleted")
      ->check(CLI::Range(1u, 365u * 24 * 3600));
  opt("--thumbnail-max-side", c.thumbnail_max_side, "PARLEY_THUMBNAIL_MAX_SIDE",
      "Longest side of a thumbnail (GET /files/ID?thumb=1), pixels")
      ->check(CLI::Range(16u, 4096u));
  opt("--thumbnail-max-pixels", c.thumbnail_max_pixels, "PARLEY_THUMBNAIL_MAX_PIXELS",
      "Largest image (width x height) a thumbnail is made of; larger: 422")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  opt("--shards", c.shards, "PARLEY_SHARDS", "Network threads (0: one per core)")
      ->check(CLI::Range(0u, 256u));
  opt("--blocking-threads", c.blocking_threads, "PARLEY_BLOCKING_THREADS",
      "Threads for blocking work (database reads, password hashing)")
      ->check(CLI::Range(1u, 256u));
  opt("--sqlite-readers", c.sqlite_readers, "PARLEY_SQLITE_READERS", "SQLite read connections")
      ->check(CLI::Range(1u, 256u));
  opt("--sqlite-cache-mib", c.sqlite_cache_mib, "PARLEY_SQLITE_CACHE_MIB",
      "SQLite page cache of the connection moving messages into the database, MiB (hot pages "
      "of busy conversations); the inbox's read connection (duplicate checks) gets half")
      ->check(CLI::Range(1u, 65536u));
  opt("--inbox-max-unmoved-mib", c.inbox_max_unmoved_mib, "PARLEY_INBOX_MAX_UNMOVED_MIB",
      "Acknowledged messages waiting in memory to be moved into the database (SQLite), MiB of "
      "journal; past it sends fail with unavailable until the mover catches up")
      ->check(CLI::Range(1u, 65536u));
  opt("--max-payload-bytes", c.max_payload_bytes, "PARLEY_MAX_PAYLOAD_BYTES",
      "Largest HTTP body or WebSocket message accepted (larger: 413 / close 1009)")
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{64} << 20));
  opt("--max-message-bytes", c.max_message_bytes, "PARLEY_MAX_MESSAGE_BYTES",
      "Longest message body (text) accepted")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{16} << 20));
  opt("--max-envelope-bytes", c.max_envelope_bytes, "PARLEY_MAX_ENVELOPE_BYTES",
      "Longest body accepted in an end-to-end encrypted conversation (an envelope: the "
      "ciphertext and its key boxes). The request that carries it must also fit in "
      "--max-payload-bytes: raise both for large groups")
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{64} << 20));
  opt("--max-outbound-bytes", c.max_outbound_bytes, "PARLEY_MAX_OUTBOUND_BYTES",
      "Per-connection write queue bound (WebSocket, SSE, a Socket.IO polling session's waiting "
      "packets); past it a WebSocket is closed with 4008, an event stream or polling session "
      "ends, and the client resyncs")
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 30));
  opt("--idle-timeout", c.idle_timeout_s, "PARLEY_IDLE_TIMEOUT",
      "Seconds of silence before an HTTP connection closes or a WebSocket is pinged")
      ->check(CLI::Range(1u, 3600u));
  opt("--access-token-ttl", c.access_token_ttl_s, "PARLEY_ACCESS_TOKEN_TTL",
      "Lifetime of access tokens (JWT), seconds")
      ->check(CLI::Range(1u, 86400u));
  opt("--refresh-token-ttl", c.refresh_token_ttl_s, "PARLEY_REFRESH_TOKEN_TTL",
      "Refresh tokens expire after this many seconds unused")
      ->check(CLI::Range(60u, 365u * 86400u));
  opt("--token-secret", c.token_secret, "PARLEY_TOKEN_SECRET",
      "Key that signs access tokens, >= 32 bytes; every node of a cluster needs the same one "
      "(default: generated once into DATA_DIR/token.key)");
  opt("--master-key-file", c.master_key_file, "PARLEY_MASTER_KEY_FILE",
      "File holding the master key that wraps the data keys (32 bytes: 64 hex digits or base64); "
      "else the PARLEY_MASTER_KEY environment variable; else DATA_DIR/master.key, created on "
      "first start (embedded only: a postgres:// store needs one given, the same on every node)");
  opt("--encrypt-at-rest", c.encrypt_at_rest, "PARLEY_ENCRYPT_AT_REST",
      "Seal message bodies and attachments before they are stored or relayed (false: store new "
      "ones as they are; what was sealed still opens)");
  opt("--key-refresh-ms", c.key_refresh_ms, "PARLEY_KEY_REFRESH_MS",
      "How often a node reads the data keys `parley keys rotate` added and rewraps messages to "
      "the current one; a new key seals from 6 times this after it was added. The same on every "
      "node")
      ->check(CLI::Range(50u, 3600000u));
  opt("--reauth-grace-ms", c.reauth_grace_ms, "PARLEY_REAUTH_GRACE_MS",
      "A live connection whose access token expired gets a session event and this long to send "
      "a new token ({\"op\":\"auth\"}) before it is closed")
      ->check(CLI::Range(0u, 3600000u));
  opt("--trusted-proxies", c.trusted_proxies, "PARLEY_TRUSTED_PROXIES",
      "Addresses or CIDR blocks of reverse proxies whose X-Forwarded-For names the client "
      "(rate limits count per client address), e.g. 10.0.0.0/8,::1")
      ->delimiter(',');
  opt("--login-free-failures", c.login_free_failures, "PARLEY_LOGIN_FREE_FAILURES",
      "Failed logins from one address in 15 minutes before each further one locks it out for "
      "twice as long as the last (1 s up to 15 min); per account and address after half as "
      "many, per account after 10 times as many (0: no login limits)")
      ->check(CLI::Range(0u, 1000000u));
  opt("--register-limit", c.register_limit, "PARLEY_REGISTER_LIMIT",
      "Registrations per client address per hour (0: no limit)")
      ->check(CLI::Range(0u, 100000000u));
  opt("--refresh-limit", c.refresh_limit, "PARLEY_REFRESH_LIMIT",
      "Token refreshes per client address per minute (0: no limit)")
      ->check(CLI::Range(0u, 100000000u));
  opt("--sign-in-limit", c.sign_in_limit, "PARLEY_SIGN_IN_LIMIT",
      "OpenID Connect sign-ins started or completed per client address per minute (0: no limit)")
      ->check(CLI::Range(0u, 100000000u));
  opt("--encryption-limit", c.encryption_limit, "PARLEY_ENCRYPTION_LIMIT",
      "POST /encrypt and /decrypt calls per user per minute (0: no limit)")
      ->check(CLI::Range(0u, 100000000u));
  opt("--password-threads", c.password_threads, "PARLEY_PASSWORD_THREADS",
      "Threads that hash passwords (argon2id) for logins and registrations; a flood of logins "
      "takes these and no more (0: half the cores, at least 1)")
      ->check(CLI::Range(0u, 256u));
  opt("--password-queue", c.password_queue, "PARLEY_PASSWORD_QUEUE",
      "Logins and registrations that may wait for a password thread; past it they get 503 with "
      "Retry-After")
      ->check(CLI::Range(0u, 100000u));
  opt("--public-url", c.public_url, "PARLEY_PUBLIC_URL",
      "How browsers reach this node, e.g. https://chat.example.com: OpenID providers send "
      "users back under it (default http://LISTEN)");
  opt("--backend-login-secret", c.backend_login_secret, "PARLEY_BACKEND_LOGIN_SECRET",
      "Secret a trusted front end presents (Authorization: Bearer) to POST /api/auth/login "
      "without an ID token; >= 32 characters; prefer the environment variable (default: none, "
      "only verified ID tokens are accepted)");
  opt("--oidc-key-refetch", c.oidc_key_refetch_s, "PARLEY_OIDC_KEY_REFETCH",
      "An ID token signed with a key the node does not know makes it fetch the provider's keys "
      "again (a rotation), at most once per this many seconds")
      ->check(CLI::Range(1u, 86400u));
  opt("--vapid-key-file", c.vapid_key_file, "PARLEY_VAPID_KEY_FILE",
      "Web Push: the VAPID key (a PEM P-256 private key); default: made once into "
      "DATA_DIR/vapid.pem. A postgres:// store (a cluster) has Web Push off without it; give "
      "every node the same file");
  opt("--vapid-subject", c.vapid_subject, "PARLEY_VAPID_SUBJECT",
      "Web Push: how push services can reach the operator, a mailto: or https: URL");
  opt("--push-gateways", c.push_gateways, "PARLEY_PUSH_GATEWAYS",
      "Push: webhook gateway URLs a subscription may name (its URL must be one, or under one's "
      "path), e.g. "
      "https://push.example.com/_notify; none by default (webhook subscriptions are refused)")
      ->delimiter(',');
  opt("--web-push-services", c.web_push_services, "PARLEY_WEB_PUSH_SERVICES",
      "Push: the hosts of the push services browsers subscribe at (\"*.domain\" for its "
      "subdomains); Web Push endpoints elsewhere are refused")
      ->delimiter(',');
  opt("--push-coalesce-ms", c.push_coalesce_ms, "PARLEY_PUSH_COALESCE_MS",
      "Push: a member with no online session is notified this long after a message, one "
      "notification for everything that came meanwhile")
      ->check(CLI::Range(0u, 600000u));
  opt("--push-online-delay-ms", c.push_online_delay_ms, "PARLEY_PUSH_ONLINE_DELAY_MS",
      "Push: a member who is online is notified only if no session reported the message "
      "delivered within this long")
      ->check(CLI::Range(0u, 3600000u));
  opt("--push-previews", c.push_previews, "PARLEY_PUSH_PREVIEWS",
      "Push: notifications carry up to 100 characters of the message (never for end-to-end "
      "encrypted chats); false: only who wrote and how many");
  opt("--push-ttl", c.push_ttl_s, "PARLEY_PUSH_TTL",
      "Push: seconds a push service keeps a notification for an offline device; a push not "
      "sent by then (retries) is dropped")
      ->check(CLI::Range(0u, 2419200u));
  opt("--push-concurrency", c.push_concurrency, "PARLEY_PUSH_CONCURRENCY",
      "Push: notifications being sent at once by this node")
      ->check(CLI::Range(1u, 256u));
  opt("--push-per-service", c.push_per_service, "PARLEY_PUSH_PER_SERVICE",
      "Push: notifications being sent at once to one push service (one origin)")
      ->check(CLI::Range(1u, 256u));
  opt("--push-lease-ms", c.push_lease_ms, "PARLEY_PUSH_LEASE_MS",
      "Push: how long a node's claim on a pending push holds before another node may take it "
      "(a node that died); more than a send's 10 s timeout")
      ->check(CLI::Range(15000u, 3600000u));
  opt("--push-retry-ms", c.push_retry_first_ms, "PARLEY_PUSH_RETRY_MS",
      "Push: the first retry's delay after a 429/5xx or a timeout; it doubles (with jitter) up "
      "to 10 minutes, and is never earlier than the service's Retry-After")
      ->check(CLI::Range(10u, 600000u));
  opt("--push-max-subscriptions", c.push_max_subscriptions, "PARLEY_PUSH_MAX_SUBSCRIPTIONS",
      "Push: devices one user may have subscribed")
      ->check(CLI::Range(1u, 1000u));
  opt("--fcm-service-account", c.fcm_service_account, "PARLEY_FCM_SERVICE_ACCOUNT",
      "Push: a Firebase service account's JSON key file; with it, apps subscribe with FCM "
      "registration tokens (default: FCM off)");
  opt("--fcm-endpoint", c.fcm_endpoint, "PARLEY_FCM_ENDPOINT",
      "Push: the FCM HTTP v1 API's base URL");
  opt("--fcm-token-url", c.fcm_token_url, "PARLEY_FCM_TOKEN_URL",
      "Push: where FCM's OAuth access tokens come from (default: the service account's token_uri)");
  opt("--web-dir", c.web_dir, "PARLEY_WEB_DIR",
      "Serve the web client from this directory (a `vite build` output) instead of the copy "
      "built into the binary: for working on the client");
  opt("--allowed-origins", c.allowed_origins, "PARLEY_ALLOWED_ORIGINS",
      "Browser origins allowed to open /ws besides the server's own, e.g. "
      "https://chat.example.com; * allows any")
      ->delimiter(',');
  opt("--presence-grace-ms", c.presence_grace_ms, "PARLEY_PRESENCE_GRACE_MS",
      "A user whose last connection closed is announced offline only if still gone after this")
      ->check(CLI::Range(0u, 600000u));
  opt("--presence-heartbeat-ms", c.presence_heartbeat_ms, "PARLEY_PRESENCE_HEARTBEAT_MS",
      "How often a node refreshes its users' presence in Redis; a node silent for 3 times this "
      "counts as dead and its users go offline. The same on every node")
      ->check(CLI::Range(100u, 60000u));
  opt("--typing-interval-ms", c.typing_interval_ms, "PARLEY_TYPING_INTERVAL_MS",
      "At most one typing event per conversation per connection in this interval")
      ->check(CLI::Range(0u, 60000u));
  opt("--sse-heartbeat-ms", c.sse_heartbeat_ms, "PARLEY_SSE_HEARTBEAT_MS",
      "A comment line on every server-sent event stream this often, so proxies keep it open")
      ->check(CLI::Range(100u, 3600000u));
  opt("--eio-ping-interval", c.eio_ping_interval_ms, "PARLEY_EIO_PING_INTERVAL",
      "Socket.IO: milliseconds between the server's Engine.IO pings")
      ->check(CLI::Range(100u, 600000u));
  opt("--eio-ping-timeout", c.eio_ping_timeout_ms, "PARLEY_EIO_PING_TIMEOUT",
      "Socket.IO: milliseconds a client has to answer a ping before its connection closes")
      ->check(CLI::Range(100u, 600000u));
  opt("--eio-max-payload", c.eio_max_payload, "PARLEY_EIO_MAX_PAYLOAD",
      "Socket.IO: the largest Engine.IO message a client may send, in bytes (the open packet's "
      "maxPayload); past it a WebSocket closes and a long-polling POST gets 413")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20));
  opt("--sio-connect-timeout", c.sio_connect_timeout_ms, "PARLEY_SIO_CONNECT_TIMEOUT",
      "Socket.IO: milliseconds a new connection has to CONNECT to a namespace before it closes")
      ->check(CLI::Range(100u, 600000u));
  serve
      ->add_flag("--protocol-test", c.protocol_test,
                 "Serve the official Engine.IO and Socket.IO test suites' echo servers at "
                 "/engine.io/ and /socket.io/ instead of chat over Socket.IO (loopback --listen "
                 "only; docs/operations.md)")
      ->envname("PARLEY_PROTOCOL_TEST");
  opt("--poll-max-bytes", c.poll_max_bytes, "PARLEY_POLL_MAX_BYTES",
      "Most bytes of events in one long-poll answer; the rest waits for the next poll "
      "(\"more\": true)")
      ->check(CLI::Range(4096u, 64u << 20));
  opt("--stream-replay-max", c.stream_replay_max_messages, "PARLEY_STREAM_REPLAY_MAX",
      "Most messages an SSE or long-poll reconnect replays from its cursor; further behind, "
      "the client gets resync and runs sync")
      ->check(CLI::Range(1u, 1000000u));
  opt("--group-commit-max-batch", c.group_commit_max_batch, "PARLEY_GROUP_COMMIT_MAX_BATCH",
      "Most messages committed in one transaction")
      ->check(CLI::Range(1u, 100000u));
  opt("--group-commit-max-delay-us", c.group_commit_max_delay_us,
      "PARLEY_GROUP_COMMIT_MAX_DELAY_US",
      "Microseconds the writer waits for more messages before committing: fewer fsyncs for "
      "a little latency (0: commit at once)")
      ->check(CLI::Range(0u, 100000u));
  opt("--log-level", c.log_level, "PARLEY_LOG_LEVEL", "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  opt("--drain-timeout", c.drain_timeout_s, "PARLEY_DRAIN_TIMEOUT",
      "Seconds SIGTERM waits for connections to finish before exiting")
      ->check(CLI::Range(0u, 600u));

  auto* keys = app.add_subcommand(
      "keys",
      "Manage the data keys that seal messages at rest (docs/security.md, \"Key management\"). "
      "Takes the store and master key options of `parley serve`; runs beside a serving node.");
  keys->require_subcommand(1);
  auto* keys_status = keys->add_subcommand("status", "List the data keys and which one seals");
  auto* keys_rotate = keys->add_subcommand(
      "rotate", "Add a new data key: it seals new data once every node has it; old keys keep "
                "opening, and messages are rewrapped to it in the background");
  for (auto* command : {keys_status, keys_rotate}) {
    command->add_option("--data-dir", c.data_dir, "Directory for the database and keys")
        ->envname("PARLEY_DATA_DIR")
        ->capture_default_str();
    command->add_option("--store", c.store, "Store URL, as for parley serve")
        ->envname("PARLEY_STORE");
    command->add_option("--master-key-file", c.master_key_file, "Master key file, as for serve")
        ->envname("PARLEY_MASTER_KEY_FILE");
    command->add_option("--key-refresh-ms", c.key_refresh_ms, "As for parley serve")
        ->envname("PARLEY_KEY_REFRESH_MS")
        ->capture_default_str();
  }

  try {
    app.parse(argc, argv);
    if (!config_file.empty()) apply_config_file(*serve, config_file, c);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  inv.command = version->parsed()       ? Command::version
                : keys_status->parsed() ? Command::keys_status
                : keys_rotate->parsed() ? Command::keys_rotate
                                        : Command::serve;
  return inv;
}

}  // namespace parley::app
