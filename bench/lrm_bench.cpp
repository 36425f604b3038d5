// lrm_bench: lrmd measured against baselines taken in the same run.
//
//   lrm_bench [--quick] [burst|latency|recurring|memory|all] [--agent SPEC]
//   lrm_bench systemd N
//
// burst      N instances x (start, monitor, stop), each phase submitted at
//            once (N = 100 and 500), through lrmd; the same agent spawned
//            directly at the same concurrency (raw); /bin/true likewise (the
//            spawn limit). Prints lrm/raw and lrmd's own CPU per op.
// latency    200 sequential monitors of one instance through lrmd, and the
//            same agent spawned 200 times directly: p50/p99 of each, and of
//            the difference (= what the daemon adds).
// recurring  200 instances with 1 s monitors for 30 s: lrmd CPU %, RSS, every
//            result delivered, p99 lateness of the actual interval.
// memory     lrmd's RSS idle and after registering 1,000 and 10,000
//            instances: bytes per instance.
// metadata   metadata of every installed OCF agent: run directly, through
//            lrmd cold (first request) and warm (cached), 4 at a time.
// native     native:lrm:Dummy monitors over the socket with 1, 4 and 16
//            concurrent clients (ops/s), and 10,000 native monitors every
//            1 s for 30 s (lrmd CPU %, p99 lateness).
// systemd N  N systemd units x (start, monitor, stop) through lrmd's systemd
//            class; run by bench/systemd.sh, which boots the manager.
// --quick    small N and seconds instead of minutes (CI smoke: asserts
//            nothing about speed, fails only if something does not work).
//
// With Pacemaker's development files installed at build time, each burst
// and latency measurement is repeated against a standalone pacemaker-execd
// (bench/execd/execd_bench.c, through liblrmd) and printed beside lrm.
//
// Results go to stdout as a table and to stderr as JSON lines.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "lrm/client/client.hpp"

namespace {

using lrm::bench::Clock;
using lrm::bench::cpuMs;
using lrm::bench::emit;
using lrm::bench::msSince;
using lrm::bench::percentile;
using lrm::bench::rssKiB;
using lrm::bench::spawn;
using lrm::bench::statField;
namespace fs = std::filesystem;

bool quick = false;
int failures = 0;

// A recurring op's lateness: the time between two of its results minus the
// interval and the run's own time.
void noteLateness(std::map<lrm::sdk::CallId, Clock::time_point>& last_seen, std::vector<double>& lateness,
                  const lrm::client::Event& event, std::uint64_t interval_ms) {
  const auto now = Clock::now();
  auto& previous = last_seen[event.call_id];
  if (previous != Clock::time_point{}) {
    lateness.push_back(std::chrono::duration<double, std::milli>(now - previous).count() -
                       static_cast<double>(interval_ms + event.exec_ms));
  }
  previous = now;
}

// Runs the execd side of a measurement; nullptr when Pacemaker is not there.
Poco::JSON::Object::Ptr execd(const std::string& mode, const std::string& spec, int n) {
#ifdef LRM_BENCH_EXECD
  // Leaks inside Pacemaker's libraries are not ours to report (sanitizer builds).
  const std::string command = "ASAN_OPTIONS=detect_leaks=0 " + std::string(LRM_BENCH_EXECD) + " " + mode + " " +
                              spec + " " + std::to_string(n);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return nullptr;
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  if (::pclose(pipe) != 0 || output.empty()) {
    ++failures;
    return nullptr;
  }
  Poco::JSON::Parser parser;
  return parser.parse(output).extract<Poco::JSON::Object::Ptr>();
#else
  (void)mode, (void)spec, (void)n;
  return nullptr;
#endif
}

bool execdAvailable() {
#ifdef LRM_BENCH_EXECD
  return true;
#else
  return false;
#endif
}

// An OCF agent as the daemon would run it, for the raw baselines.
struct Agent {
  std::string spec, provider, type;
  explicit Agent(const std::string& text) : spec(text) {
    const auto a = text.find(':'), b = text.rfind(':');
    provider = text.substr(a + 1, b - a - 1);
    type = text.substr(b + 1);
  }
  std::string path() const { return "/usr/lib/ocf/resource.d/" + provider + "/" + type; }
  std::vector<std::string> env(const std::string& id, const std::string& state) const {
    return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf", "OCF_RA_VERSION_MAJOR=1",
            "OCF_RA_VERSION_MINOR=1", "OCF_RESOURCE_INSTANCE=" + id, "OCF_RESOURCE_TYPE=" + type,
            "OCF_RESOURCE_PROVIDER=" + provider, "OCF_EXIT_REASON_PREFIX=ocf-exit-reason:",
            "OCF_RESKEY_CRM_meta_timeout=20000", "OCF_RESKEY_CRM_meta_interval=0", "OCF_RESKEY_state=" + state};
  }
};

