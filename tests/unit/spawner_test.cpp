// Unit tests for the Spawner (kernel/src/spawner.{hpp,cpp}): real children
// through posix_spawn, captured output, clean environment, timeouts killing
// the whole process group, grandchildren holding pipes, spawn failures, kill.
#include "spawner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace lrm::kernel {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kPathEnv = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

// Is @p pid gone: no such process, or a zombie nobody has reaped yet (the
// grandchildren below are reparented to init, which may be slow to reap)?
bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // vanished between the two checks
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  const char state = line[paren + 2];
  return state == 'Z' || state == 'X';
}

// Poll (never a fixed sleep) until @p pid is gone or @p limit has passed.
bool waitGone(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (processGone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return processGone(pid);
}

std::optional<pid_t> parsePid(const std::string& text) {
  std::istringstream in(text);
  long value = 0;
  if (!(in >> value) || value <= 1) return std::nullopt;
  return static_cast<pid_t>(value);
}

// Kills a process that a test started indirectly, whatever the test's outcome.
struct KillOnExit {
  std::optional<pid_t> pid;
  ~KillOnExit() {
    if (pid && !processGone(*pid)) ::kill(*pid, SIGKILL);
  }
};

class SpawnerTest : public ::testing::Test {
 protected:
  SpawnerTest() {
    // The daemon blocks SIGCHLD and receives it through signalfd; do the same
    // before the loop and the spawner exist.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    EXPECT_EQ(::sigprocmask(SIG_BLOCK, &chld, &old_mask_), 0);
    loop_.emplace();
    spawner_.emplace(*loop_);
  }
  ~SpawnerTest() override {
    spawner_.reset();
    loop_.reset();
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  sdk::SpawnRequest request(std::vector<std::string> argv, std::vector<std::string> env = kPathEnv,
                            std::uint32_t timeout_ms = 0) {
    sdk::SpawnRequest r;
    r.argv = std::move(argv);
    r.env = std::move(env);
    r.timeout_ms = timeout_ms;
    r.context.instance_id = "unit";
    r.context.action = "test";
    return r;
  }

  // Spawn @p r, run the loop until its completion (30 s safety deadline).
  std::optional<sdk::SpawnResult> runOne(sdk::SpawnRequest r, sdk::SpawnId* id_out = nullptr) {
    std::optional<sdk::SpawnResult> result;
    int calls = 0;
    const sdk::SpawnId id = spawner_->spawn(std::move(r), [&](const sdk::SpawnResult& done) {
      ++calls;
      result = done;
      loop_->stop();
    });
    EXPECT_NE(id, 0u);
    if (id_out) *id_out = id;
    EXPECT_FALSE(result.has_value()) << "completion delivered inside spawn()";
    runLoop();
    EXPECT_LE(calls, 1);
    EXPECT_TRUE(result.has_value()) << "no completion within the safety deadline";
    return result;
  }

  void runLoop() {
    const TimerId guard = loop_->addTimer(Millis(30000), [this] { loop_->stop(); });
    loop_->run();
    loop_->cancelTimer(guard);
  }

  sigset_t old_mask_{};
  std::optional<EventLoop> loop_;
  std::optional<Spawner> spawner_;
};

TEST_F(SpawnerTest, ExitCodeAndCapturedOutput) {
  const auto result = runOne(request({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->out, "out\n");
  EXPECT_EQ(result->err, "err\n");
  EXPECT_EQ(spawner_->running(), 0u);
}

TEST_F(SpawnerTest, ExitZeroWithNoOutput) {
  const auto result = runOne(request({"/bin/sh", "-c", "exit 0"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, "");
  EXPECT_EQ(result->err, "");
}

TEST_F(SpawnerTest, LargeOutputIsCapturedCompletely) {
  // 200000 bytes: more than a pipe buffer, less than the head limit.
  const auto result = runOne(request({"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, std::string(200000, 'x'));
}

TEST_F(SpawnerTest, EnvironmentIsExactlyWhatWasGiven) {
  auto result = runOne(request({"/usr/bin/env"}, {"A=1"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->out, "A=1\n");

  result = runOne(request({"/usr/bin/env"}, {}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->out, "");
}

TEST_F(SpawnerTest, ChildRunsInItsOwnGroupWithStdinFromDevNullAndCwdRoot) {
  // pgid (field 5 of /proc/<pid>/stat) == pid, stdin at EOF, cwd "/" by default.
  const auto result = runOne(request(
      {"/bin/sh", "-c",
       "test \"$(cut -d' ' -f5 /proc/$$/stat)\" = \"$$\" && echo group; cat; echo stdin-eof; pwd"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->exit_code, 0) << result->err;
  EXPECT_EQ(result->out, "group\nstdin-eof\n/\n");
}

TEST_F(SpawnerTest, OnlyStandardDescriptorsAreInherited) {
  // ls runs as the shell's child and lists the shell's descriptors.
  const auto result = runOne(request({"/bin/sh", "-c", "ls /proc/$$/fd"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->exit_code, 0) << result->err;
  EXPECT_EQ(result->out, "0\n1\n2\n") << "descriptors leaked into the child";
}

TEST_F(SpawnerTest, CwdIsHonoured) {
  lrm::test::TempDir tmp;
  auto r = request({"/bin/sh", "-c", "pwd -P"});
  r.cwd = tmp.str();
  const auto result = runOne(std::move(r));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->out, std::filesystem::canonical(tmp.path()).string() + "\n");
}

// A hex mask line ("SigBlk:\t...") of /proc/<pid>/status, or nullopt.
std::optional<unsigned long long> statusMask(const std::string& status, const std::string& key) {
  const auto at = status.find(key + ":\t");
  if (at == std::string::npos) return std::nullopt;
  return std::stoull(status.substr(at + key.size() + 2, 16), nullptr, 16);
}

TEST_F(SpawnerTest, SignalMaskAndDispositionsAreResetInTheChild) {
  // The test process blocks SIGCHLD (like the daemon) and here also ignores
  // SIGUSR1; the child must inherit neither. "exec" so that grep reads the
  // mask the spawned process started with, not a shell's transient one.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &previous), 0);
  const auto result = runOne(request({"/bin/sh", "-c", "exec grep -E '^Sig(Blk|Ign)' /proc/self/status"}));
  ::sigaction(SIGUSR1, &previous, nullptr);
  ASSERT_TRUE(result);
  const auto blocked = statusMask(result->out, "SigBlk");
  const auto ignored = statusMask(result->out, "SigIgn");
  ASSERT_TRUE(blocked && ignored) << result->out;
  EXPECT_EQ(*blocked, 0u) << result->out;
  // Standard signals 1-31 only: glibc's posix_spawn always leaves its two
  // internal real-time signals (32, 33) ignored in the child.
  EXPECT_EQ(*ignored & 0x7FFFFFFFull, 0u) << result->out;
}

TEST_F(SpawnerTest, TimeoutKillsTheWholeProcessGroup) {
  lrm::test::TempDir tmp;
  const std::string pid_file = (tmp.path() / "grandchild.pid").string();
  KillOnExit guard;
  const auto start = Clock::now();
  const auto result = runOne(request(
      {"/bin/sh", "-c", "sleep 100 & echo $! > " + pid_file + "; echo started; sleep 100"}, kPathEnv, 2000));
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::TimedOut);
  EXPECT_GE(elapsed, Millis(2000));
  EXPECT_LT(elapsed, Millis(20000));
  EXPECT_EQ(result->out, "started\n") << "output before the timeout is kept";

  std::ifstream in(pid_file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto grandchild = parsePid(content);
  ASSERT_TRUE(grandchild) << "grandchild pid not written: '" << content << "'";
  guard.pid = grandchild;
  EXPECT_TRUE(waitGone(*grandchild)) << "grandchild " << *grandchild << " survived the timeout";
}

TEST_F(SpawnerTest, GrandchildHoldingStdoutDoesNotDelayTheResult) {
  KillOnExit guard;
  const auto start = Clock::now();
  const auto result = runOne(request({"/bin/sh", "-c", "sleep 100 & echo $!; exit 0"}));
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(result);
  guard.pid = parsePid(result->out);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Exited);
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_LT(elapsed, Millis(20000)) << "the result waited for the grandchild";
  ASSERT_TRUE(guard.pid) << "no grandchild pid in '" << result->out << "'";
  EXPECT_FALSE(processGone(*guard.pid)) << "a normal exit must not kill the grandchild";
  ASSERT_EQ(::kill(*guard.pid, SIGKILL), 0);
  EXPECT_TRUE(waitGone(*guard.pid));
}

TEST_F(SpawnerTest, MissingExecutableFailsAsynchronouslyWithEnoent) {
  const auto result = runOne(request({"/nonexistent/lrm-unit-test/no-such-agent"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::SpawnFailed);
  EXPECT_EQ(result->spawn_errno, ENOENT);
  EXPECT_EQ(spawner_->running(), 0u);
}

TEST_F(SpawnerTest, NonExecutableFileFailsWithEacces) {
  lrm::test::TempDir tmp;
  const std::string path = (tmp.path() / "agent").string();
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const auto result = runOne(request({path}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::SpawnFailed);
  EXPECT_EQ(result->spawn_errno, EACCES);
}

TEST_F(SpawnerTest, EmptyArgvFailsAsynchronously) {
  const auto result = runOne(request({}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::SpawnFailed);
  EXPECT_NE(result->spawn_errno, 0);
}

TEST_F(SpawnerTest, KillReportsKilled) {
  std::optional<sdk::SpawnResult> result;
  const sdk::SpawnId id = spawner_->spawn(request({"/bin/sh", "-c", "sleep 100"}), [&](const sdk::SpawnResult& r) {
    result = r;
    loop_->stop();
  });
  ASSERT_NE(id, 0u);
  EXPECT_EQ(spawner_->running(), 1u);
  loop_->addTimer(Millis(20), [&] { EXPECT_TRUE(spawner_->kill(id)); });
  runLoop();
  ASSERT_TRUE(result) << "no completion within the safety deadline";
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Killed);
  EXPECT_FALSE(spawner_->kill(id)) << "kill() of a finished child must return false";
  EXPECT_EQ(spawner_->running(), 0u);
}

TEST_F(SpawnerTest, KillRightAfterSpawnReportsKilled) {
  std::optional<sdk::SpawnResult> result;
  const sdk::SpawnId id = spawner_->spawn(request({"/bin/sh", "-c", "sleep 100"}), [&](const sdk::SpawnResult& r) {
    result = r;
    loop_->stop();
  });
  EXPECT_TRUE(spawner_->kill(id));
  EXPECT_FALSE(result.has_value()) << "completion delivered inside kill()";
  runLoop();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Killed);
}

TEST_F(SpawnerTest, KillOfUnknownIdReturnsFalse) {
  EXPECT_FALSE(spawner_->kill(0));
  EXPECT_FALSE(spawner_->kill(424242));
}

TEST_F(SpawnerTest, SignalFromOutsideIsSignaled) {
  const auto result = runOne(request({"/bin/sh", "-c", "kill -TERM $$; sleep 100"}));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::Signaled);
  EXPECT_EQ(result->signal, SIGTERM);
}

TEST_F(SpawnerTest, ManyChildrenAtOnceEachGetTheirOwnResult) {
  constexpr int kChildren = 8;
  std::vector<std::optional<sdk::SpawnResult>> results(kChildren);
  int remaining = kChildren;
  for (int i = 0; i < kChildren; ++i) {
    spawner_->spawn(request({"/bin/sh", "-c", "echo child" + std::to_string(i) + "; exit " + std::to_string(i)}),
                    [&, i](const sdk::SpawnResult& r) {
                      results[static_cast<std::size_t>(i)] = r;
                      if (--remaining == 0) loop_->stop();
                    });
  }
  runLoop();
  ASSERT_EQ(remaining, 0);
  for (int i = 0; i < kChildren; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->outcome, sdk::SpawnOutcome::Exited) << i;
    EXPECT_EQ(r->exit_code, i);
    EXPECT_EQ(r->out, "child" + std::to_string(i) + "\n");
  }
}

TEST_F(SpawnerTest, KillGraceSendsTermFirst) {
  // With a grace period the agent gets SIGTERM and may clean up before it dies.
  spawner_->setKillGrace(Millis(5000));
  const auto result = runOne(request(
      {"/bin/sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"}, kPathEnv,
      2000));  // long enough for a loaded machine to install the trap first
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, sdk::SpawnOutcome::TimedOut);
  EXPECT_THAT(result->out, HasSubstr("got-term"));
}

}  // namespace
}  // namespace lrm::kernel
