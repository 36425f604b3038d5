// Running operations through the real daemon with fixture agents and the
// Debian ocf:heartbeat:Dummy: results, exit reasons, timeouts, process
// groups, output floods, serialization, delays, cancel, unregister, events.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

class Exec : public ::testing::Test {
 protected:
  void SetUp() override { client_ = daemon_.connect(); }

  void add(const std::string& id, const std::string& agent, sdk::Params params = {},
           const std::string& name = {}) {
    client::RegisterRequest request;
    request.id = id;
    request.name = name;
    request.agent = agent;
    request.params = std::move(params);
    client_->registerInstance(request);
  }

  sdk::CallId submit(const std::string& id, const std::string& action, std::uint64_t timeout_ms = 20000,
                     sdk::Params params = {}, std::uint64_t interval_ms = 0, std::uint64_t delay_ms = 0) {
    client::ExecRequest request;
    request.id = id;
    request.action = action;
    request.timeout_ms = timeout_ms;
    request.params = std::move(params);
    request.interval_ms = interval_ms;
    request.start_delay_ms = delay_ms;
    return client_->exec(request);
  }

  Event run(const std::string& id, const std::string& action, std::uint64_t timeout_ms = 20000,
            sdk::Params params = {}) {
    return client_->waitForResult(submit(id, action, timeout_ms, std::move(params)), kPatience);
  }