// A scratch directory and a real lrmd in it, stopped and removed at the end.
class Daemon {
 public:
  // pacemaker-execd persists nothing: compare like with like unless
  // LRM_BENCH_STATE=1 (or @p with_state) asks for lrm's journal too.
  explicit Daemon(bool with_state = std::getenv("LRM_BENCH_STATE") != nullptr) : with_state_(with_state) {
    char pattern[] = "/tmp/lrm-bench-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    start();
  }
  // Without journal, with lrmd's config file holding @p config (lines
  // `key = value`) and @p env added to its environment.
  Daemon(const std::vector<std::string>& config, const std::vector<std::string>& env)
      : with_state_(false), env_(env) {
    char pattern[] = "/tmp/lrm-bench-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    std::ofstream out(file("lrmd.properties"));
    for (const auto& line : config) out << line << "\n";
    out.close();
    extra_args_ = {"--config", file("lrmd.properties")};
    start();
  }
  // kill -9 and start again on the same state directory.
  void crashAndRestart() {
    client_.reset();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    start();
  }
  // A new client, once lrmd answers on its socket (retrying for 10 s).
  std::unique_ptr<lrm::client::Client> connect() const {
    for (int i = 0; i < 1000; ++i) {
      try {
        return lrm::client::Client::connect(socket(), "bench");
      } catch (const lrm::client::Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    throw std::runtime_error("lrmd does not answer on " + socket());
  }
  ~Daemon() {
    client_.reset();
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    fs::remove_all(dir_);
  }
  lrm::client::Client& client() { return *client_; }
  pid_t pid() const { return pid_; }
  std::string socket() const { return dir_ + "/lrmd.sock"; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  void add(const std::string& id, const std::string& spec) {
    lrm::client::RegisterRequest request;
    request.id = id;
    request.agent = spec;
    request.params["state"] = file(id + ".state");
    client_->registerInstance(request);
  }
  lrm::sdk::CallId exec(const std::string& id, const std::string& action, std::uint64_t interval_ms = 0) {
    lrm::client::ExecRequest request;
    request.id = id;
    request.action = action;
    request.interval_ms = interval_ms;
    return client_->exec(request);
  }
  lrm::client::Event wait(lrm::sdk::CallId call) {
    auto event = client_->waitForResult(call, std::chrono::minutes(5));
    if (event.status != lrm::sdk::ExecStatus::Done || event.rc != 0) ++failures;
    return event;
  }

 private:
  void start() {
    std::vector<std::string> args = {std::string(LRM_BENCH_BIN_DIR) + "/lrmd", "--foreground", "--socket", socket(),
                                     "--plugin-dir", LRM_BENCH_PLUGIN_DIR, "--log-level", "warning",
                                     "--log-target", dir_ + "/lrmd.log",
                                     "--state-dir", with_state_ ? dir_ + "/state" : "none"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    env.insert(env.end(), env_.begin(), env_.end());
    pid_ = spawn(args, env);
    client_ = connect();
  }

  bool with_state_;
  std::vector<std::string> extra_args_;
  std::vector<std::string> env_;
  std::string dir_;
  pid_t pid_ = -1;
  std::unique_ptr<lrm::client::Client> client_;
};

// N processes at once per phase, all reaped; returns wall ms.
double rawBurst(const Agent& agent, int n, const std::string& dir, bool use_true) {
  const auto start = Clock::now();
  for (const char* action : {"start", "monitor", "stop"}) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      const std::string id = "raw" + std::to_string(i);
      pids.push_back(use_true ? spawn({"/bin/true"}, {})
                              : spawn({agent.path(), action}, agent.env(id, dir + "/" + id + ".state")));
    }
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  }
  return msSince(start);
}

// One burst row: lrm always; the raw, /bin/true and execd baselines for
// script agents only (a native agent has no process to spawn directly).
void burstRow(const Agent& agent, int n, bool script) {
  Daemon daemon;
  const double true_ms = script ? rawBurst(agent, n, daemon.file(""), true) : 0;
  const double raw_ms = script ? rawBurst(agent, n, daemon.file(""), false) : 0;
  for (int i = 0; i < n; ++i) daemon.add("b" + std::to_string(i), agent.spec);
  const double cpu_before = cpuMs(daemon.pid());
  const auto start = Clock::now();
  for (const char* action : {"start", "monitor", "stop"}) {
    std::vector<lrm::sdk::CallId> calls;
    for (int i = 0; i < n; ++i) calls.push_back(daemon.exec("b" + std::to_string(i), action));
    for (auto call : calls) daemon.wait(call);
  }
  const double lrm_ms = msSince(start);
  const double cpu_per_op = (cpuMs(daemon.pid()) - cpu_before) / (3 * n);
  const double ratio = script ? raw_ms / lrm_ms : 0;  // lrm throughput over raw throughput
  const auto pacemaker = script ? execd("burst", agent.spec, n) : nullptr;
  const double execd_ms = pacemaker ? pacemaker->getValue<double>("wall_ms") : 0;
  const double execd_cpu = pacemaker ? pacemaker->getValue<double>("cpu_ms_per_op") : 0;
  std::printf("%-22s %5d %9.0f %9.0f %9.0f %9.0f %8.2f %10.2f %11.3f %11.3f\n", agent.spec.c_str(), n, lrm_ms,
              raw_ms, true_ms, execd_ms, ratio, pacemaker ? execd_ms / lrm_ms : 0.0, cpu_per_op, execd_cpu);
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "burst");
  line.set("agent", agent.spec);
  line.set("n", n);
  line.set("lrm_wall_ms", lrm_ms);
  line.set("lrmd_cpu_ms_per_op", cpu_per_op);
  if (script) {
    line.set("raw_wall_ms", raw_ms);
    line.set("true_wall_ms", true_ms);
    line.set("lrm_over_raw_throughput", ratio);
  }
  if (pacemaker) {
    line.set("execd_wall_ms", execd_ms);
    line.set("lrm_over_execd_throughput", execd_ms / lrm_ms);
    line.set("execd_cpu_ms_per_op", execd_cpu);
  }
  emit(line);
}

void burst(const Agent& agent) {
  std::printf("\n== burst: N instances x (start, monitor, stop), each phase submitted at once\n");
  if (!execdAvailable()) {
    std::printf("(pacemaker-execd columns skipped: build with pacemaker-dev installed, see bench/README.md)\n");
  }
  std::printf("%-22s %5s %9s %9s %9s %9s %8s %10s %11s %11s\n", "agent", "N", "lrm ms", "raw ms", "true ms",
              "execd ms", "lrm/raw", "lrm/execd", "lrmd ms/op", "execd ms/op");
  std::vector<Agent> scripts = {agent};
  if (agent.spec != "ocf:pacemaker:Dummy" && fs::exists("/usr/lib/ocf/resource.d/pacemaker/Dummy")) {
    scripts.emplace_back("ocf:pacemaker:Dummy");
  }
  for (int n : quick ? std::vector<int>{20} : std::vector<int>{100, 500}) {
    for (const auto& script : scripts) burstRow(script, n, true);
    burstRow(Agent("native:lrm:Dummy"), n, false);
  }
  std::printf("targets: lrm/raw >= 0.95 at every N; lrmd CPU <= 1 ms per script op\n");
}

void latency(const Agent& agent) {
  const int count = quick ? 20 : 200;
  std::printf("\n== latency: %d sequential monitors of one instance (submit -> result)\n", count);
  Daemon daemon;
  daemon.add("l", agent.spec);
  daemon.wait(daemon.exec("l", "start"));
  // Interleaved, so that drift in the machine's load hits both alike.
  std::vector<double> lrm, raw;
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    daemon.wait(daemon.exec("l", "monitor"));
    lrm.push_back(msSince(start));
    start = Clock::now();
    ::waitpid(spawn({agent.path(), "monitor"}, agent.env("l", daemon.file("l.state"))), nullptr, 0);
    raw.push_back(msSince(start));
  }
  daemon.wait(daemon.exec("l", "stop"));
  const double p50 = percentile(lrm, 0.5), p99 = percentile(lrm, 0.99);
  const double raw50 = percentile(raw, 0.5), raw99 = percentile(raw, 0.99);
  std::printf("%-22s %8s %8s %8s %8s %10s %10s %13s %13s\n", "agent", "lrm p50", "lrm p99", "raw p50", "raw p99",
              "execd p50", "execd p99", "lrm overhead", "execd overh.");
  const auto pacemaker = execd("latency", agent.spec, count);
  const double execd50 = pacemaker ? pacemaker->getValue<double>("p50_ms") : 0;
  const double execd99 = pacemaker ? pacemaker->getValue<double>("p99_ms") : 0;
  std::printf("%-22s %8.2f %8.2f %8.2f %8.2f %10.2f %10.2f %13.2f %13.2f  (ms, p50)\n", agent.spec.c_str(), p50,
              p99, raw50, raw99, execd50, execd99, p50 - raw50, pacemaker ? execd50 - raw50 : 0.0);
  std::printf("target: overhead p50 <= 0.5 ms\n");
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "latency");
  line.set("agent", agent.spec);
  line.set("count", count);
  line.set("lrm_p50_ms", p50);
  line.set("lrm_p99_ms", p99);
  line.set("raw_p50_ms", raw50);
  line.set("raw_p99_ms", raw99);
  line.set("overhead_p50_ms", p50 - raw50);
  if (pacemaker) {
    line.set("execd_p50_ms", execd50);
    line.set("execd_p99_ms", execd99);
    line.set("execd_overhead_p50_ms", execd50 - raw50);
  }
  emit(line);
}

