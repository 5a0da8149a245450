#pragma once
// WsCarriedSession: a ClientSession carried by one WebSocket connection for its whole life —
// /ws (ws_protocol.cpp). (Socket.IO's outlives its connections: socketio/eio_session.hpp.) What such a session does with its connection
// (run on its shard, its executor, its log name) is here once; the transport sets conn_ in
// on_open and drops it in on_close (which breaks the session ↔ connection cycle).
// Threads: the connection's shard.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/client_session.hpp"
#include "net/ws_connection.hpp"

namespace parley::api {

class WsCarriedSession : public ClientSession, public net::WsListener {
 public:
  // `transport`: for logs ("ws"); a string literal.
  WsCarriedSession(ApiContext& ctx, std::optional<Caller> caller, std::string_view transport)
      : ClientSession(ctx, std::move(caller)), transport_(transport) {}

 protected:
  void on_shard(std::function<void()> fn) override {
    if (conn_) conn_->post(std::move(fn));
  }
  boost::asio::any_io_executor executor() override { return conn_->executor(); }
  std::size_t shard() const override { return conn_->shard(); }
  std::string describe() const override {
    return "transport=" + std::string(transport_) + " conn=" + std::to_string(conn_ ? conn_->id() : 0);
  }

  std::shared_ptr<net::WsConnection> conn_;

 private:
  std::string_view transport_;
};

}  // namespace parley::api
