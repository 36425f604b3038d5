// The systemd test fixture itself (tests/support/systemd_manager.hpp): a
// manager boots in private namespaces, runs real units, survives a
// re-execution and a restart, and leaves no process, cgroup or mount behind;
// the fixture units of tests/fixtures/systemd behave as their comments say.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "daemon.hpp"
#include "systemd_manager.hpp"

namespace lrm::test {
namespace {

namespace fs = std::filesystem;

CommandResult managerCall(const SystemdManager& manager, const std::string& method,
                          const std::vector<std::string>& signature_and_args) {
  std::vector<std::string> args = {"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                   "org.freedesktop.systemd1.Manager", method};
  args.insert(args.end(), signature_and_args.begin(), signature_and_args.end());
  return manager.busctl(args);
}

void startUnit(const SystemdManager& manager, const std::string& unit) {
  const auto result = managerCall(manager, "StartUnit", {"ss", unit, "replace"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

bool reaches(const SystemdManager& manager, const std::string& unit, const std::string& state) {
  return waitUntil([&] { return manager.unitProperty(unit, "ActiveState") == state; });
}

TEST(SystemdManager, RunsAUnitThroughAReexecAndLeavesNothingBehind) {
  LRM_SKIP_WITHOUT_SYSTEMD();
  const std::string mounts_before = readFile("/proc/self/mountinfo");
  std::string cgroup;
  std::vector<pid_t> processes;
  {
    SystemdManager manager;
    manager.start();
    cgroup = manager.cgroup();
    EXPECT_EQ(readFile("/proc/" + std::to_string(manager.pid()) + "/comm"), "systemd\n");
    startUnit(manager, "lrm-test-long.service");
    ASSERT_TRUE(reaches(manager, "lrm-test-long.service", "active")) << manager.log();
    processes = manager.unitProcesses("lrm-test-long.service");
    ASSERT_EQ(processes.size(), 1u);

    manager.reexec();
    EXPECT_EQ(manager.unitProperty("lrm-test-long.service", "ActiveState"), "active");
    EXPECT_EQ(manager.unitProcesses("lrm-test-long.service"), processes);
    const auto is_active = manager.systemctl({"is-active", "lrm-test-long.service"});
    EXPECT_EQ(is_active.out, "active\n") << is_active.err;

    processes.push_back(manager.pid());
    manager.stop();
    EXPECT_EQ(manager.pid(), -1);
  }
  for (const pid_t pid : processes) EXPECT_FALSE(processAlive(pid)) << pid;
  EXPECT_FALSE(fs::exists(cgroup)) << cgroup;
  EXPECT_EQ(readFile("/proc/self/mountinfo"), mounts_before);
}

TEST(SystemdManager, FixtureUnitsFailDieAndRestartAsDescribed) {
  LRM_SKIP_WITHOUT_SYSTEMD();
  SystemdManager manager;
  manager.start();

  EXPECT_NE(managerCall(manager, "StartUnit", {"ss", "lrm-test-nonexistent.service", "replace"}).exit_code, 0);
  EXPECT_EQ(manager.unitProperty("lrm-test-nonexistent.service", "LoadState"), "not-found");

  startUnit(manager, "lrm-test-fail-start.service");
  EXPECT_TRUE(reaches(manager, "lrm-test-fail-start.service", "failed"));

  startUnit(manager, "lrm-test-dies.service");
  EXPECT_TRUE(reaches(manager, "lrm-test-dies.service", "failed"));
  EXPECT_EQ(manager.unitProperty("lrm-test-dies.service", "Result", "Service"), "exit-code");
  EXPECT_EQ(managerCall(manager, "ResetFailedUnit", {"s", "lrm-test-dies.service"}).exit_code, 0);
  EXPECT_EQ(manager.unitProperty("lrm-test-dies.service", "ActiveState"), "inactive");

  startUnit(manager, "lrm-test-instance@one.service");
  EXPECT_TRUE(reaches(manager, "lrm-test-instance@one.service", "active"));
  EXPECT_EQ(manager.unitProperty("lrm-test-instance@one.service", "Description"), "lrm test: instance one");

  startUnit(manager, "lrm-test-slow-stop.service");
  ASSERT_TRUE(reaches(manager, "lrm-test-slow-stop.service", "active"));
  ASSERT_EQ(managerCall(manager, "StopUnit", {"ss", "lrm-test-slow-stop.service", "replace"}).exit_code, 0);
  EXPECT_TRUE(reaches(manager, "lrm-test-slow-stop.service", "deactivating"));
  // SIGKILL to every process of the unit (its ExecStop too) ends the stop at
  // once, as `failed` (ExecStop died of a signal).
  managerCall(manager, "KillUnit", {"ssi", "lrm-test-slow-stop.service", "all", std::to_string(SIGKILL)});
  EXPECT_TRUE(reaches(manager, "lrm-test-slow-stop.service", "failed"))
      << manager.unitProperty("lrm-test-slow-stop.service", "ActiveState");
}

TEST(SystemdManager, ARestartingUnitIsHeldByADropInThatSurvivesAManagerRestart) {
  LRM_SKIP_WITHOUT_SYSTEMD();
  SystemdManager manager;
  manager.start();
  const std::string unit = "lrm-test-restarts.service";
  startUnit(manager, unit);
  ASSERT_TRUE(reaches(manager, unit, "active"));
  const auto first = manager.unitProcesses(unit);
  ASSERT_EQ(first.size(), 1u);
  ::kill(first.front(), SIGKILL);
  EXPECT_TRUE(waitUntil([&] {
    const auto now = manager.unitProcesses(unit);
    return now.size() == 1 && now != first && manager.unitProperty(unit, "ActiveState") == "active";
  })) << "Restart=always brings it back";

  fs::create_directories(manager.unitDir() + "/" + unit + ".d");
  std::ofstream(manager.unitDir() + "/" + unit + ".d/50-test.conf") << "[Service]\nRestart=no\n";
  manager.reload();
  const auto second = manager.unitProcesses(unit);
  ASSERT_EQ(second.size(), 1u);
  ::kill(second.front(), SIGKILL);
  EXPECT_TRUE(reaches(manager, unit, "failed")) << "with Restart=no it stays down";

  const std::string address = manager.busAddress();
  manager.restart();
  EXPECT_EQ(manager.busAddress(), address);
  EXPECT_EQ(manager.unitProperty(unit, "DropInPaths"), "1 \"/run/systemd/system/" + unit + ".d/50-test.conf");
}

}  // namespace
}  // namespace lrm::test