void recurring(const Agent& agent) {
  const int instances = quick ? 20 : 200;
  const int seconds = quick ? 3 : 30;
  const std::uint64_t interval_ms = 1000;
  std::printf("\n== recurring: %d instances, monitor every %llu ms, for %d s\n", instances,
              static_cast<unsigned long long>(interval_ms), seconds);
  Daemon daemon;
  std::vector<lrm::sdk::CallId> starts;
  for (int i = 0; i < instances; ++i) {
    daemon.add("r" + std::to_string(i), agent.spec);
    starts.push_back(daemon.exec("r" + std::to_string(i), "start"));
  }
  for (auto call : starts) daemon.wait(call);
  std::map<lrm::sdk::CallId, Clock::time_point> last_seen;
  std::map<lrm::sdk::CallId, std::size_t> per_op;
  for (int i = 0; i < instances; ++i) last_seen[daemon.exec("r" + std::to_string(i), "monitor", interval_ms)] = {};
  const double cpu_before = cpuMs(daemon.pid());
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<double> lateness;
  std::size_t results = 0;
  while (Clock::now() < end) {
    auto event = daemon.client().nextEvent(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
    if (!event || event->type != "exec") continue;
    ++results;
    ++per_op[event->call_id];
    if (event->status != lrm::sdk::ExecStatus::Done || event->rc != 0) ++failures;
    noteLateness(last_seen, lateness, *event, interval_ms);
  }
  const double cpu_percent = (cpuMs(daemon.pid()) - cpu_before) / (seconds * 10.0);
  const double p99 = percentile(lateness, 0.99);
  std::size_t fewest = results;
  for (const auto& [call, count] : last_seen) fewest = std::min(fewest, per_op[call]);
  // Each op runs once per (interval + its own run time + lateness): a stalled
  // op shows up as a low minimum.
  std::printf("%-22s %9s %12s %9s %12s %10s %10s\n", "agent", "results", "fewest/op", "lrmd CPU", "lrmd RSS",
              "p50 late", "p99 late");
  std::printf("%-22s %9zu %12zu %8.1f%% %9.0f KiB %8.1fms %8.1fms\n", agent.spec.c_str(), results, fewest,
              cpu_percent, rssKiB(daemon.pid()), percentile(lateness, 0.5), p99);
  std::printf("target: every monitor keeps reporting for the whole window (fewest/op ~ %d)\n", seconds - 1);
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "recurring");
  line.set("agent", agent.spec);
  line.set("instances", instances);
  line.set("seconds", seconds);
  line.set("results", static_cast<Poco::UInt64>(results));
  line.set("fewest_results_per_op", static_cast<Poco::UInt64>(fewest));
  line.set("lateness_p50_ms", percentile(lateness, 0.5));
  line.set("lrmd_cpu_percent", cpu_percent);
  line.set("lrmd_rss_kib", rssKiB(daemon.pid()));
  line.set("lateness_p99_ms", p99);
  emit(line);
}

