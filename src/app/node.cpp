#include "app/node.hpp"

#include <signal.h>
#include <sys/resource.h>

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "api/event_stream.hpp"
#include "api/auth/sign_in_routes.hpp"
#include "api/files/file_routes.hpp"
#include "api/housekeeping.hpp"
#include "api/hub.hpp"
#include "api/request_context.hpp"
#include "api/rest_routes.hpp"
#include "api/socketio/socketio_routes.hpp"
#include "api/push/push_routes.hpp"
#include "api/web/web_routes.hpp"
#include "api/ws_protocol.hpp"
#include "auth/base64.hpp"
#include "auth/digest.hpp"
#include "auth/tokens.hpp"
#include "bus/local/local_bus.hpp"
#include "bus/redis/redis_bus.hpp"
#include "api/codec.hpp"
#include "app/config_error.hpp"
#include "app/keys.hpp"
#include "core/allocator.hpp"
#include "core/failures.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"
#include "files/local_blob_store.hpp"
#include "files/s3/s3_blob_store.hpp"
#include "log/kafka/kafka_log.hpp"
#include "log/local/local_log.hpp"
#include "net/http_server.hpp"
#include "net/shards.hpp"
#include "presence/local/local_presence.hpp"
#include "presence/redis/redis_presence.hpp"
#include "ratelimit/local/local_rate_limiter.hpp"
#include "ratelimit/redis/redis_rate_limiter.hpp"
#include "service/chat_service.hpp"
#include "service/file_service.hpp"
#include "service/key_directory.hpp"
#include "service/oidc_sign_in.hpp"
#include "service/push_dispatcher.hpp"
#include "service/push_subscriptions.hpp"
#include "push/web_push_sender.hpp"
#include "push/fcm_sender.hpp"
#include "push/webhook_sender.hpp"
#include "service/rewrap.hpp"
#include "crypto/key_manager.hpp"
#include "crypto/message_sealer.hpp"
#include "crypto/sealed_blob_store.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::app {

namespace fs = std::filesystem;

namespace {

std::pair<std::string, std::uint16_t> split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw ConfigError("--listen must be HOST:PORT, got " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) throw ConfigError("--listen has an invalid port: " + listen);
  return {host, static_cast<std::uint16_t>(port)};
}

// The store --store names, and how to log it (never a password).
struct OpenedStore {
  std::unique_ptr<Store> store;
  AccountCatalog* accounts = nullptr;  // the same object in its login-session role
  FileCatalog* files = nullptr;  // in its file-catalog role
  DeviceCatalog* devices = nullptr;  // and in its key-directory role
  PushCatalog* push = nullptr;  // and in its push-notification role
  std::string description;
};

// A backend URL parsed by `parse` (which throws std::invalid_argument), or a ConfigError that
// names the option.
template <class Parse>
auto parse_backend_url(Parse parse, const std::string& url, const char* option) {
  try {
    return parse(url);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(option) + ": " + e.what());
  }
}

unsigned password_threads(const Config& c) {
  if (c.password_threads) return c.password_threads;
  return std::max(1u, std::thread::hardware_concurrency() / 2);
}

// `writers`: the threads that commit messages — the embedded writer, or the cluster
// sequencer's lanes.
OpenedStore open_store(const Config& c, int writers) {
  if (is_postgres_url(c.store)) {
    // One connection per blocking and password thread, plus one per message writer.
    const int pool = static_cast<int>(c.blocking_threads + password_threads(c)) + writers;
    auto store = std::make_unique<PostgresStore>(c.store, pool,
                                                 c.log_commits == "replayable"
                                                     ? PostgresStore::LogCommits::replayable
                                                     : PostgresStore::LogCommits::flushed);
    AccountCatalog* accounts = store.get();
    FileCatalog* files = store.get();
    DeviceCatalog* devices = store.get();
    PushCatalog* push = store.get();
    return {std::move(store), accounts, files, devices, push, "postgres:" + pg::describe(c.store)};
  }
  const std::string path = sqlite_path(c);
  if (auto parent = fs::path(path).parent_path(); !parent.empty()) fs::create_directories(parent);
  auto store = std::make_unique<SqliteStore>(path, static_cast<int>(c.sqlite_readers),
                                             static_cast<int>(c.sqlite_cache_mib),
                                             static_cast<int>(c.inbox_max_unmoved_mib));
  AccountCatalog* accounts = store.get();
  FileCatalog* files = store.get();
  DeviceCatalog* devices = store.get();
  PushCatalog* push = store.get();
  return {std::move(store), accounts, files, devices, push, "sqlite:" + path};
}

