#include "api/socketio/eio_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/base64.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"

namespace parley::api::eio {

namespace asio = boost::asio;
using net::WsConnection;

std::string new_sid() { return auth::base64url_encode(secure_random_bytes(15)); }

net::HttpResponse refusal(const HandshakeError& error) {
  net::HttpResponse r;
  r.status = error.status;
  r.body = error_body(error);
  return r;
}

namespace {

net::HttpResponse text_response(std::string body, const char* content_type) {
  net::HttpResponse r;
  r.body = std::move(body);
  r.content_type = content_type;
  return r;
}

constexpr char kRecordSeparator = '\x1e';
// While the client upgrades, a pending poll is answered with a noop after this (the reference's
// check interval).
constexpr std::chrono::milliseconds kUpgradeNoopDelay{100};
constexpr const char* kTextPlain = "text/plain; charset=UTF-8";

}  // namespace

EioSession::EioSession(const SessionOptions& options, Home home, std::string sid,
                       EioRegistry* registry)
    : options_(options),
      home_(std::move(home)),
      sid_(std::move(sid)),
      registry_(registry),
      transport_(registry ? Transport::polling : Transport::websocket),
      heartbeat_(home_.executor),
      poll_wake_(home_.executor),
      upgrade_timer_(home_.executor) {}

EioSession::~EioSession() = default;

std::string EioSession::describe() const {
  return "transport=socketio sid=" + sid_ + " conn=" + std::to_string(home_.conn_id);
}

void EioSession::post(std::function<void()> fn) {
  auto task = [weak = weak_from_this(), fn = std::move(fn)] {
    if (auto self = weak.lock()) fn();  // held while fn runs
  };
  if (home_.mailbox) {
    home_.mailbox->post(std::move(task));
  } else {
    asio::post(home_.executor, std::move(task));
  }
}

// ---- polling

std::string EioSession::open_text(bool can_upgrade) const {
  return open_packet({sid_, can_upgrade, static_cast<int>(options_.ping_interval.count()),
                      static_cast<int>(options_.ping_timeout.count()), options_.max_payload});
}

net::HttpResponse EioSession::open_polling() {
  auto open = open_text(true);
  if (handler_) handler_->on_open();
  schedule_ping();
  return text_response(std::move(open), kTextPlain);
}

asio::awaitable<net::HttpResponse> EioSession::poll() {
  auto self = shared_from_this();  // the session outlives the poll
  if (closed_) {
    if (std::exchange(final_noop_, false)) {
      // The client closed by a POST that overtook this poll (they come on different connections,
      // maybe different shards): it gets the noop it would have had.
      if (registry_) registry_->remove(sid_);
      co_return text_response("6", kTextPlain);
    }
    co_return refusal(kUnknownSid);
  }
  if (transport_ == Transport::websocket) co_return refusal(kBadRequest);
  if (poll_pending_) {
    // The reference's rule: a second concurrent GET ends the session; the first gets the close
    // packet, this one 400.
    end("overlap from client", false);
    co_return refusal(kBadRequest);
  }
  if (buffer_.empty()) {
    poll_pending_ = true;
    log::debug("event=eio_poll_held {}", describe());
    // While the client upgrades (after 2probe) a poll is answered with a noop after 100 ms (the
    // reference's interval), unless the upgrade completes first: then it is a bad request. A
    // poll held before 2probe gets the same deadline then.
    if (probed_) {
      poll_wake_.expires_after(kUpgradeNoopDelay);
    } else {
      poll_wake_.expires_at(asio::steady_timer::time_point::max());
    }
    boost::system::error_code ec;
    while (buffer_.empty() && transport_ == Transport::polling) {
      co_await poll_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && buffer_.empty()) buffer_.emplace_back("6");  // the upgrade's 100 ms are up
    }
    poll_pending_ = false;
    if (buffer_.empty()) co_return refusal(kBadRequest);  // upgraded meanwhile
  }
  co_return take_payload();
}

net::HttpResponse EioSession::take_payload() {
  std::string body;
  body.reserve(buffered_bytes_ + buffer_.size());
  for (const auto& record : buffer_) {
    if (!body.empty()) body += kRecordSeparator;
    body += record;
  }
  buffer_.clear();
  buffered_bytes_ = 0;
  return text_response(std::move(body), kTextPlain);
}

