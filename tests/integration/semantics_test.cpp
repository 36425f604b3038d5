// Execution semantics (docs/architecture.md §5), case by case, in the spirit of
// pacemaker-execd's regression suite (cts-exec): what a CRM written for the
// executor relies on.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

class Semantics : public ::testing::Test {
 protected:
  void SetUp() override { client_ = daemon_.connect(); }

  sdk::CallId recurring(const std::string& id, const std::string& action, std::uint64_t interval_ms,
                        std::uint64_t timeout_ms = 20000) {
    client::ExecRequest request = operation(id, action);
    request.interval_ms = interval_ms;
    request.timeout_ms = timeout_ms;
    return client_->exec(request);
  }

  TestDaemon daemon_;
  TempDir scratch_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(Semantics, RegistrationEventsReachSubscribers) {
  auto watcher = daemon_.connect("watcher");
  watcher->subscribe({});
  client::RegisterRequest request = registration("r", "ocf:lrmtest:Fail");
  request.name = "the r";
  client_->registerInstance(request);
  client_->unregisterInstance("r");
  const auto registered = watcher->nextEvent(kPatience);
  ASSERT_TRUE(registered);
  EXPECT_EQ(registered->type, "register");
  EXPECT_EQ(registered->id, "r");
  EXPECT_EQ(registered->name, "the r");
  EXPECT_EQ(registered->agent, "ocf:lrmtest:Fail");
  const auto unregistered = watcher->nextEvent(kPatience);
  ASSERT_TRUE(unregistered);
  EXPECT_EQ(unregistered->type, "unregister");
  EXPECT_EQ(unregistered->id, "r");
}

TEST_F(Semantics, RecurringMonitorRepeatsThenIsSilentAfterCancel) {
  client_->registerInstance(registration("m", "ocf:lrmtest:Counter", {{"count", scratch_.file("count")}}));
  const auto call = recurring("m", "monitor", 100);
  std::int64_t last_run = 0;
  for (int i = 0; i < 4; ++i) {
    const Event event = client_->waitForResult(call, kPatience);
    EXPECT_EQ(event.status, ExecStatus::Done);
    EXPECT_EQ(event.rc, 0);
    EXPECT_GE(event.t_run, last_run) << "every iteration has its own run time";
    last_run = event.t_run;
  }
  client_->cancel("m", "monitor", 100);
  EXPECT_EQ(client_->waitForResult(call, kPatience).status, ExecStatus::Cancelled);
  const std::string runs = readFile(scratch_.file("count"));
  // Silence for several intervals: no event, and the agent is not run again.
  EXPECT_FALSE(client_->nextEvent(Millis(600))) << "an event after cancel";
  EXPECT_EQ(readFile(scratch_.file("count")), runs);
}

TEST_F(Semantics, StartTimeoutIsReportedAsTimeout) {
  client_->registerInstance(
      registration("t", "ocf:lrmtest:Sleeper", {{"sleep", "30"}, {"state", scratch_.file("t")}}));
  client::ExecRequest start = operation("t", "start");
  start.timeout_ms = 300;
  const Event event = client_->waitForResult(client_->exec(start), kPatience);
  EXPECT_EQ(event.status, ExecStatus::Timeout);
  EXPECT_EQ(event.rc, sdk::rc::kError);
  EXPECT_FALSE(std::filesystem::exists(scratch_.file("t")));
}

TEST_F(Semantics, FailingRecurringMonitorIsReportedAndCancelsWithItsLastRc) {
  const std::string rcfile = scratch_.file("rc");
  { std::ofstream(rcfile) << "7\n"; }
  client_->registerInstance(
      registration("f", "ocf:lrmtest:Counter", {{"count", scratch_.file("n")}, {"rcfile", rcfile}}));
  auto failures = daemon_.connect("failures");
  failures->subscribe({{}, true});
  const auto call = recurring("f", "monitor", 100);
  const Event failed = failures->waitForResult(call, kPatience);
  EXPECT_EQ(failed.rc, sdk::rc::kNotRunning) << "a recurring monitor that says 'not running' is a failure";
  client_->cancel("f", "monitor", 100);
  const Event cancelled = waitForCancelled(*client_, call);
  EXPECT_EQ(cancelled.rc, sdk::rc::kNotRunning);
}

TEST_F(Semantics, OpsOnAnUnregisteredInstanceAreRejected) {
  client_->registerInstance(registration("gone", "ocf:lrmtest:Fail"));
  client_->unregisterInstance("gone");
  try {
    client_->exec(operation("gone", "start"));
    FAIL() << "exec on an unregistered instance";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "unknown-instance");
  }
}

