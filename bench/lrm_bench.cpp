// lrm_bench: burst throughput of lrmd against the raw spawn limit, in one run.
//
//   lrm_bench [AGENT] [N]...      (default: ocf:heartbeat:Dummy 100 500)
//
// For each N: N instances x (start, monitor, stop), each phase submitted all
// at once. Measured three ways on this machine, in this run:
//   lrm   — through a real lrmd (Release build recommended) over its socket;
//   raw   — the same agent spawned directly (posix_spawn, same environment,
//           same concurrency: all N at once), no daemon;
//   true  — /bin/true spawned the same way: the physical spawn limit.
// Prints a table, the lrm/raw ratio and lrmd's own CPU per op (utime+stime
// from /proc), and one JSON object per result line.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lrm/client/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// utime + stime of a process in ms.
double cpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::string agentPath(const std::string& spec) {
  const auto a = spec.find(':'), b = spec.rfind(':');
  return "/usr/lib/ocf/resource.d/" + spec.substr(a + 1, b - a - 1) + "/" + spec.substr(b + 1);
}

std::vector<std::string> agentEnv(const std::string& spec, const std::string& id, const std::string& state) {
  const auto a = spec.find(':'), b = spec.rfind(':');
  return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf", "OCF_RA_VERSION_MAJOR=1",
          "OCF_RA_VERSION_MINOR=1", "OCF_RESOURCE_INSTANCE=" + id, "OCF_RESOURCE_TYPE=" + spec.substr(b + 1),
          "OCF_RESOURCE_PROVIDER=" + spec.substr(a + 1, b - a - 1), "OCF_EXIT_REASON_PREFIX=ocf-exit-reason:",
          "OCF_RESKEY_CRM_meta_timeout=20000", "OCF_RESKEY_CRM_meta_interval=0", "OCF_RESKEY_state=" + state};
}

// N processes at once per phase, all reaped; returns wall ms.
double rawBurst(const std::string& spec, int n, const std::string& dir, bool use_true) {
  const auto start = Clock::now();
  for (const char* action : {"start", "monitor", "stop"}) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      const std::string id = "raw" + std::to_string(i);
      pids.push_back(use_true ? spawn({"/bin/true"}, {})
                              : spawn({agentPath(spec), action}, agentEnv(spec, id, dir + "/" + id + ".state")));
    }
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  }
  return msSince(start);
}

struct LrmResult {
  double wall_ms;
  double cpu_ms;
  int failures;
};

LrmResult lrmBurst(const std::string& spec, int n, const std::string& dir) {
  const std::string socket = dir + "/lrmd.sock";
  const pid_t daemon = spawn({std::string(LRM_BENCH_BIN_DIR) + "/lrmd", "--foreground", "--socket", socket,
                              "--plugin-dir", LRM_BENCH_PLUGIN_DIR, "--log-level", "warning", "--log-target",
                              dir + "/lrmd.log"},
                             {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"});
  std::unique_ptr<lrm::client::Client> client;
  for (int i = 0; i < 500 && !client; ++i) {
    try {
      client = lrm::client::Client::connect(socket, "bench");
    } catch (const lrm::client::Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (!client) throw std::runtime_error("lrmd did not start");
  for (int i = 0; i < n; ++i) {
    lrm::client::RegisterRequest request;
    request.id = "b" + std::to_string(i);
    request.agent = spec;
    request.params["state"] = dir + "/" + request.id + ".state";
    client->registerInstance(request);
  }
  LrmResult result{0, 0, 0};
  const double cpu_before = cpuMs(daemon);
  const auto start = Clock::now();
  for (const char* action : {"start", "monitor", "stop"}) {
    std::vector<lrm::sdk::CallId> calls;
    for (int i = 0; i < n; ++i) {
      lrm::client::ExecRequest request;
      request.id = "b" + std::to_string(i);
      request.action = action;
      calls.push_back(client->exec(request));
    }
    for (auto call : calls) {
      const auto event = client->waitForResult(call, std::chrono::minutes(5));
      result.failures += event.status == lrm::sdk::ExecStatus::Done && event.rc == 0 ? 0 : 1;
    }
  }
  result.wall_ms = msSince(start);
  result.cpu_ms = cpuMs(daemon) - cpu_before;
  client.reset();
  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec = "ocf:heartbeat:Dummy";
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.find(':') != std::string::npos) spec = arg; else sizes.push_back(std::stoi(arg));
  }
  if (sizes.empty()) sizes = {100, 500};
  if (!fs::exists(agentPath(spec))) {
    std::cerr << "lrm_bench: " << agentPath(spec) << " is not installed\n";
    return 1;
  }
  std::printf("%-22s %5s %10s %10s %10s %9s %12s %8s\n", "agent", "N", "lrm ms", "raw ms", "true ms",
              "lrm/raw", "lrmd ms/op", "ops/s");
  for (int n : sizes) {
    char pattern[] = "/tmp/lrm-bench-XXXXXX";
    const std::string dir = ::mkdtemp(pattern);
    const double true_ms = rawBurst(spec, n, dir, true);
    const double raw_ms = rawBurst(spec, n, dir, false);
    const LrmResult lrm = lrmBurst(spec, n, dir);
    fs::remove_all(dir);
    const int ops = 3 * n;
    // Throughput ratio: lrm ops/s over raw ops/s for the same work.
    const double ratio = raw_ms / lrm.wall_ms;
    std::printf("%-22s %5d %10.0f %10.0f %10.0f %9.2f %12.3f %8.0f%s\n", spec.c_str(), n, lrm.wall_ms, raw_ms,
                true_ms, ratio, lrm.cpu_ms / ops, ops * 1000.0 / lrm.wall_ms,
                lrm.failures ? "  (failures!)" : "");
    Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
    line.set("bench", "burst");
    line.set("agent", spec);
    line.set("n", n);
    line.set("ops", ops);
    line.set("lrm_wall_ms", lrm.wall_ms);
    line.set("raw_wall_ms", raw_ms);
    line.set("true_wall_ms", true_ms);
    line.set("lrm_over_raw_throughput", ratio);
    line.set("lrmd_cpu_ms_per_op", lrm.cpu_ms / ops);
    line.set("failures", lrm.failures);
    std::ostringstream json;
    Poco::JSON::Stringifier::condense(line, json);
    std::cerr << json.str() << "\n";
  }
  return 0;
}
