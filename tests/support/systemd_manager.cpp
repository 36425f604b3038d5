// A real systemd manager for tests (see systemd_manager.hpp). The test forks
// a child that moves itself into a fresh cgroup and execs `unshare`, whose
// child (PID 1 of the new pid namespace) runs systemd_pid1.sh: its units,
// its mounts, then exec of systemd. Everything the manager writes stays in its
// namespaces or in the fixture's temporary directory.
#include "systemd_manager.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lrm::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSystemd = "/lib/systemd/systemd";
constexpr const char* kDbusDaemon = "/usr/bin/dbus-daemon";
constexpr const char* kBusctl = "/usr/bin/busctl";
constexpr const char* kSystemctl = "/usr/bin/systemctl";
constexpr const char* kJournalctl = "/usr/bin/journalctl";
constexpr const char* kUnshare = "/usr/bin/unshare";
constexpr const char* kNsenter = "/usr/bin/nsenter";
// The recipe itself (mounts, units, exec of systemd), shared with bench/systemd.sh.
constexpr const char* kPid1Script = LRM_TEST_SYSTEMD_PID1;

bool isCgroup2(const std::string& path) {
  struct statfs info{};
  return ::statfs(path.c_str(), &info) == 0 && info.f_type == CGROUP2_SUPER_MAGIC;
}

// The cgroup2 hierarchy: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one.
std::string cgroup2Root() {
  for (const char* path : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    if (isCgroup2(path)) return path;
  }
  return "";
}

// This process's cgroup2 path ("0::/a/b" in /proc/self/cgroup).
std::string ownCgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3) == "/" ? "" : line.substr(3);
  }
  return "";
}

// Can this process create the namespaces the manager needs? Probed in a child.
std::string namespaceProbe() {
  const pid_t child = ::fork();
  if (child < 0) return std::string("cannot fork: ") + std::strerror(errno);
  if (child == 0) {
    const int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
    ::_exit(::unshare(flags) == 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return std::string("cannot create private namespaces: ") +
         std::strerror(WIFEXITED(status) ? WEXITSTATUS(status) : EPERM);
}

std::string computeSkipReason() {
  if (::geteuid() != 0) return "needs root to boot a systemd manager in private namespaces";
  for (const char* binary : {kSystemd, kDbusDaemon, kBusctl, kSystemctl, kUnshare, kNsenter}) {
    if (::access(binary, X_OK) != 0) return std::string(binary) + " is missing (packages systemd, dbus)";
  }
  if (!fs::exists("/lib/systemd/system/dbus.service")) return "dbus.service is missing (package dbus)";
  if (cgroup2Root().empty()) return "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified";
  const std::string parent = cgroup2Root() + ownCgroup();
  if (::access(parent.c_str(), W_OK) != 0) return "cannot create a cgroup in " + parent + ": " + std::strerror(errno);
  return namespaceProbe();
}

// The value of busctl's "TYPE VALUE" answer, without quotes: `s "active"` → active.
std::string busValue(const std::string& out) {
  const auto space = out.find(' ');
  if (space == std::string::npos) return "";
  std::string value = out.substr(space + 1);
  while (!value.empty() && (value.back() == '\n' || value.back() == '"')) value.pop_back();
  if (!value.empty() && value.front() == '"') value.erase(0, 1);
  return value;
}

// The parent pid in /proc/<pid>/stat (the field after the state, past the ')' of the name).
pid_t parentOf(pid_t pid) {
  const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string state;
  pid_t parent = -1;
  fields >> state >> parent;
  return parent;
}

// unshare's only child: PID 1 of the new namespaces, seen from the host.
pid_t childOf(pid_t parent) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (std::all_of(name.begin(), name.end(), ::isdigit) && parentOf(std::stoi(name)) == parent) {
      return std::stoi(name);
    }
  }
  return -1;
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("unable to write " + path);
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

}  // namespace

std::string SystemdManager::skipReason() {
  static const std::string reason = computeSkipReason();
  return reason;
}

SystemdManager::SystemdManager() {
  for (const char* sub : {"units", "run-units", "run-dbus"}) fs::create_directories(dir_.file(sub));
}

SystemdManager::~SystemdManager() {
  try {
    stop();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "unable to stop the systemd manager: " << error.what();
  }
}

std::string SystemdManager::busAddress() const { return "unix:path=" + dir_.file("run-dbus/system_bus_socket"); }

std::string SystemdManager::unitDir() const { return dir_.file("run-units"); }

void SystemdManager::addUnit(const std::string& name, const std::string& text) {
  units_[name] = text;
  writeText(dir_.file("units/" + name), text);
}

void SystemdManager::start(const Units& units) {
  if (unshare_pid_ > 0) throw std::logic_error("the systemd manager is already running");
  for (const auto& [name, text] : units) addUnit(name, text);
  static std::atomic<int> instances{0};
  cgroup_ = cgroup2Root() + ownCgroup() + "/lrm-test-systemd-" + std::to_string(::getpid()) + "-" +
            std::to_string(++instances);
  if (::mkdir(cgroup_.c_str(), 0755) != 0) {
    throw std::runtime_error("unable to create cgroup " + cgroup_ + ": " + std::strerror(errno));
  }
  fs::remove(dir_.file("run-dbus/system_bus_socket"));  // a previous boot's: never mistaken for this one's
  launch();
  waitRunning("boot");
}

