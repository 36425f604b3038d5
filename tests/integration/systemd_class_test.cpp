// The systemd class against a real systemd manager, booted by each test as
// PID 1 of private namespaces with the hermetic units of
// tests/fixtures/systemd (SystemdManager), and the real lrmd told its bus
// address (DBUS_SYSTEM_BUS_ADDRESS) and its runtime unit directory for the
// drop-ins (systemd.dropin-dir in a --config file). Skipped with the
// fixture's one-line reason where namespaces are not allowed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "daemon.hpp"
#include "systemd_manager.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;
using ::testing::HasSubstr;

class SystemdClass : public ::testing::Test {
 protected:
  void SetUp() override {
    LRM_SKIP_WITHOUT_SYSTEMD();
    manager_.start();
    daemon_ = startDaemon(dropInSetting());
    client_ = daemon_->connect();
  }

  // What the daemon's systemd.dropin-dir says.
  virtual std::string dropInSetting() const { return manager_.unitDir(); }

  std::unique_ptr<TestDaemon> startDaemon(const std::string& dropin_dir, const std::string& more_settings = {},
                                          std::map<std::string, std::string> env = {}) {
    const std::string config = config_.file("lrmd-" + std::to_string(++configs_) + ".properties");
    std::ofstream(config) << "systemd.dropin-dir = " << dropin_dir << "\n" << more_settings;
    DaemonOptions options;
    options.env = std::move(env);
    options.env["DBUS_SYSTEM_BUS_ADDRESS"] = manager_.busAddress();
    options.extra_args = {"--config=" + config};
    return std::make_unique<TestDaemon>(options);
  }

  Event run(const std::string& id, const std::string& action, std::uint32_t timeout_ms = 20000) {
    client::ExecRequest request = operation(id, action);
    request.timeout_ms = timeout_ms;
    return client_->waitForResult(client_->exec(request), kPatience);
  }

  std::string dropIn(const std::string& unit) const { return manager_.unitDir() + "/" + unit + ".d/50-lrm.conf"; }

  // Kill the unit's processes behind systemd's back, as a crash would.
  void crash(const std::string& unit) {
    const auto pids = manager_.unitProcesses(unit);
    ASSERT_FALSE(pids.empty()) << unit << " has no process";
    for (const pid_t pid : pids) ::kill(pid, SIGKILL);
  }

