#include "api/rest_routes.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "api/codec.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;
using net::offload;
using namespace chat;

namespace {

using Params = std::vector<std::string>;
using Awaitable = asio::awaitable<HttpResponse>;

HttpResponse respond(int status, const json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

HttpResponse fail(const Error& e) { return error_response(e); }

Result<json::object> body_object(const HttpRequest& req) {
  if (req.body.empty()) return make_error(Errc::bad_request, "expected a JSON object body");
  return parse_object(req.body);
}

// ?before=&after=&limit= as integers.
Result<HistoryRequest> history_request(const HttpRequest& req) {
  HistoryRequest h;
  for (auto [name, field] : std::array<std::pair<const char*, std::optional<std::int64_t>*>, 3>{
           {{"before", &h.before}, {"after", &h.after}, {"limit", &h.limit}}}) {
    auto text = query_param(req.query, name);
    if (!text) continue;
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
      return make_error(Errc::bad_request, std::string(name) + " must be an integer");
    }
    *field = value;
  }
  return h;
}

json::object group_json(const GroupInfo& info) {
  auto o = conversation_json(info.group);
  json::array members;
  for (const auto& m : info.members) members.push_back(member_json(m));
  o["members"] = std::move(members);
  return o;
}

json::object login_json(const LoginResult& r) {
  return json::object{{"token", r.access_token},
                      {"refresh_token", r.refresh_token},
                      {"expires_in", r.expires_in},
                      {"user", user_json(r.user)}};
}

// Sends one message and waits until it is durable; used by both REST send routes.
asio::awaitable<Result<Appended>> send_and_wait(ApiContext& ctx, const Caller& caller,
                                                SendRequest request, bool group_only) {
  auto prepared = co_await prepare_send(ctx, caller, std::move(request), group_only);
  if (!prepared) co_return prepared.error();
  co_return co_await net::await_callback<Result<Appended>>(
      [&](auto done) { ctx.service.append(std::move(*prepared), std::move(done)); });
}

// Reads the send fields shared by /chat/send and /groups/{id}/send.
Result<SendRequest> send_fields(const json::object& body, IdGenerator& ids) {
  SendRequest s;
  auto message = req_string(body, "message");
  if (!message) return message.error();
  s.body = std::move(*message);
  auto client_id = opt_string(body, "client_msg_id");
  if (!client_id) return client_id.error();
  // Without a client_msg_id a REST send is not idempotent: each call is a new message.
  s.client_msg_id = client_id->value_or(ids.uuid_v7(SystemClock().now_ms()));
  auto reply_to = opt_int(body, "reply_to");
  if (!reply_to) return reply_to.error();
  s.reply_to = *reply_to;
  return s;
}

SystemIdGenerator& request_ids() {
  static SystemIdGenerator ids;
  return ids;
}

// ---- handlers ------------------------------------------------------------------------------------

Awaitable health(ApiContext&, HttpRequest&, const Caller*, const Params&) {
  co_return respond(200, json::object{{"status", "ok"}});
}

Awaitable metrics(ApiContext& ctx, HttpRequest&, const Caller*, const Params&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = ctx.metrics ? ctx.metrics() : std::string();
  co_return r;
}

Awaitable index_page(ApiContext&, HttpRequest&, const Caller*, const Params&) {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!doctype html><meta charset=utf-8><title>Parley</title>"
      "<h1>Parley</h1><p>This node is running. The API is described in docs/protocol.md: "
      "REST under <code>/auth</code>, <code>/chat</code>, <code>/groups</code>, "
      "<code>/conversations</code>; WebSocket at <code>/ws</code>.</p>";
  co_return r;
}

Awaitable register_user(ApiContext& ctx, HttpRequest& req, const Caller*, const Params&) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto username = req_string(*body, "username");
  if (!username) co_return fail(username.error());
  auto password = req_string(*body, "password");
  if (!password) co_return fail(password.error());
  auto user = co_await offload(ctx.blocking,
                               [&] { return ctx.service.register_user(*username, *password); });
  if (!user) co_return fail(user.error());
  co_return respond(201, json::object{{"user", user_json(*user)}});
}