  TestDaemon daemon_;
  TempDir scratch_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(Exec, DebianDummyStartMonitorStop) {
  if (!std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat/Dummy")) {
    GTEST_SKIP() << "resource-agents is not installed";
  }
  const std::string state = scratch_.file("dummy.state");
  add("r1", "ocf:heartbeat:Dummy", {{"state", state}}, "web");
  Event probe = run("r1", "monitor");
  EXPECT_EQ(probe.status, ExecStatus::Done);
  EXPECT_EQ(probe.rc, sdk::rc::kNotRunning);
  Event start = run("r1", "start");
  EXPECT_EQ(start.status, ExecStatus::Done);
  EXPECT_EQ(start.rc, sdk::rc::kOk);
  EXPECT_EQ(start.id, "r1");
  EXPECT_EQ(start.name, "web");
  EXPECT_GT(start.t_run, 1700000000);
  EXPECT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(run("r1", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("r1", "stop").rc, sdk::rc::kOk);
  EXPECT_FALSE(std::filesystem::exists(state));
  EXPECT_EQ(run("r1", "monitor").rc, sdk::rc::kNotRunning);
  // Every log line about the instance names it.
  const std::string log = daemon_.log();
  EXPECT_NE(log.find("[web r1] start (call " + std::to_string(start.call_id) + ") status=done rc=0 (ok)"),
            std::string::npos)
      << log;
}

TEST_F(Exec, FailureCarriesRcExitReasonAndOutput) {
  add("f", "ocf:lrmtest:Fail", {{"rc", "6"}});
  const Event event = run("f", "start");
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_EQ(event.rc, sdk::rc::kNotConfigured);
  EXPECT_EQ(event.exit_reason, "disk /dev/null is not a filesystem");
  EXPECT_NE(event.output.find("some diagnostic"), std::string::npos) << "stderr wins over stdout";
  EXPECT_EQ(event.output.find("stdout of start"), std::string::npos);
}

// A caller with its own poll loop (lrm-remoted) waits on the client's
// descriptor and then drains the events without blocking.
TEST_F(Exec, DescriptorBecomesReadableForAnEventThatNextEventTakesWithoutWaiting) {
  add("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}});
  const sdk::CallId call = submit("s", "start");
  // The result comes a second after the reply to the exec; only a machine
  // stalled for that long has read it already, with the reply.
  std::optional<Event> event = client_->nextEvent(Millis(0));
  if (!event) {
    pollfd watched{client_->descriptor(), POLLIN, 0};
    ASSERT_EQ(::poll(&watched, 1, static_cast<int>(kPatience.count())), 1) << "no event within the patience";
    waitUntil([&] { return (event = client_->nextEvent(Millis(0))).has_value(); });
  }
  ASSERT_TRUE(event);
  EXPECT_EQ(event->call_id, call);
  EXPECT_EQ(event->status, ExecStatus::Done);
  EXPECT_FALSE(client_->nextEvent(Millis(0)));
}

TEST_F(Exec, ExitCodesOutsideOcfMapToGenericError) {
  add("f", "ocf:lrmtest:Fail");
  EXPECT_EQ(run("f", "start", 20000, {{"rc", "42"}}).rc, sdk::rc::kError);
  EXPECT_EQ(run("f", "start", 20000, {{"rc", "190"}}).rc, sdk::rc::kDegraded);
  EXPECT_EQ(run("f", "start", 20000, {{"rc", "8"}}).rc, sdk::rc::kRunningPromoted);
}

TEST_F(Exec, MissingAgentOrProviderIsNotInstalled) {
  add("m1", "ocf:lrmtest:NoSuchAgent");
  add("m2", "ocf:nosuchprovider:Dummy");
  add("m3", "ocf:lrmtest:NotExecutable");
  for (const char* id : {"m1", "m2", "m3"}) {
    const Event event = run(id, "start");
    EXPECT_EQ(event.status, ExecStatus::NotInstalled) << id;
    EXPECT_EQ(event.rc, sdk::rc::kNotInstalled) << id;
    EXPECT_NE(event.exit_reason.find("not found"), std::string::npos) << event.exit_reason;
  }
}

TEST_F(Exec, CrashingAgentIsAnErrorNamingTheSignal) {
  add("c", "ocf:lrmtest:Crash");
  const Event event = run("c", "start");
  EXPECT_EQ(event.status, ExecStatus::Error);
  EXPECT_EQ(event.rc, sdk::rc::kError);
  EXPECT_NE(event.exit_reason.find("signal 11"), std::string::npos) << event.exit_reason;
}

TEST_F(Exec, EnvironmentIsCleanAndComplete) {
  const std::string out = scratch_.file("env");
  add("e1", "ocf:lrmtest:Env", {{"out", out}, {"shared", "registered"}, {"only_reg", "1"}}, "env test");
  const Event event = run("e1", "monitor", 12345, {{"shared", "per-op=wins"}});
  ASSERT_EQ(event.rc, 0) << event.exit_reason;
  std::map<std::string, std::string> env;
  std::istringstream lines(readFile(out));
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_EQ(env["OCF_ROOT"], "/usr/lib/ocf");
  EXPECT_EQ(env["OCF_RA_VERSION_MAJOR"], "1");
  EXPECT_EQ(env["OCF_RA_VERSION_MINOR"], "1");
  EXPECT_EQ(env["OCF_RESOURCE_INSTANCE"], "e1");
  EXPECT_EQ(env["OCF_RESOURCE_TYPE"], "Env");
  EXPECT_EQ(env["OCF_RESOURCE_PROVIDER"], "lrmtest");
  EXPECT_EQ(env["OCF_EXIT_REASON_PREFIX"], "ocf-exit-reason:");
  EXPECT_EQ(env["OCF_RESKEY_CRM_meta_timeout"], "12345");
  EXPECT_EQ(env["OCF_RESKEY_CRM_meta_interval"], "0");
  EXPECT_EQ(env["OCF_RESKEY_shared"], "per-op=wins");
  EXPECT_EQ(env["OCF_RESKEY_only_reg"], "1");
  EXPECT_EQ(env["PATH"], "/usr/sbin:/usr/bin:/sbin:/bin");
  // Nothing of the daemon's own environment leaks (the test sets LRM_OCF_PATH on it).
  EXPECT_EQ(env.count("LRM_OCF_PATH"), 0u);
  EXPECT_EQ(env.count("HOME"), 0u);
  EXPECT_EQ(readFile(out + ".args"), "monitor\n");
  // Per-op values do not stick.
  run("e1", "monitor");
  EXPECT_NE(readFile(out).find("OCF_RESKEY_shared=registered\n"), std::string::npos);
}

TEST_F(Exec, TimeoutKillsTheWholeProcessGroup) {
  const std::string pidfile = scratch_.file("grandchild.pid");
  add("h", "ocf:lrmtest:Forker", {{"pidfile", pidfile}});
  // Long enough for a loaded machine to get the grandchild's pid written.
  const Event event = run("h", "hang", 2000);
  EXPECT_EQ(event.status, ExecStatus::Timeout);
  EXPECT_EQ(event.rc, sdk::rc::kError);
  EXPECT_NE(event.exit_reason.find("2000 ms"), std::string::npos) << event.exit_reason;
  const pid_t grandchild = static_cast<pid_t>(std::stol(readFile(pidfile)));
  EXPECT_TRUE(waitUntil([&] { return !processAlive(grandchild); })) << "grandchild " << grandchild << " survived";
}

TEST_F(Exec, ResultIsTakenWhenTheAgentExitsNotAtPipeEof) {
  const std::string pidfile = scratch_.file("daemon.pid");
  add("d", "ocf:lrmtest:Forker", {{"pidfile", pidfile}});
  // The grandchild holds stdout/stderr open for 1000 s; the result must come now.
  const Event event = client_->waitForResult(submit("d", "start"), Millis(15000));
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_EQ(event.rc, 0);
  const pid_t grandchild = static_cast<pid_t>(std::stol(readFile(pidfile)));
  EXPECT_TRUE(processAlive(grandchild)) << "a successful start must not kill what it started";
  ::kill(grandchild, SIGKILL);
}

TEST_F(Exec, OutputFloodIsBoundedAndTheDaemonKeepsServing) {
  add("flood", "ocf:lrmtest:Flood", {{"mb", "16"}});
  add("s", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("s")}});
  const sdk::CallId flood = submit("flood", "start");
  EXPECT_EQ(run("s", "start").rc, 0);
  const Event event = client_->waitForResult(flood, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_EQ(event.exit_reason, "flooded") << "the exit reason at the end of a flood is kept";
  EXPECT_LE(event.output.size(), 10u * 1024u * 1024u + 100u) << "default bound: 10 MiB per stream";
  EXPECT_GT(event.output.size(), 10u * 1024u * 1024u - 100u);
  EXPECT_EQ(event.output.substr(0, 3), "yyy") << "stderr wins";
  // 16 MiB of 'y', a newline and the exit-reason line went to stderr.
  const std::string dropped = std::to_string(16u * 1024u * 1024u + 1u + 24u - 10u * 1024u * 1024u);
  EXPECT_NE(event.output.find("lrmd dropped " + dropped + " bytes"), std::string::npos);
  const std::string log = daemon_.log();
  EXPECT_NE(log.find("stderr: dropped " + dropped + " of"), std::string::npos) << "the excess is logged";
  // The agent's one 10 MiB stderr line is logged clipped, with a marker
  // saying how much was cut, not as a 10 MiB log line.
  EXPECT_NE(log.find("[flood flood] start (call 1) stderr: yyy"), std::string::npos);
  EXPECT_NE(log.find("more bytes]"), std::string::npos);
  std::size_t longest = 0;
  for (std::size_t at = 0, end; at < log.size(); at = end + 1) {
    end = std::min(log.find('\n', at), log.size());
    longest = std::max(longest, end - at);
  }
  EXPECT_LE(longest, 4096u + 256u) << "4 KiB of message, plus the time, the level and the marker";
}

TEST(ExecOutput, MaxOutputBoundsEachStreamAndAgentOutputIsLogged) {
  TempDir scratch;
  DaemonOptions options;
  options.extra_args = {"--max-output", "64k"};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  client->registerInstance(registration("flood", "ocf:lrmtest:Flood", {{"mb", "1"}}));
  client->registerInstance(registration("f", "ocf:lrmtest:Fail"));
  const auto flood = client->waitForResult(client->exec(operation("flood", "start")), kPatience);
  EXPECT_LE(flood.output.size(), 64u * 1024u + 100u);
  EXPECT_EQ(flood.exit_reason, "flooded");
  client->waitForResult(client->exec(operation("f", "start")), kPatience);
  const std::string log = daemon.log();
  EXPECT_NE(log.find("[f f] start (call 2) stderr: some diagnostic"), std::string::npos) << log;
  EXPECT_NE(log.find("[f f] start (call 2) stdout: stdout of start"), std::string::npos) << log;
}

// Parses the Sleeper log: per instance, [begin, end] intervals in ns.
std::map<std::string, std::vector<std::pair<long long, long long>>> intervals(const std::string& log) {
  std::map<std::string, std::vector<std::pair<long long, long long>>> result;
  std::map<std::string, long long> open;
  std::istringstream lines(log);
  std::string what, instance, action;
  long long ns = 0;
  while (lines >> what >> instance >> action >> ns) {
    if (what == "begin") {
      open[instance] = ns;
    } else {
      result[instance].emplace_back(open[instance], ns);
    }
  }
  return result;
}

TEST_F(Exec, OpsOnOneInstanceNeverOverlapWhileInstancesRunInParallel) {
  const std::string log = scratch_.file("timeline");
  add("a", "ocf:lrmtest:Sleeper", {{"log", log}, {"sleep", "0.3"}, {"state", scratch_.file("a")}});
  add("b", "ocf:lrmtest:Sleeper", {{"log", log}, {"sleep", "0.3"}, {"state", scratch_.file("b")}});
  std::vector<sdk::CallId> calls;
  for (const char* action : {"start", "monitor", "monitor", "stop"}) {
    calls.push_back(submit("a", action));
    calls.push_back(submit("b", action));
  }
  std::map<sdk::CallId, Event> results;
  for (const auto call : calls) results[call] = client_->waitForResult(call, kPatience);
  // Order on one instance is submission order.
  EXPECT_EQ(results[calls[0]].rc, 0);
  EXPECT_EQ(results[calls[2]].rc, 0) << "monitor after start must find it running";
  EXPECT_EQ(results[calls[6]].rc, 0);
  const auto spans = intervals(readFile(log));
  ASSERT_EQ(spans.at("a").size(), 4u);
  ASSERT_EQ(spans.at("b").size(), 4u);
  for (const auto& [instance, list] : spans) {
    for (std::size_t i = 1; i < list.size(); ++i) {
      EXPECT_GE(list[i].first, list[i - 1].second) << instance << " ops overlap";
    }
  }
  // Different instances did run at the same time at least once.
  bool overlapped = false;
  for (const auto& x : spans.at("a")) {
    for (const auto& y : spans.at("b")) overlapped |= x.first < y.second && y.first < x.second;
  }
  EXPECT_TRUE(overlapped) << "instances a and b never ran in parallel";
}

TEST_F(Exec, StartDelayHoldsTheOpAndCanBeCancelled) {
  add("s", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("s")}});
  const sdk::CallId delayed = submit("s", "start", 20000, {}, 0, 60000);
  const auto info = client_->info("s");
  ASSERT_EQ(info.pending.size(), 1u);
  EXPECT_EQ(info.pending[0].call_id, delayed);
  EXPECT_FALSE(info.busy);
  client_->cancel("s", "start");
  const Event event = client_->waitForResult(delayed, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Cancelled);
  EXPECT_TRUE(client_->info("s").pending.empty());
  EXPECT_FALSE(std::filesystem::exists(scratch_.file("s")));
}

