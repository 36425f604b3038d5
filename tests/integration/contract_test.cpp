// One scenario suite run over every resource class we ship: what a CRM does
// with any resource, it can do with each class alike.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon.hpp"
#include "systemd_manager.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

struct ClassCase {
  std::string name;     // for test names
  std::string agent;    // a working agent of the class
  std::string missing;  // an agent of the class that is not installed
  bool stateful_param;  // takes a `state` parameter (lsb/service take none)
};

std::ostream& operator<<(std::ostream& out, const ClassCase& c) { return out << c.name; }

bool isSystemd(const ClassCase& c) { return c.agent.rfind("systemd:", 0) == 0; }

class Contract : public ::testing::TestWithParam<ClassCase> {
 protected:
  // The systemd case gets a manager of its own (booted before the daemon,
  // which is told its bus and runtime unit directory).
  static DaemonOptions options(const TempDir& scripts, const SystemdManager* manager) {
    std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/lsb/LSBDummy", scripts.file("LSBDummy"));
    DaemonOptions result;
    result.env["LRM_LSB_PATH"] = scripts.path();
    if (manager) {
      std::ofstream(scripts.file("lrmd.properties")) << "systemd.dropin-dir = " << manager->unitDir() << "\n";
      result.env["DBUS_SYSTEM_BUS_ADDRESS"] = manager->busAddress();
      result.extra_args = {"--config=" + scripts.file("lrmd.properties")};
    }
    return result;
  }

  static std::unique_ptr<SystemdManager> bootManager() {
    if (!isSystemd(GetParam()) || !SystemdManager::skipReason().empty()) return nullptr;
    auto manager = std::make_unique<SystemdManager>();
    manager->start();
    return manager;
  }

  void SetUp() override {
    if (isSystemd(GetParam())) LRM_SKIP_WITHOUT_SYSTEMD();
    if (GetParam().agent.rfind("ocf:heartbeat:", 0) == 0 &&
        !std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat/Dummy")) {
      GTEST_SKIP() << "resource-agents is not installed";
    }
    client_ = daemon_.connect();
    sdk::Params params;
    if (GetParam().stateful_param) params["state"] = scratch_.file("state");
    client_->registerInstance(registration("c", GetParam().agent, params));
  }

  Event run(const std::string& action) { return client_->waitForResult(client_->exec(operation("c", action)), kPatience); }

  TempDir scripts_;
  TempDir scratch_;
  std::unique_ptr<SystemdManager> manager_ = bootManager();
  TestDaemon daemon_{options(scripts_, manager_.get())};
  std::unique_ptr<client::Client> client_;
};

TEST_P(Contract, ProbeStartMonitorStop) {
  EXPECT_EQ(run("monitor").rc, sdk::rc::kNotRunning);
  EXPECT_EQ(run("start").rc, sdk::rc::kOk);
  EXPECT_EQ(run("monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("stop").rc, sdk::rc::kOk);
  EXPECT_EQ(run("monitor").rc, sdk::rc::kNotRunning);
}

TEST_P(Contract, RecurringMonitorThenCancel) {
  ASSERT_EQ(run("start").rc, 0);
  client::ExecRequest monitor = operation("c", "monitor");
  monitor.interval_ms = 100;
  const auto call = client_->exec(monitor);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  client_->cancel("c", "monitor", 100);
  const Event event = waitForCancelled(*client_, call);
  EXPECT_EQ(event.rc, 0);
  EXPECT_FALSE(client_->nextEvent(Millis(300))) << "silence after cancel";
  run("stop");
}

TEST_P(Contract, StopImpliesCancelAndFailureIsDetected) {
  ASSERT_EQ(run("start").rc, 0);
  auto failures = daemon_.connect("failures");
  failures->subscribe({{}, true});
  client::ExecRequest monitor = operation("c", "monitor");
  monitor.interval_ms = 100;
  const auto call = client_->exec(monitor);
  EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  // The resource dies behind the daemon's back: run its stop out of band
  // (another instance id, same agent and state) and watch the monitor fail.
  sdk::Params params;
  if (GetParam().stateful_param) params["state"] = scratch_.file("state");
  client_->registerInstance(registration("killer", GetParam().agent, params));
  EXPECT_EQ(client_->waitForResult(client_->exec(operation("killer", "stop")), kPatience).rc, 0);
  const Event failed = failures->waitForResult(call, kPatience);
  EXPECT_EQ(failed.rc, sdk::rc::kNotRunning);
  const auto stop = client_->exec(operation("c", "stop"));
  const Event cancelled = waitForCancelled(*client_, call);
  EXPECT_EQ(cancelled.rc, sdk::rc::kNotRunning) << "cancelled with the last rc";
  EXPECT_EQ(client_->waitForResult(stop, kPatience).rc, 0);
}

TEST_P(Contract, MissingAgentIsNotInstalled) {
  client_->registerInstance(registration("gone", GetParam().missing));
  const Event event = client_->waitForResult(client_->exec(operation("gone", "start")), kPatience);
  EXPECT_EQ(event.status, ExecStatus::NotInstalled);
  EXPECT_EQ(event.rc, sdk::rc::kNotInstalled);
  EXPECT_FALSE(event.exit_reason.empty());
}

INSTANTIATE_TEST_SUITE_P(EveryClass, Contract,
                         ::testing::Values(ClassCase{"ocf", "ocf:heartbeat:Dummy", "ocf:heartbeat:NoSuchAgent", true},
                                           ClassCase{"lsb", "lsb:LSBDummy", "lsb:NoSuchScript", false},
                                           ClassCase{"service", "service:LSBDummy", "service:NoSuchScript", false},
                                           ClassCase{"native", "native:lrm:Dummy", "native:lrm:NoSuchAgent", true},
                                           ClassCase{"systemd", "systemd:lrm-test-long", "systemd:lrm-test-no-such-unit",
                                                     false}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace lrm::test