asio::awaitable<net::HttpResponse> EioSession::post_payload(std::string body) {
  auto self = shared_from_this();
  if (closed_) co_return refusal(kUnknownSid);
  if (transport_ == Transport::websocket) co_return refusal(kBadRequest);
  if (post_running_) {
    end("data request overlap from client", false);
    co_return refusal(kBadRequest);
  }
  auto packets = decode_payload(body);
  if (!packets) {
    log::info("event=eio_protocol_error {} error=\"parse error\"", describe());
    end("parse error", false);
    co_return refusal(kBadRequest);
  }
  // One POST's packets run in order, and the next POST waits for them (post_running_).
  struct Running {
    bool& flag;
    explicit Running(bool& f) : flag(f) { flag = true; }
    ~Running() { flag = false; }
  } running(post_running_);
  for (const auto& packet : *packets) {
    if (closed_) break;
    if (auto later = on_packet(packet)) co_await std::move(*later);
  }
  co_return text_response("ok", "text/html");
}

// ---- WebSocket

void EioSession::open_websocket(const std::shared_ptr<WsConnection>& conn) {
  ws_ = conn;
  write_ws(ws_, net::text_frame(open_text(false)));
  if (handler_) handler_->on_open();
  schedule_ping();
}

void EioSession::probe_websocket(const std::shared_ptr<WsConnection>& conn) {
  if (closed_ || transport_ == Transport::websocket || probe_) {
    // The reference closes a WebSocket for a session already upgraded or upgrading.
    close_ws(conn, closed_ ? "session closed" : "already upgraded");
    return;
  }
  probe_ = conn;
  upgrade_timer_.expires_after(options_.upgrade_timeout);
  upgrade_timer_.async_wait([weak = weak_from_this(), this](boost::system::error_code ec) {
    if (ec || !weak.lock()) return;
    abandon_upgrade("upgrade timeout");
  });
}

std::optional<asio::awaitable<void>> EioSession::on_ws_text(const WsConnection* conn,
                                                            std::string_view text) {
  if (closed_) return std::nullopt;
  const auto packet = decode_text(text);
  if (conn == ws_.get()) {
    if (!packet) {
      log::info("event=eio_protocol_error {} error=\"parse error\"", describe());
      end("parse error", false);
      return std::nullopt;
    }
    return on_packet(*packet);
  }
  if (conn != probe_.get()) return std::nullopt;  // refused, or already replaced
  if (packet && packet->type == PacketType::ping && packet->data == "probe") {
    write_ws(probe_, net::text_frame("3probe"));
    probed_ = true;
    // The pending poll ends with a noop within 100 ms, so that the client can pause polling and
    // send 5 (the reference's timing; a 5 that comes first makes that poll a bad request, as it
    // would be after the upgrade). The poll's wait goes on to the new expiry (see poll()).
    if (poll_pending_) poll_wake_.expires_after(kUpgradeNoopDelay);
  } else if (packet && packet->type == PacketType::upgrade) {
    finish_upgrade();
  } else {
    abandon_upgrade("invalid upgrade packet");
  }
  return std::nullopt;
}

std::optional<asio::awaitable<void>> EioSession::on_ws_binary(const WsConnection* conn,
                                                              std::string bytes) {
  if (closed_) return std::nullopt;
  if (conn == probe_.get()) {
    abandon_upgrade("binary message during the upgrade");
  } else if (conn == ws_.get() && handler_) {
    return handler_->on_binary(std::move(bytes));
  }
  return std::nullopt;
}

asio::awaitable<void> EioSession::ws_message_task(const WsConnection* conn, std::string data,
                                                  bool binary) {
  auto self = shared_from_this();
  auto later = binary ? on_ws_binary(conn, std::move(data)) : on_ws_text(conn, data);
  if (later) co_await std::move(*later);
}

void EioSession::on_ws_closed(const WsConnection* conn) {
  if (conn == probe_.get()) {
    upgrade_timer_.cancel();
    probe_.reset();
    probed_ = false;
  } else if (conn == ws_.get()) {
    ws_.reset();  // gone: nothing more is written to it
    end("transport close", false);
  }
}