TEST_F(Exec, StartDelayRunsLaterAndDoesNotBlockOtherInstances) {
  add("late", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("late")}});
  add("now", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("now")}});
  const sdk::CallId delayed = submit("late", "start", 20000, {}, 0, 3000);
  EXPECT_EQ(run("now", "start").rc, 0);
  EXPECT_FALSE(std::filesystem::exists(scratch_.file("late")));
  const Event event = client_->waitForResult(delayed, kPatience);
  EXPECT_EQ(event.rc, 0);
  EXPECT_TRUE(std::filesystem::exists(scratch_.file("late")));
}

TEST_F(Exec, CancelErrors) {
  add("s", "ocf:lrmtest:Sleeper", {{"sleep", "2"}, {"state", scratch_.file("s")}});
  try {
    client_->cancel("s", "monitor", 10000);
    FAIL() << "cancel of nothing succeeded";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "not-found");
  }
  const sdk::CallId running = submit("s", "start");
  ASSERT_TRUE(waitUntil([&] { return client_->info("s").busy; }));
  try {
    client_->cancel("s", "start");
    FAIL() << "a running one-shot op was cancelled";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "in-progress");
  }
  EXPECT_EQ(client_->waitForResult(running, kPatience).status, ExecStatus::Done);
  try {
    client_->cancel("nosuch", "start");
    FAIL();
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "unknown-instance");
  }
}

