// Shared machinery of the executable-agent classes (see script_class.hpp).
#include "script_class.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lrm::plugins {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kExitReasonPrefix = "ocf-exit-reason:";
constexpr std::uint32_t kMetadataTimeoutMs = 30000;

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

}  // namespace

std::string parseExitReason(std::string_view stderr_text) {
  std::string reason;
  std::size_t pos = 0;
  while ((pos = stderr_text.find(kExitReasonPrefix, pos)) != std::string_view::npos) {
    const std::size_t start = pos + kExitReasonPrefix.size();
    const std::size_t end = stderr_text.find('\n', start);
    const std::string candidate = trim(stderr_text.substr(start, end == std::string_view::npos ? end : end - start));
    if (!candidate.empty()) reason = candidate;  // an empty remainder is ignored
    pos = start;
  }
  constexpr std::size_t kMaxReason = 1024;
  if (reason.size() > kMaxReason) reason.resize(kMaxReason);
  return reason;
}

sdk::Result resultOf(const sdk::SpawnResult& spawned, const std::string& agent_path, const std::string& action,
                     std::uint32_t timeout_ms, ExitCodeMapper map_exit, bool exit_reasons) {
  sdk::Result result;
  result.output = spawned.err.empty() ? spawned.out : spawned.err;
  if (exit_reasons) result.exit_reason = parseExitReason(spawned.err);
  switch (spawned.outcome) {
    case sdk::SpawnOutcome::Exited:
      result.status = sdk::ExecStatus::Done;
      result.rc = map_exit(action, spawned.exit_code);
      break;
    case sdk::SpawnOutcome::TimedOut:
      result.status = sdk::ExecStatus::Timeout;
      result.rc = sdk::rc::kError;
      result.exit_reason = "agent did not complete within " + std::to_string(timeout_ms) +
                           " ms; its process group was killed";
      break;
    case sdk::SpawnOutcome::Killed:
      result.status = sdk::ExecStatus::Cancelled;
      result.rc = sdk::rc::kError;
      break;
    case sdk::SpawnOutcome::Signaled:
      result.status = sdk::ExecStatus::Error;
      result.rc = sdk::rc::kError;
      result.exit_reason = std::string("agent was killed by signal ") + std::to_string(spawned.signal) +
                           " (" + ::strsignal(spawned.signal) + ")";
      break;
    case sdk::SpawnOutcome::SpawnFailed: {
      const int error = spawned.spawn_errno;
      if (error == ENOENT || error == ENOEXEC || error == EISDIR || error == ENOTDIR) {
        result.status = sdk::ExecStatus::NotInstalled;
        result.rc = sdk::rc::kNotInstalled;
      } else if (error == EACCES || error == EPERM) {
        result.status = sdk::ExecStatus::Error;
        result.rc = sdk::rc::kInsufficientPriv;
      } else {
        result.status = sdk::ExecStatus::Error;
        result.rc = sdk::rc::kError;
      }
      result.exit_reason = "unable to execute " + agent_path + ": " + std::strerror(error);
      break;
    }
  }
  return result;
}

sdk::Result notInstalled(std::string reason) {
  sdk::Result result;
  result.status = sdk::ExecStatus::NotInstalled;
  result.rc = sdk::rc::kNotInstalled;
  result.exit_reason = std::move(reason);
  return result;
}

std::string environmentOrSetting(const char* variable, const sdk::Host& host, const std::string& key,
                                 const std::string& fallback) {
  const char* value = std::getenv(variable);
  return value && *value ? std::string(value) : host.setting(key, fallback);
}