void SystemdManager::launch() {
  const std::string procs = cgroup_ + "/cgroup.procs";
  std::vector<std::string> argv = {kUnshare, "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
                                   "--uts", "--ipc", "--cgroup", "--propagation", "private",
                                   "/bin/sh", kPid1Script, dir_.path(),
                                   std::string(LRM_TEST_FIXTURES_DIR) + "/systemd"};
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  auto args = pointers(argv);
  auto envp = pointers(env);
  const int output = ::open(dir_.file("manager.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t child = ::fork();
  if (child == 0) {
    // Async-signal-safe calls only (the test may have threads). If the test
    // dies, unshare gets SIGKILL and --kill-child takes PID 1 with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int cgroup = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (cgroup < 0 || ::write(cgroup, "0", 1) != 1) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(output, 1);
    ::dup2(output, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(output);
  ::close(null);
  if (child < 0) throw std::runtime_error(std::string("unable to fork: ") + std::strerror(errno));
  unshare_pid_ = child;
}

void SystemdManager::waitRunning(const std::string& what) {
  bool exited = false;
  const bool running = waitUntil([&] {
    if (::waitpid(unshare_pid_, nullptr, WNOHANG) != 0) return exited = true;
    if (systemd_pid_ <= 0) systemd_pid_ = childOf(unshare_pid_);
    return systemd_pid_ > 0 && managerProperty("SystemState") == "running";
  });
  if (running && !exited) return;
  const std::string text = log();
  if (exited) unshare_pid_ = -1;
  stop();
  throw std::runtime_error("the systemd manager did not reach `running` (" + what + "); its output:\n" + text);
}

void SystemdManager::stop() {
  if (unshare_pid_ <= 0) {
    discardCgroup();
    return;
  }
  busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
          "Exit"});
  // Exit stops every unit first (1.5-2 s); a unit that will not stop is cut short here.
  const bool exited = waitUntil([&] { return ::waitpid(unshare_pid_, nullptr, WNOHANG) != 0; }, Millis(15000));
  if (!exited) {
    ::kill(unshare_pid_, SIGKILL);  // --kill-child: PID 1 gets SIGKILL, and the namespace with it
    ::waitpid(unshare_pid_, nullptr, 0);
  }
  unshare_pid_ = -1;
  systemd_pid_ = -1;
  discardCgroup();
}

void SystemdManager::restart() {
  stop();
  start(units_);
}

// Kill whatever is left in the cgroup and remove its tree, deepest first; the
// tree empties only once every process in it has exited.
void SystemdManager::discardCgroup() {
  if (cgroup_.empty() || !fs::exists(cgroup_)) return;
  std::ofstream(cgroup_ + "/cgroup.kill") << "1";
  const bool removed = waitUntil([&] {
    std::vector<std::string> dirs;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(cgroup_, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& dir : dirs) ::rmdir(dir.c_str());
    return ::rmdir(cgroup_.c_str()) == 0 || errno == ENOENT;
  });
  if (!removed) ADD_FAILURE() << "cgroup " << cgroup_ << " could not be removed";
  cgroup_.clear();
}

void SystemdManager::reexec() {
  const std::string before = busOwner();
  // No reply comes: the bus reports the manager gone ("disconnected without replying").
  busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
          "Reexecute"});
  const bool back = waitUntil([&] {
    const std::string owner = busOwner();
    if (owner.empty() || owner == before) return false;
    const std::string state = managerProperty("SystemState");
    return state == "running" || state == "degraded";
  });
  if (!back) throw std::runtime_error("the systemd manager did not come back from Reexecute; its output:\n" + log());
}

void SystemdManager::reload() {
  const auto result = busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                              "org.freedesktop.systemd1.Manager", "Reload"});
  if (result.exit_code != 0) throw std::runtime_error("unable to reload the systemd manager: " + result.err);
}

CommandResult SystemdManager::busctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kBusctl, "--address=" + busAddress()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

CommandResult SystemdManager::systemctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kNsenter, "-t", std::to_string(systemd_pid_), "-m", "-p", kSystemctl};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

std::string SystemdManager::managerProperty(const std::string& property) const {
  const auto result = busctl({"get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                              "org.freedesktop.systemd1.Manager", property});
  return result.exit_code == 0 ? busValue(result.out) : "";
}

std::string SystemdManager::busOwner() const {
  const auto result = busctl({"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "GetNameOwner", "s", "org.freedesktop.systemd1"});
  return result.exit_code == 0 ? busValue(result.out) : "";
}

std::string SystemdManager::unitProperty(const std::string& unit, const std::string& property,
                                         const std::string& interface) const {
  const auto loaded = busctl({"call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                              "org.freedesktop.systemd1.Manager", "LoadUnit", "s", unit});
  if (loaded.exit_code != 0) return "";
  const auto result = busctl({"get-property", "org.freedesktop.systemd1", busValue(loaded.out),
                              "org.freedesktop.systemd1." + interface, property});
  return result.exit_code == 0 ? busValue(result.out) : "";
}

std::vector<pid_t> SystemdManager::unitProcesses(const std::string& unit) const {
  std::vector<pid_t> pids;
  std::error_code ec;
  // Instances of a template sit one slice deeper (system.slice/system-<name>.slice/<unit>).
  for (fs::recursive_directory_iterator it(cgroup_ + "/system.slice", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != unit) continue;
    std::istringstream procs(readFile(it->path() / "cgroup.procs"));
    for (pid_t pid = 0; procs >> pid;) pids.push_back(pid);
  }
  return pids;
}

std::string SystemdManager::log() const {
  std::string text = readFile(dir_.file("manager.log"));
  if (systemd_pid_ > 0) {
    const std::string journal = "/proc/" + std::to_string(systemd_pid_) + "/root/run/log/journal";
    text += runCommand({kJournalctl, "-D", journal, "--no-pager", "-o", "short-monotonic"}).out;
  }
  return text;
}

}  // namespace lrm::test
