#include "service/rewrap.hpp"

#include <charconv>

#include "core/logging.hpp"

namespace parley {

namespace {
constexpr std::string_view kDoneName = "rewrap_done";
}

Rewrap::Rewrap(Store& store, const crypto::MessageSealer& sealer, const crypto::Keyring& keys,
               KeyCatalog& catalog, int batch, FileService* files)
    : store_(store), sealer_(sealer), keys_(keys), catalog_(catalog), batch_(batch), files_(files) {}

bool Rewrap::idle() {
  if (!sealer_.seals_new()) return true;
  if (!done_key_read_) {
    if (auto v = catalog_.value(kDoneName); v) {
      done_key_read_ = true;
      if (*v) std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), done_key_);
    }
  }
  return done_key_ == keys_.current();
}

Result<bool> Rewrap::run(std::chrono::milliseconds budget) {
  const auto until = std::chrono::steady_clock::now() + budget;
  do {
    auto more = step();
    if (!more || !*more) return more;
  } while (std::chrono::steady_clock::now() < until);
  return true;
}

Result<bool> Rewrap::step() {
  if (idle()) return false;
  const std::uint32_t current = keys_.current();
  if (pass_key_ != current) {  // a new key while a pass was under way: start over
    pass_key_ = current;
    cursor_.clear();
    in_files_ = false;
    resealed_ = unreadable_ = 0;
  }
  if (in_files_) return step_files();
  auto messages = store_.messages_by_id(cursor_, batch_);
  if (!messages) return messages.error();
  std::vector<Resealed> changes;
  for (auto& m : *messages) {
    if (sealer_.is_current(m)) continue;
    Resealed change{m.conv, m.seq, m.body, m.attachments, {}, {}};
    if (auto s = sealer_.reseal(m); !s) {
      ++unreadable_;
      log::error("event=rewrap_unreadable id={} conv={} error=\"{}\"", m.id, m.conv,
                 s.error().message);
      continue;
    }
    change.body = std::move(m.body);
    change.attachments = std::move(m.attachments);
    changes.push_back(std::move(change));
  }
  if (!changes.empty()) {
    auto replaced = store_.reseal_messages(changes);
    if (!replaced) return replaced.error();
    // Edited meanwhile: the next pass looks again (it was sealed under the current key anyway).
    resealed_ += std::ssize(changes);
  }
  if (std::ssize(*messages) < batch_) {
    if (files_) {
      in_files_ = true;
      cursor_.clear();
      return true;
    }
    finish_pass();
    return !idle();
  }
  cursor_ = messages->back().id;
  return true;
}

Result<bool> Rewrap::step_files() {
  auto files = files_->stored_files(cursor_, batch_);
  if (!files) return files.error();
  for (const auto& f : *files) {
    auto changed = files_->reseal(f);
    if (!changed) {
      if (changed.error().code == Errc::unavailable) return changed.error();  // storage down: retry later
      ++unreadable_;
      log::error("event=rewrap_unreadable file={} error=\"{}\"", f.id, changed.error().message);
      continue;
    }
    if (*changed) ++resealed_;
  }
  if (std::ssize(*files) < batch_) {
    finish_pass();
    return !idle();
  }
  cursor_ = files->back().id;
  return true;
}

void Rewrap::finish_pass() {
  if (resealed_ == 0) {
    if (auto s = catalog_.set_value(kDoneName, std::to_string(pass_key_)); !s) {
      log::warn("event=rewrap_record_failed error=\"{}\"", s.error().message);
    }
    done_key_ = pass_key_;
    log::info("event=rewrap_done key={} unreadable={}", pass_key_, unreadable_);
  } else {
    log::info("event=rewrap_pass key={} resealed={} unreadable={}", pass_key_, resealed_,
              unreadable_);
  }
  pass_key_ = 0;
  in_files_ = false;
  cursor_.clear();
  resealed_ = unreadable_ = 0;
}

}  // namespace parley
