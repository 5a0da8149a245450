#include "api/operations.hpp"

#include <array>

#include "api/client_session.hpp"
#include "api/codec.hpp"
#include "net/offload.hpp"
#include "service/key_directory.hpp"

namespace parley::api {

namespace asio = boost::asio;
using namespace chat;

namespace {

// ---- how operations answer

json::object ok_json() { return json::object{{"ok", true}}; }

json::object cursors_json(const ConvId& conv, const Cursors& c) {
  return json::object{
      {"conv", conv}, {"delivered_seq", c.delivered_seq}, {"read_seq", c.read_seq}};
}

json::object group_json(const GroupInfo& info) {
  auto o = conversation_json(info.group);
  json::array members;
  for (const auto& m : info.members) members.push_back(member_json(m));
  o["members"] = std::move(members);
  return o;
}

// ---- parsing: the fields of each request, checked

Result<HistoryRequest> history_fields(const json::object& args) {
  HistoryRequest h;
  for (auto [name, field] : {std::pair{"before", &h.before}, std::pair{"after", &h.after},
                             std::pair{"limit", &h.limit}}) {
    auto v = opt_int(args, name);
    if (!v) return v.error();
    *field = *v;
  }
  return h;
}

// {conv | to, client_msg_id, body, reply_to?, attachments?}
Result<SendRequest> send_fields(const json::object& args) {
  SendRequest s;
  auto conv = opt_string(args, "conv");
  if (!conv) return conv.error();
  auto to = opt_string(args, "to");
  if (!to) return to.error();
  auto client_msg_id = opt_string(args, "client_msg_id");
  if (!client_msg_id) return client_msg_id.error();
  auto body = opt_string(args, "body");
  if (!body) return body.error();
  auto reply_to = opt_int(args, "reply_to");
  if (!reply_to) return reply_to.error();
  s.conv = std::move(*conv);
  s.to = std::move(*to);
  s.client_msg_id = client_msg_id->value_or("");
  s.body = body->value_or("");
  s.reply_to = *reply_to;
  if (const auto* files = args.if_contains("attachments"); files && !files->is_null()) {
    if (!files->is_array()) return make_error(Errc::bad_request, "attachments must be an array of file ids");
    for (const auto& id : files->get_array()) {
      if (!id.is_string()) return make_error(Errc::bad_request, "attachments must be an array of file ids");
      s.attachments.emplace_back(id.get_string());
    }
  }
  return s;
}

// A list of usernames, absent or null meaning none.
Result<std::vector<std::string>> usernames(const json::object& args, std::string_view key) {
  std::vector<std::string> out;
  const auto* list = args.if_contains(key);
  if (!list || list->is_null()) return out;
  if (!list->is_array()) return make_error(Errc::bad_request, std::string(key) + " must be an array");
  for (const auto& m : list->get_array()) {
    if (!m.is_string()) return make_error(Errc::bad_request, std::string(key) + " must be usernames");
    out.emplace_back(m.get_string());
  }
  return out;
}

// ---- accounts (REST only)

// Like blocking(), on the password-hashing pool (api/throttle.hpp's PasswordWork): unavailable
// at once when as many logins as it takes are waiting already.
template <class Call, class Render>
asio::awaitable<OpResult> hashing(ApiContext& ctx, Call call, Render render) {
  if (!ctx.passwords) co_return co_await blocking(ctx, std::move(call), std::move(render));
  if (!ctx.passwords->enter()) {
    co_return make_error(Errc::unavailable, "too many sign-ins at once; retry in a moment");
  }
  struct Leave {
    PasswordWork* work;
    ~Leave() { work->leave(); }
  } leave{ctx.passwords};
  auto result = co_await net::offload(ctx.passwords->pool(), std::move(call));
  if (!result) co_return result.error();
  co_return render(*result);
}

OpReply register_user(OpCall& call) {
  auto username = req_string(call.args, "username");
  if (!username) return username.error();
  auto password = req_string(call.args, "password");
  if (!password) return password.error();
  auto work = [&ctx = call.ctx, u = std::move(*username), p = std::move(*password)] {
    return ctx.service.register_user(u, p);
  };
  return hashing(call.ctx, std::move(work),
                 [](const User& user) { return json::object{{"user", user_json(user)}}; });
}

OpReply login(OpCall& call) {
  auto username = req_string(call.args, "username");
  if (!username) return username.error();
  auto password = req_string(call.args, "password");
  if (!password) return password.error();
  auto device = opt_string(call.args, "device");
  if (!device) return device.error();
  auto work = [&ctx = call.ctx, u = std::move(*username), p = std::move(*password),
               d = device->value_or(std::string(call.default_device))] {
    return ctx.service.login(u, p, d);
  };
  return hashing(call.ctx, std::move(work), login_json);
}

OpReply refresh(OpCall& call) {
  auto token = req_string(call.args, "refresh_token");
  if (!token) return token.error();
  return blocking(
      call.ctx, [&ctx = call.ctx, t = std::move(*token)] { return ctx.service.refresh(t); },
      login_json);
}

OpReply logout(OpCall& call) {
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller]() {
        return ctx.service.logout(caller);
      },
      [](Unit) { return ok_json(); });
}

