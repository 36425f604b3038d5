// posix_spawn-based child management for the kernel (see spawner.hpp).
#include "spawner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "log.hpp"

namespace lrm::kernel {
namespace {

constexpr std::size_t kHookOutputBytes = 64 * 1024;
constexpr std::uint32_t kHookTimeoutMs = 10000;
constexpr std::size_t kLoggedLines = 50;

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Owns the posix_spawn attribute and file-action objects for one spawn.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

void OutputCapture::append(const char* data, std::size_t size) {
  total_ += size;
  const std::size_t to_head = std::min(size, head_limit_ - head_.size());
  head_.append(data, to_head);
  data += to_head;
  size -= to_head;
  if (size == 0) return;
  tail_.append(data, size);
  if (tail_.size() > 2 * tail_keep_) tail_.erase(0, tail_.size() - tail_keep_);
}

std::size_t OutputCapture::droppedBytes() const {
  return total_ - head_.size() - std::min(tail_.size(), tail_keep_);
}

std::string OutputCapture::text() const {
  if (tail_.empty()) return head_;
  const std::size_t kept = std::min(tail_.size(), tail_keep_);
  std::string result = head_;
  if (droppedBytes() > 0) result += "\n[... lrmd dropped " + std::to_string(droppedBytes()) + " bytes ...]\n";
  result.append(tail_, tail_.size() - kept, kept);
  return result;
}

Spawner::Spawner(EventLoop& loop, SpawnerOptions options) : loop_(loop), options_(std::move(options)) {
  loop_.onSignal(SIGCHLD, [this] { reap(); });
}

Spawner::~Spawner() {
  // Children are left running on purpose (a daemon exit never stops
  // resources); only our ends of their pipes are closed.
  for (auto& [id, child] : children_) {
    if (child.out_fd >= 0) loop_.unwatch(child.out_fd);
    if (child.err_fd >= 0) loop_.unwatch(child.err_fd);
    closeFd(child.out_fd);
    closeFd(child.err_fd);
    loop_.cancelTimer(child.timer);
  }
}

sdk::SpawnId Spawner::spawn(sdk::SpawnRequest request, Done done) {
  return start(std::move(request), std::move(done), false);
}

sdk::SpawnId Spawner::start(sdk::SpawnRequest request, Done done, bool is_hook) {
  auto fail = [&](int error) {
    const sdk::SpawnId id = next_id_++;
    sdk::SpawnResult result;
    result.outcome = sdk::SpawnOutcome::SpawnFailed;
    result.spawn_errno = error;
    loop_.defer([done = std::move(done), result] { done(result); });
    return id;
  };
  if (request.argv.empty()) return fail(EINVAL);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(errno);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return fail(error);
  }

  SpawnSetup setup;
  // New process group (so a timeout kills grandchildren too), empty signal
  // mask and default dispositions (the daemon blocks SIGCHLD/SIGTERM/...).
  sigset_t empty_mask;
  sigset_t all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &empty_mask);
  posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&setup.actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  posix_spawn_file_actions_addchdir_np(&setup.actions,
                                       request.cwd.empty() ? "/" : request.cwd.c_str());