TEST_F(Semantics, OneAgentProcessPerInstanceEvenWithManyRecurringOps) {
  // One start plus nine recurring monitors with intervals 1000..1008 ms on one
  // instance; every run holds a lock and would fail if another run held it.
  const std::string lock = scratch_.file("lock");
  client_->registerInstance(
      registration("x", "ocf:lrmtest:Exclusive", {{"lock", lock}, {"sleep", "0.2"}}));
  const auto start = client_->exec(operation("x", "start"));
  std::map<sdk::CallId, int> results;
  for (std::uint64_t interval = 1000; interval <= 1008; ++interval) results[recurring("x", "monitor", interval)] = 0;
  EXPECT_EQ(client_->waitForResult(start, kPatience).rc, 0);
  // Until every monitor has run at least twice.
  const auto all_twice = [&] {
    for (const auto& [call, count] : results) {
      if (count < 2) return false;
    }
    return true;
  };
  while (!all_twice()) {
    const auto event = client_->nextEvent(Millis(120000));
    ASSERT_TRUE(event) << "monitors stopped reporting";
    if (event->type != "exec") continue;
    EXPECT_EQ(event->status, ExecStatus::Done);
    EXPECT_EQ(event->rc, 0) << event->exit_reason;
    ++results[event->call_id];
  }
  client_->flush("x");
  EXPECT_FALSE(std::filesystem::exists(lock + ".violations")) << readFile(lock + ".violations");
}

TEST_F(Semantics, TwentyFiveInstancesUnderLoad) {
  constexpr int kInstances = 25;
  std::set<sdk::CallId> waiting;
  for (int i = 0; i < kInstances; ++i) {
    const std::string id = "s" + std::to_string(i);
    client_->registerInstance(registration(
        id, "ocf:lrmtest:Exclusive", {{"lock", scratch_.file(id + ".lock")}, {"sleep", "0.01"}}));
    waiting.insert(client_->exec(operation(id, "start")));
    waiting.insert(recurring(id, "monitor", 200));
    waiting.insert(client_->exec(operation(id, "monitor")));
  }
  // Every one-shot op reports; every recurring monitor reports at least once.
  while (!waiting.empty()) {
    const auto event = client_->nextEvent(Millis(120000));
    ASSERT_TRUE(event) << waiting.size() << " ops never reported";
    if (event->type != "exec") continue;
    EXPECT_EQ(event->rc, 0) << event->id << " " << event->action << ": " << event->exit_reason;
    waiting.erase(event->call_id);
  }
  for (int i = 0; i < kInstances; ++i) {
    const std::string id = "s" + std::to_string(i);
    const auto stop = client_->exec(operation(id, "stop"));
    EXPECT_EQ(client_->waitForResult(stop, kPatience).rc, 0);
    EXPECT_TRUE(client_->info(id).recurring.empty()) << "stop cancels the recurring monitor";
    EXPECT_FALSE(std::filesystem::exists(scratch_.file(id + ".lock.violations")));
  }
}

TEST_F(Semantics, LrmctlWatchShowsTheEventStreamOfACrm) {
  const std::string out = scratch_.file("watch");
  const std::string script = "\"" + binary("lrmctl") + "\" --socket \"" + daemon_.socket() +
                             "\" --json --wait 60s watch --count 3 > \"" + out + "\"";
  std::vector<std::string> argv = {"/bin/sh", "-c", script};
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv("/bin/sh", args.data());
    ::_exit(127);
  }
  // Wait until the watcher has subscribed (it then answers pings like anyone),
  // by repeating a register until the watcher has seen three events.
  int round = 0;
  ASSERT_TRUE(waitUntil([&] {
    client_->registerInstance(registration("w" + std::to_string(round++), "ocf:lrmtest:Fail"));
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == pid;
  }));
  std::istringstream lines(readFile(out));
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    EXPECT_NE(line.find("\"type\":\"register\""), std::string::npos) << line;
  }
  EXPECT_EQ(count, 3);
}

}  // namespace
}  // namespace lrm::test