Awaitable login(ApiContext& ctx, HttpRequest& req, const Caller*, const Params&) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto username = req_string(*body, "username");
  if (!username) co_return fail(username.error());
  auto password = req_string(*body, "password");
  if (!password) co_return fail(password.error());
  auto device = opt_string(*body, "device");
  if (!device) co_return fail(device.error());
  const auto device_name = device->value_or(req.user_agent);
  auto result = co_await offload(
      ctx.blocking, [&] { return ctx.service.login(*username, *password, device_name); });
  if (!result) co_return fail(result.error());
  co_return respond(200, login_json(*result));
}

Awaitable refresh(ApiContext& ctx, HttpRequest& req, const Caller*, const Params&) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto token = req_string(*body, "refresh_token");
  if (!token) co_return fail(token.error());
  auto result = co_await offload(ctx.blocking, [&] { return ctx.service.refresh(*token); });
  if (!result) co_return fail(result.error());
  co_return respond(200, login_json(*result));
}

Awaitable logout(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params&) {
  auto result = co_await offload(ctx.blocking, [&] { return ctx.service.logout(*caller); });
  if (!result) co_return fail(result.error());
  co_return respond(200, json::object{{"ok", true}});
}

Awaitable me(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params&) {
  auto user = co_await offload(ctx.blocking, [&] { return ctx.service.me(*caller); });
  if (!user) co_return fail(user.error());
  co_return respond(200, json::object{{"user", user_json(*user)}});
}

Awaitable chat_send(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params&) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto recipient = req_string(*body, "recipient");
  if (!recipient) co_return fail(recipient.error());
  auto send = send_fields(*body, request_ids());
  if (!send) co_return fail(send.error());
  send->to = std::move(*recipient);
  auto sent = co_await send_and_wait(ctx, *caller, std::move(*send), false);
  if (!sent) co_return fail(sent.error());
  co_return respond(200, message_json(sent->msg));
}

Awaitable chat_messages(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params&) {
  auto recipient = query_param(req.query, "recipient");
  if (!recipient || recipient->empty()) {
    co_return fail(make_error(Errc::bad_request, "recipient is required"));
  }
  auto h = history_request(req);
  if (!h) co_return fail(h.error());
  auto page = co_await offload(
      ctx.blocking, [&] { return ctx.service.direct_history(*caller, *recipient, *h); });
  if (!page) co_return fail(page.error());
  co_return respond(200, page_json(*page));
}

Awaitable group_create(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params&) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto name = req_string(*body, "name");
  if (!name) co_return fail(name.error());
  auto passcode = opt_string(*body, "passcode");
  if (!passcode) co_return fail(passcode.error());
  std::vector<std::string> members;
  if (const auto* list = body->if_contains("members"); list && !list->is_null()) {
    if (!list->is_array()) co_return fail(make_error(Errc::bad_request, "members must be an array"));
    for (const auto& m : list->get_array()) {
      if (!m.is_string()) {
        co_return fail(make_error(Errc::bad_request, "members must be usernames"));
      }
      members.emplace_back(m.get_string());
    }
  }
  auto info = co_await offload(ctx.blocking, [&]() -> Result<GroupInfo> {
    auto group = ctx.service.create_group(*caller, *name, members, passcode->value_or(""));
    if (!group) return group.error();
    return ctx.service.group_info(*caller, group->id);
  });
  if (!info) co_return fail(info.error());
  co_return respond(201, group_json(*info));
}

Awaitable group_get(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params& p) {
  auto info = co_await offload(ctx.blocking, [&] { return ctx.service.group_info(*caller, p[0]); });
  if (!info) co_return fail(info.error());
  co_return respond(200, group_json(*info));
}

Awaitable group_add(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto member = req_string(*body, "member");
  if (!member) co_return fail(member.error());
  auto info = co_await offload(ctx.blocking, [&]() -> Result<GroupInfo> {
    if (auto s = ctx.service.add_member(*caller, p[0], *member); !s) return s.error();
    return ctx.service.group_info(*caller, p[0]);
  });
  if (!info) co_return fail(info.error());
  co_return respond(200, group_json(*info));
}

Awaitable group_remove(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto member = req_string(*body, "member");
  if (!member) co_return fail(member.error());
  auto removed = co_await offload(ctx.blocking,
                                  [&] { return ctx.service.remove_member(*caller, p[0], *member); });
  if (!removed) co_return fail(removed.error());
  co_return respond(200, json::object{{"conv", p[0]}, {"removed", *member}});
}