bool isExecutableFile(const fs::path& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string fileFingerprint(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return path + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::vector<std::string> ListingMemo::get(const std::string& key, const std::vector<std::string>& watched,
                                          const std::function<std::vector<std::string>()>& compute) {
  // Directory mtimes are coarse (kernel ticks): a directory changed in the
  // last two seconds may change again without a new mtime, so it is not
  // trusted yet and the listing is recomputed.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  bool recent = false;
  std::string stamp;
  for (const auto& dir : watched) {
    struct stat st{};
    const bool found = ::stat(dir.c_str(), &st) == 0;
    if (found && st.st_mtim.tv_sec + 2 >= now_s) recent = true;
    stamp += dir + (found ? "@" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec)
                          : std::string("@-")) +
             ";";
  }
  auto& entry = entries_[key];
  if (entry.stamp != stamp || stamp.empty() || recent) {
    entry.value = compute();
    entry.stamp = stamp;
  }
  return entry.value;
}

std::string ScriptClass::fingerprint(const sdk::AgentSpec& agent) noexcept {
  try {
    const auto path = locate(agent);
    return path ? fileFingerprint(*path) : std::string();
  } catch (...) {
    return {};
  }
}

std::vector<fs::path> listDir(const fs::path& dir) {
  std::vector<fs::path> result;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.') result.push_back(it->path());
  }
  std::sort(result.begin(), result.end());
  return result;
}

void ScriptClass::execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept {
  try {
    std::string reason;
    auto invocation = prepare(op, reason);
    if (!invocation) {
      host_->post([done, result = notInstalled(reason)] { done(result); });
      return;
    }
    sdk::SpawnRequest request;
    request.argv = std::move(invocation->argv);
    request.env = std::move(invocation->env);
    request.timeout_ms = op.timeout_ms;
    request.context = op.context();
    const std::string path = request.argv.front();
    const sdk::SpawnId id = host_->spawn(std::move(request), completion(op, path, std::move(done)));
    if (id != 0) running_[op.call_id] = id;
  } catch (const std::exception& e) {
    sdk::Result result;
    result.exit_reason = std::string("unable to run the agent: ") + e.what();
    host_->post([done, result] { done(result); });
  }
}

bool ScriptClass::resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept {
  try {
    const std::string path = locate(op.agent).value_or(op.agent.type);
    const sdk::SpawnId id = host_->adopt(op.context(), completion(op, path, std::move(done)));
    if (id == 0) return false;
    running_[op.call_id] = id;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::function<void(const sdk::SpawnResult&)> ScriptClass::completion(const sdk::Operation& op,
                                                                     const std::string& path,
                                                                     sdk::CompletionCallback done) {
  return [this, call = op.call_id, action = op.action, timeout_ms = op.timeout_ms, path, done = std::move(done),
          map = exitCodes(), reasons = exitReasons()](const sdk::SpawnResult& spawned) {
    running_.erase(call);
    done(resultOf(spawned, path, action, timeout_ms, map, reasons));
  };
}

bool ScriptClass::cancel(sdk::CallId call_id) noexcept {
  const auto it = running_.find(call_id);
  return it != running_.end() && host_->kill(it->second);
}

void ScriptClass::fetchOutput(Invocation invocation, const sdk::LogContext& context, sdk::MetadataCallback done) {
  sdk::SpawnRequest request;
  request.argv = std::move(invocation.argv);
  request.env = std::move(invocation.env);
  request.timeout_ms = kMetadataTimeoutMs;
  request.context = context;
  const std::string path = request.argv.front();
  host_->spawn(std::move(request), [done, path, map = exitCodes(), reasons = exitReasons()](
                                       const sdk::SpawnResult& spawned) {
    sdk::Result result = resultOf(spawned, path, "meta-data", kMetadataTimeoutMs, map, reasons);
    if (result.status == sdk::ExecStatus::Done && result.rc != sdk::rc::kOk) {
      result.status = sdk::ExecStatus::Error;
      result.exit_reason = path + " meta-data exited with " + std::to_string(spawned.exit_code) +
                           (result.exit_reason.empty() ? "" : ": " + result.exit_reason);
    } else if (result.status == sdk::ExecStatus::Done && spawned.out.empty()) {
      result.status = sdk::ExecStatus::Error;
      result.exit_reason = path + " meta-data printed nothing";
    }
    done(result, result.status == sdk::ExecStatus::Done ? spawned.out : std::string());
  });
}

void ScriptClass::later(sdk::MetadataCallback done, sdk::Result result, std::string xml) {
  host_->post([done, result, xml] { done(result, xml); });
}

}  // namespace lrm::plugins
