// loadgen: an open-loop load generator speaking Parley's WebSocket protocol and Socket.IO v4
// (Engine.IO v4 over WebSocket), so Parley and the reference server face the same workload.
//
// Open loop: sends are scheduled at a fixed rate from the start, whether or not earlier ones
// were answered, so a slow server shows up as latency instead of quietly lowering the load (no
// coordinated omission). Every message body carries its send time; every delivery of it to any
// session records a send→deliver latency.
//
// Connections come from many source addresses in 127.0.0.0/8 (127.0.1.1, 127.0.1.2, …, with
// IP_BIND_ADDRESS_NO_PORT) so the ephemeral port range does not cap their number.
//
//   loadgen --url ws://127.0.0.1:8080[,ws://…] --protocol parley|socketio --secret S
//           --scenario dm|sse|fanout|idle|ingest [--users FILE] [--rate N] [--duration S] …
// With several URLs (nodes of one cluster), user i connects to URL i mod N: in dm, the two
// users of every pair are then on different nodes.
//
// Scenarios:
//   idle    open --connections authenticated connections, report; with --hold keep them open
//           until standard input closes (the runner measures server memory meanwhile)
//   dm      one connection per user of FILE; user 2k sends to user 2k+1 and back, --rate
//           messages per second in total, round robin over the senders
//   sse     dm with the recipients on server-sent events: user 2k on a WebSocket sends to user
//           2k+1, who reads GET /events; the latency is the SSE copies' (Parley only)
//   fanout  one connection per user of FILE; members send to their groups at --rate
//   ingest  --connections senders each keep --window unacknowledged sends in flight, as fast
//           as the server acks (the durable ingest rate)
// The users file (written by bench/run): {"users":[{"name","id"}…], "groups":[{"conv",
// "members":[index…]}…]}. Tokens are minted here with the server's secret.
//
// --timeline FILE also writes every measured delivery as "send time (ns, CLOCK_MONOTONIC)
// latency (µs)", sorted by send time: whether slow deliveries come in bursts, and when, to lay
// beside `perf sched record -k CLOCK_MONOTONIC` of the server (docs/performance.md).
//
// Prints one JSON object on stdout; progress on stderr. One io_context run by --threads threads
// (default 1, to leave the cores to the server under test).

#include <netinet/in.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/tokens.hpp"
#include "core/time.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

struct ServerAddress {
  std::string host;
  std::string port;
};

struct Options {
  std::vector<ServerAddress> servers;  // --url, in order
  std::string protocol = "parley";
  std::string scenario = "dm";
  std::string secret;
  std::string users_file;
  double rate = 1000;
  double duration = 10;
  double warmup = 1;
  int connections = 1000;
  int window = 64;
  int body_bytes = 100;
  int threads = 1;
  int connect_concurrency = 256;
  int first_user = 0;  // idle: number made-up users from here (several loadgen processes)
  bool hold = false;
  std::string timeline;  // --timeline FILE: every measured delivery as "sent_ns latency_us"
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "loadgen: " << why << "\n"
            << "usage: loadgen --url ws://HOST:PORT[,…] --protocol parley|socketio --secret S\n"
               "         --scenario dm|sse|fanout|idle|ingest [--users FILE] [--rate N]\n"
               "         [--duration S] [--warmup S] [--connections N] [--window N]\n"
               "         [--body-bytes N] [--threads N] [--first-user N] [--hold]\n"
               "         [--timeline FILE]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--url") {
      std::stringstream urls(value());
      for (std::string url; std::getline(urls, url, ',');) {
        if (url.rfind("ws://", 0) != 0) usage("--url must start with ws://");
        const auto hostport = url.substr(5);
        const auto colon = hostport.rfind(':');
        if (colon == std::string::npos) usage("--url needs a port");
        o.servers.push_back({hostport.substr(0, colon), hostport.substr(colon + 1)});
      }
    } else if (a == "--protocol") {
      o.protocol = value();
    } else if (a == "--scenario") {
      o.scenario = value();
    } else if (a == "--secret") {
      o.secret = value();
    } else if (a == "--users") {
      o.users_file = value();
    } else if (a == "--rate") {
      o.rate = std::stod(value());
    } else if (a == "--duration") {
      o.duration = std::stod(value());
    } else if (a == "--warmup") {
      o.warmup = std::stod(value());
    } else if (a == "--connections") {
      o.connections = std::stoi(value());
    } else if (a == "--window") {
      o.window = std::stoi(value());
    } else if (a == "--body-bytes") {
      o.body_bytes = std::stoi(value());
    } else if (a == "--threads") {
      o.threads = std::stoi(value());
    } else if (a == "--first-user") {
      o.first_user = std::stoi(value());
    } else if (a == "--hold") {
      o.hold = true;
    } else if (a == "--timeline") {
      o.timeline = value();
    } else {
      usage("unknown argument " + a);
    }
  }
  if (o.servers.empty()) o.servers.push_back({"127.0.0.1", "8080"});
  if (o.protocol != "parley" && o.protocol != "socketio") usage("--protocol parley|socketio");
  if (o.secret.size() < 32) usage("--secret (the server's token secret, >= 32 bytes) is required");
  if (o.scenario != "idle" && o.users_file.empty()) usage("--users FILE is required");
  return o;
}