// File storage, chosen by the --files URL's scheme: a local directory (the default under the data
// directory) or S3-compatible object storage.
std::unique_ptr<files::BlobStore> open_blob_store(const Config& c) {
  if (c.files.starts_with("s3://")) {
    return std::make_unique<files::S3BlobStore>(
        parse_backend_url(files::parse_s3_url, c.files, "--files"));
  }
  return std::make_unique<files::LocalBlobStore>(
      c.files.empty() ? (fs::path(c.data_dir) / "files").string() : c.files.substr(6));
}

// The limits of api/throttle.hpp from the flags. Login: login_free_failures per address, half as
// many per (account, address), ten times as many per account.
void configure_throttle(const Config& c, api::ThrottleOptions& t) {
  using namespace std::chrono;
  const std::int64_t free = c.login_free_failures;
  t.login_per_address.free_failures = free;
  t.login_per_account_address.free_failures = free == 0 ? 0 : std::max<std::int64_t>(1, free / 2);
  t.login_per_account.free_failures = free * 10;
  t.registration_per_address.limit = c.register_limit;
  t.refresh_per_address.limit = c.refresh_limit;
  t.sign_in_per_address.limit = c.sign_in_limit;
  t.encryption_per_user.limit = c.encryption_limit;
  auto trusted = api::parse_trusted_proxies(c.trusted_proxies);
  if (!trusted) throw ConfigError(trusted.error().message);
  t.trusted_proxies = std::move(*trusted);
}

int wait_for_shutdown_signal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

}  // namespace