  TempDir config_;
  int configs_ = 0;
  SystemdManager manager_;  // outlives the daemon
  std::unique_ptr<TestDaemon> daemon_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(SystemdClass, LongRunningServiceStartsMonitorsAndStops) {
  client_->registerInstance(registration("long", "systemd:lrm-test-long"));
  EXPECT_EQ(run("long", "monitor").rc, sdk::rc::kNotRunning) << "probe";
  const Event started = run("long", "start");
  EXPECT_EQ(started.status, ExecStatus::Done);
  EXPECT_EQ(started.rc, sdk::rc::kOk) << started.exit_reason;
  EXPECT_EQ(manager_.unitProperty("lrm-test-long.service", "ActiveState"), "active");
  EXPECT_THAT(readFile(dropIn("lrm-test-long.service")), HasSubstr("Restart=no"));
  EXPECT_EQ(run("long", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("long", "stop").rc, sdk::rc::kOk);
  EXPECT_EQ(manager_.unitProperty("lrm-test-long.service", "ActiveState"), "inactive");
  EXPECT_EQ(run("long", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(SystemdClass, TemplateInstanceIsAUnitOfItsOwn) {
  client_->registerInstance(registration("inst", "systemd:lrm-test-instance@blue"));
  EXPECT_EQ(run("inst", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(manager_.unitProperty("lrm-test-instance@blue.service", "ActiveState"), "active");
  EXPECT_EQ(run("inst", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("inst", "stop").rc, sdk::rc::kOk);
}

TEST_F(SystemdClass, UnitFailingAtStartIsNotRunningWithSystemdsResult) {
  client_->registerInstance(registration("bad", "systemd:lrm-test-fail-start"));
  const Event started = run("bad", "start");
  EXPECT_EQ(started.status, ExecStatus::Done);
  EXPECT_EQ(started.rc, sdk::rc::kNotRunning);
  EXPECT_THAT(started.exit_reason, HasSubstr("exit-code"));
  const Event monitored = run("bad", "monitor");
  EXPECT_EQ(monitored.rc, sdk::rc::kNotRunning);
  EXPECT_THAT(monitored.exit_reason, HasSubstr("exit-code"));
}

TEST_F(SystemdClass, UnitDyingAfterStartMonitorsNotRunningWithTheReason) {
  client_->registerInstance(registration("dies", "systemd:lrm-test-dies"));
  ASSERT_EQ(run("dies", "start").rc, sdk::rc::kOk);
  client::ExecRequest monitor = operation("dies", "monitor");
  monitor.interval_ms = 200;
  const auto call = client_->exec(monitor);
  Event event = client_->waitForResult(call, kPatience);
  EXPECT_EQ(event.rc, sdk::rc::kOk) << "running at first";
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (event.rc == sdk::rc::kOk && std::chrono::steady_clock::now() < deadline) {
    event = client_->waitForResult(call, kPatience);
  }
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_EQ(event.rc, sdk::rc::kNotRunning);
  EXPECT_EQ(event.exit_reason, "unit lrm-test-dies.service failed (exit-code)");
  client_->cancel("dies", "monitor", 200);
  waitForCancelled(*client_, call);
}

TEST_F(SystemdClass, UnknownUnitIsNotInstalled) {
  client_->registerInstance(registration("none", "systemd:lrm-test-no-such-unit"));
  for (const char* action : {"monitor", "start"}) {
    const Event event = run("none", action);
    EXPECT_EQ(event.status, ExecStatus::NotInstalled) << action;
    EXPECT_EQ(event.rc, sdk::rc::kNotInstalled) << action;
    EXPECT_EQ(event.exit_reason, "unit lrm-test-no-such-unit.service not found") << action;
  }
  EXPECT_FALSE(std::filesystem::exists(manager_.unitDir() + "/lrm-test-no-such-unit.service.d")) << "no drop-in left";
}

TEST_F(SystemdClass, StopThatOutlastsItsTimeoutTimesOutAndTheMonitorStaysPending) {
  client_->registerInstance(registration("slow", "systemd:lrm-test-slow-stop"));
  ASSERT_EQ(run("slow", "start").rc, sdk::rc::kOk);
  const auto before = std::chrono::steady_clock::now();
  const Event stopped = run("slow", "stop", 1000);
  const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - before);
  EXPECT_EQ(stopped.status, ExecStatus::Timeout);
  EXPECT_THAT(stopped.exit_reason, HasSubstr("did not settle within 1000 ms"));
  EXPECT_GE(took.count(), 1000);
  EXPECT_LT(took.count(), 10000) << "bounded by the op's timeout, no fixed extra delay";
  const Event monitored = run("slow", "monitor", 500);
  EXPECT_EQ(monitored.status, ExecStatus::Timeout) << "deactivating is pending until the monitor's timeout";
  EXPECT_THAT(monitored.exit_reason, HasSubstr("deactivating"));
  // Cut the 600 s ExecStop short so that the manager exits at once.
  manager_.busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                   "KillUnit", "ssi", "lrm-test-slow-stop.service", "all", "9"});
}

TEST_F(SystemdClass, DropInStopsASelfRestartingUnitFromComingBack) {
  client_->registerInstance(registration("again", "systemd:lrm-test-restarts"));
  ASSERT_EQ(run("again", "start").rc, sdk::rc::kOk);
  ASSERT_TRUE(std::filesystem::exists(dropIn("lrm-test-restarts.service")));
  crash("lrm-test-restarts.service");
  Event event;
  EXPECT_TRUE(waitUntil([&] { return (event = run("again", "monitor")).rc == sdk::rc::kNotRunning; }));
  EXPECT_THAT(event.exit_reason, HasSubstr("signal"));
  EXPECT_EQ(manager_.unitProperty("lrm-test-restarts.service", "NRestarts", "Service"), "0");
}

// The drop-in lives as long as the instance: a stop leaves it (the next start
// needs no reload), unregister removes it and reloads the manager, so that
// systemd's own Restart= holds again.
TEST_F(SystemdClass, DropInStaysUntilTheInstanceIsUnregistered) {
  const std::string unit = "lrm-test-restarts.service";
  client_->registerInstance(registration("again", "systemd:lrm-test-restarts"));
  ASSERT_EQ(run("again", "start").rc, sdk::rc::kOk);
  EXPECT_TRUE(std::filesystem::exists(dropIn(unit))) << "present while running";
  EXPECT_EQ(manager_.unitProperty(unit, "Restart", "Service"), "no");
  ASSERT_EQ(run("again", "stop").rc, sdk::rc::kOk);
  EXPECT_TRUE(std::filesystem::exists(dropIn(unit))) << "still present after the stop";
  client_->unregisterInstance("again");
  EXPECT_TRUE(waitUntil([&] { return !std::filesystem::exists(manager_.unitDir() + "/" + unit + ".d"); }))
      << "gone after unregister, with its directory";
  EXPECT_TRUE(waitUntil([&] { return manager_.unitProperty(unit, "Restart", "Service") == "always"; }))
      << "the manager was reloaded without it";
}

// A unit systemd already has loaded (started behind lrm's back) gets the
// drop-in through a reload before lrm's start.
TEST_F(SystemdClass, DropInReachesAUnitTheManagerHasLoaded) {
  ASSERT_EQ(manager_.systemctl({"start", "lrm-test-restarts.service"}).exit_code, 0);
  client_->registerInstance(registration("again", "systemd:lrm-test-restarts"));
  ASSERT_EQ(run("again", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(manager_.unitProperty("lrm-test-restarts.service", "Restart", "Service"), "no");
  crash("lrm-test-restarts.service");
  EXPECT_TRUE(waitUntil([&] { return run("again", "monitor").rc == sdk::rc::kNotRunning; }));
}

// Without the drop-in (systemd.dropin-dir = none), systemd restarts the unit
// behind lrm's back: what the drop-in is for.
class SystemdClassWithoutDropIn : public SystemdClass {
 protected:
  std::string dropInSetting() const override { return "none"; }
};

TEST_F(SystemdClassWithoutDropIn, SelfRestartingUnitComesBackBehindLrmsBack) {
  client_->registerInstance(registration("again", "systemd:lrm-test-restarts"));
  ASSERT_EQ(run("again", "start").rc, sdk::rc::kOk);
  EXPECT_FALSE(std::filesystem::exists(dropIn("lrm-test-restarts.service")));
  crash("lrm-test-restarts.service");
  EXPECT_TRUE(waitUntil([&] {
    const std::string restarts = manager_.unitProperty("lrm-test-restarts.service", "NRestarts", "Service");
    return !restarts.empty() && restarts != "0";
  }));
  EXPECT_TRUE(waitUntil([&] { return run("again", "monitor").rc == sdk::rc::kOk; }));
  EXPECT_EQ(run("again", "stop").rc, sdk::rc::kOk);
}

TEST_F(SystemdClass, RecurringMonitorIsCancelled) {
  client_->registerInstance(registration("long", "systemd:lrm-test-long"));
  ASSERT_EQ(run("long", "start").rc, sdk::rc::kOk);
  client::ExecRequest monitor = operation("long", "monitor");
  monitor.interval_ms = 100;
  const auto call = client_->exec(monitor);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client_->waitForResult(call, kPatience).rc, sdk::rc::kOk);
  client_->cancel("long", "monitor", 100);
  EXPECT_EQ(waitForCancelled(*client_, call).status, ExecStatus::Cancelled);
  EXPECT_FALSE(client_->nextEvent(Millis(300))) << "silence after cancel";
}

TEST_F(SystemdClass, PendingMonitorIsCancelled) {
  client_->registerInstance(registration("slow", "systemd:lrm-test-slow-stop"));
  ASSERT_EQ(run("slow", "start").rc, sdk::rc::kOk);
  ASSERT_EQ(run("slow", "stop", 500).status, ExecStatus::Timeout);
  client::ExecRequest monitor = operation("slow", "monitor");
  monitor.interval_ms = 100;
  monitor.timeout_ms = 600000;
  const auto call = client_->exec(monitor);
  EXPECT_FALSE(client_->nextEvent(Millis(300))) << "deactivating: pending, no result";
  client_->cancel("slow", "monitor", 100);
  EXPECT_EQ(waitForCancelled(*client_, call).status, ExecStatus::Cancelled);
  manager_.busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                   "KillUnit", "ssi", "lrm-test-slow-stop.service", "all", "9"});
}

// A re-execution gives the manager's bus name a new owner: the monitors sent
// meanwhile are answered late or fail on the bus, and are pending, never a
// failure; the class subscribes again.
TEST_F(SystemdClass, ManagerReexecutedUnderARunningMonitorIsNeverAFailure) {
  client_->registerInstance(registration("long", "systemd:lrm-test-long"));
  ASSERT_EQ(run("long", "start").rc, sdk::rc::kOk);
  auto failures = daemon_->connect("failures");
  failures->subscribe({{}, true});
  client::ExecRequest monitor = operation("long", "monitor");
  monitor.interval_ms = 50;
  monitor.timeout_ms = 20000;
  const auto call = client_->exec(monitor);
  EXPECT_EQ(client_->waitForResult(call, kPatience).rc, sdk::rc::kOk);
  manager_.reexec();
  manager_.reexec();
  for (int i = 0; i < 5; ++i) {
    const Event event = client_->waitForResult(call, kPatience);
    EXPECT_EQ(event.status, ExecStatus::Done);
    EXPECT_EQ(event.rc, sdk::rc::kOk) << event.exit_reason;
  }
  EXPECT_FALSE(failures->nextEvent(Millis(0))) << "no failure reported";
  EXPECT_THAT(daemon_->log(), HasSubstr("the manager's bus name has a new owner"));
  client_->cancel("long", "monitor", 50);
  waitForCancelled(*client_, call);
}

TEST_F(SystemdClass, LostBusIsReestablished) {
  client_->registerInstance(registration("long", "systemd:lrm-test-long"));
  ASSERT_EQ(run("long", "start").rc, sdk::rc::kOk);
  manager_.restart();  // its bus goes away and comes back at the same address
  const Event after = run("long", "monitor");
  EXPECT_EQ(after.status, ExecStatus::Done) << after.exit_reason;
  EXPECT_EQ(after.rc, sdk::rc::kNotRunning) << "a new manager: the unit is not running";
  EXPECT_EQ(run("long", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(run("long", "monitor").rc, sdk::rc::kOk);
  EXPECT_THAT(daemon_->log(), HasSubstr("reconnecting"));
}

// service:NAME is the systemd unit where systemd is PID 1; service.backend
// stands in for that here (TestDaemon's LRM_SERVICE_BACKEND=lsb, which keeps
// other tests on init scripts, emptied so that the key counts): the decision
// is logged.
TEST_F(SystemdClass, ServiceRunsTheUnitWhereSystemdIsChosen) {
  EXPECT_THAT(daemon_->log(), HasSubstr("service:NAME runs the LSB init script NAME"));
  client_.reset();
  daemon_ = startDaemon(manager_.unitDir(), "service.backend = systemd\n", {{"LRM_SERVICE_BACKEND", ""}});
  client_ = daemon_->connect();
  EXPECT_THAT(daemon_->log(), HasSubstr("the backend is set to systemd: service:NAME runs the systemd unit NAME.service"));
  client_->registerInstance(registration("svc", "service:lrm-test-long"));
  EXPECT_EQ(run("svc", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(manager_.unitProperty("lrm-test-long.service", "ActiveState"), "active");
  EXPECT_EQ(run("svc", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("svc", "stop").rc, sdk::rc::kOk);
  client_->registerInstance(registration("none", "service:lrm-test-no-such-unit"));
  EXPECT_EQ(run("none", "start").status, ExecStatus::NotInstalled);
}

// Upgrade in place with a start in flight: its job is systemd's, so the old
// image does not wait for it and the new one completes it (resume()).
TEST_F(SystemdClass, StartInFlightIsTakenOverByAnUpgrade) {
  manager_.addUnit("lrm-test-slow-start.service",
                   "[Unit]\nDescription=lrm test: slow to start\n[Service]\n"
                   "ExecStartPre=/bin/sleep 3\nExecStart=/bin/sleep infinity\n");
  manager_.reload();
  client_->registerInstance(registration("slow", "systemd:lrm-test-slow-start"));
  const auto start = client_->exec(operation("slow", "start"));
  ASSERT_TRUE(waitUntil(
      [&] { return manager_.unitProperty("lrm-test-slow-start.service", "ActiveState") == "activating"; }));
  const std::string boot = client_->ping().boot_id;
  daemon_->connect("upgrader")->upgrade();
  ASSERT_TRUE(waitUntil([&] {
    try {
      return daemon_->connect("probe")->ping().boot_id != boot;
    } catch (const client::Error&) {
      return false;
    }
  }));
  const Event started = client_->waitForResult(start, kPatience);
  EXPECT_EQ(started.status, ExecStatus::Done) << started.exit_reason;
  EXPECT_EQ(started.rc, sdk::rc::kOk);
  EXPECT_EQ(manager_.unitProperty("lrm-test-slow-start.service", "ActiveState"), "active");
  const std::string log = daemon_->log();
  EXPECT_THAT(log, HasSubstr("1 operation(s) in flight, 0 of them to wait for"));
  EXPECT_THAT(log, HasSubstr("carried over the upgrade"));
  EXPECT_EQ(run("slow", "stop").rc, sdk::rc::kOk);
}

TEST_F(SystemdClass, AgentsListServicesAndMetadataDescribesThem) {
  std::vector<std::string> agents;
  EXPECT_TRUE(waitUntil([&] {
    agents = client_->agents("systemd");
    return !agents.empty();
  })) << "the listing is fetched once connected";
  EXPECT_THAT(agents, ::testing::IsSupersetOf({"lrm-test-long", "lrm-test-instance@", "lrm-test-fail-start"}));
  EXPECT_THAT(agents, ::testing::Not(::testing::Contains("lrm-test")));
  const std::string xml = client_->metadata("systemd:lrm-test-long");
  EXPECT_THAT(xml, HasSubstr("<shortdesc lang=\"en\">lrm test: long-running service</shortdesc>"));
  EXPECT_THAT(client_->metadata("systemd:lrm-test-instance@red"), HasSubstr("lrm test: instance red"));
  EXPECT_EQ(client_->metadataParsed("systemd:lrm-test-long").shortdesc, "lrm test: long-running service");
  EXPECT_THROW(client_->metadata("systemd:lrm-test-no-such-unit"), std::exception);
}

}  // namespace
}  // namespace lrm::test
