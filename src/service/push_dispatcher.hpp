#pragma once
// PushDispatcher: push notifications for members who did not get a message live
// (docs/architecture.md, "Push notifications"). Off the send path: a MessageLog subscriber
// that only hands over, with threads of its own behind it; everything it keeps is in the
// PushCatalog's tables, so that a restart — or a kill -9 — loses no push that was due and
// repeats none that was recorded.
//
//   note()      every committed message (inline on the log's thread): queued in memory and
//               noted, in batches, for the conversation's other members who have a subscription
//               (PushCatalog::note_for_push): a burst per member and conversation, due after
//               RuleOptions::coalesce. (On PostgreSQL the store does this as it commits.)
//   scheduler   one thread: claims due bursts, decides (push/notification.hpp: delivered or
//               muted meanwhile → nothing; online → wait for online_delay first), renders the
//               notification and turns it into one job per device (PushCatalog::finish_push);
//               claims due jobs for the workers.
//   workers     `workers` threads: send a job through the Sender of its kind, at most
//               `per_service` at once per push service (origin); then delete it (sent, failed),
//               remove the subscription (gone), or reschedule it with exponential back-off and
//               jitter, no earlier than the service's Retry-After — until the job's TTL ends.
//
// Every node of a cluster runs one; claims are leases on the shared tables, so each burst and job
// is handled by one node at a time, and a dead node's leases run out.
//
// On SQLite the notes wait in memory for a moment (a batch per scheduler round): a crash then
// would lose them, so the embedded node records the newest message noted, and at start notes
// again the messages from a little before it (recover()). On PostgreSQL (a cluster) the store
// notes each message in the transaction that stores it (PushCatalog::note_at_commit): there is
// no such moment.
//
// A job is deleted only after its send returned. A crash between the two sends it again after
// the restart, with the same idempotency key (the Idempotency-Key of a webhook, the Topic of Web
// Push, FCM's collapse key and tag), so that the receiving end shows it once.
//
// Threads: note() from any thread; start()/stop() from the owner's; the rest are its own.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chat/types.hpp"
#include "core/time.hpp"
#include "push/notification.hpp"
#include "push/sender.hpp"
#include "store/push_catalog.hpp"
#include "store/store.hpp"

namespace parley {

namespace crypto {
class MessageSealer;
}

struct PushOptions {
  push::RuleOptions rules;
  // A job not sent by then is dropped; also the Web Push TTL (how long a push service keeps it
  // for a device that is offline).
  std::chrono::seconds ttl{24 * 3600};
  int workers = 4;      // sends at once (--push-concurrency)
  int per_service = 4;  // sends at once to one push service (its origin)
  // How often the tables are checked for work noted by other nodes or come due.
  std::chrono::milliseconds poll{250};
  // How long a claimed burst or job is this node's before another node may take it.
  std::chrono::milliseconds lease{60'000};
  std::chrono::milliseconds retry_first{1000};  // the first retry's delay, doubling per attempt
  std::chrono::milliseconds retry_max{10 * 60'000};
  // The embedded node: no other node can hold a lease, so all are released at start; and it
  // records its progress for recover().
  bool sole_node = true;
  // The store notes messages as it commits them (PushCatalog::note_at_commit): note() has
  // nothing to queue.
  bool noted_at_commit = false;
  // Test faults (environment PARLEY_FAULT_PUSH_KILL_AFTER_SENDS=N and
  // PARLEY_FAULT_PUSH_KILL_BEFORE_NOTE=N, docs/operations.md): the process kills itself with
  // SIGKILL right after its Nth successful send, before recording it; or when handed its Nth
  // committed message, before noting it.
  int kill_after_sends = 0;
  int kill_before_note = 0;
};

class PushDispatcher {
 public:
  // online(user): whether the user has a session on any node (ChatService::online); called by
  // the scheduler. sealer: opens stored messages for previews (null: stored as they are).
  PushDispatcher(Store& store, PushCatalog& catalog, const crypto::MessageSealer* sealer,
                 const Clock& clock, std::function<bool(chat::UserId)> online,
                 PushOptions options);
  ~PushDispatcher();  // stop()s
  PushDispatcher(const PushDispatcher&) = delete;
  PushDispatcher& operator=(const PushDispatcher&) = delete;

  // Before start(): the sender of one kind of subscription (null: that kind is not sent; its
  // jobs wait).
  void set_sender(PushSubscription::Kind kind, push::Sender* sender);
  void start();
  // Finishes the sends under way, then stops the threads. Idempotent.
  void stop();

  // A committed message (MessageLog subscriber, inline: it only appends under a mutex; with
  // noted_at_commit, nothing — the test fault still counts it).
  void note(const chat::Message& m);

  struct Stats {
    std::atomic<std::uint64_t> sent{0}, failed{0}, retried{0}, dropped{0}, gone{0};
    // Bursts not pushed: delivered meanwhile (or the member left), or muted.
    std::atomic<std::uint64_t> skipped_delivered{0}, skipped_muted{0};
    std::atomic<std::uint64_t> notes_dropped{0};     // the in-memory queue was full
    std::atomic<std::int64_t> pending{0}, jobs{0};   // the backlog, as last counted
  };
  const Stats& stats() const { return stats_; }
  bool has_sender(PushSubscription::Kind kind) const;

 private:
  struct Work {
    PushJob job;
    std::string origin;
  };
  void schedule_loop();
  // The embedded node at start: notes again what a crash may have left unnoted (the notes were
  // in memory) — the messages from a little before the newest one noted. note_for_push ignores
  // what it has already.
  void recover();
  void worker_loop();
  // One round of the scheduler; true when there may be more to do at once.
  bool schedule_round();
  // Notes what the log handed over; false when the store refused (kept for the next round).
  bool flush_notes();
  // Claims due jobs into work_; true when there may be more.
  bool claim_jobs();
  // Jobs claimed and not finished that a node holds at most: four per worker.
  std::size_t queue_capacity() const;
  // Extends the leases of jobs waiting in work_, and drops those another node took over.
  void renew_waiting();
  void handle_due(const PendingPush& p, TimeMs now);
  Result<std::string> render(const PendingPush& p, std::int64_t count);
  void finish(const Work& w, const push::SendOutcome& outcome);
  std::chrono::milliseconds backoff(int attempts) const;

  Store& store_;
  PushCatalog& catalog_;
  const crypto::MessageSealer* sealer_;
  const Clock& clock_;
  std::function<bool(chat::UserId)> online_;
  const PushOptions options_;
  push::Sender* senders_[3] = {nullptr, nullptr, nullptr};  // by PushSubscription::Kind
  Stats stats_;

  std::mutex mutex_;
  std::condition_variable scheduler_wake_;
  std::condition_variable worker_wake_;
  std::vector<PushNote> notes_;            // guarded by mutex_
  std::deque<Work> work_;                  // claimed jobs not yet started; guarded by mutex_
  std::map<std::string, int> in_flight_;   // sends under way per origin; guarded by mutex_
  int busy_ = 0;                           // workers sending; guarded by mutex_
  bool wake_ = false;                      // guarded by mutex_
  bool stopping_ = false;                  // guarded by mutex_
  std::atomic<int> sends_ = 0;             // for kill_after_sends
  int notes_handed_ = 0;                   // for kill_before_note; guarded by mutex_
  TimeMs backlog_counted_at_ = 0;          // scheduler thread only
  std::thread scheduler_;
  std::vector<std::thread> workers_;
};

}  // namespace parley
