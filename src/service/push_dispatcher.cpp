#include "service/push_dispatcher.hpp"

#include <signal.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <fmt/format.h>
#include <random>

#include "core/ids.hpp"
#include "core/logging.hpp"
#include "core/threads.hpp"
#include "crypto/message_sealer.hpp"
#include "push/web_push.hpp"

namespace parley {

namespace {

// Bursts and jobs one claim takes at most.
constexpr int kClaimBatch = 100;
// Notes waiting in memory past this are dropped (and counted): the log's subscriber queue
// before it is bounded the same way.
constexpr std::size_t kMaxQueuedNotes = 100'000;
// How often the backlog gauge is counted.
constexpr TimeMs kBacklogEveryMs = 1000;
// Notes wake the scheduler early when this many wait.
constexpr std::size_t kNoteBatch = 512;
// A job put back because its service is busy is due again after this long.
constexpr TimeMs kBusyServiceRetryMs = 1000;
// Recovery at start (the embedded node): messages from this long before the newest one noted
// are noted again, a page at a time, at most kMaxRecovered of them.
constexpr TimeMs kRecoveryMarginMs = 10'000;
constexpr int kRecoveryPage = 1000;
constexpr std::size_t kMaxRecovered = 1'000'000;

// A claimed job: its key and the lease it holds.
std::tuple<std::int64_t, std::string, chat::Seq, TimeMs> claim_of(const PushJob& job) {
  return {job.subscription.id, job.conv, job.seq, job.lease};
}

std::string origin_of(const PushSubscription& s) {
  if (s.kind == PushSubscription::Kind::fcm) return "fcm";
  return push::endpoint_origin(s.endpoint).value_or(s.endpoint);
}

}  // namespace

PushDispatcher::PushDispatcher(Store& store, PushCatalog& catalog,
                               const crypto::MessageSealer* sealer, const Clock& clock,
                               std::function<bool(chat::UserId)> online, PushOptions options)
    : store_(store),
      catalog_(catalog),
      sealer_(sealer),
      clock_(clock),
      online_(std::move(online)),
      options_(std::move(options)) {}

PushDispatcher::~PushDispatcher() { stop(); }

void PushDispatcher::set_sender(PushSubscription::Kind kind, push::Sender* sender) {
  senders_[static_cast<int>(kind)] = sender;
}

bool PushDispatcher::has_sender(PushSubscription::Kind kind) const {
  return senders_[static_cast<int>(kind)] != nullptr;
}

void PushDispatcher::start() {
  if (options_.sole_node) {
    if (auto s = catalog_.release_push_leases(); !s) {
      log::warn("event=push_release_failed error=\"{}\"", s.error().message);
    }
  }
  scheduler_ = named_thread("push-scheduler", [this] { schedule_loop(); });
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.push_back(named_thread("push-sender", [this] { worker_loop(); }));
  }
}

void PushDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  scheduler_wake_.notify_all();
  worker_wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  // What the log handed over since the scheduler's last round: noted now, sent after a restart
  // (or by another node).
  (void)flush_notes();
}

void PushDispatcher::note(const chat::Message& m) {
  {
    std::lock_guard lock(mutex_);
    if (options_.kill_before_note > 0 && ++notes_handed_ >= options_.kill_before_note) {
      log::warn("event=fault_injection kill_before_note={}", options_.kill_before_note);
      ::raise(SIGKILL);
    }
    if (options_.noted_at_commit) return;  // noted with the message, by the store
    if (notes_.size() >= kMaxQueuedNotes) {
      ++stats_.notes_dropped;
      return;
    }
    notes_.push_back(PushNote{m.conv, m.seq, m.sender_id, m.id});
    // Noted in batches: at the next round (--push-poll) or as soon as a batch is full.
    if (notes_.size() < kNoteBatch) return;
    wake_ = true;
  }
  scheduler_wake_.notify_one();
}

// ---- the scheduler

void PushDispatcher::schedule_loop() {
  if (options_.sole_node) recover();
  while (true) {
    bool more = false;
    try {
      more = schedule_round();
    } catch (const std::exception& e) {
      log::error("event=push_scheduler_failed error=\"{}\"", e.what());
    }
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (more) continue;
    scheduler_wake_.wait_for(lock, options_.poll, [this] { return stopping_ || wake_; });
    wake_ = false;
    if (stopping_) return;
  }
}