// {challenge, code, device?}: the second half of a login that answered mfa_required.
OpReply login_mfa(OpCall& call) {
  auto challenge = req_string(call.args, "challenge");
  if (!challenge) return challenge.error();
  auto code = req_string(call.args, "code");
  if (!code) return code.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, challenge = std::move(*challenge), code = std::move(*code),
       device = std::string(call.default_device)] {
        return ctx.service.login_second_factor(challenge, code, device);
      },
      login_json);
}

// {password}: a new secret for an authenticator app (the password checked on the password
// threads, as a login's).
OpReply totp_begin(OpCall& call) {
  auto password = req_string(call.args, "password");
  if (!password) return password.error();
  auto work = [&ctx = call.ctx, caller = *call.caller, password = std::move(*password)] {
    return ctx.service.begin_totp(caller, password);
  };
  return hashing(call.ctx, std::move(work), [](const TotpEnrollment& e) {
    return json::object{{"secret", e.secret}, {"otpauth_uri", e.uri}};
  });
}

// {code}: the first code from the app turns the second factor on.
OpReply totp_confirm(OpCall& call) {
  auto code = req_string(call.args, "code");
  if (!code) return code.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, code = std::move(*code)] {
        return ctx.service.confirm_totp(caller, code);
      },
      [](const std::vector<std::string>& codes) {
        json::array list;
        for (const auto& c : codes) list.emplace_back(c);
        return json::object{{"ok", true}, {"recovery_codes", std::move(list)}};
      });
}

// {code}: a current code or a recovery code turns it off.
OpReply totp_disable(OpCall& call) {
  auto code = req_string(call.args, "code");
  if (!code) return code.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, code = std::move(*code)]() {
        return ctx.service.disable_totp(caller, code);
      },
      [](Unit) { return ok_json(); });
}

// The caller's login sessions, each marked `current` when it is the one asking.
OpReply sessions(OpCall& call) {
  return blocking(
      call.ctx, [&ctx = call.ctx, caller = *call.caller] { return ctx.service.sessions(caller); },
      [current = call.caller->session_id](const std::vector<LoginSessionInfo>& list) {
        json::array out;
        for (const auto& s : list) {
          out.push_back(json::object{{"id", s.id},
                                     {"device", s.device},
                                     {"provider", s.provider},
                                     {"created_at", format_rfc3339(s.created_at)},
                                     {"last_used_at", format_rfc3339(s.last_used_at)},
                                     {"current", s.id == current}});
        }
        return json::object{{"sessions", std::move(out)}};
      });
}

// {session}: ends one of the caller's login sessions (its connections close on every node).
OpReply session_revoke(OpCall& call) {
  auto session = req_int(call.args, "session");
  if (!session) return session.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, id = *session]() {
        return ctx.service.revoke_session(caller, id);
      },
      [](Unit) { return ok_json(); });
}