// ---- users -------------------------------------------------------------------------------------

struct User {
  std::string name;
  std::int64_t id = 0;
  std::string token;
  std::vector<std::string> groups;  // conversations this user joins (Socket.IO rooms)
};

struct Workload {
  std::vector<User> users;
  std::vector<std::pair<std::string, std::vector<int>>> groups;  // conv, member indexes
};

Workload load_workload(const Options& o) {
  Workload w;
  parley::SystemClock clock;
  parley::auth::TokenSigner signer(o.secret, std::chrono::hours(6), clock);
  if (o.users_file.empty()) {  // idle: made-up users, each its own
    for (int i = o.first_user; i < o.first_user + o.connections; ++i) {
      User u{"idle" + std::to_string(i), 10'000'000 + i, {}, {}};
      w.users.push_back(std::move(u));
    }
  } else {
    std::ifstream in(o.users_file);
    std::stringstream text;
    text << in.rdbuf();
    const auto doc = json::parse(text.str()).as_object();
    for (const auto& u : doc.at("users").as_array()) {
      w.users.push_back(User{std::string(u.at("name").as_string()), u.at("id").to_number<std::int64_t>(), {}, {}});
    }
    if (const auto* groups = doc.if_contains("groups")) {
      for (const auto& g : groups->as_array()) {
        std::vector<int> members;
        for (const auto& m : g.at("members").as_array()) members.push_back(static_cast<int>(m.as_int64()));
        const std::string conv(g.at("conv").as_string());
        for (int m : members) w.users[m].groups.push_back(conv);
        w.groups.emplace_back(conv, std::move(members));
      }
    }
  }
  for (auto& u : w.users) u.token = signer.issue(u.id, u.name, 0);
  return w;
}

// ---- measurements ------------------------------------------------------------------------------

struct Stats {
  std::atomic<std::uint64_t> connected{0}, connect_failed{0}, sent{0}, acked{0}, errors{0};
  std::atomic<std::uint64_t> delivered{0}, dropped{0};
  std::atomic<std::int64_t> measure_from{INT64_MAX}, measure_until{INT64_MAX};
  std::mutex mutex;
  std::vector<std::uint32_t> latencies_us;  // deliveries of messages sent in the measured window
  std::vector<std::uint32_t> ack_latencies_us;
  bool keep_timeline = false;
  std::vector<std::pair<std::int64_t, std::uint32_t>> timeline;  // (sent ns, latency µs)

  bool measured(std::int64_t sent_at) const {
    return sent_at >= measure_from.load(std::memory_order_relaxed) &&
           sent_at < measure_until.load(std::memory_order_relaxed);
  }
};

// Reads the send time that every generated body starts with: "t=<ns>;".
std::optional<std::int64_t> sent_at(std::string_view frame) {
  const auto p = frame.find("\"body\":\"t=");
  if (p == frame.npos) return std::nullopt;
  std::int64_t t = 0;
  const char* first = frame.data() + p + 10;
  auto [end, ec] = std::from_chars(first, frame.data() + frame.size(), t);
  if (ec != std::errc()) return std::nullopt;
  return t;
}