TEST_F(Exec, RecurringMonitorRepeatsUntilCancelled) {
  const std::string count = scratch_.file("count");
  add("r", "ocf:lrmtest:Counter", {{"count", count}});
  const sdk::CallId call = submit("r", "monitor", 20000, {}, 100);
  for (int i = 0; i < 3; ++i) {
    const Event event = client_->waitForResult(call, kPatience);
    EXPECT_EQ(event.status, ExecStatus::Done);
    EXPECT_EQ(event.interval_ms, 100u);
  }
  ASSERT_EQ(client_->info("r").recurring.size(), 1u);
  client_->cancel("r", "monitor", 100);
  const Event cancelled = client_->waitForResult(call, kPatience);
  EXPECT_EQ(cancelled.status, ExecStatus::Cancelled);
  EXPECT_TRUE(client_->info("r").recurring.empty());
}

TEST_F(Exec, StopCancelsRecurringOps) {
  add("r", "ocf:lrmtest:Counter", {{"count", scratch_.file("count")}});
  const sdk::CallId monitor = submit("r", "monitor", 20000, {}, 60000);
  EXPECT_EQ(client_->waitForResult(monitor, kPatience).status, ExecStatus::Done);
  const sdk::CallId stop = submit("r", "stop");
  EXPECT_EQ(client_->waitForResult(monitor, kPatience).status, ExecStatus::Cancelled);
  EXPECT_EQ(client_->waitForResult(stop, kPatience).rc, 0);
  EXPECT_TRUE(client_->info("r").recurring.empty());
}