OpReply logout_all(OpCall& call) {
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller] { return ctx.service.logout_all(caller); },
      [](std::size_t ended) {
        return json::object{{"ok", true}, {"sessions_ended", ended}};
      });
}

OpReply me(OpCall& call) {
  return blocking(
      call.ctx, [&ctx = call.ctx, caller = *call.caller] { return ctx.service.me(caller); },
      [](const User& user) { return json::object{{"user", user_json(user)}}; });
}

// ---- sending

// The ack of a durable send: {"msg": …}.
json::object ack_json(const Appended& appended, json::storage_ptr storage = {}) {
  json::object ack(storage);
  ack["msg"] = message_json(appended.msg, storage);
  return ack;
}

// Prepares (from the store when memory cannot), appends and waits until durable.
asio::awaitable<OpResult> send_and_wait(ApiContext& ctx, Caller caller, SendRequest request,
                                        bool group_only) {
  auto prepared = co_await prepare_send(ctx, caller, std::move(request), group_only);
  if (!prepared) co_return prepared.error();
  auto appended = co_await net::await_callback<Result<Appended>>(
      [&](auto done) { ctx.service.append(std::move(*prepared), std::move(done)); });
  if (!appended) co_return appended.error();
  co_return ack_json(*appended);
}

OpReply send_message(OpCall& call, bool group_only) {
  ClientSession* session = call.session;
  if (session && !session->has_inflight_slot()) {
    return make_error(Errc::rate_limited, "too many unacknowledged sends; wait for acks");
  }
  auto request = send_fields(call.args);
  if (!request) return request.error();
  // A session pipelines: the message is prepared now, from memory (the common case), so one
  // session's messages enter the log in the order they were sent, and the ack comes when it is
  // durable while the session reads on. Anything else waits for durability.
  if (session && !group_only) {
    if (auto fast = call.ctx.service.try_prepare_send(*call.caller, *request)) {
      if (!*fast) return fast->error();
      call.ctx.service.append(std::move(**fast),
                              [later = session->answer_later(*call.id)](Result<Appended> r) mutable {
                                std::move(later).answer([r = std::move(r)](json::storage_ptr s) {
                                  return r ? OpResult(ack_json(*r, std::move(s)))
                                           : OpResult(r.error());
                                });
                              });
      return Later{};
    }
  }
  return send_and_wait(call.ctx, *call.caller, std::move(*request), group_only);
}

OpReply send(OpCall& call) { return send_message(call, false); }
// The group routes' send: a direct conversation's id is "no such group".
OpReply group_send(OpCall& call) { return send_message(call, true); }

// ---- reading

// {conv, before?, after?, limit?} — or {conv, changed_after: REV, limit?}: the messages edited or
// deleted since a rev.
OpReply history(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto h = history_fields(call.args);
  if (!h) return h.error();
  auto changed_after = opt_int(call.args, "changed_after");
  if (!changed_after) return changed_after.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv, h = *h, after = *changed_after] {
        return after ? ctx.service.changes(caller, conv, *after, h.limit)
                     : ctx.service.history(caller, conv, h);
      },
      [conv = *conv](const HistoryPage& page) {
        auto body = page_json(page);
        body.emplace("conv", conv);
        return body;
      });
}

// REST's /groups/{id}/messages: a direct conversation's id is "no such group".
OpReply group_history(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto h = history_fields(call.args);
  if (!h) return h.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv, h = *h] {
        return ctx.service.group_history(caller, conv, h);
      },
      page_json);
}

// REST's /chat/messages?recipient=U: the direct conversation with a user.
OpReply direct_history(OpCall& call) {
  auto peer = req_string(call.args, "to");
  if (!peer || peer->empty()) return make_error(Errc::bad_request, "recipient is required");
  auto h = history_fields(call.args);
  if (!h) return h.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, peer = *peer, h = *h] {
        return ctx.service.direct_history(caller, peer, h);
      },
      page_json);
}