Awaitable group_join(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto passcode = opt_string(*body, "passcode");
  if (!passcode) co_return fail(passcode.error());
  auto info = co_await offload(ctx.blocking, [&]() -> Result<GroupInfo> {
    auto joined = ctx.service.join_group(*caller, p[0], passcode->value_or(""));
    if (!joined) return joined.error();
    return ctx.service.group_info(*caller, p[0]);
  });
  if (!info) co_return fail(info.error());
  co_return respond(200, group_json(*info));
}

Awaitable group_send(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto send = send_fields(*body, request_ids());
  if (!send) co_return fail(send.error());
  send->conv = p[0];
  auto sent = co_await send_and_wait(ctx, *caller, std::move(*send), true);
  if (!sent) co_return fail(sent.error());
  co_return respond(200, message_json(sent->msg));
}

Awaitable group_messages(ApiContext& ctx, HttpRequest& req, const Caller* caller,
                         const Params& p) {
  auto h = history_request(req);
  if (!h) co_return fail(h.error());
  auto page =
      co_await offload(ctx.blocking, [&] { return ctx.service.group_history(*caller, p[0], *h); });
  if (!page) co_return fail(page.error());
  co_return respond(200, page_json(*page));
}

Awaitable conversation_list(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params&) {
  auto list = co_await offload(ctx.blocking, [&] { return ctx.service.conversations(*caller); });
  if (!list) co_return fail(list.error());
  json::array out;
  for (const auto& s : *list) out.push_back(summary_json(s));
  co_return respond(200, json::object{{"conversations", std::move(out)}});
}

Awaitable conversation_messages(ApiContext& ctx, HttpRequest& req, const Caller* caller,
                                const Params& p) {
  auto h = history_request(req);
  if (!h) co_return fail(h.error());
  auto page =
      co_await offload(ctx.blocking, [&] { return ctx.service.history(*caller, p[0], *h); });
  if (!page) co_return fail(page.error());
  co_return respond(200, page_json(*page));
}

Result<Seq> seq_param(std::string_view text) {
  Seq value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1) {
    return make_error(Errc::bad_request, "seq must be a positive integer");
  }
  return value;
}

// POST /conversations/{id}/read and /delivered: {"seq": N}
Awaitable move_cursor(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p,
                      bool read) {
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto seq = req_int(*body, "seq");
  if (!seq) co_return fail(seq.error());
  auto cursors = co_await offload(ctx.blocking, [&] {
    return ctx.service.mark(*caller, p[0], read ? 0 : *seq, read ? *seq : 0);
  });
  if (!cursors) co_return fail(cursors.error());
  co_return respond(200, json::object{{"conv", p[0]},
                                      {"delivered_seq", cursors->delivered_seq},
                                      {"read_seq", cursors->read_seq}});
}

Awaitable conversation_read(ApiContext& ctx, HttpRequest& req, const Caller* caller,
                            const Params& p) {
  return move_cursor(ctx, req, caller, p, true);
}

Awaitable conversation_delivered(ApiContext& ctx, HttpRequest& req, const Caller* caller,
                                 const Params& p) {
  return move_cursor(ctx, req, caller, p, false);
}

Awaitable conversation_changes(ApiContext& ctx, HttpRequest& req, const Caller* caller,
                               const Params& p) {
  auto h = history_request(req);
  if (!h) co_return fail(h.error());
  auto page = co_await offload(ctx.blocking, [&] {
    return ctx.service.changes(*caller, p[0], h->after.value_or(0), h->limit);
  });
  if (!page) co_return fail(page.error());
  co_return respond(200, page_json(*page));
}

Awaitable message_edit(ApiContext& ctx, HttpRequest& req, const Caller* caller, const Params& p) {
  auto seq = seq_param(p[1]);
  if (!seq) co_return fail(seq.error());
  auto body = body_object(req);
  if (!body) co_return fail(body.error());
  auto text = req_string(*body, "message");
  if (!text) co_return fail(text.error());
  auto msg = co_await offload(ctx.blocking, [&] {
    return ctx.service.change_message(*caller, p[0], *seq, std::move(*text));
  });
  if (!msg) co_return fail(msg.error());
  co_return respond(200, message_json(*msg));
}

