// lrmctl against the real daemon: the commands of the README's lrmctl section, their output
// (text and --json) and their exit codes.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

class Lrmctl : public ::testing::Test {
 protected:
  CommandResult ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {binary("lrmctl"), "--socket", daemon_.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  }

  static Poco::JSON::Object::Ptr json(const std::string& line) {
    Poco::JSON::Parser parser;
    return parser.parse(line).extract<Poco::JSON::Object::Ptr>();
  }

  TestDaemon daemon_;
  TempDir scratch_;
};

TEST_F(Lrmctl, TheFourCommandsOfTheIssueAgainstDebianDummy) {
  if (!std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat/Dummy")) {
    GTEST_SKIP() << "resource-agents is not installed";
  }
  const std::string state = "state=" + scratch_.file("r1.state");
  auto reg = ctl({"register", "r1", "--name", "web", "--agent", "ocf:heartbeat:Dummy", "-p", state});
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  EXPECT_NE(reg.out.find("register r1 (web) ocf:heartbeat:Dummy"), std::string::npos) << reg.out;
  auto start = ctl({"exec", "r1", "start"});
  EXPECT_EQ(start.exit_code, 0) << start.out << start.err;
  EXPECT_NE(start.out.find("r1 (web) start: rc=0 (ok) status=done"), std::string::npos) << start.out;
  EXPECT_EQ(ctl({"exec", "r1", "monitor"}).exit_code, 0);
  auto stop = ctl({"--json", "exec", "r1", "stop"});
  EXPECT_EQ(stop.exit_code, 0);
  auto event = json(stop.out);
  EXPECT_EQ(event->getValue<std::string>("type"), "exec");
  EXPECT_EQ(event->getValue<std::string>("id"), "r1");
  EXPECT_EQ(event->getValue<std::string>("name"), "web");
  EXPECT_EQ(event->getValue<std::string>("action"), "stop");
  EXPECT_EQ(event->getValue<int>("rc"), 0);
  EXPECT_EQ(event->getValue<std::string>("status"), "done");
  EXPECT_EQ(event->getValue<int>("interval_ms"), 0);
  EXPECT_GT(event->getValue<int>("call_id"), 0);
  EXPECT_FALSE(event->getValue<bool>("deleted"));
  for (const char* key : {"exit_reason", "output", "exec_ms", "queue_ms", "t_run"}) {
    EXPECT_TRUE(event->has(key)) << key;
  }
  // monitor of a stopped resource: a valid request with a failure outcome.
  auto probe = ctl({"exec", "r1", "monitor"});
  EXPECT_EQ(probe.exit_code, 1);
  EXPECT_NE(probe.out.find("rc=7 (not running)"), std::string::npos) << probe.out;
}