// Each client keeps one monitor in flight on its own instance, for @p seconds.
double nativeOpsPerSecond(Daemon& daemon, int clients, int seconds) {
  std::vector<std::unique_ptr<lrm::client::Client>> connections;
  std::vector<std::string> ids;
  for (int i = 0; i < clients; ++i) {
    ids.push_back("n" + std::to_string(clients) + "-" + std::to_string(i));
    daemon.add(ids.back(), "native:lrm:Dummy");
    connections.push_back(lrm::client::Client::connect(daemon.file("lrmd.sock"), "bench"));
  }
  std::vector<std::thread> threads;
  std::vector<std::size_t> counts(clients, 0);
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      lrm::client::ExecRequest request;
      request.id = ids[i];
      request.action = "monitor";
      while (Clock::now() < end) {
        const auto call = connections[i]->exec(request);
        connections[i]->waitForResult(call, std::chrono::minutes(1));
        ++counts[i];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::size_t total = 0;
  for (auto count : counts) total += count;
  return static_cast<double>(total) / seconds;
}

void native() {
  std::printf("\n== native: native:lrm:Dummy monitors\n");
  Daemon daemon;
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "native");
  const int seconds = quick ? 1 : 5;
  for (int clients : {1, 4, 16}) {
    const double rate = nativeOpsPerSecond(daemon, clients, seconds);
    std::printf("%3d client(s), one monitor in flight each: %9.0f ops/s\n", clients, rate);
    line.set("ops_per_s_" + std::to_string(clients) + "_clients", rate);
  }
  std::printf("target: >= 20,000 ops/s\n");

  const int instances = quick ? 500 : 10000;
  const int window = quick ? 3 : 30;
  for (int i = 0; i < instances; ++i) daemon.add("r" + std::to_string(i), "native:lrm:Dummy");
  std::map<lrm::sdk::CallId, Clock::time_point> last_seen;
  for (int i = 0; i < instances; ++i) last_seen[daemon.exec("r" + std::to_string(i), "monitor", 1000)] = {};
  const double cpu_before = cpuMs(daemon.pid());
  const double user_before = static_cast<double>(statField(daemon.pid(), 14));
  const auto end = Clock::now() + std::chrono::seconds(window);
  std::vector<double> lateness;
  std::size_t results = 0;
  while (Clock::now() < end) {
    auto event = daemon.client().nextEvent(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
    if (!event || event->type != "exec") continue;
    ++results;
    if (event->rc != lrm::sdk::rc::kNotRunning) ++failures;  // never started: "not running" is the answer
    noteLateness(last_seen, lateness, *event, 1000);
  }
  const double cpu_percent = (cpuMs(daemon.pid()) - cpu_before) / (window * 10.0);
  const double user_percent = (static_cast<double>(statField(daemon.pid(), 14)) - user_before) * 1000.0 /
                              static_cast<double>(::sysconf(_SC_CLK_TCK)) / (window * 10.0);
  std::printf("(lrmd user %.1f%%, system %.1f%%)\n", user_percent, cpu_percent - user_percent);
  std::printf("%d native monitors every 1 s for %d s: %zu results, lrmd %.1f%% CPU, RSS %.0f KiB, "
              "lateness p50 %.1f ms p99 %.1f ms\n",
              instances, window, results, cpu_percent, rssKiB(daemon.pid()), percentile(lateness, 0.5),
              percentile(lateness, 0.99));
  std::printf("target: < 10%% of one CPU, p99 lateness <= 50 ms\n");
  line.set("recurring_instances", instances);
  line.set("recurring_results", static_cast<Poco::UInt64>(results));
  line.set("recurring_lrmd_cpu_percent", cpu_percent);
  line.set("recurring_lateness_p99_ms", percentile(lateness, 0.99));
  emit(line);
}

// Run job(i, thread) for i in [0, count) on @p parallel threads; wall ms.
double inParallel(std::size_t count, int parallel, const std::function<void(std::size_t, int)>& job) {
  std::atomic<std::size_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = next++; i < count; i = next++) job(i, t);
    });
  }
  for (auto& thread : threads) thread.join();
  return msSince(start);
}

