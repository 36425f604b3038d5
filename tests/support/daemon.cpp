// Test support implementation (see daemon.hpp).
#include "daemon.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lrm::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> currentEnvironment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry; ++entry) {
    const std::string item(*entry);
    const auto eq = item.find('=');
    if (eq != std::string::npos) merged[item.substr(0, eq)] = item.substr(eq + 1);
  }
  for (const auto& [name, value] : extra) merged[name] = value;
  std::vector<std::string> env;
  for (const auto& [name, value] : merged) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

pid_t spawn(std::vector<std::string> argv, std::vector<std::string> env, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  auto args = pointers(argv);
  auto envp = pointers(env);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("unable to run " + argv[0] + ": " + std::strerror(error));
  return pid;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "lrm-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  ::chmod(path_.c_str(), 0755);  // tests that drop privileges must reach the socket
}

TempDir::~TempDir() {
  if (std::getenv("LRM_TEST_KEEP")) return;  // for debugging: keep logs and sockets
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

pid_t spawnProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                   int out_fd, int err_fd) {
  return spawn(argv, currentEnvironment(env), out_fd, err_fd);
}

std::string binary(const std::string& name) { return std::string(LRM_TEST_BIN_DIR) + "/" + name; }
std::string fixtureOcfPath() { return std::string(LRM_TEST_FIXTURES_DIR) + "/ocf"; }

client::RegisterRequest registration(const std::string& id, const std::string& agent, sdk::Params params) {
  client::RegisterRequest request;
  request.id = id;
  request.agent = agent;
  request.params = std::move(params);
  return request;
}

client::ExecRequest operation(const std::string& id, const std::string& action, sdk::Params params) {
  client::ExecRequest request;
  request.id = id;
  request.action = action;
  request.params = std::move(params);
  return request;
}

client::Event waitForCancelled(client::Client& client, sdk::CallId call) {
  client::Event event;
  do {
    event = client.waitForResult(call, kPatience);
  } while (event.status != sdk::ExecStatus::Cancelled);
  return event;
}

bool waitUntil(const std::function<bool()>& condition, Millis deadline) {
  const auto until = Clock::now() + deadline;
  while (!condition()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(Millis(10));
  }
  return true;
}

TestDaemon::TestDaemon(DaemonOptions options)
    : socket_(options.socket.empty() ? dir_.file("lrmd.sock") : options.socket) {
  const std::string plugin_dir = options.plugin_dir.empty() ? LRM_TEST_PLUGIN_DIR : options.plugin_dir;
  const std::string lrmd = options.lrmd.empty() ? binary("lrmd") : options.lrmd;
  std::vector<std::string> argv = {lrmd, "--foreground", "--socket", socket_,
                                   "--plugin-dir", plugin_dir, "--log-level", "debug",
                                   "--state-dir", options.state_dir.empty() ? dir_.file("state") : options.state_dir,
                                   "--log-target", dir_.file("lrmd.log")};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  argv.insert(argv.begin(), options.launcher.begin(), options.launcher.end());
  // Never the host's systemd, wherever the tests run: the systemd class gets
  // a bus that does not exist and `service` stays on init scripts, unless a
  // test says otherwise (a private manager's bus, LRM_SERVICE_BACKEND).
  std::map<std::string, std::string> env = {{"LRM_OCF_PATH", fixtureOcfPath()},
                                            {"DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + dir_.file("no-system-bus")},
                                            {"LRM_SERVICE_BACKEND", "lsb"}};
  for (const auto& [name, value] : options.env) env[name] = value;
  // Its stdout/stderr go to a file: a daemon must never hold the test's pipes.
  const int output = ::open(dir_.file("lrmd.stderr").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  pid_ = spawn(argv, currentEnvironment(env), output, output);
  ::close(output);
  // Ready means: the socket exists and answers a hello.
  const bool ready = waitUntil([&] {
    if (!alive()) return true;
    try {
      connect("readiness");
      return true;
    } catch (const client::Error&) {
      return false;
    }
  });
  if (!ready || !alive()) {
    const std::string text = log();
    crash();
    throw std::runtime_error("lrmd did not become ready; its log:\n" + text);
  }
}

TestDaemon::~TestDaemon() {
  if (pid_ <= 0) return;
  // Exit 0 is part of the contract (and how sanitizer reports surface).
  const int status = stop();
  EXPECT_EQ(status, 0) << "lrmd did not exit cleanly; its log:\n" << log();
}

void TestDaemon::crash() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::unique_ptr<client::Client> TestDaemon::connect(const std::string& name) const {
  return client::Client::connect(socket_, name, kPatience);
}

std::string TestDaemon::log() const {
  return readFile(dir_.file("lrmd.log")) + readFile(dir_.file("lrmd.stderr"));
}

bool TestDaemon::alive() const {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
  pid_ = -1;  // reaped: never signal this pid again (it may be reused)
  return false;
}

int TestDaemon::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  pid_t done = 0;
  waitUntil([&] {
    done = ::waitpid(pid_, &status, WNOHANG);
    return done != 0;
  }, Millis(60000));
  int result = -1;
  if (done == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  } else if (done > 0 && WIFEXITED(status)) {
    result = WEXITSTATUS(status);
  }
  pid_ = -1;
  return result;
}

CommandResult runCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  TempDir scratch;
  const std::string out_path = scratch.file("out");
  const std::string err_path = scratch.file("err");
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const pid_t pid = spawn(argv, currentEnvironment(env), out_fd, err_fd);
  ::close(out_fd);
  ::close(err_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = readFile(out_path);
  result.err = readFile(err_path);
  return result;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool processAlive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A zombie still answers kill(0); look at its state.
  const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  // Gone between kill() and the read (reaped meanwhile): not alive.
  return close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] != 'Z';
}

}  // namespace lrm::test