TEST_F(Lrmctl, ListAndInfoAsTextAndJson) {
  ASSERT_EQ(ctl({"register", "i1", "--agent", "ocf:lrmtest:Fail", "-p", "rc=0", "-p", "url=http://x/?a=b"}).exit_code,
            0);
  EXPECT_EQ(ctl({"exec", "i1", "start"}).exit_code, 0);
  auto list = ctl({"list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("i1"), std::string::npos);
  EXPECT_NE(list.out.find("ocf:lrmtest:Fail"), std::string::npos);
  auto info = json(ctl({"--json", "info", "i1"}).out);
  EXPECT_EQ(info->getValue<std::string>("id"), "i1");
  EXPECT_EQ(info->getValue<std::string>("name"), "i1") << "name defaults to the id";
  EXPECT_EQ(info->getValue<std::string>("class"), "ocf");
  EXPECT_EQ(info->getValue<std::string>("provider"), "lrmtest");
  EXPECT_EQ(info->getValue<std::string>("type"), "Fail");
  EXPECT_EQ(info->getObject("params")->getValue<std::string>("url"), "http://x/?a=b") << "split at the first '='";
  EXPECT_FALSE(info->getValue<bool>("busy"));
  EXPECT_EQ(info->getArray("pending")->size(), 0u);
  EXPECT_EQ(info->getArray("recurring")->size(), 0u);
  ASSERT_EQ(info->getArray("last")->size(), 1u);
  EXPECT_EQ(info->getArray("last")->getObject(0)->getValue<std::string>("action"), "start");
}

TEST_F(Lrmctl, PingCountsInstancesAndOperationsInFlight) {
  ASSERT_EQ(ctl({"register", "p", "--agent", "ocf:lrmtest:Sleeper", "-p", "sleep=2", "-p",
                 "state=" + scratch_.file("p")}).exit_code, 0);
  auto client = daemon_.connect();
  client->exec(operation("p", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("p").busy; }));
  const auto text = ctl({"ping"});
  EXPECT_NE(text.out.find(" instances 1 in_flight 1"), std::string::npos) << text.out;
  Poco::JSON::Parser parser;
  const auto json = parser.parse(ctl({"--json", "ping"}).out).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(json->getValue<int>("instances"), 1);
  EXPECT_EQ(json->getValue<int>("in_flight"), 1);
}

TEST_F(Lrmctl, ExitCodes) {
  EXPECT_EQ(ctl({"ping"}).exit_code, 0);
  EXPECT_EQ(ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(ctl({"register", "x", "--agent", "ocf:lrmtest:Fail", "-p", "novalue"}).exit_code, 2);
  EXPECT_EQ(ctl({"register", "x", "--agent", "ocf:Fail"}).exit_code, 2);
  EXPECT_EQ(ctl({"register", "x", "--agent", "nosuch:a:b"}).exit_code, 2);
  EXPECT_EQ(ctl({"exec", "ghost", "start"}).exit_code, 2);
  EXPECT_EQ(ctl({"info", "ghost"}).exit_code, 2);
  EXPECT_EQ(ctl({"cancel", "ghost", "start"}).exit_code, 2);
  EXPECT_EQ(ctl({"flush", "ghost"}).exit_code, 2);
  EXPECT_EQ(ctl({"unregister", "ghost"}).exit_code, 0) << "unknown id: success";
  ASSERT_EQ(ctl({"register", "x", "--agent", "ocf:lrmtest:Fail"}).exit_code, 0);
  EXPECT_EQ(ctl({"cancel", "x", "monitor", "--interval", "10s"}).exit_code, 1);
  EXPECT_EQ(ctl({"exec", "x", "start"}).exit_code, 1);
  EXPECT_EQ(ctl({"exec", "x", "start", "--timeout", "soon"}).exit_code, 2);
  EXPECT_EQ(ctl({"metadata", "ocf:lrmtest:Missing"}).exit_code, 1);
  EXPECT_EQ(runCommand({binary("lrmctl"), "--socket", scratch_.file("nothing.sock"), "ping"}).exit_code, 3);
  ASSERT_EQ(ctl({"register", "slow", "--agent", "ocf:lrmtest:Sleeper", "-p", "sleep=5", "-p",
                 "state=" + scratch_.file("slow")}).exit_code, 0);
  EXPECT_EQ(ctl({"--wait", "200ms", "exec", "slow", "start"}).exit_code, 124);
}

// Durations beyond 2^32-1 ms overflowed the daemon's timer; lrmctl refuses
// them, and numbers too large for 64 bits, as usage errors naming the maximum.
TEST_F(Lrmctl, DurationsBeyondTheMaximumAreUsageErrors) {
  ASSERT_EQ(ctl({"register", "c", "--agent", "ocf:lrmtest:Counter", "-p", "count=" + scratch_.file("count")}).exit_code,
            0);
  for (const std::string option : {"--interval", "--start-delay", "--timeout"}) {
    for (const std::string value : {"4294967296", "9223372036854775808", "18446744073709551615",
                                    "99999999999999999999999", "1194h"}) {
      const auto result = ctl({"exec", "c", "monitor", "--no-wait", option, value});
      EXPECT_EQ(result.exit_code, 2) << option << " " << value << ": " << result.err;
      EXPECT_NE(result.err.find(option + ": duration '" + value + "' is out of range: at most 4294967295 ms"),
                std::string::npos)
          << result.err;
    }
  }
  const auto cancel = ctl({"cancel", "c", "monitor", "--interval", "9223372036854775808"});
  EXPECT_EQ(cancel.exit_code, 2);
  EXPECT_NE(cancel.err.find("out of range"), std::string::npos) << cancel.err;
  const auto accepted = ctl({"exec", "c", "monitor", "--no-wait", "--interval", "4294967295", "--start-delay",
                             "4294967295ms", "--timeout", "4294967295"});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_EQ(ctl({"cancel", "c", "monitor", "--interval", "4294967295"}).exit_code, 0);
}

TEST_F(Lrmctl, ExecNoWaitPrintsTheCallId) {
  ASSERT_EQ(ctl({"register", "n", "--agent", "ocf:lrmtest:Fail"}).exit_code, 0);
  auto submitted = ctl({"--json", "exec", "n", "start", "--no-wait"});
  ASSERT_EQ(submitted.exit_code, 0);
  auto object = json(submitted.out);
  EXPECT_EQ(object->getValue<std::string>("type"), "submitted");
  EXPECT_EQ(object->getValue<std::string>("id"), "n");
  EXPECT_EQ(object->getValue<std::string>("action"), "start");
  EXPECT_GT(object->getValue<int>("call_id"), 0);
}

TEST_F(Lrmctl, WatchPrintsEventsAsTheyCome) {
  ASSERT_EQ(ctl({"register", "w", "--agent", "ocf:lrmtest:Fail"}).exit_code, 0);
  // lrmctl watch in the background until it has printed 2 events.
  const std::string out = scratch_.file("events");
  const std::string script = "\"" + binary("lrmctl") + "\" --socket \"" + daemon_.socket() +
                             "\" --json --wait 60s watch w --count 2 > \"" + out + "\"";
  std::vector<std::string> argv = {"/bin/sh", "-c", script};
  pid_t pid = 0;
  {
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    pid = ::fork();
    if (pid == 0) {
      ::execv("/bin/sh", args.data());
      ::_exit(127);
    }
  }
  // Keep causing events until the watcher has printed two and exited (the
  // first ones may come before it has subscribed).
  ASSERT_TRUE(waitUntil([&] {
    ctl({"exec", "w", "start", "-p", "rc=0"});
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) == pid;
  }));
  std::istringstream lines(readFile(out));
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    auto event = json(line);
    EXPECT_EQ(event->getValue<std::string>("type"), "exec");
    EXPECT_EQ(event->getValue<std::string>("id"), "w");
  }
  EXPECT_EQ(count, 2);
}

TEST_F(Lrmctl, WatchCountNotReachedTimesOut) {
  EXPECT_EQ(ctl({"--wait", "300ms", "watch", "--count", "1"}).exit_code, 124);
}

}  // namespace
}  // namespace lrm::test
