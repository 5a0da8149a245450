#include "api/socketio/sio_connection.hpp"

#include <boost/json.hpp>

#include "core/logging.hpp"

namespace parley::api::sio {

namespace json = boost::json;

SioConnection::SioConnection(eio::EioSession& session, SioNamespaces& namespaces,
                             std::chrono::milliseconds connect_timeout)
    : session_(&session), namespaces_(namespaces), connect_timeout_(connect_timeout) {}

void SioConnection::on_open() {
  // No namespace joined within the connect timeout: the connection closes (no CONNECT_ERROR,
  // as the reference server does).
  connect_timer_ =
      std::make_unique<boost::asio::steady_timer>(session_->home().executor, connect_timeout_);
  connect_timer_->async_wait([weak = session_->weak_from_this(), this](boost::system::error_code ec) {
    auto session = weak.lock();
    if (ec || !session || session->closed()) return;
    for (const auto& [nsp, joined] : namespaces_joined_) {
      if (joined.accepted) return;
    }
    log::info("event=socketio_connect_timeout {}", session->describe());
    session->close("connect timeout");
  });
}

std::optional<boost::asio::awaitable<void>> SioConnection::on_message(std::string_view text) {
  if (attachments_.waiting()) return fail("a packet while a binary packet's attachments are due");
  auto packet = decode(text);
  if (!packet) return fail(packet.error().message);
  if ((packet->type == PacketType::binary_event || packet->type == PacketType::binary_ack) &&
      packet->attachments > 0) {
    attachments_.begin(std::move(*packet));
    return std::nullopt;
  }
  return dispatch(*packet);
}

std::optional<boost::asio::awaitable<void>> SioConnection::on_binary(std::string bytes) {
  auto done = attachments_.add(std::move(bytes));
  if (!done) return fail(done.error().message);
  if (!*done) return std::nullopt;
  return dispatch(**done);
}

std::optional<boost::asio::awaitable<void>> SioConnection::dispatch(Packet& packet) {
  switch (packet.type) {
    case PacketType::connect: {
      if (namespaces_joined_.contains(packet.nsp)) return fail("CONNECT to a namespace already joined");
      // Recorded first: the socket may answer (accept or refuse) inside connect().
      namespaces_joined_.emplace(packet.nsp, Joined{});
      auto socket = namespaces_.connect(*this, packet.nsp, packet.data);
      const auto it = namespaces_joined_.find(packet.nsp);
      if (!socket) {
        if (it != namespaces_joined_.end()) namespaces_joined_.erase(it);
        send({PacketType::connect_error, packet.nsp, std::nullopt,
              json::object{{"message", "Invalid namespace"}}, 0, {}});
      } else if (it != namespaces_joined_.end()) {
        it->second.socket = std::move(socket);
      }
      return std::nullopt;
    }
    case PacketType::disconnect: {
      const auto it = namespaces_joined_.find(packet.nsp);
      if (it == namespaces_joined_.end()) return std::nullopt;
      auto socket = std::move(it->second.socket);
      namespaces_joined_.erase(it);
      if (socket) socket->on_leave("client namespace disconnect");
      return std::nullopt;
    }
    case PacketType::event:
    case PacketType::binary_event: {
      const auto it = namespaces_joined_.find(packet.nsp);
      if (it == namespaces_joined_.end() || !it->second.accepted || !it->second.socket) {
        return fail("an event for a namespace not joined");
      }
      return it->second.socket->on_event(packet);
    }
    case PacketType::ack:
    case PacketType::binary_ack:
      return std::nullopt;  // the server asks for no acks: an answer to nothing is dropped
    default:  // CONNECT_ERROR is the server's
      return fail("unexpected Socket.IO packet");
  }
}

void SioConnection::accept(const std::string& nsp) {
  const auto it = namespaces_joined_.find(nsp);
  if (it == namespaces_joined_.end()) return;
  it->second.accepted = true;
  send({PacketType::connect, nsp, std::nullopt,
        json::object{{"sid", eio::new_sid()}}, 0, {}});
}

void SioConnection::refuse(const std::string& nsp, std::string_view message) {
  const auto it = namespaces_joined_.find(nsp);
  if (it == namespaces_joined_.end()) return;
  namespaces_joined_.erase(it);
  send({PacketType::connect_error, nsp, std::nullopt, json::object{{"message", message}}, 0, {}});
}

void SioConnection::leave(const std::string& nsp, std::string_view reason) {
  const auto it = namespaces_joined_.find(nsp);
  if (it == namespaces_joined_.end()) return;
  auto socket = std::move(it->second.socket);
  namespaces_joined_.erase(it);
  send({PacketType::disconnect, nsp, std::nullopt, nullptr, 0, {}});
  if (socket) socket->on_leave(reason);
}

void SioConnection::send(const Packet& packet) {
  if (!session_) return;
  session_->send_message(encode(packet));
  for (const auto& buffer : packet.buffers) session_->send_binary(buffer);
}

void SioConnection::on_close(std::string_view reason) {
  if (connect_timer_) connect_timer_->cancel();
  session_ = nullptr;
  auto joined = std::move(namespaces_joined_);
  namespaces_joined_.clear();
  for (auto& [nsp, entry] : joined) {
    if (entry.socket) entry.socket->on_leave(reason);
  }
}

std::optional<boost::asio::awaitable<void>> SioConnection::fail(std::string_view why) {
  if (!session_) return std::nullopt;
  log::info("event=socketio_protocol_error {} error=\"{}\"", session_->describe(), why);
  session_->close(why);
  return std::nullopt;
}

}  // namespace parley::api::sio
