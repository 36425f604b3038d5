// lrmd: command line and configuration (Poco::Util), logging setup and
// daemonisation; everything else is in daemon.cpp.
#include <Poco/Util/Application.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/IntValidator.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionCallback.h>
#include <Poco/Util/OptionSet.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "daemon.hpp"
#include "log.hpp"
#include "lrm/client/client.hpp"
#include "lrm/sdk/host.hpp"

namespace {

using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionCallback;
using Poco::Util::OptionSet;

constexpr int kExitUsage = 2;

class LrmdApplication : public Application {
 public:
  // main()'s arguments after argv[0], which an upgrade in place executes again.
  void setArguments(std::vector<std::string> arguments) { arguments_ = std::move(arguments); }

 protected:
  void defineOptions(OptionSet& options) override {
    auto add = [&](const char* name, const char* argument, const char* help, bool repeatable = false) {
      Option option(name, "", help);
      if (argument) option.argument(argument);
      option.repeatable(repeatable);
      option.callback(OptionCallback<LrmdApplication>(this, &LrmdApplication::onOption));
      options.addOption(option);
    };
    add("socket", "PATH", "Unix socket to serve on (default: $LRM_SOCKET, /run/lrm/lrmd.sock for root)");
    add("plugin-dir", "DIR", "load resource-class plugins from DIR (repeatable; default: next to lrmd)", true);
    add("agent-dir", "DIR", "load native agents from DIR (repeatable; default: ../agents beside the plugins)", true);
    add("state-dir", "DIR", "persist instances and results in DIR (default /var/lib/lrm for root; none: off)");
    add("max-children", "N", "at most N agents at once (0: unlimited, the default)");
    add("kill-grace", "D", "on timeout send SIGTERM and wait D before SIGKILL (default 0: SIGKILL at once)");
    add("shutdown-timeout", "D", "on SIGTERM wait at most D for operations in flight (default 30s)");
    add("max-output", "BYTES", "keep at most BYTES of each agent's stdout and of its stderr (default 10M, 4k to 10M)");
    add("allowed-group", "GROUP", "members of GROUP may change things; the socket becomes 0660 in GROUP");
    add("max-connections", "N", "at most N connections of unprivileged peers in all (default 1024)");
    add("max-connections-per-uid", "N", "at most N connections of each unprivileged uid (default 32)");
    add("hello-timeout", "D", "close a connection that has not said hello within D (default 10s)");
    add("max-buffered", "BYTES", "buffer at most BYTES of input and output over all connections (default 256M)");
    add("timeout-hook", "CMD", "before killing a timed-out agent run CMD with its instance id, name and pid");
    add("resume-recurring", nullptr, "resume restored recurring operations");
    add("resume-window", "D", "after an upgrade keep a client's session D for it to reconnect (default 30s)");
    add("inherit-listen-fd", "FD", "serve on this already-bound socket (used by an upgrade)");
    add("config", "FILE", "read settings from FILE (.properties, .ini, .json or .xml)");
    add("log-level", "LEVEL", "error, warning, notice, info (default), debug or trace");
    add("log-target", "TARGET", "stderr, syslog or an absolute file path");
    add("foreground", nullptr, "do not detach; log to stderr by default");
    add("version", nullptr, "print the version and exit");
    add("help", nullptr, "print this help and exit");
  }

  void onOption(const std::string& name, const std::string& value) {
    if (name == "help") {
      Poco::Util::HelpFormatter help(options());
      help.setCommand("lrmd");
      help.setUsage("[OPTIONS]");
      help.setHeader("lrm local resource manager daemon.");
      help.setUnixStyle(true);
      help.format(std::cout);
      exit_now_ = true;
      stopOptionsProcessing();
    } else if (name == "version") {
      std::cout << "lrmd " LRM_VERSION "\n";
      exit_now_ = true;
      stopOptionsProcessing();
    } else if (name == "config") {
      loadConfiguration(value, PRIO_APPLICATION);
    } else if (name == "plugin-dir" || name == "agent-dir") {
      (name == "plugin-dir" ? plugin_dirs_ : agent_dirs_).push_back(value);
    } else {
      cli_[name] = value.empty() ? "true" : value;
    }
  }

  // Command line first, then the environment variable, then the config file.
  std::string setting(const std::string& key, const char* env, const std::string& fallback) {
    if (const auto it = cli_.find(key); it != cli_.end()) return it->second;
    if (env) {
      if (const char* value = std::getenv(env); value && *value) return value;
    }
    return config().getString(key, fallback);
  }