void metadataBench() {
  constexpr int kParallel = 4;
  std::printf("\n== metadata: every installed OCF agent, %d at a time\n", kParallel);
  Daemon daemon;
  std::vector<std::string> specs;
  for (const auto& provider : daemon.client().providers()) {
    for (const auto& type : daemon.client().agents("ocf", provider)) specs.push_back("ocf:" + provider + ":" + type);
  }
  if (quick && specs.size() > 20) specs.resize(20);
  const double direct = inParallel(specs.size(), kParallel, [&](std::size_t i, int) {
    const Agent agent(specs[i]);
    ::waitpid(spawn({agent.path(), "meta-data"}, agent.env("meta", "/dev/null")), nullptr, 0);
  });
  std::vector<std::unique_ptr<lrm::client::Client>> clients;
  for (int t = 0; t < kParallel; ++t) clients.push_back(lrm::client::Client::connect(daemon.file("lrmd.sock"), "bench"));
  auto through_lrm = [&] {
    return inParallel(specs.size(), kParallel, [&](std::size_t i, int thread) {
      try {
        clients[static_cast<std::size_t>(thread)]->metadata(specs[i]);
      } catch (const lrm::client::Error&) {
        ++failures;
      }
    });
  };
  const double cold = through_lrm();
  const double warm = through_lrm();
  std::printf("%zu agents: direct %.0f ms, lrm cold %.0f ms, lrm warm %.1f ms\n", specs.size(), direct, cold, warm);
  std::printf("warm is %.0fx faster than forking the agents; cold/direct %.2f\n", direct / warm, cold / direct);
  std::printf("targets: warm >= 100x faster than direct; cold no slower than direct\n");
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "metadata");
  line.set("agents", static_cast<Poco::UInt64>(specs.size()));
  line.set("direct_ms", direct);
  line.set("cold_ms", cold);
  line.set("warm_ms", warm);
  line.set("warm_speedup", direct / warm);
  emit(line);
}