// ---- one connection ----------------------------------------------------------------------------

// Counts a connection that could not open (the first five say why); false, for `co_return`.
bool connect_failed(Stats& stats, const char* what, const User& user, boost::system::error_code ec) {
  if (stats.connect_failed++ < 5) {
    std::cerr << "loadgen: " << what << " failed for " << user.name << ": " << ec.message() << "\n";
  }
  return false;
}

// Connects `stream` to `server` from a source address of its own in 127.0.0.0/8 (connection
// `index`), so the ephemeral port range does not cap the number of connections.
asio::awaitable<void> connect_from_own_address(beast::tcp_stream& stream, tcp::endpoint server,
                                               int index, boost::system::error_code& ec) {
  auto& sock = stream.socket();
  sock.open(tcp::v4(), ec);
  const int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  const auto source = asio::ip::make_address_v4(
      (127u << 24) | ((1u + index / 250 % 250) << 8) | (1u + index % 250));
  sock.bind(tcp::endpoint(source, 0), ec);
  // A server out of file descriptors leaves connections in its backlog unanswered: give up
  // after 15 s instead of waiting forever.
  stream.expires_after(std::chrono::seconds(15));
  if (!ec) co_await sock.async_connect(server, asio::redirect_error(asio::use_awaitable, ec));
  stream.expires_never();
  if (!ec) sock.set_option(tcp::no_delay(true), ec);
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, const Options& o, const User& user, Stats& stats, int index)
      : ws_(io), options_(o), user_(user), stats_(stats), index_(index),
        wake_(io, asio::steady_timer::time_point::max()) {}

  // Connects from a source address of its own, upgrades, authenticates, joins its rooms.
  asio::awaitable<bool> open(tcp::endpoint server, std::string host_header) {
    boost::system::error_code ec;
    co_await connect_from_own_address(beast::get_lowest_layer(ws_), server, index_, ec);
    if (ec) co_return fail("connect", ec);
    ws_.read_message_max(64 << 20);
    const bool sio = options_.protocol == "socketio";
    const std::string target =
        sio ? "/socket.io/?EIO=4&transport=websocket" : "/ws?access_token=" + user_.token;
    co_await ws_.async_handshake(host_header, target,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail("handshake", ec);
    beast::get_lowest_layer(ws_).expires_never();
    if (sio) {
      // Engine.IO open packet, then a Socket.IO CONNECT with the token in its auth payload.
      auto open_packet = co_await read_text(ec);
      if (ec || open_packet.empty() || open_packet[0] != '0') co_return fail("eio open", ec);
      co_await write_text("40{\"token\":\"" + user_.token + "\"}", ec);
      auto connected = co_await read_text(ec);
      if (ec || connected.rfind("40", 0) != 0) co_return fail("sio connect", ec);
      for (const auto& conv : user_.groups) {
        co_await write_text("42[\"join\",\"" + conv + "\"]", ec);
      }
    }
    stats_.connected++;
    co_return !ec;
  }

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(ws_.get_executor(), [self] { return self->read_loop(); }, asio::detached);
    asio::co_spawn(ws_.get_executor(), [self] { return self->write_loop(); }, asio::detached);
  }

  // Queues one message for `to` (a username) or `conv` (a group).
  void send(const std::string* to, const std::string* conv) {
    if (closed_) return;
    if (queue_.size() > 10'000) {  // the server stopped reading us: do not grow without bound
      stats_.dropped++;
      return;
    }
    const auto id = ++next_id_;
    std::string body = "t=" + std::to_string(now_ns()) + ";";
    if (static_cast<int>(body.size()) < options_.body_bytes) body.resize(options_.body_bytes, 'x');
    std::string target = to ? "\"to\":\"" + *to + "\"" : "\"conv\":\"" + *conv + "\"";
    // Unique across runs too: a reused id would be (rightly) deduplicated as a retry.
    static const std::string run = std::to_string(now_ns());
    std::string client_id = run + "-" + std::to_string(index_) + "-" + std::to_string(id);
    std::string frame;
    if (options_.protocol == "socketio") {
      frame = "42" + std::to_string(id) + "[\"send\",{" + target + ",\"client_msg_id\":\"" +
              client_id + "\",\"body\":\"" + body + "\"}]";
    } else {
      frame = "{\"op\":\"send\",\"id\":" + std::to_string(id) + "," + target +
              ",\"client_msg_id\":\"" + client_id + "\",\"body\":\"" + body + "\"}";
    }
    ++inflight_;
    stats_.sent++;
    push(std::move(frame));
  }

  int inflight() const { return inflight_; }
  bool closed() const { return closed_; }
  void close() {
    closed_ = true;
    wake_.cancel();
  }

 private:
  bool fail(const char* what, boost::system::error_code ec) {
    return connect_failed(stats_, what, user_, ec);
  }

  asio::awaitable<std::string> read_text(boost::system::error_code& ec) {
    beast::flat_buffer buffer;
    co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    co_return beast::buffers_to_string(buffer.data());
  }

  asio::awaitable<void> write_text(std::string text, boost::system::error_code& ec) {
    co_await ws_.async_write(asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  }

  void push(std::string frame) {
    queue_.push_back(std::move(frame));
    if (queue_.size() == 1) wake_.cancel();
  }

  asio::awaitable<void> write_loop() {
    boost::system::error_code ec;
    while (!closed_) {
      if (queue_.empty()) {
        wake_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      auto frame = std::move(queue_.front());
      queue_.pop_front();
      co_await ws_.async_write(asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    closed_ = true;
    ws_.async_close(websocket::close_code::normal, [](boost::system::error_code) {});
  }

  asio::awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!closed_) {
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      const auto data = buffer.cdata();
      on_frame({static_cast<const char*>(data.data()), data.size()});
      buffer.consume(buffer.size());
    }
    closed_ = true;
    wake_.cancel();
  }

  void on_frame(std::string_view f) {
    const auto now = now_ns();
    const bool sio = options_.protocol == "socketio";
    bool is_event = false, is_ack = false, ok = true;
    if (sio) {
      if (f == "2") return push("3");  // Engine.IO heartbeat
      is_event = f.rfind("42[\"message\"", 0) == 0;
      is_ack = f.rfind("43", 0) == 0;
      ok = f.find("\"ok\":true") != f.npos;
    } else {
      is_event = f.rfind("{\"ev\":\"message\"", 0) == 0;
      is_ack = f.rfind("{\"re\":", 0) == 0;
      ok = f.find("\"ok\":true") != f.npos;
    }
    if (is_event) {
      stats_.delivered++;
      // sse: the latency is the recipients' streams'; this is the sender's own copy.
      if (options_.scenario == "sse") return;
      if (auto t = sent_at(f); t && stats_.measured(*t)) record(stats_.latencies_us, now - *t, *t);
    } else if (is_ack) {
      --inflight_;
      if (!ok) {
        if (stats_.errors++ < 5) std::cerr << "loadgen: error reply: " << f.substr(0, 200) << "\n";
      } else {
        stats_.acked++;
        if (auto t = sent_at(f); t && stats_.measured(*t)) record(stats_.ack_latencies_us, now - *t);
      }
    }
  }

  // `delivered_sent_at`: a delivery's send time, for the timeline when one is kept.
  void record(std::vector<std::uint32_t>& into, std::int64_t ns,
              std::optional<std::int64_t> delivered_sent_at = std::nullopt) {
    const auto us = static_cast<std::uint32_t>(std::min<std::int64_t>(ns / 1000, UINT32_MAX));
    std::lock_guard lock(stats_.mutex);
    into.push_back(us);
    if (delivered_sent_at && stats_.keep_timeline) {
      stats_.timeline.emplace_back(*delivered_sent_at, us);
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  const Options& options_;
  const User& user_;
  Stats& stats_;
  const int index_;
  asio::steady_timer wake_;
  std::deque<std::string> queue_;
  std::uint64_t next_id_ = 0;
  int inflight_ = 0;
  bool closed_ = false;
};

// ---- one SSE reader (scenario sse) ---------------------------------------------------------------

// A recipient on server-sent events: GET /events, read as it arrives. Counts every `message`
// event as a delivery and records its latency. Connected once the stream says `ready` (it is
// live: every later message reaches it).
class SseConnection : public std::enable_shared_from_this<SseConnection> {
 public:
  SseConnection(asio::io_context& io, const User& user, Stats& stats, int index)
      : stream_(io), user_(user), stats_(stats), index_(index) {
    parser_.body_limit(boost::none);  // a stream: as long as it stays open
  }

  asio::awaitable<bool> open(tcp::endpoint server, std::string host_header) {
    boost::system::error_code ec;
    co_await connect_from_own_address(stream_, server, index_, ec);
    if (ec) co_return fail("connect", ec);
    const std::string request = "GET /events?access_token=" + user_.token +
                                " HTTP/1.1\r\nHost: " + host_header +
                                "\r\nAccept: text/event-stream\r\n\r\n";
    stream_.expires_after(std::chrono::seconds(15));
    co_await asio::async_write(stream_, asio::buffer(request),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await http::async_read_header(stream_, buffer_, parser_,
                                       asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || parser_.get().result_int() != 200) co_return fail("sse open", ec);
    while (!ready_ && !ec) co_await read_more(ec);
    stream_.expires_never();
    if (ec) co_return fail("sse ready", ec);
    stats_.connected++;
    co_return true;
  }

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(stream_.get_executor(), [self] { return self->read_loop(); }, asio::detached);
  }
  void close() {
    closed_ = true;
    boost::system::error_code ignored;
    stream_.socket().close(ignored);
  }

 private:
  bool fail(const char* what, boost::system::error_code ec) {
    return connect_failed(stats_, what, user_, ec);
  }

  // Reads what has arrived of the (de-chunked) body and handles every complete event in it.
  asio::awaitable<void> read_more(boost::system::error_code& ec) {
    auto& body = parser_.get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    co_await http::async_read_some(stream_, buffer_, parser_,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    pending_.append(chunk_.data(), chunk_.size() - body.size);
    std::size_t from = 0;
    for (auto end = pending_.find("\n\n"); end != pending_.npos;
         end = pending_.find("\n\n", from)) {
      on_event(std::string_view(pending_).substr(from, end - from));
      from = end + 2;
    }
    pending_.erase(0, from);
  }

  void on_event(std::string_view block) {
    if (block.starts_with("event: message\n")) {
      const auto now = now_ns();
      stats_.delivered++;
      if (auto t = sent_at(block); t && stats_.measured(*t)) {
        const auto us = static_cast<std::uint32_t>(std::min<std::int64_t>((now - *t) / 1000, UINT32_MAX));
        std::lock_guard lock(stats_.mutex);
        stats_.latencies_us.push_back(us);
        if (stats_.keep_timeline) stats_.timeline.emplace_back(*t, us);
      }
    } else if (block.starts_with("event: ready\n")) {
      ready_ = true;
    }
  }

  asio::awaitable<void> read_loop() {
    boost::system::error_code ec;
    while (!closed_ && !ec) co_await read_more(ec);
    closed_ = true;
  }

  beast::tcp_stream stream_;
  const User& user_;
  Stats& stats_;
  const int index_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 64 * 1024> chunk_{};
  std::string pending_;  // body bytes not yet a complete event
  bool ready_ = false;
  bool closed_ = false;
};

// ---- the run -----------------------------------------------------------------------------------

json::object percentiles(std::vector<std::uint32_t>& v) {
  json::object o;
  o["samples"] = v.size();
  if (v.empty()) return o;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]) / 1000.0;
  };
  o["p50_ms"] = at(0.50);
  o["p99_ms"] = at(0.99);
  o["p999_ms"] = at(0.999);
  o["max_ms"] = static_cast<double>(v.back()) / 1000.0;
  return o;
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

asio::awaitable<void> sleep_for(std::chrono::nanoseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

struct Run {
  Options options;
  Workload work;
  Stats stats;
  asio::io_context io;
  std::vector<std::shared_ptr<Connection>> conns;        // WebSocket connections, by user
  std::vector<std::shared_ptr<SseConnection>> streams;  // sse: the recipients' streams, by user
  json::object result;

  asio::awaitable<void> connect_all() {
    tcp::resolver resolver(io);
    std::vector<tcp::endpoint> servers;
    for (const auto& s : options.servers) {
      servers.push_back(resolver.resolve(s.host, s.port).begin()->endpoint());
    }
    conns.resize(work.users.size());
    streams.resize(work.users.size());
    std::size_t next = 0;
    int running = 0;
    asio::steady_timer done(io, asio::steady_timer::time_point::max());
    const auto started = SteadyClock::now();
    // Bounded concurrency: a burst of 100k SYNs would overflow any accept backlog.
    auto one = [&](std::size_t i) -> asio::awaitable<void> {
      const auto& address = options.servers[i % servers.size()];
      const auto host = address.host + ":" + address.port;
      if (options.scenario == "sse" && i % 2 == 1) {
        auto c = std::make_shared<SseConnection>(io, work.users[i], stats, static_cast<int>(i));
        if (co_await c->open(servers[i % servers.size()], host)) {
          c->start();
          streams[i] = c;
        }
      } else {
        auto c = std::make_shared<Connection>(io, options, work.users[i], stats, static_cast<int>(i));
        if (co_await c->open(servers[i % servers.size()], host)) {
          c->start();
          conns[i] = c;
        }
      }
      if (--running == 0 && next >= work.users.size()) done.cancel();
    };
    while (next < work.users.size()) {
      while (running < options.connect_concurrency && next < work.users.size()) {
        ++running;
        asio::co_spawn(io, one(next++), asio::detached);
      }
      co_await sleep_for(std::chrono::milliseconds(1));
    }
    boost::system::error_code ec;
    if (running > 0) co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    result["connect_seconds"] =
        std::chrono::duration<double>(SteadyClock::now() - started).count();
    result["connections"] = stats.connected.load();
    result["connect_failed"] = stats.connect_failed.load();
  }

  // Open loop: message k is due at start + k / rate.
  asio::awaitable<void> paced_load(std::function<void(std::uint64_t)> send_one) {
    const auto start = now_ns();
    const auto measure_from = start + static_cast<std::int64_t>(options.warmup * 1e9);
    const auto end = measure_from + static_cast<std::int64_t>(options.duration * 1e9);
    stats.measure_from = measure_from;
    stats.measure_until = end;
    std::uint64_t k = 0;
    std::uint64_t sent_in_window = 0;
    for (;;) {
      const auto now = now_ns();
      if (now >= end) break;
      const auto due = static_cast<std::uint64_t>((now - start) * options.rate / 1e9);
      for (; k < due; ++k) {
        send_one(k);
        if (now >= measure_from) ++sent_in_window;
      }
      co_await sleep_for(std::chrono::microseconds(500));
    }
    result["offered_rate"] = options.rate;
    result["sent_in_window"] = sent_in_window;
    // Let the last messages arrive (bounded wait), then stop: first every ack, then the copies
    // to other sessions, which can trail the sender's ack (an SSE stream, a group's members),
    // until none has come for 50 ms.
    for (int i = 0; i < 200 && stats.acked + stats.errors < stats.sent; ++i) {
      co_await sleep_for(std::chrono::milliseconds(10));
    }
    std::uint64_t seen = stats.delivered;
    for (int i = 0, quiet = 0; i < 200 && quiet < 5; ++i) {
      co_await sleep_for(std::chrono::milliseconds(10));
      const std::uint64_t now_delivered = stats.delivered;
      quiet = now_delivered == seen ? quiet + 1 : 0;
      seen = now_delivered;
    }
  }

  asio::awaitable<void> ingest() {
    const auto start = now_ns();
    const auto measure_from = start + static_cast<std::int64_t>(options.warmup * 1e9);
    const auto end = measure_from + static_cast<std::int64_t>(options.duration * 1e9);
    std::uint64_t acked_at_measure_start = 0;
    bool measuring = false;
    for (;;) {
      const auto now = now_ns();
      if (!measuring && now >= measure_from) {
        measuring = true;
        acked_at_measure_start = stats.acked;
      }
      if (now >= end) break;
      for (std::size_t i = 0; i < conns.size(); ++i) {
        auto& c = conns[i];
        const auto& to = work.users[(i ^ 1) < work.users.size() ? (i ^ 1) : i].name;
        while (!c->closed() && c->inflight() < options.window) c->send(&to, nullptr);
      }
      co_await sleep_for(std::chrono::microseconds(200));
    }
    const double acked = static_cast<double>(stats.acked - acked_at_measure_start);
    result["acked_per_second"] = acked / options.duration;
  }

  asio::awaitable<void> main() {
    co_await connect_all();
    std::cerr << "loadgen: " << stats.connected << " connected\n";
    if (stats.connect_failed > 0 && options.scenario != "idle") {
      result["error"] = "some connections failed; a message scenario needs them all";
      co_return;
    }
    if (options.scenario == "idle") {
      result["scenario"] = "idle";
      if (options.hold) {
        std::cout << json::serialize(result) << std::endl;  // the runner measures now
        co_return;  // main() waits for stdin, then closes
      }
    } else if (options.scenario == "dm") {
      // User 2k talks to 2k+1: each send goes from one of them to the other.
      co_await paced_load([this](std::uint64_t k) {
        const auto i = k % conns.size();
        const auto& to = work.users[(i ^ 1) < work.users.size() ? (i ^ 1) : i].name;
        conns[i]->send(&to, nullptr);
      });
    } else if (options.scenario == "sse") {
      // User 2k, on a WebSocket, sends to 2k+1, on SSE: each message reaches the recipient's
      // stream and the sender's own socket.
      co_await paced_load([this](std::uint64_t k) {
        const auto i = 2 * (k % (conns.size() / 2));
        conns[i]->send(&work.users[i + 1].name, nullptr);
      });
    } else if (options.scenario == "fanout") {
      co_await paced_load([this](std::uint64_t k) {
        const auto& [conv, members] = work.groups[k % work.groups.size()];
        const auto sender = members[(k / work.groups.size()) % members.size()];
        conns[sender]->send(nullptr, &conv);
      });
    } else if (options.scenario == "ingest") {
      co_await ingest();
    } else {
      usage("unknown scenario " + options.scenario);
    }
    result["scenario"] = options.scenario;
    result["sent"] = stats.sent.load();
    result["acked"] = stats.acked.load();
    result["errors"] = stats.errors.load();
    result["delivered"] = stats.delivered.load();
    result["dropped"] = stats.dropped.load();
    result["latency"] = percentiles(stats.latencies_us);
    result["ack_latency"] = percentiles(stats.ack_latencies_us);
    for (auto& c : conns) {
      if (c) c->close();
    }
    for (auto& c : streams) {
      if (c) c->close();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  raise_fd_limit();
  Run run;
  run.options = parse_options(argc, argv);
  run.work = load_workload(run.options);
  run.stats.keep_timeline = !run.options.timeline.empty();
  if (run.options.scenario == "dm" && run.work.users.size() < 2) usage("dm needs >= 2 users");
  if (run.options.scenario == "fanout" && run.work.groups.empty()) usage("fanout needs groups");
  if (run.options.scenario == "sse" &&
      (run.work.users.size() < 2 || run.work.users.size() % 2 || run.options.protocol != "parley")) {
    usage("sse needs an even number (>= 2) of users and --protocol parley");
  }
  bool finished = false;
  asio::co_spawn(run.io, run.main(), [&](std::exception_ptr e) {
    finished = true;
    if (e) std::rethrow_exception(e);
    if (run.options.scenario == "idle" && run.options.hold) {
      // Keep the connections until standard input closes.
      std::thread([&run] {
        std::string line;
        while (std::getline(std::cin, line)) {
        }
        asio::post(run.io, [&run] {
          for (auto& c : run.conns) {
            if (c) c->close();
          }
          run.io.stop();
        });
      }).detach();
      return;
    }
    run.io.stop();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < run.options.threads; ++i) threads.emplace_back([&] { run.io.run(); });
  run.io.run();
  for (auto& t : threads) t.join();
  if (!(run.options.scenario == "idle" && run.options.hold)) {
    std::cout << json::serialize(run.result) << std::endl;
  }
  if (run.stats.keep_timeline) {
    // For finding when the slow deliveries happened (bursts or spread): sorted by send time.
    std::sort(run.stats.timeline.begin(), run.stats.timeline.end());
    std::ofstream out(run.options.timeline);
    for (const auto& [sent, latency_us] : run.stats.timeline) out << sent << ' ' << latency_us << '\n';
  }
  return finished ? 0 : 1;
}