void PushDispatcher::recover() {
  auto noted = catalog_.push_noted_up_to();
  if (!noted) {
    log::warn("event=push_recovery_failed error=\"{}\"", noted.error().message);
    return;
  }
  const auto noted_at = uuid_v7_time(*noted);
  if (!noted_at) return;  // nothing noted yet
  // Ids are given at acceptance, commits follow within a batch or two: the margin covers
  // messages committed before the newest noted one but given a later id.
  std::string after = format_uuid_v7(*noted_at - kRecoveryMarginMs, 0, 0);
  std::size_t renoted = 0;
  while (renoted < kMaxRecovered) {
    auto page = store_.messages_by_id(after, kRecoveryPage);
    if (!page) {
      log::warn("event=push_recovery_failed error=\"{}\"", page.error().message);
      return;
    }
    if (page->empty()) break;
    std::vector<PushNote> notes;
    for (const auto& m : *page) notes.push_back(PushNote{m.conv, m.seq, m.sender_id, m.id});
    const TimeMs now = clock_.now_ms();
    if (auto s = catalog_.note_for_push(notes, now, now + options_.rules.coalesce.count(), true);
        !s) {
      log::warn("event=push_recovery_failed error=\"{}\"", s.error().message);
      return;
    }
    renoted += page->size();
    after = page->back().id;
    if (page->size() < static_cast<std::size_t>(kRecoveryPage)) break;
  }
  log::info("event=push_recovered since={} messages={}", after, renoted);
}

bool PushDispatcher::flush_notes() {
  std::vector<PushNote> notes;
  {
    std::lock_guard lock(mutex_);
    notes.swap(notes_);
  }
  if (notes.empty()) return true;
  const TimeMs now = clock_.now_ms();
  auto noted =
      catalog_.note_for_push(notes, now, now + options_.rules.coalesce.count(), options_.sole_node);
  if (noted) return true;
  // The store is away: put them back (in front of newer ones) and try at the next round.
  log::warn("event=push_note_failed notes={} error=\"{}\"", notes.size(), noted.error().message);
  std::lock_guard lock(mutex_);
  notes.insert(notes.end(), notes_.begin(), notes_.end());
  notes_.swap(notes);
  return false;
}

bool PushDispatcher::schedule_round() {
  if (!flush_notes()) return false;
  TimeMs now = clock_.now_ms();
  bool more = false;
  auto due = catalog_.claim_due_pushes(now, now + options_.lease.count(), kClaimBatch);
  if (due) {
    for (const auto& p : *due) handle_due(p, now);
    more = due->size() == static_cast<std::size_t>(kClaimBatch);
  } else {
    log::warn("event=push_claim_failed error=\"{}\"", due.error().message);
  }
  renew_waiting();
  more = claim_jobs() || more;
  if (now - backlog_counted_at_ >= kBacklogEveryMs) {
    backlog_counted_at_ = now;
    if (auto backlog = catalog_.push_backlog(); backlog) {
      stats_.pending = backlog->first;
      stats_.jobs = backlog->second;
    }
  }
  return more;
}

std::size_t PushDispatcher::queue_capacity() const {
  return static_cast<std::size_t>(std::max(1, options_.workers)) * 4;
}

bool PushDispatcher::claim_jobs() {
  std::size_t room = 0;
  {
    std::lock_guard lock(mutex_);
    const std::size_t capacity = queue_capacity();
    const std::size_t taken = work_.size() + static_cast<std::size_t>(busy_);
    room = taken < capacity ? capacity - taken : 0;
  }
  if (room == 0) return false;
  unsigned kinds = 0;
  for (auto kind : {PushSubscription::Kind::web_push, PushSubscription::Kind::webhook,
                    PushSubscription::Kind::fcm}) {
    if (has_sender(kind)) kinds |= push_kind_bit(kind);
  }
  const TimeMs now = clock_.now_ms();
  auto jobs = catalog_.claim_push_jobs(now, now + options_.lease.count(), static_cast<int>(room), kinds);
  if (!jobs) {
    log::warn("event=push_claim_failed error=\"{}\"", jobs.error().message);
    return false;
  }
  // A service's queue holds at most four times what may be sent to it at once (all of it when
  // per_service is `workers`); the rest goes back for a moment, so that one slow service cannot
  // fill the queue and starve the others.
  const std::size_t per_service_queue = static_cast<std::size_t>(options_.per_service) * 4;
  std::vector<const PushJob*> expired, put_back;
  {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::size_t> queued;
    for (const auto& w : work_) ++queued[w.origin];
    for (auto& job : *jobs) {
      if (job.expires_at <= now) {
        expired.push_back(&job);  // dropped below, outside the lock
        continue;
      }
      std::string origin = origin_of(job.subscription);
      const auto in_flight = in_flight_.find(origin);
      const std::size_t load =
          queued[origin] + (in_flight == in_flight_.end() ? 0 : static_cast<std::size_t>(in_flight->second));
      if (load >= per_service_queue) {
        put_back.push_back(&job);
        continue;
      }
      ++queued[origin];
      work_.push_back(Work{std::move(job), std::move(origin)});
    }
  }
  worker_wake_.notify_all();
  for (const auto* job : expired) {
    ++stats_.dropped;
    (void)catalog_.finish_push_job(job->subscription.id, job->conv, job->seq);
  }
  for (const auto* job : put_back) {
    (void)catalog_.reschedule_push_job(job->subscription.id, job->conv, job->seq, job->lease,
                                       now + kBusyServiceRetryMs, false);
  }
  return jobs->size() == room && put_back.empty();
}

