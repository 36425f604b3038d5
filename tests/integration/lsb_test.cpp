// The lsb and service classes through the real daemon, with fixture init
// scripts copied into a temporary $LRM_LSB_PATH.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

class Lsb : public ::testing::Test {
 protected:
  static DaemonOptions options(const TempDir& scripts) {
    for (const char* name : {"LSBDummy", "LSBExit", "NoHeader"}) {
      std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/lsb/" + name, scripts.file(name));
    }
    DaemonOptions result;
    result.env["LRM_LSB_PATH"] = scripts.path();
    return result;
  }

  void SetUp() override { client_ = daemon_.connect(); }

  Event run(const std::string& id, const std::string& action, std::uint64_t interval_ms = 0) {
    client::ExecRequest request = operation(id, action);
    request.interval_ms = interval_ms;
    return client_->waitForResult(client_->exec(request), kPatience);
  }

  void exitWith(int code) { std::ofstream(scripts_.file(".exitcode")) << code << "\n"; }

  TempDir scripts_;
  TestDaemon daemon_{options(scripts_)};
  std::unique_ptr<client::Client> client_;
};

TEST_F(Lsb, ClassesAreListed) {
  EXPECT_EQ(client_->classes(), (std::vector<std::string>{"lsb", "native", "ocf", "service", "systemd"}));
  EXPECT_EQ(client_->agents("lsb"), (std::vector<std::string>{"LSBDummy", "LSBExit", "NoHeader"}));
  EXPECT_EQ(client_->agents("service"), client_->agents("lsb"));
}

TEST_F(Lsb, StartMonitorStop) {
  client_->registerInstance(registration("d", "lsb:LSBDummy"));
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kNotRunning) << "probe: status 3 is 'not running'";
  EXPECT_EQ(run("d", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("d", "stop").rc, sdk::rc::kOk);
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(Lsb, RecurringMonitorStopImpliesCancel) {
  client_->registerInstance(registration("d", "lsb:LSBDummy"));
  EXPECT_EQ(run("d", "start").rc, 0);
  client::ExecRequest monitor = operation("d", "monitor");
  monitor.interval_ms = 100;
  const auto call = client_->exec(monitor);
  EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  const auto stop = client_->exec(operation("d", "stop"));
  const Event cancelled = waitForCancelled(*client_, call);
  EXPECT_EQ(client_->waitForResult(stop, kPatience).rc, 0);
  EXPECT_TRUE(client_->info("d").recurring.empty());
}

TEST_F(Lsb, ExitCodesMapToOcf) {
  client_->registerInstance(registration("x", "lsb:LSBExit"));
  const std::pair<int, int> status_codes[] = {{0, 0}, {1, 7}, {2, 7}, {3, 7}, {4, 1}, {150, 5}, {151, 4}, {99, 1}};
  for (const auto& [code, rc] : status_codes) {
    exitWith(code);
    const Event event = run("x", "monitor");
    EXPECT_EQ(event.status, ExecStatus::Done);
    EXPECT_EQ(event.rc, rc) << "status exiting " << code;
  }
  const std::pair<int, int> start_codes[] = {{0, 0}, {1, 1}, {5, 5}, {6, 6}, {7, 7}, {8, 1}, {150, 1}};
  for (const auto& [code, rc] : start_codes) {
    exitWith(code);
    EXPECT_EQ(run("x", "start").rc, rc) << "start exiting " << code;
  }
}

TEST_F(Lsb, MonitorRunsStatusWithNoParameters) {
  client_->registerInstance(registration("x", "lsb:LSBExit", {{"ignored", "value"}}));
  exitWith(0);
  run("x", "monitor");
  EXPECT_EQ(readFile(scripts_.file(".args")), "status\n");
  const std::string env = readFile(scripts_.file(".env"));
  EXPECT_EQ(env.find("OCF_"), std::string::npos) << env;
  EXPECT_NE(env.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), std::string::npos);
}

TEST_F(Lsb, MissingScriptIsNotInstalled) {
  client_->registerInstance(registration("m", "lsb:NoSuchScript"));
  client_->registerInstance(registration("s", "service:NoSuchScript"));
  const Event lsb = run("m", "start");
  EXPECT_EQ(lsb.status, ExecStatus::NotInstalled);
  EXPECT_EQ(lsb.rc, sdk::rc::kNotInstalled);
  const Event service = run("s", "start");
  EXPECT_EQ(service.status, ExecStatus::NotInstalled);
  EXPECT_NE(service.exit_reason.find("systemd"), std::string::npos) << service.exit_reason;
}

TEST_F(Lsb, ServiceResolvesToTheInitScript) {
  client_->registerInstance(registration("svc", "service:LSBDummy"));
  EXPECT_EQ(run("svc", "start").rc, 0);
  EXPECT_EQ(run("svc", "monitor").rc, 0);
  EXPECT_EQ(run("svc", "stop").rc, 0);
  EXPECT_EQ(run("svc", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(Lsb, MetadataIsSynthesizedFromTheHeader) {
  const std::string xml = client_->metadata("lsb:LSBDummy");
  EXPECT_NE(xml.find("<resource-agent name=\"LSBDummy\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<shortdesc lang=\"en\">LSB test service</shortdesc>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("keeps its state in a file next to itself."), std::string::npos) << xml;
  EXPECT_NE(xml.find("<special tag=\"LSB\">"), std::string::npos);
  EXPECT_NE(xml.find("<Required-Start>$remote_fs $syslog</Required-Start>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<action name=\"monitor\" timeout=\"15s\" interval=\"15s\"/>"), std::string::npos) << xml;
  const std::string bare = client_->metadata("lsb:NoHeader");
  EXPECT_NE(bare.find("<resource-agent name=\"NoHeader\""), std::string::npos) << "also without a header";
  try {
    client_->metadata("lsb:NoSuchScript");
    FAIL();
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "not-installed");
  }
}

TEST_F(Lsb, SpecsWithAProviderAreRejected) {
  try {
    client_->registerInstance(registration("p", "lsb:someone:LSBDummy"));
    FAIL();
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "invalid-spec");
    EXPECT_NE(std::string(e.what()).find("has no providers"), std::string::npos);
  }
}

}  // namespace
}  // namespace lrm::test