void memory(const Agent& agent) {
  std::printf("\n== memory: lrmd RSS\n");
  Daemon daemon;
  const double idle = rssKiB(daemon.pid());
  std::printf("%-12s %10.0f KiB\n", "idle", idle);
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "memory");
  line.set("idle_rss_kib", idle);
  int registered = 0;
  for (int target : quick ? std::vector<int>{200} : std::vector<int>{1000, 10000}) {
    for (; registered < target; ++registered) daemon.add("m" + std::to_string(registered), agent.spec);
    const double rss = rssKiB(daemon.pid());
    const double per_instance = (rss - idle) * 1024.0 / target;
    std::printf("%-12s %10.0f KiB  %8.0f bytes/instance\n", (std::to_string(target) + " inst.").c_str(), rss,
                per_instance);
    line.set("rss_kib_" + std::to_string(target), rss);
    line.set("bytes_per_instance_" + std::to_string(target), per_instance);
  }
  std::printf("targets: idle RSS <= 8 MiB; <= 512 bytes per instance\n");
  emit(line);
}

// Upgrade in place under load: instances with recurring monitors and agents
// in flight. The time until the new image answers, against the fastest
// alternative on the same state: kill -9 and restart (which loses the ops in
// flight and the recurring schedules).
void upgradeBench(const Agent& agent) {
  std::printf("\n== upgrade in place: %s instances with a recurring monitor, agents in flight\n", agent.spec.c_str());
  const int instances = quick ? 100 : 1000;
  const int in_flight = quick ? 5 : 20;
  Daemon daemon(true);
  for (int i = 0; i < instances; ++i) {
    const std::string id = "u" + std::to_string(i);
    daemon.add(id, agent.spec);
    daemon.wait(daemon.exec(id, "start"));
    daemon.exec(id, "monitor", 60000);
  }
  // Delay keeps its state under /run/resource-agents by instance id: ids
  // unique to this run, and stopped at the end.
  std::vector<std::string> delays;
  std::vector<lrm::sdk::CallId> running;
  for (int i = 0; i < in_flight; ++i) {
    lrm::client::RegisterRequest request;
    request.id = "bench-delay-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    request.agent = "ocf:heartbeat:Delay";
    request.params = {{"startdelay", "3"}, {"stopdelay", "0"}, {"mondelay", "0"}};
    daemon.client().registerInstance(request);
    delays.push_back(request.id);
    running.push_back(daemon.exec(request.id, "start"));
  }
  const auto give_up = Clock::now() + std::chrono::seconds(10);
  while (daemon.connect()->ping().in_flight < static_cast<std::uint64_t>(in_flight)) {
    if (Clock::now() > give_up) throw std::runtime_error("the Delay agents did not all start");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto ready = [&](const std::string& old_boot) {
    while (true) {
      try {
        if (daemon.connect()->ping().boot_id != old_boot) return;
      } catch (const lrm::client::Error&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  const std::string boot = daemon.client().ping().boot_id;
  auto start = Clock::now();
  daemon.connect()->upgrade();
  ready(boot);
  const double upgrade_ms = msSince(start);
  const auto after = daemon.connect()->ping();
  int reported = 0;
  for (const auto call : running) {
    if (daemon.wait(call).call_id == call) ++reported;
  }
  const std::set<lrm::sdk::CallId> calls(running.begin(), running.end());
  while (auto event = daemon.client().nextEvent(std::chrono::milliseconds(500))) {
    if (calls.count(event->call_id)) --reported;  // a second report
  }
  const auto carried = daemon.client().info("u0").recurring.size();

  const std::string boot2 = daemon.client().ping().boot_id;
  start = Clock::now();
  daemon.crashAndRestart();
  ready(boot2);
  const double restart_ms = msSince(start);
  for (const auto& id : delays) daemon.wait(daemon.exec(id, "stop"));

  std::printf("%-34s %10.1f ms  (%llu agents in flight carried, %d/%d reported once, monitors kept: %s)\n",
              "upgrade in place", upgrade_ms, static_cast<unsigned long long>(after.in_flight), reported, in_flight,
              carried == 1 ? "yes" : "no");
  std::printf("%-34s %10.1f ms\n", "baseline: kill -9 and restart", restart_ms);
  std::printf("upgrade/restart %.2f\n", upgrade_ms / restart_ms);
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "upgrade");
  line.set("instances", instances);
  line.set("in_flight", in_flight);
  line.set("upgrade_ms", upgrade_ms);
  line.set("restart_ms", restart_ms);
  line.set("reported", reported);
  emit(line);
  if (reported != in_flight || after.in_flight != static_cast<std::uint64_t>(in_flight) || carried != 1) ++failures;
}

// systemd (bench/systemd.sh boots the manager and calls this once per N):
// N units lrm-bench@1..N x (start, monitor, stop) through lrmd's systemd
// class, on the manager at $DBUS_SYSTEM_BUS_ADDRESS with the drop-ins in
// $LRM_BENCH_SYSTEMD_DROPIN_DIR, each run on a fresh lrmd. One JSON line per
// run on stdout, for the script's table; false when lrmd has no such class.
struct SystemdRun {
  const char* side;
  bool at_once;  // each phase submitted at once, or one op after the other
  bool dropins;
};

bool systemdRun(int n, const SystemdRun& run) {
  const char* bus = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
  const char* dropins = std::getenv("LRM_BENCH_SYSTEMD_DROPIN_DIR");
  if (!bus || !dropins) throw std::runtime_error("run the systemd benchmark as bench/run.sh systemd");
  Daemon daemon({std::string("systemd.dropin-dir = ") + (run.dropins ? dropins : "none")},
                {std::string("DBUS_SYSTEM_BUS_ADDRESS=") + bus});
  auto& client = daemon.client();
  const auto classes = client.classes();
  if (std::find(classes.begin(), classes.end(), "systemd") == classes.end()) return false;
  // Connected once the class lists the manager's units: not part of the timing.
  for (int i = 0; i < 1000 && client.agents("systemd").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 1; i <= n; ++i) {
    lrm::client::RegisterRequest request;
    request.id = "u" + std::to_string(i);
    request.agent = "systemd:lrm-bench@" + std::to_string(i);
    client.registerInstance(request);
  }
  const int failures_before = failures;
  const double cpu_before = cpuMs(daemon.pid());
  const auto start = Clock::now();
  for (const char* action : {"start", "monitor", "stop"}) {
    std::vector<lrm::sdk::CallId> calls;
    for (int i = 1; i <= n; ++i) {
      lrm::client::ExecRequest request;
      request.id = "u" + std::to_string(i);
      request.action = action;
      request.timeout_ms = 300000;  // throughput, not timeouts: every start may wait for a Reload
      calls.push_back(client.exec(request));
      if (!run.at_once) daemon.wait(calls.back());
    }
    if (run.at_once) for (auto call : calls) daemon.wait(call);
  }
  const double wall_ms = msSince(start);
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("bench", "systemd");
  line.set("side", run.side);
  line.set("n", n);
  line.set("wall_ms", wall_ms);
  line.set("ops_per_s", 3 * n * 1000.0 / wall_ms);
  line.set("cpu_ms_per_op", (cpuMs(daemon.pid()) - cpu_before) / (3 * n));
  line.set("failed", failures - failures_before);
  Poco::JSON::Stringifier::condense(line, std::cout);
  std::cout << std::endl;
  return true;
}

bool systemdBench(int n) {
  for (const SystemdRun& run : {SystemdRun{"lrm, at once", true, true}, SystemdRun{"lrm, one by one", false, true},
                                SystemdRun{"lrm, at once, no drop-in", true, false}}) {
    if (!systemdRun(n, run)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "all";
  std::string spec = "ocf:heartbeat:Dummy";
  int units = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--agent" && i + 1 < argc) {
      spec = argv[++i];
    } else if (arg == "systemd" && i + 1 < argc) {
      mode = arg;
      units = std::atoi(argv[++i]);
    } else if (arg == "burst" || arg == "latency" || arg == "recurring" || arg == "memory" || arg == "native" ||
               arg == "metadata" || arg == "upgrade" || arg == "all") {
      mode = arg;
    } else {
      std::cerr << "usage: lrm_bench [--quick] [--agent SPEC] [burst|latency|recurring|memory|native|metadata|upgrade|all|systemd N]\n";
      return 2;
    }
  }
  if (mode == "systemd") {
    try {
      if (!systemdBench(units)) {
        std::cerr << "lrm_bench: lrmd has no systemd class (plugins/systemd not built)\n";
        return 77;
      }
    } catch (const std::exception& e) {
      std::cerr << "lrm_bench: " << e.what() << "\n";
      return 1;
    }
    return failures == 0 ? 0 : 1;
  }
  const Agent agent(spec);
  if (!fs::exists(agent.path())) {
    std::cerr << "lrm_bench: " << agent.path() << " is not installed (apt-get install resource-agents)\n";
    return 1;
  }
  try {
    if (mode == "burst" || mode == "all") burst(agent);
    if (mode == "latency" || mode == "all") latency(agent);
    if (mode == "recurring" || mode == "all") recurring(agent);
    if (mode == "memory" || mode == "all") memory(agent);
    if (mode == "native" || mode == "all") native();
    if (mode == "metadata" || mode == "all") metadataBench();
    if (mode == "upgrade" || mode == "all") upgradeBench(agent);
  } catch (const std::exception& e) {
    std::cerr << "lrm_bench: " << e.what() << "\n";
    return 1;
  }
  if (failures > 0) std::printf("\n%d operations did not succeed\n", failures);
  return failures == 0 ? 0 : 1;
}
