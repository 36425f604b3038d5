// lrm_soak: a mixed load against a real lrmd for a set time, then the
// invariants that must hold after it: every acknowledged op reported exactly
// once to its submitter, and no growth in lrmd's fds, threads, zombies or RSS.
//
//   lrm_soak [--duration SECONDS] [--upgrade-every SECONDS (fractions allowed; 0: none)]
//
// The load, all at once on local Unix sockets (bench/README.md):
//   * 200 instances (ocf:heartbeat:Dummy and native:lrm:Dummy) with recurring
//     monitors, submitted by one client that reads every result;
//   * churn clients: register, start, monitors (one-shot, delayed, recurring),
//     cancel, stop, unregister, over script, native and slow (Sleeper) agents;
//   * clients that connect and vanish, some in the middle of a request;
//   * hostile peers: malformed XML, an oversized length, garbage, a frame cut
//     off before the connection closes, a request before hello, deep nesting;
//   * a ping every 50 ms (its latency is reported);
//   * an upgrade in place every few seconds, by SIGHUP and by request in turn.
// The figures go to stdout as a table and to stderr as one JSON line; the
// exit status is 1 when an invariant fails (each failure is printed), 2 when
// the run could not be carried out. LRM_SOAK_KEEP=1 keeps lrmd's debug log.
#include <Poco/JSON/Object.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "lrm/client/client.hpp"

