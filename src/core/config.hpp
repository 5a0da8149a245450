#pragma once
// Config: every setting of `parley serve`, with its default. Filled by app/options.cpp from
// flags, PARLEY_* environment variables and an optional TOML file (in that order of precedence);
// documented by `parley serve --help` and docs/operations.md. Plain data.

#include <cstdint>
#include <string>
#include <vector>

namespace parley {

// One OpenID Connect provider (docs/operations.md, "Sign in with Google and OpenID Connect"):
// a `[oidc.NAME]` table of the --config file.
struct OidcProviderConfig {
  std::string name;          // the table's key: in URLs (/auth/oidc/NAME/…) and in sessions
  std::string display_name;  // for a login page's button (GET /auth/providers)
  std::string issuer;        // https://accounts.google.com; discovery is under it
  std::string client_id;
  std::string client_secret;  // read from client_secret_file or client_secret_env; "" public
  std::vector<std::string> scopes{"openid", "email", "profile"};
  std::vector<std::string> algorithms{"RS256"};  // the ID token's signature: RS256, ES256
  bool link_by_email = false;  // a verified email signs in the account that has it
  std::string ca_file;         // PEM CAs to trust for this provider instead of the system's
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string store;            // default: sqlite:<data_dir>/parley.db
  std::string log = "local";    // message log backend
  std::string bus = "local";    // cross-node fan-out backend
  // How the cluster's sequencer commits what it read from Kafka (PostgresStore::LogCommits).
  std::string log_commits = "flushed";
  std::string files;            // default: local:<data_dir>/files
  std::string web_dir;          // the web client from this directory instead of the embedded one
  // Web Push (push/web_push.hpp): the application server's key (default: made once into
  // DATA_DIR/vapid.pem; a cluster shares one file) and who to contact about it.
  std::string vapid_key_file;
  std::string vapid_subject = "mailto:admin@localhost";
  // Push notifications (service/push_dispatcher.hpp, docs/operations.md "Push notifications").
  std::vector<std::string> push_gateways;  // webhook gateway URLs subscriptions may name
  // The push services' hosts Web Push endpoints may be at ("*.domain": its subdomains).
  std::vector<std::string> web_push_services = {"fcm.googleapis.com", "updates.push.services.mozilla.com",
                                                "*.push.apple.com", "*.notify.windows.com"};
  unsigned push_coalesce_ms = 1000;         // an offline member's burst gathers this long
  unsigned push_online_delay_ms = 5000;     // an online member's sessions have this long first
  bool push_previews = true;                // message text in notifications (never for e2ee)
  unsigned push_ttl_s = 24 * 3600;          // a push not sent by then is dropped
  unsigned push_concurrency = 4;            // sends at once
  unsigned push_per_service = 4;            // sends at once to one push service
  unsigned push_lease_ms = 60000;           // a node's claim on a burst or job, in a cluster
  unsigned push_retry_first_ms = 1000;      // first retry's delay; doubles, with jitter
  unsigned push_max_subscriptions = 20;     // per user
  std::string fcm_service_account;  // FCM: the service account's JSON key file ("": FCM off)
  std::string fcm_endpoint = "https://fcm.googleapis.com";
  std::string fcm_token_url;        // default: the account's token_uri
  std::uint64_t max_upload_bytes = 100ull << 20;
  std::uint64_t upload_quota_bytes = 10ull << 30;
  unsigned signed_url_ttl_s = 300;
  unsigned orphan_upload_ttl_s = 24 * 3600;
  unsigned thumbnail_max_side = 320;
  std::uint64_t thumbnail_max_pixels = 50'000'000;
  unsigned shards = 0;          // 0: one per core
  unsigned blocking_threads = 4;
  unsigned sqlite_readers = 4;
  unsigned sqlite_cache_mib = 32;
  unsigned inbox_max_unmoved_mib = 256;

  std::uint64_t max_payload_bytes = 64 * 1024;
  std::uint64_t max_outbound_bytes = 1024 * 1024;
  std::uint64_t max_message_bytes = 16 * 1024;
  std::uint64_t max_envelope_bytes = 48 * 1024;  // end-to-end encrypted bodies
  unsigned idle_timeout_s = 60;

  unsigned access_token_ttl_s = 15 * 60;
  unsigned refresh_token_ttl_s = 30 * 24 * 3600;
  std::string token_secret;     // default: generated once into <data_dir>/token.key
  // Encryption at rest (docs/security.md). The master key: this file, else PARLEY_MASTER_KEY
  // (read from the environment only, never a flag), else <data_dir>/master.key (embedded only).
  std::string master_key_file;
  bool encrypt_at_rest = true;
  unsigned key_refresh_ms = 10000;  // how often a node looks for rotated keys
  std::vector<std::string> allowed_origins;

  // Accounts (docs/operations.md, "Rate limits" and "Sessions").
  unsigned reauth_grace_ms = 30000;   // a live session's time to renew an expired token
  std::vector<std::string> trusted_proxies;  // whose X-Forwarded-For is believed
  unsigned login_free_failures = 10;  // per client address, before the back-off; 0: no limits
  unsigned register_limit = 30;       // registrations per client address per hour; 0: none
  unsigned refresh_limit = 60;        // refreshes per client address per minute; 0: none
  unsigned sign_in_limit = 30;        // OpenID sign-ins per client address per minute; 0: none
  unsigned encryption_limit = 600;    // /encrypt + /decrypt per user per minute; 0: none
  unsigned password_threads = 0;      // password hashing threads; 0: half the cores, at least 1
  unsigned password_queue = 64;       // sign-ins waiting for them, past which: 503
  // OpenID Connect and the backend login (docs/operations.md).
  std::vector<OidcProviderConfig> oidc_providers;
  std::string public_url;  // how browsers reach this node; default http://LISTEN
  std::string backend_login_secret;  // POST /api/auth/login's server-to-server secret; "" none
  unsigned oidc_key_refetch_s = 60;  // an unknown kid fetches a provider's keys at most this often

  unsigned presence_grace_ms = 3000;
  unsigned presence_heartbeat_ms = 10000;
  unsigned typing_interval_ms = 1000;

  // Event streams (docs/protocol.md, "Server-sent events" and "Long-poll").
  unsigned sse_heartbeat_ms = 15000;
  unsigned eio_ping_interval_ms = 25000;  // Socket.IO (Engine.IO v4) heartbeat
  unsigned eio_ping_timeout_ms = 20000;
  std::size_t eio_max_payload = 1000000;
  unsigned sio_connect_timeout_ms = 45000;
  bool protocol_test = false;  // the official suites' echo servers (loopback only)
  unsigned poll_max_bytes = 256 * 1024;
  unsigned stream_replay_max_messages = 1000;

  unsigned group_commit_max_batch = 1024;
  unsigned group_commit_max_delay_us = 500;

  std::string log_level = "info";
  unsigned drain_timeout_s = 10;
};

}  // namespace parley