void PushDispatcher::renew_waiting() {
  // Jobs waiting for a sender keep their claim: past its lease another node would send them too.
  const TimeMs now = clock_.now_ms();
  const TimeMs lease = options_.lease.count();
  // (subscription, conversation, seq, the lease it was claimed with) → its new lease, or none
  // when another node holds it now.
  using Claim = std::tuple<std::int64_t, std::string, chat::Seq, TimeMs>;
  std::map<Claim, std::optional<TimeMs>> renewed;
  {
    std::lock_guard lock(mutex_);
    for (const auto& w : work_) {
      if (w.job.lease - now < lease / 2) renewed[claim_of(w.job)] = std::nullopt;
    }
  }
  if (renewed.empty()) return;
  for (auto& [claim, new_lease] : renewed) {
    const auto& [sub, conv, seq, old_lease] = claim;
    auto ok = catalog_.renew_push_job(sub, conv, seq, old_lease, now + lease);
    if (!ok) return;  // the store is away: the next round tries again
    if (*ok) new_lease = now + lease;
  }
  std::lock_guard lock(mutex_);
  for (auto it = work_.begin(); it != work_.end();) {
    const auto r = renewed.find(claim_of(it->job));
    if (r == renewed.end()) {
      ++it;
    } else if (r->second) {
      it->job.lease = *r->second;
      ++it;
    } else {
      it = work_.erase(it);
    }
  }
}

void PushDispatcher::handle_due(const PendingPush& p, TimeMs now) {
  using Kind = push::Decision::Kind;
  auto decision = push::decide(p, now, false, options_.rules);
  // Presence only matters while the online delay may still hold the burst back.
  if (decision.kind == Kind::send && now < p.first_noted_at + options_.rules.online_delay.count() &&
      online_ && online_(p.user_id)) {
    decision = push::decide(p, now, true, options_.rules);
  }
  // Messages noted meanwhile (another node's) stay pending: a burst of their own, gathering anew.
  const TimeMs next_due = now + options_.rules.coalesce.count();
  Status done = ok_status();
  switch (decision.kind) {
    case Kind::postpone:
      if (auto r = catalog_.postpone_push(p.user_id, p.conv, p.lease, decision.until); !r) {
        done = r.error();
      }
      break;
    case Kind::drop:
      ++(decision.muted ? stats_.skipped_muted : stats_.skipped_delivered);
      if (auto r = catalog_.finish_push(p.user_id, p.conv, p.lease, p.pending_to, "", now, now,
                                        next_due);
          !r) {
        done = r.error();
      }
      break;
    case Kind::send: {
      auto payload = render(p, decision.count);
      if (!payload) {
        log::warn("event=push_render_failed conv={} seq={} error=\"{}\"", p.conv, p.pending_to,
                  payload.error().message);
        // Tried again when the lease runs out.
        return;
      }
      const TimeMs expires = now + std::chrono::milliseconds(options_.ttl).count();
      if (auto r = catalog_.finish_push(p.user_id, p.conv, p.lease, p.pending_to, *payload, now,
                                        expires, next_due);
          !r) {
        done = r.error();
      }
      break;
    }
  }
  if (!done) {
    log::warn("event=push_schedule_failed conv={} user={} error=\"{}\"", p.conv, p.user_id,
              done.error().message);
  }
}

Result<std::string> PushDispatcher::render(const PendingPush& p, std::int64_t count) {
  auto conv = store_.get_conversation(p.conv);
  if (!conv) return conv.error();
  auto newest = store_.message(p.conv, p.pending_to);
  if (!newest) return newest.error();
  if (!*newest) return make_error(Errc::not_found, "the message is not readable yet");
  chat::Message& m = **newest;
  if (sealer_) {
    if (auto s = sealer_->open(m); !s) return s.error();
  }
  push::MessageSummary summary;
  summary.conv = conv->id;
  summary.group = conv->kind == chat::ConvKind::group;
  summary.conv_title = conv->title;
  summary.e2ee = conv->e2ee;
  summary.sender = m.from;
  summary.seq = m.seq;
  summary.count = count;
  summary.text = m.body;
  summary.has_files = !m.attachments.empty();
  summary.deleted = m.deleted;
  return push::notification_json(summary, options_.rules);
}

// ---- the workers

