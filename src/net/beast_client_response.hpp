#pragma once
// Internal to net/: a Beast response as the plain ClientResponse both HTTP clients return
// (net/http_client.hpp, net/web_client.hpp).

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_client.hpp"

namespace parley::net {

inline ClientResponse to_client_response(boost::beast::http::response<boost::beast::http::string_body>&& res) {
  ClientResponse out;
  out.status = res.result_int();
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace parley::net