  // Every other `section.name` key of the config file reaches the plugins
  // (Host::setting), e.g. `exec.path` for a third-party class; Poco's own
  // `system.*` and `application.*` do not. Keys set above are kept.
  void pluginSettings(const std::string& prefix, std::map<std::string, std::string>& settings) {
    Poco::Util::AbstractConfiguration::Keys keys;
    config().keys(prefix, keys);
    for (const auto& key : keys) {
      if (prefix.empty() && (key == "system" || key == "application" || key == "logging")) continue;
      const std::string full = prefix.empty() ? key : prefix + "." + key;
      Poco::Util::AbstractConfiguration::Keys children;
      config().keys(full, children);
      if (!children.empty()) {
        pluginSettings(full, settings);
      } else if (!prefix.empty()) {
        settings.emplace(full, config().getString(full));
      }
    }
  }

  std::uint64_t duration(const std::string& key, const std::string& fallback) {
    const std::string text = setting(key, nullptr, fallback);
    const auto ms = lrm::sdk::parseDurationMs(text);
    if (!ms) throw std::invalid_argument("--" + key + ": bad duration '" + text + "' (e.g. 500ms, 5s, 2m)");
    if (*ms > lrm::sdk::kMaxDurationMs) {
      throw std::invalid_argument("--" + key + ": duration '" + text + "' is more than the maximum of " +
                                  std::to_string(lrm::sdk::kMaxDurationMs) + " ms");
    }
    return *ms;
  }

  // A byte count with an optional k, M or G suffix, from @p min to @p max
  // (for max-output: what the protocol's frame limit can carry, docs/protocol.md).
  std::uint64_t bytes(const std::string& key, const std::string& fallback, const char* min, const char* max) {
    const auto parse = [](const std::string& text) -> std::uint64_t {
      std::size_t digits = 0;
      while (digits < text.size() && digits < 9 && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
      const std::string unit = text.substr(digits);
      std::uint64_t scale = 0;  // an unknown suffix makes it 0, out of every range
      if (unit.empty()) {
        scale = 1;
      } else if (unit == "k" || unit == "K") {
        scale = 1024;
      } else if (unit == "M") {
        scale = 1024 * 1024;
      } else if (unit == "G") {
        scale = 1024 * 1024 * 1024;
      }
      return digits ? std::stoull(text.substr(0, digits)) * scale : 0;
    };
    const std::string text = setting(key, nullptr, fallback);
    const std::uint64_t value = parse(text);
    if (value < parse(min) || value > parse(max)) {
      throw std::invalid_argument("--" + key + ": '" + text + "' is not a size from " + min + " to " + max);
    }
    return value;
  }

  // A whole number from @p min to 999999.
  std::uint64_t count(const std::string& key, const std::string& fallback, std::uint64_t min) {
    const std::string text = setting(key, nullptr, fallback);
    if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoull(text) < min) {
      throw std::invalid_argument("--" + key + ": '" + text + "' is not a number from " + std::to_string(min) +
                                  " to 999999");
    }
    return std::stoull(text);
  }