TEST_F(Exec, UnregisterWithAnOpInFlightReportsItDeleted) {
  add("u", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch_.file("u")}});
  const sdk::CallId running = submit("u", "start");
  const sdk::CallId queued = submit("u", "stop");
  ASSERT_TRUE(waitUntil([&] { return client_->info("u").busy; }));
  client_->unregisterInstance("u");
  const Event cancelled = client_->waitForResult(queued, kPatience);
  EXPECT_EQ(cancelled.status, ExecStatus::Cancelled);
  EXPECT_TRUE(cancelled.deleted);
  const Event finished = client_->waitForResult(running, kPatience);
  EXPECT_EQ(finished.status, ExecStatus::Done);
  EXPECT_TRUE(finished.deleted);
  EXPECT_TRUE(client_->list().empty());
  // Unknown ids are fine to unregister.
  EXPECT_NO_THROW(client_->unregisterInstance("u"));
}

TEST_F(Exec, ResultsGoToTheSubmitterAndToSubscribers) {
  add("s", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("s")}});
  add("t", "ocf:lrmtest:Fail");
  auto all = daemon_.connect("all");
  all->subscribe({});
  auto only_t = daemon_.connect("only-t");
  only_t->subscribe({{"t"}, false});
  auto failures = daemon_.connect("failures");
  failures->subscribe({{}, true});
  auto bystander = daemon_.connect("bystander");

  const sdk::CallId ok = submit("s", "start");
  const sdk::CallId bad = submit("t", "start");
  client::ExecRequest quiet;
  quiet.id = "s";
  quiet.action = "monitor";
  quiet.originator_only = true;
  const sdk::CallId private_call = client_->exec(quiet);
  EXPECT_EQ(client_->waitForResult(ok, kPatience).rc, 0);
  EXPECT_EQ(client_->waitForResult(bad, kPatience).rc, 1);
  EXPECT_EQ(client_->waitForResult(private_call, kPatience).rc, 0);

  EXPECT_EQ(all->waitForResult(ok, kPatience).id, "s");
  EXPECT_EQ(all->waitForResult(bad, kPatience).id, "t");
  EXPECT_EQ(only_t->waitForResult(bad, kPatience).id, "t");
  EXPECT_EQ(failures->waitForResult(bad, kPatience).rc, 1);
  // Whatever else arrives within a short window must not be these.
  for (auto* other : {only_t.get(), failures.get(), bystander.get()}) {
    while (auto event = other->nextEvent(Millis(300))) {
      EXPECT_NE(event->call_id, ok);
      EXPECT_NE(event->call_id, private_call);
      if (other == bystander.get()) ADD_FAILURE() << "unsubscribed client got an event";
    }
  }
  while (auto event = all->nextEvent(Millis(300))) EXPECT_NE(event->call_id, private_call);
}