OpReply sync(OpCall& call) {
  return blocking(
      call.ctx, [&ctx = call.ctx, caller = *call.caller] { return ctx.service.sync(caller); },
      sync_json);
}

OpReply conversations(OpCall& call) {
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller] { return ctx.service.conversations(caller); },
      [](const std::vector<ConversationSummary>& list) {
        json::array out;
        for (const auto& s : list) out.push_back(summary_json(s));
        return json::object{{"conversations", std::move(out)}};
      });
}

// {user}
OpReply presence(OpCall& call) {
  auto user = req_string(call.args, "user");
  if (!user) return user.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, user = *user] {
        return ctx.service.presence_of(caller, user);
      },
      presence_json);
}

// ---- receipts, edits, typing

// delivered {conv, seq} / read {conv, seq}
OpReply move_cursor(OpCall& call, bool read) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto seq = req_int(call.args, "seq");
  if (!seq) return seq.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv, seq = *seq, read] {
        return ctx.service.mark(caller, conv, read ? 0 : seq, read ? seq : 0);
      },
      [conv = *conv](const Cursors& c) { return cursors_json(conv, c); });
}
OpReply delivered(OpCall& call) { return move_cursor(call, false); }
OpReply read(OpCall& call) { return move_cursor(call, true); }

// edit {conv, seq, body} / delete {conv, seq} → {"msg": …}
OpReply change(OpCall& call, bool edit) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto seq = req_int(call.args, "seq");
  if (!seq) return seq.error();
  std::optional<std::string> body;
  if (edit) {
    auto text = req_string(call.args, "body");
    if (!text) return text.error();
    body = std::move(*text);
  }
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv, seq = *seq, body = std::move(body)] {
        return ctx.service.change_message(caller, conv, seq, body);
      },
      [](const Message& m) { return json::object{{"msg", message_json(m)}}; });
}
OpReply edit(OpCall& call) { return change(call, true); }
OpReply remove(OpCall& call) { return change(call, false); }

// typing {conv}: rate-limited per session (TypingLimiter); a throttled one is answered
// {"sent": false} and goes nowhere.
OpReply typing(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  if (!call.session) return make_error(Errc::bad_request, "typing needs a live session");
  const auto now = TypingLimiter::Clock::now();
  switch (call.session->typing().check(*conv, now)) {
    case TypingLimiter::Verdict::too_many_conversations:
      return make_error(Errc::rate_limited, "typing in too many conversations");
    case TypingLimiter::Verdict::throttled:
      return json::object{{"sent", false}};
    case TypingLimiter::Verdict::send:
      break;
  }
  // Counted as sent now, so that requests behind this one are throttled; forgotten on failure.
  call.session->typing().sent(*conv, now);
  return [](ApiContext& ctx, Caller caller, ConvId typed_in,
            std::shared_ptr<ClientSession> session) -> asio::awaitable<OpResult> {
    auto status =
        co_await net::offload(ctx.blocking, [&] { return ctx.service.typing(caller, typed_in); });
    if (!status) {
      session->typing().forget(typed_in);
      co_return status.error();
    }
    co_return json::object{{"sent", true}};
  }(call.ctx, *call.caller, *conv, call.session->shared_from_this());
}

OpReply ping(OpCall&) { return json::object{}; }

// ---- groups (REST only)

OpReply group_create(OpCall& call) {
  auto name = req_string(call.args, "name");
  if (!name) return name.error();
  auto passcode = opt_string(call.args, "passcode");
  if (!passcode) return passcode.error();
  auto members = usernames(call.args, "members");
  if (!members) return members.error();
  auto e2ee = opt_bool(call.args, "e2ee");
  if (!e2ee) return e2ee.error();
  const bool hashes = passcode->has_value() && !(*passcode)->empty();
  auto work = [&ctx = call.ctx, caller = *call.caller, name = *name, members = *members,
               passcode = passcode->value_or(""),
               e2ee = e2ee->value_or(false)]() -> Result<GroupInfo> {
    auto group = ctx.service.create_group(caller, name, members, passcode, e2ee);
    if (!group) return group.error();
    return ctx.service.group_info(caller, group->id);
  };
  // A passcode is hashed with argon2id: on the password threads, as logins.
  if (hashes) return hashing(call.ctx, std::move(work), group_json);
  return blocking(call.ctx, std::move(work), group_json);
}