  std::vector<char*> argv;
  for (auto& arg : request.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& var : request.env) envp.push_back(var.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (error != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return fail(error);
  }

  Child& child = track(pid, out_pipe[0], err_pipe[0], std::move(request), std::move(done), is_hook);
  log(sdk::LogLevel::Debug, child.request.context,
      "spawned " + child.request.argv[0] + " (pid " + std::to_string(pid) + ")");
  return child.id;
}

Spawner::Child& Spawner::track(pid_t pid, int out_fd, int err_fd, sdk::SpawnRequest request, Done done,
                               bool is_hook) {
  const sdk::SpawnId id = next_id_++;
  Child& child = children_[id];
  child.id = id;
  child.pid = pid;
  child.out_fd = out_fd;
  child.err_fd = err_fd;
  child.started = Clock::now();
  child.is_hook = is_hook;
  child.out = OutputCapture(is_hook ? kHookOutputBytes : options_.max_output);
  child.err = OutputCapture(is_hook ? kHookOutputBytes : options_.max_output);
  child.done = std::move(done);
  child.request = std::move(request);
  by_pid_[pid] = id;

  for (int* fd : {&child.out_fd, &child.err_fd}) {
    if (*fd < 0) continue;
    ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
    OutputCapture* capture = fd == &child.out_fd ? &child.out : &child.err;
    const bool is_out = fd == &child.out_fd;
    loop_.watch(*fd, EPOLLIN, [this, id, is_out, capture](std::uint32_t) {
      auto it = children_.find(id);
      if (it == children_.end()) return;
      drain(is_out ? it->second.out_fd : it->second.err_fd, *capture);
    });
  }
  if (child.request.timeout_ms > 0) {
    child.timer = loop_.addTimer(Millis(child.request.timeout_ms), [this, id] { onTimeout(id); });
  }
  return child;
}

std::set<std::pair<std::string, sdk::CallId>> Spawner::agentsInFlight() const {
  std::set<std::pair<std::string, sdk::CallId>> result;
  for (const auto& [id, child] : children_) {
    if (isAgent(child)) result.emplace(child.request.context.instance_id, child.request.context.call_id);
  }
  return result;
}

std::vector<HandedChild> Spawner::handOver() {
  std::vector<HandedChild> handed;
  for (auto it = children_.begin(); it != children_.end();) {
    Child& child = it->second;
    if (!isAgent(child)) {
      ++it;
      continue;
    }
    drain(child.out_fd, child.out);
    drain(child.err_fd, child.err);
    HandedChild record;
    record.context = child.request.context;
    record.pid = child.pid;
    record.out = child.out.text();
    record.err = child.err.text();
    record.elapsed_ms = msSince(child.started);
    record.timeout_ms = child.request.timeout_ms;
    record.timed_out = child.timed_out;
    record.killed = child.killed;
    for (int* fd : {&child.out_fd, &child.err_fd}) {
      if (*fd < 0) continue;
      loop_.unwatch(*fd);
      ::fcntl(*fd, F_SETFD, 0);  // survives exec()
    }
    record.out_fd = child.out_fd;
    record.err_fd = child.err_fd;
    loop_.cancelTimer(child.timer);
    by_pid_.erase(child.pid);
    handed.push_back(std::move(record));
    it = children_.erase(it);
  }
  return handed;
}

sdk::SpawnId Spawner::adopt(const sdk::LogContext& context, Done done) {
  const auto found = std::find_if(handed_.begin(), handed_.end(), [&](const HandedChild& handed) {
    return handed.context.call_id == context.call_id && handed.context.instance_id == context.instance_id;
  });
  if (found == handed_.end()) return 0;
  HandedChild handed = std::move(*found);
  handed_.erase(found);
  for (int fd : {handed.out_fd, handed.err_fd}) {
    if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  sdk::SpawnRequest request;
  request.context = context;
  request.timeout_ms = 0;  // armed below with what is left of it
  Child& child = track(handed.pid, handed.out_fd, handed.err_fd, std::move(request), std::move(done), false);
  child.request.timeout_ms = handed.timeout_ms;
  child.started = Clock::now() - Millis(handed.elapsed_ms);
  child.out.append(handed.out.data(), handed.out.size());
  child.err.append(handed.err.data(), handed.err.size());
  child.timed_out = handed.timed_out;
  child.killed = handed.killed;
  const sdk::SpawnId id = child.id;
  if (handed.timed_out || handed.killed) {
    ::kill(-handed.pid, SIGKILL);  // the previous image had started killing it
  } else if (handed.timeout_ms > 0) {
    const std::uint64_t left = handed.timeout_ms > handed.elapsed_ms ? handed.timeout_ms - handed.elapsed_ms : 0;
    child.timer = loop_.addTimer(Millis(left), [this, id] { onTimeout(id); });
  }
  log(sdk::LogLevel::Info, context,
      "took over pid " + std::to_string(handed.pid) + " from the previous lrmd image, running for " +
          std::to_string(handed.elapsed_ms) + " ms");
  loop_.defer([this] { reap(); });  // it may have exited before it was adopted
  return id;
}

void Spawner::finishTakeOver() {
  while (!handed_.empty()) {
    const sdk::LogContext context = handed_.front().context;
    adopt(context, [context](const sdk::SpawnResult&) {
      log(sdk::LogLevel::Notice, context, "agent process carried over the upgrade has ended; its result is not reported");
    });
  }
}

void Spawner::drain(int& fd, OutputCapture& capture) {
  if (fd < 0) return;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      capture.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF or a real error: this stream is finished (the child may live on).
    loop_.unwatch(fd);
    closeFd(fd);
    return;
  }
}

void Spawner::onTimeout(sdk::SpawnId id) {
  auto it = children_.find(id);
  if (it == children_.end()) return;
  Child& child = it->second;
  child.timed_out = true;
  child.timer = 0;
  log(sdk::LogLevel::Warning, child.request.context,
      "timed out after " + std::to_string(child.request.timeout_ms) + " ms (pid " + std::to_string(child.pid) + ")");
  if (options_.timeout_hook.empty() || child.is_hook) {
    killGroup(id);
    return;
  }
  // Let the diagnostic hook look at the hung agent first, then kill it.
  const sdk::LogContext& context = child.request.context;
  sdk::SpawnRequest hook;
  hook.argv = {"/bin/sh", "-c", options_.timeout_hook + " \"$@\"", "lrm-timeout-hook", context.instance_id,
               context.instance_name, std::to_string(child.pid)};
  hook.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  hook.timeout_ms = kHookTimeoutMs;
  hook.context = context;
  hook.context.action = context.action + " timeout-hook";
  start(std::move(hook), [this, id](const sdk::SpawnResult& result) {
    if (result.outcome != sdk::SpawnOutcome::Exited || result.exit_code != 0) {
      const auto it = children_.find(id);
      if (it != children_.end()) {
        log(sdk::LogLevel::Warning, it->second.request.context,
            "timeout hook failed (" + std::string(result.outcome == sdk::SpawnOutcome::SpawnFailed
                                                      ? std::strerror(result.spawn_errno)
                                                      : "exit " + std::to_string(result.exit_code)) +
                ")");
      }
    }
    killGroup(id);
  }, true);
}

void Spawner::killGroup(sdk::SpawnId id) {
  auto it = children_.find(id);
  if (it == children_.end()) return;
  Child& child = it->second;
  const pid_t group = child.pid;
  if (options_.kill_grace.count() > 0) {
    log(sdk::LogLevel::Warning, child.request.context,
        "sending SIGTERM to process group " + std::to_string(group) + ", SIGKILL in " +
            std::to_string(options_.kill_grace.count()) + " ms");
    ::kill(-group, SIGTERM);
    child.timer = loop_.addTimer(options_.kill_grace, [this, id] {
      auto again = children_.find(id);
      if (again == children_.end()) return;
      again->second.timer = 0;
      ::kill(-again->second.pid, SIGKILL);
    });
  } else {
    log(sdk::LogLevel::Warning, child.request.context, "killing process group " + std::to_string(group));
    ::kill(-group, SIGKILL);
  }
}

void Spawner::logOutput(const Child& child) const {
  // stderr at info, stdout at debug (as pacemaker-execd); bounded in lines.
  const std::pair<const OutputCapture*, sdk::LogLevel> streams[] = {{&child.err, sdk::LogLevel::Info},
                                                                     {&child.out, sdk::LogLevel::Debug}};
  const bool hook = child.is_hook;
  for (const auto& [capture, level] : streams) {
    const char* name = capture == &child.err ? "stderr" : "stdout";
    if (capture->droppedBytes() > 0) {
      log(sdk::LogLevel::Warning, child.request.context,
          std::string(name) + ": dropped " + std::to_string(capture->droppedBytes()) + " of " +
              std::to_string(capture->totalBytes()) + " bytes beyond the capture limit");
    }
    const sdk::LogLevel effective = hook ? sdk::LogLevel::Warning : level;
    if (!logEnabled(effective) || capture->totalBytes() == 0) continue;
    std::istringstream lines(capture->text());
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line);) {
      if (++count > kLoggedLines) continue;
      log(effective, child.request.context, std::string(name) + ": " + line);
    }
    if (count > kLoggedLines) {
      log(effective, child.request.context,
          std::string(name) + ": ... " + std::to_string(count - kLoggedLines) + " more lines not logged");
    }
  }
}