TEST_F(Exec, ReRegisteringTheSameSpecIsANoOpAndADifferentAgentReplaces) {
  add("x", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("x")}});
  const sdk::CallId delayed = submit("x", "start", 20000, {}, 0, 60000);
  add("x", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("x")}});
  EXPECT_EQ(client_->info("x").pending.size(), 1u) << "identical re-registration must not cancel";
  add("x", "ocf:lrmtest:Fail", {}, "renamed");
  const Event event = client_->waitForResult(delayed, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Cancelled);
  const auto info = client_->info("x");
  EXPECT_EQ(info.agent.type, "Fail");
  EXPECT_EQ(info.name, "renamed");
  EXPECT_TRUE(info.pending.empty());
}

TEST_F(Exec, InfoKeepsTheLastResultPerActionAndInterval) {
  add("i", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("i")}}, "info test");
  run("i", "monitor");
  run("i", "start");
  run("i", "monitor");
  const auto info = client_->info("i");
  EXPECT_EQ(info.name, "info test");
  EXPECT_EQ(info.agent.toString(), "ocf:lrmtest:Sleeper");
  ASSERT_EQ(info.last.size(), 2u);
  EXPECT_EQ(info.last[0].action, "start");
  EXPECT_EQ(info.last[1].action, "monitor");
  EXPECT_EQ(info.last[1].rc, 0) << "the latest monitor, not the first probe";
  const auto all = client_->list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "i");
}

TEST_F(Exec, HundredParallelStarts) {
  for (int i = 0; i < 100; ++i) {
    add("p" + std::to_string(i), "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", scratch_.file("p" + std::to_string(i))}});
  }
  std::vector<sdk::CallId> calls;
  for (int i = 0; i < 100; ++i) calls.push_back(submit("p" + std::to_string(i), "start"));
  for (const auto call : calls) EXPECT_EQ(client_->waitForResult(call, Millis(120000)).rc, 0);
  EXPECT_EQ(client_->list().size(), 100u);
}