OpReply group_info(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv] {
        return ctx.service.group_info(caller, conv);
      },
      group_json);
}

OpReply group_add(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto member = req_string(call.args, "member");
  if (!member) return member.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv,
       member = *member]() -> Result<GroupInfo> {
        if (auto s = ctx.service.add_member(caller, conv, member); !s) return s.error();
        return ctx.service.group_info(caller, conv);
      },
      group_json);
}

OpReply group_remove(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto member = req_string(call.args, "member");
  if (!member) return member.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, conv = *conv, member = *member]() {
        return ctx.service.remove_member(caller, conv, member);
      },
      [conv = *conv, member = *member](Unit) {
        return json::object{{"conv", conv}, {"removed", member}};
      });
}

OpReply group_join(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  auto passcode = opt_string(call.args, "passcode");
  if (!passcode) return passcode.error();
  // A passcode is checked with argon2id: on the password threads, as logins (and throttled
  // like them: Throttle::passcode).
  auto work = [&ctx = call.ctx, caller = *call.caller, conv = *conv,
               passcode = passcode->value_or("")]() -> Result<GroupInfo> {
    if (auto joined = ctx.service.join_group(caller, conv, passcode); !joined) {
      return joined.error();
    }
    return ctx.service.group_info(caller, conv);
  };
  return hashing(call.ctx, std::move(work), group_json);
}

// {to, e2ee?}: the direct conversation with `to`, opened (REST only).
OpReply direct_open(OpCall& call) {
  auto to = req_string(call.args, "to");
  if (!to) return to.error();
  auto e2ee = opt_bool(call.args, "e2ee");
  if (!e2ee) return e2ee.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, to = std::move(*to), e2ee = e2ee->value_or(false)] {
        return ctx.service.open_direct(caller, to, e2ee);
      },
      [](const DirectConversation& d) {
        auto o = conversation_json(d.conversation);
        o["peer"] = d.peer;
        o["created"] = d.created;
        return o;
      });
}

// ---- the key directory (REST only)

Result<KeyDirectory*> key_directory(OpCall& call) {
  if (!call.ctx.keys) return make_error(Errc::unavailable, "this node has no key directory");
  return call.ctx.keys;
}

json::object devices_json(const std::vector<DeviceKeys>& devices, bool claimed) {
  json::array list;
  for (const auto& d : devices) list.push_back(device_json(d, claimed));
  return json::object{{"devices", std::move(list)}};
}

// {device, identity_key, dh_key, dh_signature, signed_prekey: {id, key, signature}}
OpReply keys_put_device(OpCall& call) {
  auto keys = key_directory(call);
  if (!keys) return keys.error();
  DeviceKeys d;
  for (auto [name, field] : {std::pair{"device", &d.device}, std::pair{"identity_key", &d.identity_key},
                             std::pair{"dh_key", &d.dh_key}, std::pair{"dh_signature", &d.dh_signature}}) {
    auto v = req_string(call.args, name);
    if (!v) return v.error();
    *field = std::move(*v);
  }
  const auto* spk = call.args.if_contains("signed_prekey");
  if (!spk || !spk->is_object()) {
    return make_error(Errc::bad_request, "'signed_prekey' is required: {id, key, signature}");
  }
  auto id = req_int(spk->get_object(), "id");
  if (!id) return make_error(Errc::bad_request, "'signed_prekey.id' must be an integer >= 1");
  auto key = req_string(spk->get_object(), "key");
  if (!key) return make_error(Errc::bad_request, "'signed_prekey.key' is required");
  auto signature = req_string(spk->get_object(), "signature");
  if (!signature) return make_error(Errc::bad_request, "'signed_prekey.signature' is required");
  d.signed_prekey_id = *id;
  d.signed_prekey = std::move(*key);
  d.signed_prekey_signature = std::move(*signature);
  return blocking(
      call.ctx,
      [keys = *keys, caller = *call.caller, d = std::move(d)]() mutable {
        return keys->put_device(caller, std::move(d));
      },
      [](const PublishedDevice& p) {
        return json::object{{"device", device_json(p.device, false)}, {"created", p.created}};
      });
}