void EioSession::finish_upgrade() {
  upgrade_timer_.cancel();
  ws_ = std::move(probe_);
  transport_ = Transport::websocket;
  probed_ = false;
  // What waited for a poll goes over the WebSocket, in order; a poll still pending ends.
  auto waiting = std::move(buffer_);
  buffer_.clear();
  buffered_bytes_ = 0;
  for (auto& record : waiting) {
    if (!record.empty() && record.front() == 'b') {
      auto bytes = auth::base64_decode(std::string_view(record).substr(1));
      write_ws(ws_, net::binary_frame(std::move(bytes).value_or(std::string())));
    } else {
      write_ws(ws_, net::text_frame(std::move(record)));
    }
  }
  if (poll_pending_) wake_poll();  // a poll still waiting for its noop: 400
  log::debug("event=eio_upgraded {}", describe());
}

void EioSession::abandon_upgrade(std::string_view why) {
  upgrade_timer_.cancel();
  if (probe_) close_ws(probe_, why);
  probe_.reset();
  probed_ = false;
}

// ---- packets

std::optional<asio::awaitable<void>> EioSession::on_packet(const Packet& packet) {
  switch (packet.type) {
    case PacketType::pong:
      if (awaiting_pong_) {
        awaiting_pong_ = false;
        schedule_ping();
      }
      return std::nullopt;
    case PacketType::message:
      if (!handler_) return std::nullopt;
      if (packet.binary) return handler_->on_binary(packet.data);
      return handler_->on_message(packet.data);
    case PacketType::close:
      end("client closed", true);
      return std::nullopt;
    default:  // open, ping (v4: only the server pings), upgrade, noop: ignored, as the reference does
      return std::nullopt;
  }
}

void EioSession::send_message(std::string_view text) {
  send_text_packet(PacketType::message, text);
}

void EioSession::send_text_packet(PacketType type, std::string_view data) {
  std::string record;
  record.reserve(data.size() + 1);
  record += static_cast<char>(type);
  record += data;
  send_record(std::move(record));
}

void EioSession::send_binary(std::string bytes) {
  if (closed_) return;
  if (transport_ == Transport::websocket) {
    if (ws_) write_ws(ws_, net::binary_frame(std::move(bytes)));
    return;
  }
  send_record("b" + auth::base64_encode(bytes));
}

void EioSession::send_frame(const net::Frame& frame) {
  if (closed_) return;
  if (transport_ == Transport::websocket) {
    if (ws_) write_ws(ws_, frame);
    return;
  }
  send_record(std::string(frame->payload()));
}

void EioSession::send_record(std::string record) {
  if (closed_) return;
  if (transport_ == Transport::websocket) {
    if (ws_) write_ws(ws_, net::text_frame(std::move(record)));
    return;
  }
  if (overflowed_) return;
  if (buffered_bytes_ + record.size() > options_.max_buffered_bytes) {
    log::warn("event=eio_slow_consumer {} buffered_bytes={}", describe(), buffered_bytes_);
    // Ended from the shard's loop, not here: a send may come from inside the Hub's delivery to
    // this shard's sessions, which ending the session would change under it.
    overflowed_ = true;
    post([this] { end("slow consumer", false); });
    return;
  }
  buffered_bytes_ += record.size() + 1;
  buffer_.push_back(std::move(record));
  if (poll_pending_) wake_poll();
}

void EioSession::wake_poll() { poll_wake_.cancel(); }

void EioSession::write_ws(const std::shared_ptr<WsConnection>& conn, net::Frame frame) {
  if (conn->shard() == home_.shard) {
    conn->send(std::move(frame));
  } else {
    conn->post([conn, frame = std::move(frame)]() mutable { conn->send(std::move(frame)); });
  }
}

void EioSession::close_ws(const std::shared_ptr<WsConnection>& conn, std::string_view why) {
  if (conn->shard() == home_.shard) {
    conn->close(net::close_code::normal, why);
  } else {
    conn->post([conn, why = std::string(why)] { conn->close(net::close_code::normal, why); });
  }
}