TEST(ExecLimits, MaxChildrenQueuesAndShowsQueueTime) {
  TempDir scratch;
  DaemonOptions options;
  options.extra_args = {"--max-children", "1"};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  for (const char* id : {"a", "b"}) {
    client::RegisterRequest request;
    request.id = id;
    request.agent = "ocf:lrmtest:Sleeper";
    request.params = {{"sleep", "0.5"}, {"log", scratch.file("timeline")}, {"state", scratch.file(id)}};
    client->registerInstance(request);
  }
  const auto call_a = client->exec(operation("a", "start"));
  const auto call_b = client->exec(operation("b", "start"));
  const auto result_a = client->waitForResult(call_a, kPatience);
  const auto result_b = client->waitForResult(call_b, kPatience);
  EXPECT_GE(result_b.queue_ms + result_a.queue_ms, 400u) << "one of them must have waited for the other";
  const auto spans = intervals(readFile(scratch.file("timeline")));
  ASSERT_EQ(spans.at("a").size(), 1u);
  ASSERT_EQ(spans.at("b").size(), 1u);
  const auto x = spans.at("a")[0];
  const auto y = spans.at("b")[0];
  EXPECT_FALSE(x.first < y.second && y.first < x.second) << "ran in parallel despite --max-children 1";
}

}  // namespace
}  // namespace lrm::test

namespace lrm::test {
namespace {

TEST_F(Exec, ChangesOnlyReportsTheFirstResultAndChanges) {
  const std::string rcfile = scratch_.file("rc");
  const std::string count = scratch_.file("count");
  add("c", "ocf:lrmtest:Counter", {{"count", count}, {"rcfile", rcfile}});
  client::ExecRequest request = operation("c", "monitor");
  request.interval_ms = 50;
  request.changes_only = true;
  const sdk::CallId call = client_->exec(request);
  EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  // Several identical runs later, nothing more has been reported...
  ASSERT_TRUE(waitUntil([&] { return std::atoi(readFile(count).c_str()) >= 4; }));
  { std::ofstream(rcfile) << "7\n"; }
  // ...and the next event is the change.
  const Event changed = client_->waitForResult(call, kPatience);
  EXPECT_EQ(changed.rc, sdk::rc::kNotRunning);
  EXPECT_GE(std::atoi(readFile(count).c_str()), 4);
  client_->cancel("c", "monitor", 50);
  const Event cancelled = client_->waitForResult(call, kPatience);
  EXPECT_EQ(cancelled.status, ExecStatus::Cancelled);
  EXPECT_EQ(cancelled.rc, sdk::rc::kNotRunning) << "a failing monitor cancels with its last rc";
}

TEST_F(Exec, DuplicateRecurringOpIsMergedAndOneCancelStopsIt) {
  add("d", "ocf:lrmtest:Counter", {{"count", scratch_.file("count")}});
  client::ExecRequest request = operation("d", "monitor");
  request.interval_ms = 60000;
  const sdk::CallId first = client_->exec(request);
  EXPECT_EQ(client_->waitForResult(first, kPatience).status, ExecStatus::Done);
  const sdk::CallId second = client_->exec(request);
  EXPECT_NE(second, first);
  const Event rerun = client_->waitForResult(second, kPatience);
  EXPECT_EQ(rerun.status, ExecStatus::Done) << "the merged op runs again at once";
  EXPECT_EQ(client_->info("d").recurring.size(), 1u);
  client_->cancel("d", "monitor", 60000);
  EXPECT_EQ(client_->waitForResult(second, kPatience).status, ExecStatus::Cancelled);
  EXPECT_TRUE(client_->info("d").recurring.empty());
}

TEST_F(Exec, DropRecurringCancelsOnlyTheRegisteringClientsOpsWhenItLeaves) {
  add("keep", "ocf:lrmtest:Counter", {{"count", scratch_.file("k")}});
  {
    auto owner = daemon_.connect("owner");
    client::RegisterRequest request = registration("drop", "ocf:lrmtest:Counter", {{"count", scratch_.file("d")}});
    request.drop_recurring = true;
    owner->registerInstance(request);
    for (const char* id : {"drop", "keep"}) {
      client::ExecRequest monitor = operation(id, "monitor");
      monitor.interval_ms = 60000;
      owner->waitForResult(owner->exec(monitor), kPatience);
    }
    // Another client coming and going changes nothing.
    daemon_.connect("passer-by").reset();
    EXPECT_EQ(client_->info("drop").recurring.size(), 1u);
  }
  ASSERT_TRUE(waitUntil([&] { return client_->info("drop").recurring.empty(); }));
  EXPECT_EQ(client_->info("keep").recurring.size(), 1u) << "without drop_recurring ops outlive their client";
}

TEST(Shutdown, SigtermLetsOperationsInFlightFinish) {
  TempDir scratch;
  auto daemon = std::make_unique<TestDaemon>();
  auto client = daemon->connect();
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch.file("s")}}));
  const auto call = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  ::kill(daemon->pid(), SIGTERM);
  const auto event = client->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_EQ(event.rc, 0);
  EXPECT_EQ(daemon->stop(), 0);
  EXPECT_TRUE(std::filesystem::exists(scratch.file("s")));
}