// {device, prekeys: [{id, key}…]}
OpReply keys_add_prekeys(OpCall& call) {
  auto keys = key_directory(call);
  if (!keys) return keys.error();
  auto device = req_string(call.args, "device");
  if (!device) return device.error();
  const auto* list = call.args.if_contains("prekeys");
  if (!list || !list->is_array()) {
    return make_error(Errc::bad_request, "'prekeys' is required: an array of {id, key}");
  }
  std::vector<OneTimePrekey> prekeys;
  for (const auto& item : list->get_array()) {
    if (!item.is_object()) return make_error(Errc::bad_request, "'prekeys' must hold {id, key}");
    auto id = req_int(item.get_object(), "id");
    auto key = req_string(item.get_object(), "key");
    if (!id || !key) return make_error(Errc::bad_request, "'prekeys' must hold {id, key}");
    prekeys.push_back(OneTimePrekey{*id, std::move(*key)});
  }
  return blocking(
      call.ctx,
      [keys = *keys, caller = *call.caller, device = std::move(*device),
       prekeys = std::move(prekeys)] { return keys->add_one_time_prekeys(caller, device, prekeys); },
      [](std::int64_t stored) { return json::object{{"one_time_prekeys", stored}}; });
}

OpReply keys_own_devices(OpCall& call) {
  auto keys = key_directory(call);
  if (!keys) return keys.error();
  return blocking(
      call.ctx, [keys = *keys, caller = *call.caller] { return keys->own_devices(caller); },
      [](const std::vector<DeviceKeys>& devices) { return devices_json(devices, false); });
}

// {device}
OpReply keys_remove_device(OpCall& call) {
  auto keys = key_directory(call);
  if (!keys) return keys.error();
  auto device = req_string(call.args, "device");
  if (!device) return device.error();
  return blocking(
      call.ctx,
      [keys = *keys, caller = *call.caller, device = *device]() {
        return keys->remove_device(caller, device);
      },
      [device = *device](Unit) { return json::object{{"deleted", device}}; });
}

// {user, one_time?}: one_time 0 takes no one-time prekey.
OpReply keys_user_devices(OpCall& call) {
  auto keys = key_directory(call);
  if (!keys) return keys.error();
  auto user = req_string(call.args, "user");
  if (!user) return user.error();
  auto one_time = opt_int(call.args, "one_time");
  if (!one_time) return one_time.error();
  if (*one_time && **one_time != 0 && **one_time != 1) {
    return make_error(Errc::bad_request, "one_time must be 0 or 1");
  }
  const bool claim = one_time->value_or(1) == 1;
  return blocking(
      call.ctx,
      [keys = *keys, caller = *call.caller, user = *user, claim] {
        return keys->devices_of(caller, user, claim);
      },
      [user = *user](const std::vector<DeviceKeys>& devices) {
        auto o = devices_json(devices, true);  // unclaimed: every one_time_prekey is null
        o["user"] = user;
        return o;
      });
}

// ---- the encryption service

// {message, conv?}
OpReply encrypt(OpCall& call) {
  auto message = req_string(call.args, "message");
  if (!message) return message.error();
  auto conv = opt_string(call.args, "conv");
  if (!conv) return conv.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, message = std::move(*message),
       conv = std::move(*conv)] { return ctx.service.encrypt_text(caller, message, conv); },
      [](const EncryptedText& e) {
        return json::object{{"encryptedMessage", e.ciphertext}, {"key_id", e.key_id}};
      });
}