bool Spawner::kill(sdk::SpawnId id) {
  auto it = children_.find(id);
  if (it == children_.end()) return false;
  it->second.killed = true;
  ::kill(-it->second.pid, SIGKILL);
  return true;
}

void Spawner::reap() {
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    const auto by = by_pid_.find(pid);
    if (by == by_pid_.end()) continue;  // not ours (e.g. a helper of a library)
    const sdk::SpawnId id = by->second;
    by_pid_.erase(by);
    auto it = children_.find(id);
    if (it == children_.end()) continue;
    finish(it->second, status);
  }
}

void Spawner::finish(Child& child, int wait_status) {
  drain(child.out_fd, child.out);
  drain(child.err_fd, child.err);
  // Whatever grandchildren still hold the pipes, the result is taken now.
  for (int* fd : {&child.out_fd, &child.err_fd}) {
    if (*fd >= 0) loop_.unwatch(*fd);
    closeFd(*fd);
  }
  loop_.cancelTimer(child.timer);

  sdk::SpawnResult result;
  result.elapsed_ms = msSince(child.started);
  result.out = child.out.text();
  result.err = child.err.text();
  if (child.timed_out) {
    result.outcome = sdk::SpawnOutcome::TimedOut;
  } else if (child.killed) {
    result.outcome = sdk::SpawnOutcome::Killed;
  } else if (WIFEXITED(wait_status)) {
    result.outcome = sdk::SpawnOutcome::Exited;
    result.exit_code = WEXITSTATUS(wait_status);
  } else {
    result.outcome = sdk::SpawnOutcome::Signaled;
    result.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  }
  if (child.timed_out || child.killed) {
    // The leader is gone; make sure nothing of its group outlives it.
    ::kill(-child.pid, SIGKILL);
  }
  logOutput(child);
  Done done = std::move(child.done);
  const sdk::LogContext context = child.request.context;
  children_.erase(child.id);
  log(sdk::LogLevel::Trace, context, "child finished after " + std::to_string(result.elapsed_ms) + " ms");
  done(result);
}

}  // namespace lrm::kernel