void EioSession::end(std::string_view reason, bool by_client) {
  if (closed_) return;
  closed_ = true;
  log::debug("event=eio_close {} reason=\"{}\"", describe(), reason);
  heartbeat_.cancel();
  upgrade_timer_.cancel();
  if (poll_pending_) {
    buffer_.assign(1, by_client ? "6" : "1");
    wake_poll();
  }
  if (ws_) close_ws(ws_, reason);
  if (probe_) close_ws(probe_, reason);
  ws_.reset();  // the connections hold their carriers, which hold this session
  probe_.reset();
  if (by_client && transport_ == Transport::polling && !poll_pending_ && registry_) {
    // A poll may still be on its way (see poll()): it gets a noop for up to a second.
    final_noop_ = true;
    heartbeat_.expires_after(std::chrono::seconds(1));
    heartbeat_.async_wait([registry = registry_, sid = sid_](boost::system::error_code ec) {
      if (!ec) registry->remove(sid);
    });
  } else if (registry_) {
    registry_->remove(sid_);
  }
  if (auto handler = std::move(handler_)) {
    handler->on_close(reason);
    // Freed after the call that ended the session unwinds: it may be one of the handler's own.
    asio::post(home_.executor, [handler = std::move(handler)] {});
  }
}

// Every ping_interval a ping; no pong within ping_timeout ends the session.
void EioSession::schedule_ping() {
  heartbeat_.expires_after(options_.ping_interval);
  heartbeat_.async_wait([weak = weak_from_this(), this](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || closed_) return;
    send_text_packet(PacketType::ping, "");
    awaiting_pong_ = true;
    heartbeat_.expires_after(options_.ping_timeout);
    heartbeat_.async_wait([weak, this](boost::system::error_code ec2) {
      auto again = weak.lock();
      if (ec2 || !again || !awaiting_pong_) return;
      log::info("event=eio_ping_timeout {}", describe());
      end("ping timeout", false);
    });
  });
}

// ---- EioRegistry

void EioRegistry::add(const std::shared_ptr<EioSession>& session) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(session->sid(), session);
}

std::shared_ptr<EioSession> EioRegistry::find(const std::string& sid) const {
  std::lock_guard lock(mutex_);
  const auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second;
}

void EioRegistry::remove(const std::string& sid) {
  std::lock_guard lock(mutex_);
  sessions_.erase(sid);
}

void EioRegistry::close_all(std::string_view reason) {
  std::vector<std::shared_ptr<EioSession>> sessions;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [sid, session] : sessions_) sessions.push_back(session);
  }
  for (const auto& session : sessions) {
    session->post([session, why = std::string(reason)] { session->close(why); });
  }
}

// ---- EioWsCarrier

bool EioWsCarrier::same_shard() const { return conn_->shard() == session_->home().shard; }

void EioWsCarrier::on_open(const std::shared_ptr<WsConnection>& conn) {
  conn_ = conn;
  if (!session_) {
    session_ = make_({conn->executor(), conn->shard(), conn->id(), &conn->mailbox()});
    session_->open_websocket(conn);
  } else if (same_shard()) {
    session_->probe_websocket(conn);
  } else {
    session_->post([session = session_, conn] { session->probe_websocket(conn); });
  }
}

std::optional<asio::awaitable<void>> EioWsCarrier::on_text(std::string_view text) {
  return message(text, false);
}

std::optional<asio::awaitable<void>> EioWsCarrier::on_binary(std::string_view bytes) {
  return message(bytes, true);
}

std::optional<asio::awaitable<void>> EioWsCarrier::message(std::string_view data, bool binary) {
  if (!session_) return std::nullopt;
  if (same_shard()) {
    return binary ? session_->on_ws_binary(conn_.get(), std::string(data))
                  : session_->on_ws_text(conn_.get(), data);
  }
  // The session is on another shard: it handles the message there, and this connection reads
  // its next one when that is done (one at a time, as on the home shard).
  return message_on_home(std::string(data), binary);
}

asio::awaitable<void> EioWsCarrier::message_on_home(std::string data, bool binary) {
  auto session = session_;
  auto task = session->ws_message_task(conn_.get(), std::move(data), binary);
  co_await asio::co_spawn(session->home().executor, std::move(task), asio::use_awaitable);
}

void EioWsCarrier::on_close() {
  if (!session_) return;
  if (same_shard()) {
    session_->on_ws_closed(conn_.get());
  } else {
    session_->post([session = session_, conn = conn_] { session->on_ws_closed(conn.get()); });
  }
  session_.reset();
  conn_.reset();
}

}  // namespace parley::api::eio