void PushDispatcher::worker_loop() {
  while (true) {
    Work work;
    {
      std::unique_lock lock(mutex_);
      std::deque<Work>::iterator next;
      worker_wake_.wait(lock, [&] {
        if (stopping_) return true;
        next = std::find_if(work_.begin(), work_.end(), [&](const Work& w) {
          const auto it = in_flight_.find(w.origin);
          return it == in_flight_.end() || it->second < options_.per_service;
        });
        return next != work_.end();
      });
      if (stopping_) return;
      work = std::move(*next);
      work_.erase(next);
      ++in_flight_[work.origin];
      ++busy_;
    }
    const auto& job = work.job;
    push::Notification n;
    n.payload = job.payload;
    n.idempotency_key = fmt::format("{}:{}:{}", job.subscription.id, job.conv, job.seq);
    n.topic = push::topic_of(job.conv);
    n.ttl = std::chrono::seconds(std::max<TimeMs>(0, job.expires_at - clock_.now_ms()) / 1000);
    push::SendOutcome outcome;
    try {
      outcome = senders_[static_cast<int>(job.subscription.kind)]->send(job.subscription, n);
    } catch (const std::exception& e) {
      outcome = {push::SendOutcome::Kind::retry, 0, std::nullopt, e.what()};
    }
    if (outcome.kind == push::SendOutcome::Kind::sent && options_.kill_after_sends > 0 &&
        ++sends_ >= options_.kill_after_sends) {
      log::warn("event=fault_injection kill_after_sends={}", options_.kill_after_sends);
      ::raise(SIGKILL);
    }
    finish(work, outcome);
    bool refill = false;
    {
      std::lock_guard lock(mutex_);
      if (--in_flight_[work.origin] == 0) in_flight_.erase(work.origin);
      --busy_;
      // The scheduler claims more once half the queue is gone, not after every send: each of
      // its rounds is two claims (transactions).
      refill = work_.size() + static_cast<std::size_t>(busy_) <= queue_capacity() / 2;
      if (refill) wake_ = true;
    }
    worker_wake_.notify_all();
    if (refill) scheduler_wake_.notify_one();
  }
}

void PushDispatcher::finish(const Work& w, const push::SendOutcome& outcome) {
  using Kind = push::SendOutcome::Kind;
  const auto& job = w.job;
  Status done = ok_status();
  switch (outcome.kind) {
    case Kind::sent:
      ++stats_.sent;
      done = catalog_.finish_push_job(job.subscription.id, job.conv, job.seq);
      break;
    case Kind::gone:
      ++stats_.gone;
      log::info("event=push_subscription_gone subscription={} kind={} status={} detail=\"{}\"",
                job.subscription.id, to_string(job.subscription.kind), outcome.status,
                outcome.detail);
      done = catalog_.drop_push_subscription(job.subscription.id);
      break;
    case Kind::failed:
      ++stats_.failed;
      log::warn("event=push_failed subscription={} kind={} status={} detail=\"{}\"",
                job.subscription.id, to_string(job.subscription.kind), outcome.status,
                outcome.detail);
      done = catalog_.finish_push_job(job.subscription.id, job.conv, job.seq);
      break;
    case Kind::retry: {
      auto delay = backoff(job.attempts);
      if (outcome.retry_after) {
        // (parse_retry_after caps it: past the TTL it only means "give up".)
        delay = std::max<std::chrono::milliseconds>(delay, *outcome.retry_after);
      }
      const TimeMs next = clock_.now_ms() + delay.count();
      if (next >= job.expires_at) {
        ++stats_.dropped;
        log::warn("event=push_expired subscription={} attempts={} status={} detail=\"{}\"",
                  job.subscription.id, job.attempts + 1, outcome.status, outcome.detail);
        done = catalog_.finish_push_job(job.subscription.id, job.conv, job.seq);
      } else {
        ++stats_.retried;
        log::info("event=push_retry subscription={} attempts={} status={} in_ms={} detail=\"{}\"",
                  job.subscription.id, job.attempts + 1, outcome.status, delay.count(),
                  outcome.detail);
        done = catalog_.reschedule_push_job(job.subscription.id, job.conv, job.seq, job.lease,
                                            next, true);
      }
      break;
    }
  }
  if (!done) {
    // The job stays leased; it is sent again when the lease runs out (same idempotency key).
    log::warn("event=push_bookkeeping_failed subscription={} error=\"{}\"", job.subscription.id,
              done.error().message);
  }
}

std::chrono::milliseconds PushDispatcher::backoff(int attempts) const {
  // Exponential, capped, with "equal jitter": between half and all of the step.
  const auto capped = std::min<std::int64_t>(
      options_.retry_max.count(),
      options_.retry_first.count() << std::min(attempts, 20));
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> jitter(capped / 2, capped);
  return std::chrono::milliseconds(jitter(random));
}

}  // namespace parley
