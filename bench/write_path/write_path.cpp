// parley_write_path: the durable write path alone — LocalLog (group commit) over SqliteStore, as
// `parley serve` builds them — with no network, no JSON and no load generator on the same
// cores. It keeps --in-flight appends outstanding (like the `ingest` scenario's connections ×
// unacknowledged sends), spread round-robin over --conversations direct conversations, and
// reports acknowledged (durable: committed with fsync) messages per second and the process's CPU
// per message. bench/run.py runs it as the "write path" scenario; docs/performance.md says why
// it is measured apart from the end-to-end `ingest`.
//
// Output: one JSON object on stdout.

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "log/local/local_log.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

struct Args {
  std::string dir;
  int conversations = 100;
  long messages = 300000;
  long warmup = 30000;
  long in_flight = 12800;
  std::size_t max_batch = 1024;
  long max_delay_us = 500;
  int body_bytes = 100;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: parley_write_path --dir DIR [--conversations N] [--messages N] "
               "[--warmup N] [--in-flight N] [--max-batch N] [--max-delay-us N] [--body-bytes N]\n"
               "Appends messages through LocalLog + SqliteStore (fsync'd group commit) in a fresh "
               "database under DIR\nand prints durable acks per second as JSON.\n");
  std::exit(code);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") usage(0);
    if (i + 1 >= argc) usage(2);
    const char* value = argv[++i];
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    const bool number = end != value && *end == '\0' && n >= 0;
    if (flag == "--dir") a.dir = value;
    else if (!number) usage(2);
    else if (flag == "--conversations" && n > 0) a.conversations = static_cast<int>(n);
    else if (flag == "--messages" && n > 0) a.messages = n;
    else if (flag == "--warmup") a.warmup = n;
    else if (flag == "--in-flight" && n > 0) a.in_flight = n;
    else if (flag == "--max-batch" && n > 0) a.max_batch = static_cast<std::size_t>(n);
    else if (flag == "--max-delay-us") a.max_delay_us = n;
    else if (flag == "--body-bytes") a.body_bytes = static_cast<int>(n);
    else usage(2);
  }
  if (a.dir.empty()) usage(2);
  return a;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Bytes this process has handed to write()/pwrite() so far (/proc/self/io "wchar"): the WAL
// frames and the checkpoints' copies of them.
long long written_bytes() {
  std::FILE* f = std::fopen("/proc/self/io", "r");
  if (!f) return 0;
  char line[128];
  long long n = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "wchar: %lld", &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

// Counts outstanding appends (acquire blocks while --in-flight are outstanding) and completed
// ones, failed or not.
class Window {
 public:
  explicit Window(long size) : free_(size) {}
  void acquire() {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }
  void release(bool ok) {
    {
      std::lock_guard lock(mutex_);
      ++free_;
      ++completed_;
      if (!ok) ++failed_;
    }
    room_.notify_one();
    done_.notify_all();
  }
  void wait_completed(long n) {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return completed_ >= n; });
  }
  long failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable room_, done_;
  long free_;
  long completed_ = 0;
  long failed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace parley;
  const Args args = parse(argc, argv);
  namespace fs = std::filesystem;
  fs::create_directories(args.dir);
  const std::string path = (fs::path(args.dir) / "write_path.db").string();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);

  SystemClock clock;
  SystemIdGenerator ids;
  SqliteStore store(path, 2);
  std::vector<chat::ConvId> convs;
  std::vector<chat::UserId> senders;
  for (int i = 0; i < args.conversations; ++i) {
    auto a = store.create_user("wa" + std::to_string(i), "x", clock.now_ms());
    auto b = store.create_user("wb" + std::to_string(i), "x", clock.now_ms());
    if (!a || !b) return std::fprintf(stderr, "cannot create users\n"), 1;
    auto conv = store.get_or_create_direct(a->id, b->id, ids.uuid_v7(clock.now_ms()),
                                           clock.now_ms(), false);
    if (!conv) return std::fprintf(stderr, "cannot create a conversation\n"), 1;
    convs.push_back(conv->id);
    senders.push_back(a->id);
  }

  LocalLog log(store, clock, ids,
               GroupCommitOptions{args.max_batch, std::chrono::microseconds(args.max_delay_us)});
  Window window(args.in_flight);
  const std::string body(static_cast<std::size_t>(args.body_bytes), 'x');
  long sent = 0;
  auto send = [&](long count) {
    for (long i = 0; i < count; ++i, ++sent) {
      window.acquire();
      const auto c = static_cast<std::size_t>(sent % args.conversations);
      chat::NewMessage m;
      m.conv = convs[c];
      m.sender_id = senders[c];
      m.from = "wa" + std::to_string(c);
      m.client_msg_id = "c" + std::to_string(sent);
      m.body = body;
      log.append(std::move(m), [&window](Result<chat::Appended> r) { window.release(bool(r)); });
    }
  };

  send(args.warmup);
  window.wait_completed(sent);
  const auto commits_before = log.commits();
  const double cpu_before = cpu_seconds();
  const long long written_before = written_bytes();
  const auto start = std::chrono::steady_clock::now();
  send(args.messages);
  window.wait_completed(sent);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_before;
  const auto commits = log.commits() - commits_before;
  const long long written = written_bytes() - written_before;
  log.drain();

  std::printf("{\"messages\": %ld, \"seconds\": %.3f, \"acked_per_s\": %.0f, "
              "\"cpu_us_per_message\": %.2f, \"bytes_written_per_message\": %.0f, \"commits\": %llu, \"messages_per_commit\": %.1f, "
              "\"failed\": %ld, \"conversations\": %d, \"in_flight\": %ld}\n",
              args.messages, seconds, args.messages / seconds, cpu * 1e6 / args.messages,
              static_cast<double>(written) / args.messages,
              static_cast<unsigned long long>(commits),
              commits ? static_cast<double>(args.messages) / commits : 0.0, window.failed(),
              args.conversations, args.in_flight);
  return window.failed() == 0 ? 0 : 1;
}