namespace {

using lrm::bench::Clock;
using lrm::bench::msSince;
using lrm::bench::percentile;
using lrm::client::Client;
using lrm::client::Error;
using lrm::client::Event;
using lrm::sdk::CallId;
using Millis = std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr int kRecurringInstances = 200;
constexpr std::uint64_t kScriptMonitorMs = 2000;  // 100 shell monitors every 2 s: 50 forks/s on 2 CPUs
constexpr std::uint64_t kNativeMonitorMs = 1000;
constexpr int kChurnClients = 4;
constexpr Millis kPingEvery{50};
constexpr Millis kPatience{60000};  // for anything a loaded 2-CPU machine should finish
// Bounds between the warm-up point and the end (both measured with the same
// clients connected and the churn parked, see settle()).
constexpr long kFdGrowth = 0;
constexpr long kThreadGrowth = 0;
constexpr double kRssGrowthKiB = 4096;

struct Options {
  int duration_s = 300;
  Millis upgrade_every{3000};  // 0: no upgrades
};

// The daemon under test: Release lrmd on a socket and state directory in a
// scratch directory that is removed at the end.
class Daemon {
 public:
  Daemon() {
    char pattern[] = "/tmp/lrm-soak-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("unable to create a scratch directory");
    dir_ = pattern;
    pid_ = lrm::bench::spawn(
        {std::string(LRM_BENCH_BIN_DIR) + "/lrmd", "--foreground", "--socket", socket(), "--plugin-dir",
         LRM_BENCH_PLUGIN_DIR, "--log-level", std::getenv("LRM_SOAK_KEEP") ? "debug" : "notice", "--log-target", file("lrmd.log"), "--state-dir",
         file("state")},
        {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LRM_OCF_PATH=" LRM_BENCH_FIXTURES_DIR "/ocf"}, file("lrmd.stderr"));
    const auto until = Clock::now() + kPatience;
    while (pid_ > 0) {
      try {
        Client::connect(socket(), "soak-ready", Millis(1000));
        return;
      } catch (const Error&) {
        if (Clock::now() > until || exited()) break;
        std::this_thread::sleep_for(Millis(20));
      }
    }
    const std::string log = logTail(2000);
    discard();
    throw std::runtime_error("lrmd did not start:\n" + log);
  }
  ~Daemon() { discard(); }
  // Kill lrmd (if it still runs) and remove the scratch directory.
  void discard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (std::getenv("LRM_SOAK_KEEP")) {  // for debugging: keep lrmd's log
      std::fprintf(stderr, "lrm_soak: kept %s\n", dir_.c_str());
      return;
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  // SIGTERM and wait (60 s, then SIGKILL). @return the exit status, or -1
  // when it had to be killed or died of a signal.
  int stop() {
    ::kill(pid_, SIGTERM);
    const auto until = Clock::now() + kPatience;
    while (!exited() && Clock::now() < until) std::this_thread::sleep_for(Millis(20));
    if (pid_ > 0) return -1;  // the destructor kills it
    return status_;
  }
  // Has lrmd exited? (Reaps it; status() then says how.)
  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == 0) return false;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    return true;
  }
  int status() const { return status_; }
  pid_t pid() const { return pid_; }
  std::string socket() const { return dir_ + "/lrmd.sock"; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string logTail(std::size_t bytes) const {
    std::string text;
    for (const char* name : {"lrmd.log", "lrmd.stderr"}) {
      std::ifstream in(file(name));
      text += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    return text.size() > bytes ? text.substr(text.size() - bytes) : text;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// What /proc says about lrmd at one point.
struct Snapshot {
  long fds = 0;
  long threads = 0;
  double rss_kib = 0;
  long zombies = 0;  // children in state Z that stayed so for the whole sampling window
};

long countEntries(const std::string& dir) {
  long count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++count;
  return count;
}

// Children of @p parent in state Z now.
std::set<pid_t> zombieChildren(pid_t parent) {
  std::set<pid_t> zombies;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    std::ifstream in("/proc/" + name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) continue;
    if (stat[close_paren + 2] == 'Z' && lrm::bench::statField(pid, 4) == static_cast<unsigned long long>(parent)) {
      zombies.insert(pid);
    }
  }
  return zombies;
}

// lrmd's resources with the agents of the recurring monitors coming and
// going: the fewest fds and threads seen over 2 s (a moment with no agent in
// flight), the smallest RSS, and the zombies that outlived the 2 s.
Snapshot settle(pid_t pid) {
  const auto first_zombies = zombieChildren(pid);
  Snapshot snapshot{1L << 30, 1L << 30, 1e12, 0};
  const auto until = Clock::now() + Millis(2000);
  while (Clock::now() < until) {
    snapshot.fds = std::min(snapshot.fds, countEntries("/proc/" + std::to_string(pid) + "/fd"));
    snapshot.threads = std::min(snapshot.threads, countEntries("/proc/" + std::to_string(pid) + "/task"));
    snapshot.rss_kib = std::min(snapshot.rss_kib, lrm::bench::rssKiB(pid));
    std::this_thread::sleep_for(Millis(5));
  }
  for (pid_t zombie : zombieChildren(pid)) snapshot.zombies += first_zombies.count(zombie);
  return snapshot;
}

// Load threads pass through the gate between two cycles; closing it parks
// them all at that point (nothing of theirs in flight), so the daemon can be
// measured in the same state twice.
class Gate {
 public:
  explicit Gate(int users) : users_(users) {}
  // Between cycles. @return false when the load is over.
  bool pass() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) {
      ++parked_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !closed_ || over_; });
      --parked_;
    }
    return !over_;
  }
  // Park every user; @return once they all are.
  void close() {
    std::unique_lock<std::mutex> lock(mutex_);
    closed_ = true;
    changed_.wait(lock, [&] { return parked_ == users_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
    changed_.notify_all();
  }
  // The load is over: parked users return from pass() with false.
  void end() {
    std::lock_guard<std::mutex> lock(mutex_);
    over_ = true;
    changed_.notify_all();
  }
  bool over() {
    std::lock_guard<std::mutex> lock(mutex_);
    return over_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int users_;
  int parked_ = 0;
  bool closed_ = false;
  bool over_ = false;
};

// Counters every load thread adds to; read after the threads are done.
struct Tally {
  std::atomic<long> acknowledged{0};  // one-shot ops whose call id a staying client got
  std::atomic<long> missing{0};       // ... never reported to it
  std::atomic<long> duplicates{0};    // ... reported more than once (extra reports)
  std::atomic<long> misdelivered{0};  // exec events for a call id the client never got
  std::atomic<long> recurring_cancels_missing{0};  // cancelled recurring ops without their `cancelled` report
  std::atomic<long> completed{0};     // exec events received, all clients
  std::atomic<long> cycles{0};
  std::atomic<long> dropped{0};       // staying clients whose connection lrmd closed
  std::atomic<long> request_errors{0};
  std::atomic<long> vanished{0};
  std::atomic<long> hostile{0};
  std::atomic<long> upgrades{0};
  std::atomic<long> upgrade_failures{0};
  std::atomic<long> stalled{0};       // recurring monitors silent at the end
  std::mutex mutex;
  std::vector<double> ping_ms;
  std::vector<std::string> notes;     // first errors, for the report

  void note(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex);
    if (notes.size() < 20) notes.push_back(text);
  }
};

// The ops one client submitted and the reports it got for them.
class Ledger {
 public:
  void oneShot(CallId call) { one_shot_[call] = 0; }
  void recurring(CallId call) { recurring_[call] = 0; }
  void record(const Event& event, Tally& tally) {
    if (event.type != "exec") return;
    ++tally.completed;
    if (auto it = one_shot_.find(event.call_id); it != one_shot_.end()) {
      ++it->second;
    } else if (auto rec = recurring_.find(event.call_id); rec != recurring_.end()) {
      if (event.status == lrm::sdk::ExecStatus::Cancelled) ++rec->second;
    } else {
      ++tally.misdelivered;
      tally.note("exec event for call " + std::to_string(event.call_id) + " (" + event.id + " " + event.action +
                 ") that this client never submitted");
    }
  }
  bool settled() const {
    for (const auto& [call, reports] : one_shot_) {
      if (reports == 0) return false;
    }
    for (const auto& [call, cancels] : recurring_) {
      if (cancels == 0) return false;
    }
    return true;
  }
  // Adds this ledger's outcome to @p tally and starts afresh.
  void close(Tally& tally, const std::string& who) {
    for (const auto& [call, reports] : one_shot_) {
      ++tally.acknowledged;
      if (reports == 0) {
        ++tally.missing;
        tally.note(who + ": call " + std::to_string(call) + " was never reported");
      }
      if (reports > 1) {
        tally.duplicates += reports - 1;
        tally.note(who + ": call " + std::to_string(call) + " was reported " + std::to_string(reports) + " times");
      }
    }
    for (const auto& [call, cancels] : recurring_) {
      if (cancels != 1) {
        ++tally.recurring_cancels_missing;
        tally.note(who + ": recurring call " + std::to_string(call) + " was reported cancelled " +
                   std::to_string(cancels) + " times");
      }
    }
    one_shot_.clear();
    recurring_.clear();
  }

 private:
  std::map<CallId, int> one_shot_;
  std::map<CallId, int> recurring_;
};

lrm::client::ExecRequest operation(const std::string& id, const std::string& action, std::uint64_t interval_ms = 0) {
  lrm::client::ExecRequest request;
  request.id = id;
  request.action = action;
  request.interval_ms = interval_ms;
  return request;
}

// One churn client: it stays connected (across upgrades, by resuming its
// session) and runs cycles of register, start, monitors, cancel, stop and
// unregister on its own instance, over three kinds of agent in turn.
void churn(int index, const Daemon& daemon, Gate& gate, Tally& tally) {
  const std::string who = "churn-" + std::to_string(index);
  const std::string id = who;
  std::mt19937 random(static_cast<unsigned>(index));
  std::unique_ptr<Client> client;
  Ledger ledger;
  // Record what arrives within @p wait (what is queued already at once).
  auto drain = [&](Millis wait) {
    const auto until = Clock::now() + wait;
    while (auto event = client->nextEvent(std::max(Millis(0), std::chrono::duration_cast<Millis>(until - Clock::now())))) {
      ledger.record(*event, tally);
    }
  };
  for (long cycle = 0; gate.pass(); ++cycle) {
    try {
      if (!client) client = Client::connect(daemon.socket(), who, kPatience);
      lrm::client::RegisterRequest registration;
      registration.id = id;
      registration.params["state"] = daemon.file(id + ".state");
      switch (cycle % 3) {
        case 0:
          registration.agent = "ocf:heartbeat:Dummy";
          break;
        case 1:
          registration.agent = "native:lrm:Dummy";
          registration.params["op_sleep"] = "0.05";
          break;
        default:
          registration.agent = "ocf:lrmtest:Sleeper";  // slow: in flight across upgrades
          registration.params["sleep"] = "0.2";
          break;
      }
      client->registerInstance(registration);
      ledger.oneShot(client->exec(operation(id, "start")));
      auto delayed = operation(id, "monitor");
      delayed.start_delay_ms = 300;  // a delayed head holds the instance's queue: keep it short
      ledger.oneShot(client->exec(delayed));
      try {
        client->cancel(id, "monitor");  // the delayed monitor, unless it started already
      } catch (const Error& e) {
        if (e.code() != "not-found" && e.code() != "in-progress") throw;
      }
      ledger.oneShot(client->exec(operation(id, "monitor")));
      const std::uint64_t interval_ms = 300 + random() % 400;
      ledger.recurring(client->exec(operation(id, "monitor", interval_ms)));
      drain(Millis(random() % 500));
      if (cycle % 2 == 0) client->cancel(id, "monitor", interval_ms);  // else the stop cancels it
      ledger.oneShot(client->exec(operation(id, "stop")));
      if (cycle % 4 == 3) ledger.oneShot(client->exec(operation(id, "monitor")));  // the unregister cancels it
      client->unregisterInstance(id);
      ++tally.cycles;
    } catch (const Error& e) {
      if (e.code() == "disconnected" || e.code() == "protocol" || e.code() == "unreachable") {
        // lrmd closed a client that did not go away: what it had not
        // reported yet is lost to it.
        ++tally.dropped;
        tally.note(who + ": connection lost: " + e.code() + ": " + e.what());
        if (client) ledger.close(tally, who);
        client.reset();
        continue;
      }
      ++tally.request_errors;
      tally.note(who + ": request failed: " + e.code() + ": " + e.what());
    }
  }
  // The load is over: wait for the reports still due, then for strays.
  if (!client) return;
  try {
    const auto until = Clock::now() + kPatience;
    while (!ledger.settled() && Clock::now() < until) drain(Millis(100));
    drain(Millis(500));
  } catch (const Error& e) {
    ++tally.dropped;
    tally.note(who + ": connection lost while draining: " + e.what());
  }
  ledger.close(tally, who);
}

// A raw connection for what the client library would never send.
class RawSocket {
 public:
  explicit RawSocket(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  void send(const std::string& bytes) {
    if (connected_) (void)!::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  // Read until lrmd closes the connection or @p wait passes.
  void readToEnd(Millis wait) {
    const auto until = Clock::now() + wait;
    char buffer[4096];
    while (connected_ && Clock::now() < until) {
      pollfd poll_fd{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<Millis>(until - Clock::now()).count();
      if (::poll(&poll_fd, 1, static_cast<int>(std::max<long>(left, 0))) <= 0) return;
      if (::recv(fd_, buffer, sizeof buffer, 0) <= 0) return;
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string frame(const std::string& payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string bytes{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                    static_cast<char>(n)};
  return bytes + payload;
}

const std::string kHello = frame("<hello id=\"1\" protocol=\"1\" client=\"soak-raw\"/>");

// Clients that connect and go away: cleanly, in the middle of a request,
// with a request half sent, with an op submitted and its result unread.
void vanishing(const Daemon& daemon, Gate& gate, Tally& tally) {
  std::mt19937 random(7);
  while (gate.pass()) {
    try {
      switch (random() % 5) {
        case 0:
          Client::connect(daemon.socket(), "soak-vanish", kPatience)->ping();
          break;
        case 1: {  // an exec sent, the connection closed before the reply
          RawSocket raw(daemon.socket());
          raw.send(kHello + frame("<exec id=\"2\" instance=\"vanish\" action=\"monitor\"/>"));
          break;
        }
        case 2: {  // half a frame, then gone
          RawSocket raw(daemon.socket());
          raw.send(kHello + frame("<ping id=\"2\"/>").substr(0, 9));
          break;
        }
        case 3: {  // an op acknowledged, its result never read
          auto client = Client::connect(daemon.socket(), "soak-vanish", kPatience);
          client->exec(operation("vanish", "monitor"));
          break;
        }
        default: {
          RawSocket silent(daemon.socket());  // connected, said nothing
          break;
        }
      }
      ++tally.vanished;
    } catch (const Error& e) {
      ++tally.request_errors;
      tally.note(std::string("vanishing client: ") + e.code() + ": " + e.what());
    }
    std::this_thread::sleep_for(Millis(20));
  }
}

// Peers that send what lrmd must refuse, each on its own connection; lrmd
// answers with a goodbye and closes, which is waited for (up to 2 s).
void hostile(const Daemon& daemon, Gate& gate, Tally& tally) {
  std::mt19937 random(11);
  std::string nested;
  for (int i = 0; i < 20; ++i) nested = "<a>" + nested + "</a>";
  const std::vector<std::string> attacks = {
      kHello + frame("<exec id=\"2\" instance="),                       // malformed XML
      kHello + std::string("\xff\xff\xff\xf0", 4) + "<ping",           // length far over the limit
      kHello + frame("<ping id=\"2\"/><ping id=\"3\"/>"),                // two root elements
      kHello + frame(nested),                                           // nested too deep
      frame("<ping id=\"1\"/>"),                                        // a request before hello
      kHello + frame(std::string(100, 'x')).substr(0, 40),              // a frame cut off, then close
      std::string(4, '\0'),                                             // an empty frame
  };
  while (gate.pass()) {
    RawSocket raw(daemon.socket());
    const auto which = random() % (attacks.size() + 1);
    if (which < attacks.size()) {
      raw.send(attacks[which]);
    } else {
      std::string garbage(64 + random() % 512, '\0');
      for (auto& byte : garbage) byte = static_cast<char>(random());
      raw.send(garbage);
    }
    // A cut-off frame or garbage that reads as a long one leaves lrmd
    // waiting for the rest: the peer closes after a short wait.
    raw.readToEnd(Millis(which == 5 || which >= attacks.size() ? 50 : 2000));
    ++tally.hostile;
    std::this_thread::sleep_for(Millis(20));
  }
}

// The ping latency a client sees, upgrades included (one ping every 50 ms).
void pinger(const Daemon& daemon, const std::atomic<bool>& over, Tally& tally) {
  std::unique_ptr<Client> client;
  while (!over) {
    try {
      if (!client) client = Client::connect(daemon.socket(), "soak-ping", kPatience);
      const auto start = Clock::now();
      client->ping();
      const double ms = msSince(start);
      std::lock_guard<std::mutex> lock(tally.mutex);
      tally.ping_ms.push_back(ms);
    } catch (const Error& e) {
      ++tally.dropped;
      tally.note(std::string("ping client: ") + e.code() + ": " + e.what());
      client.reset();
    }
    std::this_thread::sleep_for(kPingEvery);
  }
}

// The 200 instances with recurring monitors, all submitted by this one
// client, which then reads every result until the load is over. A monitor
// that is silent for three intervals (and 5 s) at the end has stalled.
class Recurring {
 public:
  explicit Recurring(const Daemon& daemon) : client_(Client::connect(daemon.socket(), "soak-recurring", kPatience)) {
    std::vector<CallId> starts;
    for (int i = 0; i < kRecurringInstances; ++i) {
      lrm::client::RegisterRequest registration;
      registration.id = "rec-" + std::to_string(i);
      registration.agent = i % 2 == 0 ? "ocf:heartbeat:Dummy" : "native:lrm:Dummy";
      registration.params["state"] = daemon.file(registration.id + ".state");
      client_->registerInstance(registration);
      starts.push_back(client_->exec(operation(registration.id, "start")));
    }
    for (auto call : starts) client_->waitForResult(call, kPatience);
    for (int i = 0; i < kRecurringInstances; ++i) {
      const auto interval_ms = i % 2 == 0 ? kScriptMonitorMs : kNativeMonitorMs;
      last_seen_[client_->exec(operation("rec-" + std::to_string(i), "monitor", interval_ms))] = {Clock::now(),
                                                                                                   interval_ms};
    }
  }
  // Read results until @p over; then count the stalled monitors.
  void run(const std::atomic<bool>& over, Tally& tally) {
    try {
      while (!over) {
        const auto event = client_->nextEvent(Millis(100));
        if (!event || event->type != "exec") continue;
        ++tally.completed;
        auto it = last_seen_.find(event->call_id);
        if (it == last_seen_.end()) {
          ++tally.misdelivered;
          tally.note("recurring client: exec event for call " + std::to_string(event->call_id) +
                     " that it never submitted");
          continue;
        }
        it->second.first = Clock::now();
        if (event->status != lrm::sdk::ExecStatus::Done || event->rc != 0) {
          ++tally.request_errors;
          tally.note("recurring monitor of " + event->id + " failed: rc " + std::to_string(event->rc));
        }
      }
    } catch (const Error& e) {
      ++tally.dropped;
      tally.note(std::string("recurring client: ") + e.code() + ": " + e.what());
      return;
    }
    for (const auto& [call, seen] : last_seen_) {
      const auto silent_ms = static_cast<std::uint64_t>(msSince(seen.first));
      if (silent_ms > std::max<std::uint64_t>(3 * seen.second, 5000)) ++tally.stalled;
    }
  }

 private:
  std::unique_ptr<Client> client_;
  std::map<CallId, std::pair<Clock::time_point, std::uint64_t>> last_seen_;  // last result, interval
};

// One upgrade in place, by SIGHUP or by request (@p by_signal); returns once
// the new image answers (a new boot id), false if it did not within 60 s.
bool upgrade(Daemon& daemon, bool by_signal) {
  std::string boot;
  try {
    auto client = Client::connect(daemon.socket(), "soak-upgrade", kPatience);
    boot = client->ping().boot_id;
    if (by_signal) {
      ::kill(daemon.pid(), SIGHUP);
    } else {
      client->upgrade();
    }
  } catch (const Error&) {
    return false;
  }
  const auto until = Clock::now() + kPatience;
  while (Clock::now() < until && !daemon.exited()) {
    try {
      if (Client::connect(daemon.socket(), "soak-upgrade", Millis(1000))->ping().boot_id != boot) return true;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(Millis(10));
  }
  return false;
}

// Kills lrmd and ends the process if the run overshoots its bound.
class Watchdog {
 public:
  Watchdog(Daemon& daemon, Clock::duration bound)
      : thread_([this, &daemon, bound] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (done_changed_.wait_for(lock, bound, [&] { return done_; })) return;
          std::fprintf(stderr, "lrm_soak: not finished after %lld s; killing lrmd\n",
                       static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(bound).count()));
          daemon.discard();
          std::_Exit(2);
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_changed_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread thread_;
};

int run(const Options& options) {
  Daemon daemon;
  Watchdog watchdog(daemon, std::chrono::seconds(options.duration_s + 300));
  Tally tally;
  {
    lrm::client::RegisterRequest vanish;
    vanish.id = "vanish";
    vanish.agent = "native:lrm:Dummy";
    vanish.params["state"] = daemon.file("vanish.state");
    Client::connect(daemon.socket(), "soak-setup", kPatience)->registerInstance(vanish);
  }
  Recurring recurring(daemon);
  std::atomic<bool> over{false};
  Gate gate(kChurnClients + 2);
  std::vector<std::thread> threads;
  for (int i = 0; i < kChurnClients; ++i) threads.emplace_back(churn, i, std::cref(daemon), std::ref(gate), std::ref(tally));
  threads.emplace_back(vanishing, std::cref(daemon), std::ref(gate), std::ref(tally));
  threads.emplace_back(hostile, std::cref(daemon), std::ref(gate), std::ref(tally));
  std::thread ping_thread(pinger, std::cref(daemon), std::cref(over), std::ref(tally));
  std::thread recurring_thread([&] { recurring.run(over, tally); });

  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(options.duration_s);
  const auto warm = start + std::chrono::seconds(std::clamp(options.duration_s / 5, 5, 30));
  auto next_upgrade = start + options.upgrade_every;
  Snapshot before, after;
  bool measured = false;
  while (Clock::now() < end && !daemon.exited()) {
    if (!measured && Clock::now() >= warm) {
      gate.close();
      before = settle(daemon.pid());
      measured = true;
      gate.open();
    }
    if (options.upgrade_every.count() > 0 && Clock::now() >= next_upgrade) {
      if (upgrade(daemon, tally.upgrades % 2 == 0)) {
        ++tally.upgrades;
      } else {
        ++tally.upgrade_failures;
        tally.note("an upgrade did not complete within 60 s");
      }
      next_upgrade = Clock::now() + options.upgrade_every;
    }
    std::this_thread::sleep_for(Millis(20));
  }
  const double load_s = msSince(start) / 1000;
  // Park the load and measure with the same clients connected as at the
  // warm-up point; then the churn clients collect what is still due.
  gate.close();
  const bool alive = !daemon.exited();
  if (alive) after = settle(daemon.pid());
  gate.end();
  for (auto& thread : threads) thread.join();
  over = true;
  ping_thread.join();
  recurring_thread.join();
  const int exit_status = alive ? daemon.stop() : daemon.status();

  // The report.
  std::vector<std::string> failures;
  auto check = [&](bool holds, const std::string& what) {
    if (!holds) failures.push_back(what);
  };
  check(alive, "lrmd died during the run (exit status " + std::to_string(daemon.status()) + ")");
  check(measured, "the run ended before the warm-up point");
  check(tally.missing == 0, std::to_string(tally.missing) + " acknowledged ops never reported to their submitter");
  check(tally.duplicates == 0, std::to_string(tally.duplicates) + " duplicate reports");
  check(tally.misdelivered == 0, std::to_string(tally.misdelivered) + " results of ops the client never submitted");
  check(tally.recurring_cancels_missing == 0,
        std::to_string(tally.recurring_cancels_missing) + " cancelled recurring ops not reported cancelled exactly once");
  check(tally.dropped == 0, std::to_string(tally.dropped) + " connections of staying clients closed by lrmd");
  check(tally.request_errors == 0, std::to_string(tally.request_errors) + " requests failed");
  check(tally.stalled == 0, std::to_string(tally.stalled) + " recurring monitors stopped reporting");
  check(tally.upgrade_failures == 0, std::to_string(tally.upgrade_failures) + " upgrades did not complete");
  check(after.fds - before.fds <= kFdGrowth, "fds grew from " + std::to_string(before.fds) + " to " +
                                                 std::to_string(after.fds));
  check(after.threads - before.threads <= kThreadGrowth, "threads grew from " + std::to_string(before.threads) +
                                                             " to " + std::to_string(after.threads));
  check(after.zombies == 0, std::to_string(after.zombies) + " zombie children of lrmd at the end");
  check(after.rss_kib - before.rss_kib <= kRssGrowthKiB, "RSS grew by " +
                                                            std::to_string(static_cast<long>(after.rss_kib - before.rss_kib)) +
                                                            " KiB (bound " + std::to_string(static_cast<long>(kRssGrowthKiB)) + ")");
  check(exit_status == 0, "lrmd did not exit cleanly on SIGTERM (status " + std::to_string(exit_status) + ")");

  const double p50 = percentile(tally.ping_ms, 0.5), p99 = percentile(tally.ping_ms, 0.99);
  const double ping_max = tally.ping_ms.empty() ? 0 : *std::max_element(tally.ping_ms.begin(), tally.ping_ms.end());
  std::printf("== soak: %.0f s of mixed load, an upgrade every %.1f s\n", load_s,
              static_cast<double>(options.upgrade_every.count()) / 1000);
  std::printf("ops completed          %ld (%.0f ops/s), churn cycles %ld\n", tally.completed.load(),
              static_cast<double>(tally.completed) / load_s, tally.cycles.load());
  std::printf("acknowledged one-shots %ld: missing %ld, duplicates %ld, misdelivered %ld\n", tally.acknowledged.load(),
              tally.missing.load(), tally.duplicates.load(), tally.misdelivered.load());
  std::printf("upgrades               %ld (failed %ld)\n", tally.upgrades.load(), tally.upgrade_failures.load());
  std::printf("vanishing clients      %ld, hostile connections %ld\n", tally.vanished.load(), tally.hostile.load());
  std::printf("ping                   p50 %.2f ms, p99 %.2f ms, max %.1f ms (%zu pings)\n", p50, p99, ping_max,
              tally.ping_ms.size());
  std::printf("lrmd                   %-12s %-12s\n", "warm-up", "end");
  std::printf("  fds                  %-12ld %-12ld (bound: +%ld)\n", before.fds, after.fds, kFdGrowth);
  std::printf("  threads              %-12ld %-12ld (bound: +%ld)\n", before.threads, after.threads, kThreadGrowth);
  std::printf("  RSS KiB              %-12.0f %-12.0f (bound: +%.0f)\n", before.rss_kib, after.rss_kib, kRssGrowthKiB);
  std::printf("  zombies              %-12ld %-12ld (bound: 0)\n", before.zombies, after.zombies);
  std::printf("lrmd exit status       %d\n", exit_status);
  for (const auto& note : tally.notes) std::printf("note: %s\n", note.c_str());
  for (const auto& failure : failures) std::printf("FAILED: %s\n", failure.c_str());
  if (!failures.empty()) std::printf("lrmd's log (tail):\n%s\n", daemon.logTail(4000).c_str());
  std::printf("%s\n", failures.empty() ? "soak: every invariant held" : "soak: invariants failed");

  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "soak");
  line.set("duration_s", load_s);
  line.set("upgrades", tally.upgrades.load());
  line.set("ops_completed", tally.completed.load());
  line.set("ops_per_s", static_cast<double>(tally.completed) / load_s);
  line.set("acknowledged", tally.acknowledged.load());
  line.set("missing", tally.missing.load());
  line.set("duplicates", tally.duplicates.load());
  line.set("ping_p50_ms", p50);
  line.set("ping_p99_ms", p99);
  line.set("fds_before", before.fds);
  line.set("fds_after", after.fds);
  line.set("threads_before", before.threads);
  line.set("threads_after", after.threads);
  line.set("rss_kib_before", before.rss_kib);
  line.set("rss_kib_after", after.rss_kib);
  line.set("failures", static_cast<int>(failures.size()));
  lrm::bench::emit(line);
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--duration" || arg == "--upgrade-every") && i + 1 < argc) {
      const double value = std::atof(argv[++i]);
      if (arg == "--duration") {
        options.duration_s = static_cast<int>(value);
      } else {
        options.upgrade_every = Millis(static_cast<long>(value * 1000));
      }
    } else {
      std::fprintf(stderr, "usage: lrm_soak [--duration SECONDS] [--upgrade-every SECONDS (fractions allowed; 0: none)]\n");
      return 2;
    }
  }
  if (options.duration_s < 10 || options.upgrade_every.count() < 0) {
    std::fprintf(stderr, "lrm_soak: --duration must be at least 10 s\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lrm_soak: %s\n", e.what());
    return 2;
  }
}