int run_node(const Config& c) {
  // Block the shutdown signals in every thread (they inherit the mask); the main thread takes
  // them with sigwait, outside any signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  tune_allocator();
  const std::string& allocator = allocator_name();  // /metrics and the start line say which
  // Every connection is a file descriptor: use all the kernel allows this process.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  try {
    const auto [host, port] = split_listen(c.listen);
    if (c.protocol_test && !host.starts_with("127.") && host != "::1" &&
        host != "localhost") {
      // Its echo servers answer anyone without a token: never on a reachable address.
      throw ConfigError("--protocol-test listens on loopback only (127.0.0.0/8, ::1), "
                        "got " + c.listen);
    }
    if (c.bus != "local" && !c.bus.starts_with("redis://")) {
      throw ConfigError("--bus must be local or redis://HOST:PORT, got " + c.bus);
    }
    if (c.log != "local") {
      if (!c.log.starts_with("kafka://")) {
        throw ConfigError("--log must be local or kafka://HOST:PORT, got " + c.log);
      }
      // The sequencer commits to a shared store and answers other nodes over the bus.
      if (!is_postgres_url(c.store)) {
        throw ConfigError("--log kafka://… needs --store postgres://… (shared by every node)");
      }
      if (!c.bus.starts_with("redis://")) {
        throw ConfigError("--log kafka://… needs --bus redis://… (replies between nodes)");
      }
    }
    if (!c.files.empty() && !c.files.starts_with("s3://") &&
        (!c.files.starts_with("local:") || c.files.size() == 6)) {
      throw ConfigError("--files must be local:DIR or s3://BUCKET?endpoint=http://HOST:PORT, got " +
                        c.files);
    }
    if (!c.vapid_subject.starts_with("mailto:") && !c.vapid_subject.starts_with("https://")) {
      throw ConfigError("--vapid-subject must be a mailto: or https: URL, got " + c.vapid_subject);
    }
    if (!c.web_dir.empty() && !fs::is_regular_file(fs::path(c.web_dir) / "index.html")) {
      throw ConfigError("--web-dir must be a directory with an index.html (a web client build), got " +
                        c.web_dir);
    }
    fs::create_directories(c.data_dir);

    SystemClock clock;
    SystemIdGenerator ids;
    // The cluster log's URL, read once (a bad one stops the start before anything is opened):
    // the store's pool has a connection for each of its lanes.
    std::optional<KafkaLogOptions> kafka_log_options;
    if (c.log != "local") kafka_log_options = parse_backend_url(parse_kafka_url, c.log, "--log");
    auto opened = open_store(c, kafka_log_options ? kafka_log_options->lanes : 1);
    Store& store = *opened.store;
    // Encryption at rest: the master key unwraps the data keys kept in the store's database
    // (key 1 is made on the first start).
    auto key_catalog = open_key_catalog(c);
    crypto::KeyManager keys(*key_catalog, load_master_key(c), clock, key_activation(c));
    // Web Push's application server key: browsers subscribe with its public half (issue 25).
    const std::optional<push::VapidKey> vapid = load_vapid_key(c);
    if (auto s = keys.load(true); !s) {
      if (s.error().code == Errc::bad_ciphertext) throw ConfigError(s.error().message);
      throw std::runtime_error("cannot read the data keys: " + s.error().message);
    }
    const crypto::MessageSealer sealer(keys.data_keys(), c.encrypt_at_rest);
    // One id per node run: where other nodes address this one (bus notes, log replies).
    const std::string node_id = ids.uuid_v7(clock.now_ms());
    // The bus: in-process, or Redis between nodes. The hub that receives its events is built
    // later (it needs the shards); hub_for_bus is set as soon as it exists.
    api::Hub* hub_for_bus = nullptr;
    // Presence across nodes lives in the bus's Redis too.
    std::unique_ptr<Bus> bus_owner;
    std::unique_ptr<Presence> presence_owner;
    if (c.bus == "local") {
      bus_owner = std::make_unique<LocalBus>();
      presence_owner = std::make_unique<LocalPresence>();
    } else {
      const RedisAddress redis = parse_backend_url(parse_redis_url, c.bus, "--bus");
      // An entry outlives two missed heartbeats.
      presence_owner = std::make_unique<RedisPresence>(RedisPresenceOptions{
          redis, node_id, 3 * std::chrono::milliseconds(c.presence_heartbeat_ms)});
      RedisBusOptions bus_options;
      bus_options.address = redis;
      bus_options.node_id = node_id;
      bus_options.render = [](const chat::Event& e) { return api::event_frame(e); };
      if (c.encrypt_at_rest) bus_options.relay_keys = &keys.data_keys();
      bus_options.groups_of = [&store](chat::UserId user) { return store.groups_of(user); };
      // Events may have been missed while Redis was away: every session should sync.
      bus_options.on_reconnect = [&hub_for_bus] {
        if (!hub_for_bus) return;
        auto notice = std::make_shared<chat::Envelope>();
        chat::RelayedEvent resync;
        resync.json = api::resync_frame();
        notice->event = std::move(resync);
        hub_for_bus->deliver_to_all(notice);
      };
      bus_owner = std::make_unique<RedisBus>(std::move(bus_options));
    }
    Bus& bus = *bus_owner;
    // Push notifications' dispatcher outlives the log, whose subscriber queue hands it
    // messages until the log is gone (it is made once the chat service exists, below).
    std::unique_ptr<PushDispatcher> push_dispatcher;
    std::unique_ptr<MessageLog> log_owner;
    if (c.log == "local") {
      log_owner = std::make_unique<LocalLog>(
          store, clock, ids,
          GroupCommitOptions{c.group_commit_max_batch,
                             std::chrono::microseconds(c.group_commit_max_delay_us)});
    } else {
      KafkaLogOptions log_options = std::move(*kafka_log_options);
      log_options.node_id = node_id;
      log_options.max_batch = c.group_commit_max_batch;
      log_owner = std::make_unique<KafkaLog>(std::move(log_options), store, bus, clock, ids);
    }
    MessageLog& message_log = *log_owner;
    const std::string secret = load_token_secret(c);
    // Tokens are signed with keys that rotate with the data keys; ones without a kid (older, or
    // bench/loadgen's) are checked with the token secret.
    const DataKeySigningKeys signing_keys(keys.data_keys());
    auth::TokenSigner tokens(secret, std::chrono::seconds(c.access_token_ttl_s), clock, &signing_keys);
    ServiceOptions service_options;
    service_options.limits.max_body_bytes = c.max_message_bytes;
    service_options.limits.max_envelope_bytes = c.max_envelope_bytes;
    service_options.refresh_ttl = std::chrono::seconds(c.refresh_token_ttl_s);
    service_options.challenge_key = auth::hmac_sha256(secret, "parley login challenge");
    ChatService service(store, *opened.accounts, message_log, bus, *presence_owner, clock, ids,
                        tokens, service_options, &sealer);
    // Push notifications: the log's second subscriber, off the send path. On PostgreSQL the
    // store notes each message in the transaction that stores it (nothing to lose in a crash).
    PushOptions push_options;
    push_options.rules.coalesce = std::chrono::milliseconds(c.push_coalesce_ms);
    push_options.rules.online_delay = std::chrono::milliseconds(c.push_online_delay_ms);
    push_options.rules.previews = c.push_previews;
    push_options.ttl = std::chrono::seconds(c.push_ttl_s);
    push_options.workers = static_cast<int>(c.push_concurrency);
    push_options.per_service = static_cast<int>(c.push_per_service);
    push_options.lease = std::chrono::milliseconds(c.push_lease_ms);
    push_options.retry_first = std::chrono::milliseconds(c.push_retry_first_ms);
    push_options.sole_node = !is_postgres_url(c.store);
    push_options.noted_at_commit = opened.push->note_at_commit(push_options.rules.coalesce);
    if (const char* n = std::getenv("PARLEY_FAULT_PUSH_KILL_AFTER_SENDS")) {
      push_options.kill_after_sends = std::atoi(n);
      log::warn("event=fault_injection push_kill_after_sends={}", push_options.kill_after_sends);
    }
    if (const char* n = std::getenv("PARLEY_FAULT_PUSH_KILL_BEFORE_NOTE")) {
      push_options.kill_before_note = std::atoi(n);
      log::warn("event=fault_injection push_kill_before_note={}", push_options.kill_before_note);
    }
    push_dispatcher = std::make_unique<PushDispatcher>(
        store, *opened.push, &sealer, clock,
        [&service](chat::UserId user) { return service.online(user); }, push_options);
    const std::chrono::milliseconds push_timeout(10'000);
    std::optional<push::WebPushSender> web_push_sender;
    if (vapid) {
      web_push_sender.emplace(*vapid, push::WebPushOptions{c.vapid_subject, push_timeout});
      push_dispatcher->set_sender(PushSubscription::Kind::web_push, &*web_push_sender);
    }
    push::WebhookSender webhook_sender(push_timeout);
    push_dispatcher->set_sender(PushSubscription::Kind::webhook, &webhook_sender);
    std::unique_ptr<push::FcmSender> fcm_sender;
    if (!c.fcm_service_account.empty()) {
      std::ifstream file(c.fcm_service_account);
      std::stringstream account;
      account << file.rdbuf();
      if (!file) throw ConfigError("--fcm-service-account: cannot read " + c.fcm_service_account);
      auto created = push::FcmSender::create(
          push::FcmOptions{account.str(), c.fcm_endpoint, c.fcm_token_url, push_timeout}, clock);
      if (!created) {
        throw ConfigError("--fcm-service-account " + c.fcm_service_account + ": " +
                          created.error().message);
      }
      fcm_sender = std::move(*created);
      push_dispatcher->set_sender(PushSubscription::Kind::fcm, fcm_sender.get());
    }
    // Its threads use the senders and the chat service: they stop before those go, however
    // this scope ends.
    struct StopPush {
      PushDispatcher& dispatcher;
      ~StopPush() { dispatcher.stop(); }
    } stop_push{*push_dispatcher};
    // Inline, on the log's thread: note() only appends to a vector under a mutex. (A queued
    // subscriber's thread hop cost ~20 µs of CPU per message, a quarter of push's overhead.)
    message_log.subscribe("push", MessageLog::Blocking::forbidden,
                          [&push_dispatcher](const chat::Message& m) { push_dispatcher->note(m); });
    PushSubscriptions push_subscriptions(
        *opened.push, clock,
        PushSubscriptionOptions{vapid.has_value(), fcm_sender != nullptr, c.push_gateways,
                                c.web_push_services, static_cast<int>(c.push_max_subscriptions)});
    auto blob_owner = open_blob_store(c);
    // File contents (and thumbnails) are sealed on their way into storage, opened on the way out.
    crypto::SealedBlobStore blobs(*blob_owner, keys.data_keys(), c.encrypt_at_rest);
    FileOptions file_options;
    file_options.max_upload_bytes = c.max_upload_bytes;
    file_options.upload_quota_bytes = c.upload_quota_bytes;
    file_options.signed_url_ttl = std::chrono::seconds(c.signed_url_ttl_s);
    file_options.orphan_upload_ttl = std::chrono::seconds(c.orphan_upload_ttl_s);
    file_options.thumbnails.max_side = static_cast<int>(c.thumbnail_max_side);
    file_options.thumbnails.max_pixels = c.thumbnail_max_pixels;
    // Signed URLs get a key of their own, derived from the token secret.
    FileService file_service(*opened.files, blobs, clock, ids,
                             auth::hmac_sha256(secret, "parley signed file URLs"),
                             file_options, &sealer);
    // Moves stored messages and files to the current data key, in the background (chores below).
    Rewrap rewrap(store, sealer, keys.data_keys(), *key_catalog, 500, &file_service);
    if (auto s = service.load_revocations(); !s) {
      throw std::runtime_error("cannot read revoked sessions: " + s.error().message);
    }

    const unsigned shard_count = c.shards ? c.shards : std::max(1u, std::thread::hardware_concurrency());
    net::ShardPool shards(shard_count);
    boost::asio::thread_pool blocking(c.blocking_threads);
    api::Hub hub(shards, &bus);
    hub_for_bus = &hub;
    bus.set_sink([&hub, &service](const chat::EnvelopePtr& envelope) {
      service.apply_relayed(*envelope);  // another node's membership change or logout
      if (!envelope->recipients.empty()) hub.deliver(envelope);
    });
    api::ApiContext ctx{service, blocking, hub, {}, boost::asio::make_strand(blocking.get_executor()),
                        {}, {}};
    ctx.files = &file_service;
    KeyDirectory key_directory(store, *opened.devices, bus, clock);
    ctx.keys = &key_directory;
    ctx.push = &push_subscriptions;
    // Keys `parley keys rotate` added, and messages not yet under the current key.
    ctx.chores.push_back({"data_keys", std::chrono::milliseconds(c.key_refresh_ms), [&] {
                            if (auto s = keys.refresh(); !s) {
                              log::warn("event=data_keys_refresh_failed error=\"{}\"",
                                        s.error().message);
                            }
                            if (auto r = rewrap.run(std::chrono::milliseconds(c.key_refresh_ms) / 10);
                                !r) {
                              log::warn("event=rewrap_failed error=\"{}\"", r.error().message);
                            }
                          }});
    ctx.options.allowed_origins = c.allowed_origins;
    ctx.options.presence_grace = std::chrono::milliseconds(c.presence_grace_ms);
    ctx.options.presence_heartbeat = std::chrono::milliseconds(c.presence_heartbeat_ms);
    ctx.options.typing_interval = std::chrono::milliseconds(c.typing_interval_ms);
    ctx.options.sse_heartbeat = std::chrono::milliseconds(c.sse_heartbeat_ms);
    ctx.options.poll_max_bytes = c.poll_max_bytes;
    ctx.options.stream_replay_max_messages = c.stream_replay_max_messages;
    ctx.options.eio_ping_interval = std::chrono::milliseconds(c.eio_ping_interval_ms);
    ctx.options.eio_ping_timeout = std::chrono::milliseconds(c.eio_ping_timeout_ms);
    ctx.options.eio_max_payload = c.eio_max_payload;
    ctx.options.sio_connect_timeout = std::chrono::milliseconds(c.sio_connect_timeout_ms);
    ctx.options.protocol_test = c.protocol_test;
    ctx.options.max_outbound_bytes = c.max_outbound_bytes;
    ctx.options.reauth_grace = std::chrono::milliseconds(c.reauth_grace_ms);
    if (!c.backend_login_secret.empty() && c.backend_login_secret.size() < 32) {
      throw ConfigError("--backend-login-secret must be at least 32 characters");
    }
    ctx.options.backend_login_secret = c.backend_login_secret;
    configure_throttle(c, ctx.options.throttle);
    // Rate limits count in the bus's Redis when there is one, so they hold across nodes.
    std::unique_ptr<ratelimit::RateLimiter> limiter;
    if (c.bus.starts_with("redis://")) {
      limiter = std::make_unique<ratelimit::RedisRateLimiter>(
          parse_backend_url(parse_redis_url, c.bus, "--bus"));
    } else {
      limiter = std::make_unique<ratelimit::LocalRateLimiter>(clock);
    }
    ctx.limiter = limiter.get();
    api::PasswordWork passwords(password_threads(c), c.password_queue);
    ctx.passwords = &passwords;
    if (const char* path = std::getenv("PARLEY_FAULT_THROW_ON_PATH")) {
      ctx.options.fault_throw_on_path = path;
      log::warn("event=fault_injection throw_on_path={}", path);
    }

    net::ConnectionLimits limits;
    limits.max_payload_bytes = c.max_payload_bytes;
    limits.max_outbound_bytes = c.max_outbound_bytes;
    limits.idle_timeout = std::chrono::seconds(c.idle_timeout_s);
    // Every module registers its own routes.
    net::Router router;
    api::add_rest_routes(router, ctx);
    api::add_websocket_route(router, ctx);
    api::add_event_stream_routes(router, ctx);
    api::add_socketio_routes(router, ctx);
    api::add_file_routes(router, ctx);
    api::add_sign_in_routes(router, ctx);
    api::add_push_routes(router, ctx,
                         vapid ? auth::base64url_encode(vapid->public_key()) : std::string());
    api::add_web_routes(router, api::WebOptions{c.web_dir});
    // OpenID sign-in needs the node's public URL, which depends on the port listen() binds.
    std::unique_ptr<OidcSignIn> sign_in;
    net::HttpServer server(shards, limits, router);
    ctx.metrics = [&] {
      const auto& net = server.stats();
      std::string out;
      auto metric = [&out](const char* name, const char* type, const char* help, auto value,
                           const char* labels = "") {
        out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0}{3} {4}\n", name, help, type,
                           labels, value);
      };
      metric("parley_connections_open", "gauge", "Open TCP connections (HTTP and WebSocket).",
             server.open_connections());
      metric("parley_connections_accepted_total", "counter", "TCP connections accepted.",
             net.accepted.load());
      metric("parley_websocket_sessions", "gauge", "Authenticated WebSocket sessions.",
             hub.sessions());
      metric("parley_websockets_opened_total", "counter", "WebSocket upgrades accepted.",
             net.websockets_opened.load());
      metric("parley_slow_consumer_closes_total", "counter",
             "WebSockets closed with 4008 because their outbound queue passed its bound.",
             net.slow_consumer_closes.load());
      out += "# HELP parley_http_requests_total HTTP requests answered, by status class.\n"
             "# TYPE parley_http_requests_total counter\n";
      for (int status_class = 1; status_class <= 5; ++status_class) {
        out += fmt::format("parley_http_requests_total{{class=\"{}xx\"}} {}\n", status_class,
                           net.http_requests[status_class].load());
      }
      metric("parley_unexpected_exceptions_total", "counter",
             "Exceptions that escaped a handler or task (logged as event=unexpected_exception); "
             "each is a bug.",
             unexpected_exceptions());
      metric("parley_messages_committed_total", "counter",
             "Messages committed by this node's writer or sequencer (new and retried).",
             message_log.committed_messages());
      metric("parley_commit_batches_total", "counter",
             "Transactions of those messages (group commits).", message_log.commits());
      const auto& pushes = push_dispatcher->stats();
      out += "# HELP parley_push_total Push notifications by outcome: sent, failed (refused, "
             "dropped), retried, expired (not sent within their TTL), gone (the subscription was "
             "removed).\n# TYPE parley_push_total counter\n";
      for (const auto& [outcome, value] :
           {std::pair{"sent", pushes.sent.load()}, {"failed", pushes.failed.load()},
            {"retried", pushes.retried.load()}, {"expired", pushes.dropped.load()},
            {"gone", pushes.gone.load()}}) {
        out += fmt::format("parley_push_total{{outcome=\"{}\"}} {}\n", outcome, value);
      }
      out += "# HELP parley_push_skipped_total Bursts of messages not pushed: delivered to a "
             "session in time (or the member left), or muted.\n"
             "# TYPE parley_push_skipped_total counter\n";
      out += fmt::format("parley_push_skipped_total{{reason=\"delivered\"}} {}\n"
                         "parley_push_skipped_total{{reason=\"muted\"}} {}\n",
                         pushes.skipped_delivered.load(), pushes.skipped_muted.load());
      metric("parley_push_pending", "gauge",
             "Members with a burst waiting to be pushed (all nodes; counted every second).",
             pushes.pending.load());
      metric("parley_push_jobs", "gauge",
             "Push notifications waiting to be sent or retried (all nodes; counted every second).",
             pushes.jobs.load());
      std::uint64_t push_dropped = pushes.notes_dropped.load();
      for (const auto& q : message_log.queued_subscribers()) {
        if (q->name() == "push") push_dropped += q->dropped();
      }
      metric("parley_push_notes_dropped_total", "counter",
             "Committed messages the push subscriber could not queue (it fell behind).",
             push_dropped);
      metric("parley_build_info", "gauge", "Always 1; the labels say what this node runs.", 1,
             fmt::format("{{version=\"{}\",allocator=\"{}\"}}", PARLEY_VERSION, allocator)
                 .c_str());
      return out;
    };
    const auto address = server.listen(host, port);
    SignInOptions sign_in_options;
    sign_in_options.public_url = c.public_url.empty() ? "http://" + address : c.public_url;
    while (sign_in_options.public_url.ends_with('/')) sign_in_options.public_url.pop_back();
    sign_in_options.state_key = auth::hmac_sha256(secret, "parley oidc sign-in state");
    sign_in_options.allowed_return_origins = c.allowed_origins;
    sign_in_options.jwks_refetch_interval = std::chrono::seconds(c.oidc_key_refetch_s);
    sign_in = std::make_unique<OidcSignIn>(c.oidc_providers, sign_in_options, service, store,
                                           *opened.accounts, clock);
    ctx.sign_in = sign_in.get();
    ctx.options.secure_cookies = sign_in_options.public_url.starts_with("https://");
    server.start();
    push_dispatcher->start();
    api::start_housekeeping(ctx, shards);
    shards.start();
    log::info("event=listening addr={} shards={} store={} files=\"{}\" max_fds={} version={} "
              "allocator={} encrypt_at_rest={} data_key={} master_key={}",
              address, shard_count, opened.description, blobs.describe(), files.rlim_cur,
              PARLEY_VERSION, allocator, c.encrypt_at_rest, keys.data_keys().current(),
              keys.master().fingerprint());

    const int sig = wait_for_shutdown_signal(signals);
    log::info("event=draining signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // Drain: stop accepting, close idle HTTP connections and every WebSocket (1001 after their
    // queued frames), give the rest drain_timeout, then commit what the writer holds.
    server.shut_down();
    for (const auto& hook : ctx.on_drain) hook();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(c.drain_timeout_s);
    while (server.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    server.close_remaining();  // peers that did not finish in time
    message_log.drain();
    // The push subscriber's queue, then the dispatcher (which notes what it still holds).
    for (const auto& q : message_log.queued_subscribers()) q->wait_idle();
    push_dispatcher->stop();
    shards.stop();
    shards.join();
    blocking.join();
    passwords.join();
    if (auto s = service.flush_last_seen(); !s) {
      log::warn("event=last_seen_flush_failed error=\"{}\"", s.error().message);
    }
    // The bus's threads call into the hub, the service and the log (events and notes from other
    // nodes): stop them while those still exist.
    bus.stop();
    log::info("event=stopped open_connections={}", server.open_connections());
    return 0;
  } catch (const ConfigError& e) {
    log::error("event=config_error error=\"{}\"", e.what());
    return 2;
  } catch (const std::exception& e) {
    log::error("event=startup_failed error=\"{}\"", e.what());
    return 1;
  }
}

}  // namespace parley::app