  int main(const std::vector<std::string>& args) override {
    if (exit_now_) return EXIT_OK;
    if (!args.empty()) {
      std::cerr << "lrmd: unexpected argument '" << args.front() << "' (see --help)\n";
      return kExitUsage;
    }
    lrm::kernel::DaemonConfig daemon;
    daemon.args = arguments_;
    const bool foreground = setting("foreground", nullptr, "false") == "true";
    try {
      const std::string level_name = setting("log-level", nullptr, "info");
      const auto level = lrm::sdk::parseLogLevel(level_name);
      if (!level) throw std::invalid_argument("--log-level: unknown level '" + level_name + "'");
      lrm::kernel::setupLogging(setting("log-target", nullptr, foreground ? "stderr" : "syslog"), *level);

      daemon.socket_path = setting("socket", "LRM_SOCKET", lrm::client::defaultSocketPath());
      daemon.plugin_dirs = plugin_dirs_.empty() ? lrm::sdk::splitPath(config().getString("plugin-dir", "")) : plugin_dirs_;
      if (daemon.plugin_dirs.empty()) daemon.plugin_dirs.push_back(defaultPluginDir());
      daemon.max_children = count("max-children", "0", 0);
      daemon.kill_grace_ms = duration("kill-grace", "0");
      daemon.shutdown_timeout_ms = duration("shutdown-timeout", "30s");
      daemon.resume_window_ms = duration("resume-window", "30s");
      daemon.max_output_bytes = bytes("max-output", "10M", "4k", "10M");
      daemon.max_connections = count("max-connections", "1024", 1);
      daemon.max_connections_per_uid = count("max-connections-per-uid", "32", 1);
      daemon.hello_timeout_ms = duration("hello-timeout", "10s");
      if (daemon.hello_timeout_ms == 0) throw std::invalid_argument("--hello-timeout: must be more than 0");
      daemon.max_buffered_bytes = bytes("max-buffered", "256M", "1M", "64G");
      daemon.timeout_hook = setting("timeout-hook", nullptr, "");
      const std::string group = setting("allowed-group", nullptr, "");
      if (!group.empty()) {
        const ::group* entry = ::getgrnam(group.c_str());
        if (!entry) throw std::invalid_argument("allowed-group: no group named '" + group + "'");
        daemon.allowed_gid = entry->gr_gid;
      }
      // Each plugin reads its own settings and environment; lrmd gives them
      // only what is its own, under lrm.: its directory and --agent-dir.
      std::string agent_dirs;
      for (const auto& dir : agent_dirs_) agent_dirs += (agent_dirs.empty() ? "" : ":") + dir;
      // Default: the agents directory beside the (first) plugin directory.
      if (agent_dirs.empty()) {
        agent_dirs = config().getString(
            "agent-dir", (std::filesystem::path(daemon.plugin_dirs.front()).parent_path() / "agents").string());
      }
      daemon.settings["lrm.agent-dirs"] = agent_dirs;
      daemon.settings["lrm.bin-dir"] = selfDir();
      pluginSettings("", daemon.settings);
      // Default /var/lib/lrm for root; "none" (or no default for other users): nothing persisted.
      daemon.state_dir = setting("state-dir", nullptr, ::geteuid() == 0 ? "/var/lib/lrm" : "none");
      if (daemon.state_dir == "none") daemon.state_dir.clear();
      daemon.resume_recurring = setting("resume-recurring", nullptr, "false") == "true";
      if (cli_.count("inherit-listen-fd")) daemon.inherited_listen_fd = std::stoi(cli_["inherit-listen-fd"]);
    } catch (const std::exception& e) {
      std::cerr << "lrmd: " << e.what() << "\n";
      return kExitUsage;
    }
    // After an upgrade in place the process is already detached and must keep
    // its pid (its agents are its children): never fork again.
    if (foreground || daemon.inherited_listen_fd >= 0) return lrm::kernel::runDaemon(daemon, [] {});
    return runDetached(daemon);
  }

 private:
  // The directory lrmd runs from (bin/ of the build tree or of the install).
  static std::string selfDir() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("/usr/bin") : self.parent_path().string();
  }

  // <dir of lrmd>/../lib/lrm/plugins: right in the build tree and when installed.
  static std::string defaultPluginDir() {
    return (std::filesystem::path(selfDir()).parent_path() / "lib" / "lrm" / "plugins").lexically_normal().string();
  }

  // Detach, and let the parent exit only once the child serves (or failed).
  static int runDetached(const lrm::kernel::DaemonConfig& daemon) {
    int ready_pipe[2];
    if (::pipe2(ready_pipe, O_CLOEXEC) != 0) return EXIT_SOFTWARE;
    const pid_t pid = ::fork();
    if (pid < 0) return EXIT_SOFTWARE;
    if (pid > 0) {
      ::close(ready_pipe[1]);
      char byte = 0;
      if (::read(ready_pipe[0], &byte, 1) == 1) return EXIT_OK;
      // It exited before serving: its status (1: see the log) is ours.
      std::cerr << "lrmd: the daemon failed to start (see the log)\n";
      int status = 0;
      if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        return WEXITSTATUS(status);
      }
      return EXIT_SOFTWARE;
    }
    ::close(ready_pipe[0]);
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
    if (null_fd > 2) ::close(null_fd);
    const int write_end = ready_pipe[1];
    return lrm::kernel::runDaemon(daemon, [write_end] {
      const char byte = 1;
      (void)!::write(write_end, &byte, 1);
      ::close(write_end);
    });
  }

  std::vector<std::string> arguments_;
  std::map<std::string, std::string> cli_;
  std::vector<std::string> plugin_dirs_;
  std::vector<std::string> agent_dirs_;
  bool exit_now_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  LrmdApplication app;
  app.setArguments(std::vector<std::string>(argv + 1, argv + argc));
  try {
    app.init(argc, argv);
  } catch (const Poco::Exception& e) {
    std::cerr << "lrmd: " << e.displayText() << " (see --help)\n";
    return kExitUsage;
  }
  return app.run();
}