TEST(Shutdown, AtTheBoundOpsAreReportedAndAgentsLeftRunning) {
  TempDir scratch;
  DaemonOptions options;
  options.extra_args = {"--shutdown-timeout", "300ms"};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "2"}, {"state", scratch.file("s")}}));
  const auto call = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  ::kill(daemon.pid(), SIGTERM);
  const auto event = client->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Error);
  EXPECT_NE(event.exit_reason.find("left running"), std::string::npos) << event.exit_reason;
  EXPECT_EQ(daemon.stop(), 0);
  // The agent was not killed: it completes on its own and creates its state file.
  EXPECT_TRUE(waitUntil([&] { return std::filesystem::exists(scratch.file("s")); }));
}

}  // namespace
}  // namespace lrm::test

namespace lrm::test {
namespace {

TEST(ExecTimeout, HookRunsBeforeTheKillWithIdNameAndPid) {
  TempDir scratch;
  const std::string hook = scratch.file("hook.sh");
  const std::string seen = scratch.file("seen");
  {
    std::ofstream script(hook);
    script << "#!/bin/sh\n"
           << "echo \"$1|$2|$3\" > " << seen << "\n"
           << "kill -0 \"$3\" && echo alive >> " << seen << "\n"
           << "echo diagnostics of $3\n";
  }
  ::chmod(hook.c_str(), 0755);
  DaemonOptions options;
  options.extra_args = {"--timeout-hook", hook};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  client::RegisterRequest request = registration("h1", "ocf:lrmtest:Forker", {{"pidfile", scratch.file("pid")}});
  request.name = "hung web";
  client->registerInstance(request);
  client::ExecRequest hang = operation("h1", "hang");
  hang.timeout_ms = 2000;
  const auto event = client->waitForResult(client->exec(hang), kPatience);
  EXPECT_EQ(event.status, ExecStatus::Timeout);
  std::istringstream lines(readFile(seen));
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.rfind("h1|hung web|", 0), 0u) << first;
  EXPECT_EQ(second, "alive") << "the hook must run before the kill";
  EXPECT_NE(daemon.log().find("[hung web h1] hang timeout-hook"), std::string::npos) << daemon.log();
  EXPECT_NE(daemon.log().find("stdout: diagnostics of"), std::string::npos) << daemon.log();
  const pid_t grandchild = static_cast<pid_t>(std::stol(readFile(scratch.file("pid"))));
  EXPECT_TRUE(waitUntil([&] { return !processAlive(grandchild); }));
}

}  // namespace
}  // namespace lrm::test
