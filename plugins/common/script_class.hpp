// What the classes whose agents are executables (ocf, lsb, service) share:
// running one action through Host::spawn, cancelling it, turning a finished
// child into a Result, finding executables in directories, and reading
// settings. Plugins only describe how to invoke an agent and how to read its
// exit code.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lrm/sdk/resource_class.hpp"

namespace lrm::plugins {

/** How one action runs: argv[0] is the absolute path of the agent. */
struct Invocation {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

/** Maps an agent's exit code to an OCF rc, for one action. */
using ExitCodeMapper = int (*)(const std::string& action, int exit_code);

/**
 * A finished child as a Result: Exited → done with the mapped rc; TimedOut →
 * timeout rc 1; Killed → cancelled; Signaled → error naming the signal;
 * SpawnFailed → not_installed rc 5 (ENOENT, ENOEXEC, EISDIR, ENOTDIR), error
 * rc 4 (EACCES, EPERM) or error rc 1. Output is stderr if non-empty, else
 * stdout; the exit reason is the last `ocf-exit-reason:` line of stderr when
 * @p exit_reasons is set.
 */
sdk::Result resultOf(const sdk::SpawnResult& spawned, const std::string& agent_path, const std::string& action,
                     std::uint32_t timeout_ms, ExitCodeMapper map_exit, bool exit_reasons);

/** The remainder of the last `ocf-exit-reason:` line (trimmed, at most 1 KiB), or "". */
std::string parseExitReason(std::string_view stderr_text);

/** `status=not_installed rc=5` with @p reason. */
sdk::Result notInstalled(std::string reason);

/**
 * A setting that an environment variable of lrmd overrides: $@p variable
 * when it is set and not empty, else Host::setting(@p key, @p fallback).
 */
std::string environmentOrSetting(const char* variable, const sdk::Host& host, const std::string& key,
                                 const std::string& fallback);

/** An executable regular file (symlinks followed)? */
bool isExecutableFile(const std::filesystem::path& path);

/** "path:inode:size:mtime_ns" of a file, or "" when it cannot be stat()ed. */
std::string fileFingerprint(const std::string& path);

/** Entries of @p dir, sorted; names starting with '.' are skipped. */
std::vector<std::filesystem::path> listDir(const std::filesystem::path& dir);

/**
 * Memoised directory listings: a listing is recomputed only when one of the
 * directories it depends on has a new modification time (an entry was
 * added, removed or renamed there). Changing a file's mode alone (chmod +x)
 * is not noticed until its directory changes.
 */
class ListingMemo {
 public:
  std::vector<std::string> get(const std::string& key, const std::vector<std::string>& watched,
                               const std::function<std::vector<std::string>()>& compute);

 private:
  struct Entry {
    std::string stamp;
    std::vector<std::string> value;
  };
  std::map<std::string, Entry> entries_;
};

/**
 * Base of the executable-agent classes. execute() and cancel() are done
 * here; a derived class says how to invoke an agent and read its exit code.
 */
class ScriptClass : public sdk::ResourceClass {
 public:
  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept final;
  bool cancel(sdk::CallId call_id) noexcept final;
  /** Re-attach to an agent process handed over by an upgrade (Host::adopt()). */
  bool resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept final;
  /** Path, inode, size and modification time of the agent's file. */
  std::string fingerprint(const sdk::AgentSpec& agent) noexcept final;

 protected:
  /** The command for @p op, or nullopt with @p reason saying why the agent is not installed. */
  virtual std::optional<Invocation> prepare(const sdk::Operation& op, std::string& reason) = 0;
  /** The agent's executable, or nullopt when it is not installed. */
  virtual std::optional<std::string> locate(const sdk::AgentSpec& agent) const = 0;
  /** Exit-code mapping of this class. */
  virtual ExitCodeMapper exitCodes() const = 0;
  /** Whether agents report `ocf-exit-reason:` lines (OCF only). */
  virtual bool exitReasons() const { return false; }
  /** Run @p argv (with its own env) once for metadata and hand back stdout. */
  void fetchOutput(Invocation invocation, const sdk::LogContext& context, sdk::MetadataCallback done);
  /** Deliver @p result through @p done on a later loop iteration. */
  void later(sdk::MetadataCallback done, sdk::Result result, std::string xml = {});

  sdk::Host* host_ = nullptr;

 private:
  /** What a finished agent of @p op (at @p path) means, delivered to @p done. */
  std::function<void(const sdk::SpawnResult&)> completion(const sdk::Operation& op, const std::string& path,
                                                          sdk::CompletionCallback done);

  std::map<sdk::CallId, sdk::SpawnId> running_;
};

}  // namespace lrm::plugins
