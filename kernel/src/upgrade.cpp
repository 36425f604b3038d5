// The mechanics of an upgrade in place (see upgrade.hpp).
#include "upgrade.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "engine.hpp"
#include "log.hpp"
#include "server.hpp"
#include "spawner.hpp"
#include "state_dir_lock.hpp"
#include "state_store.hpp"

namespace lrm::kernel {
namespace {

constexpr Millis kGoodbyeDrain{2000};  // for clients to read their last replies before the exec()

void removeFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

}  // namespace

std::string handoverPath(const std::string& state_dir) { return state_dir + "/handover.json"; }

std::optional<Handover> takeHandover(const std::string& state_dir) {
  const char* file = std::getenv(kHandoverEnv);
  if (!file) {
    const std::string stale = handoverPath(state_dir);
    std::error_code ec;
    if (!state_dir.empty() && std::filesystem::remove(stale, ec)) {
      log(sdk::LogLevel::Notice, "removed a stale handover file " + stale + " (an upgrade in place did not complete)");
    }
    return std::nullopt;
  }
  const std::string path = file;
  ::unsetenv(kHandoverEnv);
  std::optional<Handover> handover;
  try {
    handover = readHandover(path);
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, std::string("unable to read the upgrade's handover: ") + e.what() +
                                  "; operations that were in flight are reported as interrupted");
  }
  removeFile(path);
  return handover;
}

std::string upgradeBinary(const std::string& requested, const std::string& running) {
  if (!requested.empty()) return requested;
  constexpr std::string_view kDeleted = " (deleted)";
  std::string binary = running;
  if (binary.size() > kDeleted.size() &&
      binary.compare(binary.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    binary.resize(binary.size() - kDeleted.size());
  }
  return binary;
}

std::vector<std::string> upgradeArguments(const std::string& binary, const std::vector<std::string>& args,
                                          int listen_fd) {
  std::vector<std::string> result = {binary};
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--inherit-listen-fd") {
      ++i;  // and its value
    } else if (args[i] != "--resume-recurring") {
      result.push_back(args[i]);
    }
  }
  result.insert(result.end(), {"--resume-recurring", "--inherit-listen-fd", std::to_string(listen_fd)});
  return result;
}

void logFallBack(const std::string& why) {
  log(sdk::LogLevel::Error, "unable to upgrade: " + why +
                                "; falling back to persist-and-restart: exiting, the next lrmd restores the "
                                "state from the journal (recurring operations with --resume-recurring; "
                                "operations in flight are reported as interrupted)");
}

std::string Upgrade::start(const std::string& requested) {
  std::error_code ec;
  const std::string running = requested.empty() ? std::filesystem::read_symlink("/proc/self/exe", ec).string() : "";
  binary_ = upgradeBinary(requested, running);
  if (binary_.empty() || ::access(binary_.c_str(), X_OK) != 0) return "cannot execute '" + binary_ + "'";
  return {};
}

std::set<Upgrade::OpKey> Upgrade::notCarriable() const {
  const auto agents = spawner_.agentsInFlight();
  std::set<OpKey> result;
  for (const auto& op : engine_.running()) {
    OpKey key{op.instance_id, op.call_id};
    if (op.deleted || (!agents.count(key) && !op.carries_over)) result.insert(std::move(key));
  }
  return result;
}

std::string Upgrade::handOver(bool queue_hangup) {
  try {
    store_.sync();
  } catch (const std::exception& e) {
    return e.what();
  }
  // Clients resume their sessions in the new image; a request they sent
  // meanwhile was not processed and they send it again (the client library
  // does). What a slow reader has not taken by the end of the drain goes
  // with its session, so it is said before the sessions are handed over.
  server_.goodbyeAll("upgrading: lrmd is being replaced; reconnect and send the request again");
  server_.drainOutput(kGoodbyeDrain);
  Handover handed;
  handed.ops = engine_.handOver();
  handed.sessions = server_.handOver();
  handed.next_client = server_.nextClient();
  handed.children = spawner_.handOver();
  const std::string path = handoverPath(state_dir_);
  try {
    writeHandover(path, handed);
  } catch (const std::exception& e) {
    return e.what();
  }
  const int fd = server_.listenerForExec();
  std::vector<std::string> args = upgradeArguments(binary_, args_, fd);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  log(sdk::LogLevel::Notice, "upgrading: executing " + binary_ + " with " + std::to_string(handed.ops.ops.size()) +
                                 " operation(s) and " + std::to_string(handed.children.size()) +
                                 " agent process(es)");
  closeLogTarget();
  ::setenv(kHandoverEnv, path.c_str(), 1);
  lock_.keepAcrossExec(true);
  // The signal mask stays blocked across exec(): a SIGCHLD of a handed-over
  // agent stays pending for the new image's signalfd, and so does the
  // SIGHUP of an upgrade queued meanwhile.
  if (queue_hangup) ::kill(::getpid(), SIGHUP);
  ::execv(binary_.c_str(), argv.data());
  const std::string why = std::strerror(errno);
  ::unsetenv(kHandoverEnv);
  lock_.keepAcrossExec(false);
  removeFile(path);
  ::close(fd);
  return "cannot execute " + binary_ + ": " + why;
}

}  // namespace lrm::kernel