// {encryptedMessage}
OpReply decrypt(OpCall& call) {
  auto encrypted = req_string(call.args, "encryptedMessage");
  if (!encrypted) return encrypted.error();
  return blocking(
      call.ctx,
      [&ctx = call.ctx, caller = *call.caller, encrypted = std::move(*encrypted)] {
        return ctx.service.decrypt_text(caller, encrypted);
      },
      [](const std::string& message) { return json::object{{"message", message}}; });
}

// ---- the table

constexpr bool kRestOnly = false;

constexpr std::array kOperations{
    // name, needs_caller, on_sockets, rest_status, after_subscribed, run, throttle
    Operation{"send", true, true, 200, false, send},
    Operation{"history", true, true, 200, false, history},
    Operation{"sync", true, true, 200, true, sync},
    Operation{"delivered", true, true, 200, false, delivered},
    Operation{"read", true, true, 200, false, read},
    Operation{"typing", true, true, 200, false, typing},
    Operation{"edit", true, true, 200, false, edit},
    Operation{"delete", true, true, 200, false, remove},
    Operation{"presence", true, true, 200, false, presence},
    Operation{"ping", true, true, 200, false, ping},
    Operation{"encrypt", true, true, 200, false, encrypt, Throttle::encryption},
    Operation{"decrypt", true, true, 200, false, decrypt, Throttle::encryption},
    Operation{"register", false, kRestOnly, 201, false, register_user, Throttle::registration},
    Operation{"login", false, kRestOnly, 200, false, login, Throttle::login},
    Operation{"refresh", false, kRestOnly, 200, false, refresh, Throttle::refresh},
    Operation{"logout", true, kRestOnly, 200, false, logout},
    Operation{"login_mfa", false, kRestOnly, 200, false, login_mfa, Throttle::second_factor},
    Operation{"totp_begin", true, kRestOnly, 200, false, totp_begin, Throttle::second_factor},
    Operation{"totp_confirm", true, kRestOnly, 200, false, totp_confirm, Throttle::second_factor},
    Operation{"totp_disable", true, kRestOnly, 200, false, totp_disable, Throttle::second_factor},
    Operation{"sessions", true, kRestOnly, 200, false, sessions},
    Operation{"session_revoke", true, kRestOnly, 200, false, session_revoke},
    Operation{"logout_all", true, kRestOnly, 200, false, logout_all},
    Operation{"me", true, kRestOnly, 200, false, me},
    Operation{"conversations", true, kRestOnly, 200, false, conversations},
    Operation{"direct_history", true, kRestOnly, 200, false, direct_history},
    Operation{"group_create", true, kRestOnly, 201, false, group_create},
    Operation{"group_info", true, kRestOnly, 200, false, group_info},
    Operation{"group_add_member", true, kRestOnly, 200, false, group_add},
    Operation{"group_remove_member", true, kRestOnly, 200, false, group_remove},
    Operation{"group_join", true, kRestOnly, 200, false, group_join, Throttle::passcode},
    Operation{"group_send", true, kRestOnly, 200, false, group_send},
    Operation{"group_history", true, kRestOnly, 200, false, group_history},
    Operation{"direct_open", true, kRestOnly, 200, false, direct_open},
    Operation{"keys_put_device", true, kRestOnly, 200, false, keys_put_device},
    Operation{"keys_add_prekeys", true, kRestOnly, 200, false, keys_add_prekeys},
    Operation{"keys_own_devices", true, kRestOnly, 200, false, keys_own_devices},
    Operation{"keys_remove_device", true, kRestOnly, 200, false, keys_remove_device},
    Operation{"keys_user_devices", true, kRestOnly, 200, false, keys_user_devices},
};

}  // namespace

std::span<const Operation> operations() { return kOperations; }

const Operation* find_operation(std::string_view name) {
  for (const auto& op : kOperations) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

}  // namespace parley::api