Awaitable message_delete(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params& p) {
  auto seq = seq_param(p[1]);
  if (!seq) co_return fail(seq.error());
  auto msg = co_await offload(ctx.blocking, [&] {
    return ctx.service.change_message(*caller, p[0], *seq, std::nullopt);
  });
  if (!msg) co_return fail(msg.error());
  co_return respond(200, message_json(*msg));
}

Awaitable user_presence(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params& p) {
  auto info = co_await offload(ctx.blocking, [&] { return ctx.service.presence_of(*caller, p[0]); });
  if (!info) co_return fail(info.error());
  co_return respond(200, presence_json(*info));
}

Awaitable sync_state(ApiContext& ctx, HttpRequest&, const Caller* caller, const Params&) {
  auto state = co_await offload(ctx.blocking, [&] { return ctx.service.sync(*caller); });
  if (!state) co_return fail(state.error());
  co_return respond(200, sync_json(*state));
}

// ---- routing -------------------------------------------------------------------------------------

using Handler = Awaitable (*)(ApiContext&, HttpRequest&, const Caller*, const Params&);

struct Route {
  std::string_view method;
  std::string_view pattern;  // "{}" matches one path segment and captures it
  bool needs_auth;
  Handler handler;
};

constexpr Route kRoutes[] = {
    {"GET", "/", false, index_page},
    {"GET", "/healthz", false, health},
    {"GET", "/metrics", false, metrics},
    {"POST", "/auth/register", false, register_user},
    {"POST", "/auth/login", false, login},
    {"POST", "/auth/refresh", false, refresh},
    {"POST", "/auth/logout", true, logout},
    {"GET", "/me", true, me},
    {"POST", "/chat/send", true, chat_send},
    {"GET", "/chat/messages", true, chat_messages},
    {"POST", "/groups/create", true, group_create},
    {"GET", "/groups/{}", true, group_get},
    {"PUT", "/groups/{}/add-member", true, group_add},
    {"DELETE", "/groups/{}/remove-member", true, group_remove},
    {"POST", "/groups/{}/join", true, group_join},
    {"POST", "/groups/{}/send", true, group_send},
    {"GET", "/groups/{}/messages", true, group_messages},
    {"GET", "/conversations", true, conversation_list},
    {"GET", "/conversations/{}/messages", true, conversation_messages},
    {"GET", "/conversations/{}/changes", true, conversation_changes},
    {"POST", "/conversations/{}/read", true, conversation_read},
    {"POST", "/conversations/{}/delivered", true, conversation_delivered},
    {"PATCH", "/conversations/{}/messages/{}", true, message_edit},
    {"DELETE", "/conversations/{}/messages/{}", true, message_delete},
    {"GET", "/users/{}/presence", true, user_presence},
    {"GET", "/sync", true, sync_state},
};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    const auto next = path.find('/', pos);
    const auto end = next == path.npos ? path.size() : next;
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool match(std::string_view pattern, const std::vector<std::string_view>& path, Params& params) {
  const auto parts = split_path(pattern);
  if (parts.size() != path.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{}") {
      if (path[i].empty()) return false;
      params.emplace_back(path[i]);
    } else if (parts[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

asio::awaitable<HttpResponse> handle_rest(ApiContext& ctx, HttpRequest& req) {
  if (req.path.empty() || req.path.front() != '/') {
    co_return fail(make_error(Errc::bad_request, "request target must be an absolute path"));
  }
  const auto path = split_path(req.path);
  Params params;
  std::string allowed;
  for (const auto& route : kRoutes) {
    if (!match(route.pattern, path, params)) continue;
    if (route.method != req.method) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(route.method);
      continue;
    }
    std::optional<Caller> caller;
    if (route.needs_auth) {
      auto token = bearer_token(req.authorization);
      if (!token) {
        co_return fail(make_error(Errc::unauthenticated, "an Authorization: Bearer token is required"));
      }
      auto who = ctx.service.authenticate(*token);
      if (!who) co_return fail(who.error());
      caller = std::move(*who);
    }
    co_return co_await route.handler(ctx, req, caller ? &*caller : nullptr, params);
  }
  if (!allowed.empty()) {
    auto r = fail(make_error(Errc::bad_request, "method not allowed; use " + allowed));
    r.status = 405;
    r.headers.emplace_back("Allow", allowed);
    co_return r;
  }
  co_return fail(make_error(Errc::not_found, "no such route"));
}

}  // namespace parley::api
