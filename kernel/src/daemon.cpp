// Builds the kernel from its parts and runs it (see daemon.hpp).
#include "daemon.hpp"

#include <Poco/UUIDGenerator.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <memory>

#include "engine.hpp"
#include "event_loop.hpp"
#include "host_services.hpp"
#include "log.hpp"
#include "plugin_loader.hpp"
#include "server.hpp"
#include "spawner.hpp"
#include "handover.hpp"
#include "state_dir_lock.hpp"
#include "state_store.hpp"
#include "worker_pool.hpp"

#ifndef LRM_VERSION
#define LRM_VERSION "0.0.0"
#endif

namespace lrm::kernel {
namespace {

constexpr Millis kDrainPoll{50};
constexpr Millis kGoodbyeDrain{2000};   // for clients to read their last replies before an exec()
constexpr std::size_t kWorkerThreads = 4;  // native agents; they mostly wait

void loadPlugins(const DaemonConfig& config, sdk::Host& host, Engine& engine) {
  std::map<std::string, std::string> provided_by;  // class name → plugin file
  for (const auto& dir : config.plugin_dirs) {
    for (const auto& path : pluginFiles(dir)) {
      std::string error;
      auto plugin = loadPlugin(path, error);
      if (!plugin) {
        log(sdk::LogLevel::Error, error);
        continue;
      }
      if (plugin->object->name() != plugin->name) {
        log(sdk::LogLevel::Error, "unable to load plugin " + path + ": descriptor names class '" +
                                      plugin->name + "' but the object says '" + plugin->object->name() + "'");
        continue;
      }
      if (const auto first = provided_by.find(plugin->name); first != provided_by.end()) {
        log(sdk::LogLevel::Error, "unable to load plugin " + path + ": class '" + plugin->name +
                                      "' is already provided by " + first->second);
        continue;
      }
      if (!plugin->object->init(host, error)) {
        log(sdk::LogLevel::Error, "unable to initialise plugin " + path + ": " + error);
        continue;
      }
      try {
        engine.addClass(plugin->object, plugin->abi_minor >= 1);
        provided_by[plugin->name] = path;
        log(sdk::LogLevel::Info, "loaded class '" + plugin->name + "' " + plugin->version + " from " + path);
      } catch (const std::exception& e) {
        log(sdk::LogLevel::Error, "unable to load plugin " + path + ": " + e.what());
      }
    }
  }
}

// A journal that cannot be written (a full or failing disk) does not stop
// lrmd: changes are refused with `unavailable`, reads are served, operations
// go on and their results are held until they are on disk. Every
// kJournalRetry a snapshot is tried; the first that lands ends the outage
// and releases everything held.
class JournalOutage {
 public:
  JournalOutage(EventLoop& loop, StateStore& store, const Engine& engine)
      : loop_(loop), store_(store), engine_(engine) {}

  // Once per loop iteration: has the journal just failed?
  void check() {
    if (since_ || store_.failure().empty()) return;
    since_ = Clock::now();
    log(sdk::LogLevel::Error, store_.failure() + "; refusing changes until the journal can be written (reads are "
                                                 "served, results are held), trying again every " +
                                  std::to_string(kJournalRetry.count()) + " ms");
    loop_.addTimer(kJournalRetry, [this] { retry(); });
  }

  // Why changes are refused now ("" when they are not).
  std::string refusal() const {
    const std::string why = store_.failure();
    return why.empty() ? why : "the state directory cannot be written (" + why + "); changes are refused until it can";
  }

 private:
  void retry() {
    try {
      store_.compact(engine_);
    } catch (const std::exception&) {
      loop_.addTimer(kJournalRetry, [this] { retry(); });
      return;
    }
    log(sdk::LogLevel::Notice,
        "journal " + store_.path() + " written again after " +
            std::to_string(std::chrono::duration_cast<Millis>(Clock::now() - *since_).count()) +
            " ms; changes are accepted, held results released");
    since_.reset();
  }

  static constexpr Millis kJournalRetry{1000};
  EventLoop& loop_;
  StateStore& store_;
  const Engine& engine_;
  std::optional<Clock::time_point> since_;  // of the outage, while it lasts
};

}  // namespace

int runDaemon(const DaemonConfig& config, const std::function<void()>& ready) {
  // Signals arrive through the loop; children get a clean mask (spawner.cpp).
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, signo);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // A file size limit (ulimit -f) makes a journal write fail with EFBIG, an
  // error lrmd handles, instead of killing it (agents get SIG_DFL back).
  ::signal(SIGXFSZ, SIG_IGN);

  // One lrmd per state directory, decided before anything in it is read: a
  // second one must not replay, rewrite or append to the running one's journal.
  std::optional<StateDirLock> state_lock;
  if (!config.state_dir.empty()) {
    try {
      state_lock.emplace(config.state_dir);
    } catch (const std::exception& e) {
      log(sdk::LogLevel::Error, std::string("unable to start: ") + e.what());
      return 1;
    }
  }

  EventLoop loop;
  SpawnerOptions spawner_options;
  spawner_options.max_output = config.max_output_bytes;
  spawner_options.kill_grace = Millis(config.kill_grace_ms);
  spawner_options.timeout_hook = config.timeout_hook;
  Spawner spawner(loop, spawner_options);
  WorkerPool workers(loop, kWorkerThreads);
  HostServices host(loop, spawner, workers, config.settings);

  ServerOptions server_options;
  server_options.socket_path = config.socket_path;
  server_options.version = LRM_VERSION;
  server_options.boot_id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
  server_options.allowed_gid = config.allowed_gid;
  server_options.max_connections = config.max_connections;
  server_options.max_connections_per_uid = config.max_connections_per_uid;
  server_options.hello_timeout = Millis(config.hello_timeout_ms);
  server_options.max_buffered_bytes = config.max_buffered_bytes;
  Server server(loop, server_options);
  Engine engine(loop, server, config.max_children);
  server.attach(engine);

  loadPlugins(config, host, engine);

  // After an upgrade in place: what the previous image handed over.
  std::optional<Handover> handover;
  if (const char* file = std::getenv(kHandoverEnv)) {
    const std::string path = file;
    ::unsetenv(kHandoverEnv);
    try {
      handover = readHandover(path);
    } catch (const std::exception& e) {
      log(sdk::LogLevel::Error, std::string("unable to read the upgrade's handover: ") + e.what() +
                                    "; operations that were in flight are reported as interrupted");
    }
    std::error_code ec;
    std::filesystem::remove(path, ec);
  } else if (!config.state_dir.empty()) {
    // Left by an upgrade killed between writing it and the new image's start:
    // nobody will take it over, and a later upgrade must not read it.
    const std::string stale = config.state_dir + "/handover.json";
    std::error_code ec;
    if (std::filesystem::remove(stale, ec)) {
      log(sdk::LogLevel::Notice, "removed a stale handover file " + stale + " (an upgrade in place did not complete)");
    }
  }
  std::set<std::pair<std::string, sdk::CallId>> carried_running;
  if (handover) {
    for (const auto& op : handover->ops.ops) {
      if (op.state == OpState::Running) carried_running.emplace(op.instance_id, op.op.call_id);
    }
  }

  // Restore before serving: instances and last results come back, nothing is
  // started, stopped or probed (docs/operations.md).
  std::unique_ptr<StateStore> store;
  std::unique_ptr<JournalOutage> outage;
  if (!config.state_dir.empty()) {
    try {
      store = std::make_unique<StateStore>(config.state_dir, [&loop, &server] {
        loop.postFromAnyThread([&server] { server.journalDurable(); });
      });
      const auto start = Clock::now();
      std::size_t restored = 0;
      engine.setJournal(store.get());
      std::size_t not_resumed = 0;
      for (auto& instance : store->load()) {
        auto& interrupted = instance.interrupted;  // those carried over are not
        interrupted.erase(std::remove_if(interrupted.begin(), interrupted.end(),
                                         [&](const ExecEvent& event) {
                                           return carried_running.count({instance.id, event.call_id}) > 0;
                                         }),
                          interrupted.end());
        if (!engine.restore(instance.id, instance.name, instance.agent, instance.params, instance.drop_recurring,
                            instance.last, instance.interrupted)) {
          continue;
        }
        ++restored;
        if (handover) continue;  // its recurring ops are in the handover, with their state
        for (const auto& op : instance.recurring) {
          if (config.resume_recurring) {
            engine.resubmitRecurring(instance.id, op);
          } else {
            ++not_resumed;
          }
        }
      }
      if (not_resumed > 0) {
        log(sdk::LogLevel::Notice, std::to_string(not_resumed) +
                                       " recurring operation(s) were active before the restart and are not resumed "
                                       "(--resume-recurring resumes them); they are forgotten");
      }
      if (handover) {
        server.takeOver(handover->sessions, handover->next_client, Millis(config.resume_window_ms));
        spawner.takeOver(std::move(handover->children));
        engine.takeOver(handover->ops);
        spawner.finishTakeOver();
        log(sdk::LogLevel::Notice, "upgraded in place: took over " + std::to_string(handover->ops.ops.size()) +
                                       " operation(s), " + std::to_string(carried_running.size()) +
                                       " of them in flight; waiting " + std::to_string(config.resume_window_ms) +
                                       " ms for " + std::to_string(handover->sessions.size()) +
                                       " client session(s) to resume");
      }
      store->compact(engine);
      server.setRestored(restored);
      outage = std::make_unique<JournalOutage>(loop, *store, engine);
      server.setJournal(
          [&store, &engine, &outage] {
            outage->check();
            if (store->wantsCompaction()) {
              const auto start = Clock::now();
              try {
                store->compact(engine);  // waits for a write in progress, then rewrites
                log(sdk::LogLevel::Info, "journal compacted in " +
                                             std::to_string(
                                                 std::chrono::duration_cast<Millis>(Clock::now() - start).count()) +
                                             " ms");
              } catch (const std::exception& e) {
                log(sdk::LogLevel::Warning, std::string("unable to compact the journal: ") + e.what() +
                                                "; the old journal is kept, trying again in a second");
              }
            }
            const std::uint64_t batch = store->commit();
            outage->check();
            return batch;
          },
          [&store] { return store->durable(); });
      server.setChangesRefusal([&outage] { return outage->refusal(); });
      log(sdk::LogLevel::Notice, "restored " + std::to_string(restored) + " instance(s) from " + config.state_dir +
                                     " in " +
                                     std::to_string(std::chrono::duration_cast<Millis>(Clock::now() - start).count()) +
                                     " ms");
    } catch (const std::exception& e) {
      log(sdk::LogLevel::Error, std::string("unable to use the state directory: ") + e.what());
      return 1;
    }
  }
  if (engine.classNames().empty()) {
    log(sdk::LogLevel::Warning, "no resource class loaded; check --plugin-dir");
  }
  try {
    server.listen(config.inherited_listen_fd);
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, std::string("unable to start: ") + e.what());
    return 1;
  }

  bool shutting_down = false;
  Clock::time_point drain_deadline;
  std::function<void()> drain_check = [&] {
    if (engine.inFlight() == 0) {
      loop.stop();
    } else if (Clock::now() >= drain_deadline) {
      engine.abandonInFlight("lrmd shut down (timeout " + std::to_string(config.shutdown_timeout_ms) +
                             " ms) before the agent completed; the agent was left running");
      loop.stop();
    } else {
      loop.addTimer(kDrainPoll, drain_check);
    }
  };
  auto shutdown = [&](const char* signal_name) {
    if (shutting_down) {
      log(sdk::LogLevel::Notice, std::string(signal_name) + " again: exiting now");
      engine.abandonInFlight("lrmd was stopped before the agent completed; the agent was left running");
      loop.stop();
      return;
    }
    shutting_down = true;
    log(sdk::LogLevel::Notice, std::string(signal_name) + ": shutting down; " +
                                   std::to_string(engine.inFlight()) + " operation(s) in flight");
    server.stopAccepting();
    engine.drain();
    drain_deadline = Clock::now() + Millis(config.shutdown_timeout_ms);
    drain_check();
  };
  loop.onSignal(SIGTERM, [&] { shutdown("SIGTERM"); });
  loop.onSignal(SIGINT, [&] { shutdown("SIGINT"); });
  // Upgrade in place (docs/operations.md): stop taking requests and starting
  // operations, wait for the ops in flight that cannot be handed over (those
  // of in-process native agents), then re-execute the binary with the same
  // pid, handing over the listening socket, the agents' pipes, every queued
  // and recurring op and the clients' sessions.
  bool upgrading = false;
  bool upgrade_queued = false;  // a SIGHUP came during the upgrade: the new image upgrades again
  bool upgrade_failed = false;
  std::string upgrade_binary;
  std::function<void()> upgrade_check;
  Clock::time_point upgrade_deadline;
  // Ops in flight that cannot be handed over: no agent process, or an
  // unregistered instance (nobody in the next image would report them).
  auto notCarriable = [&] {
    const auto agents = spawner.agentsInFlight();
    std::set<std::pair<std::string, sdk::CallId>> result;
    for (const auto& op : engine.running()) {
      const std::pair<std::string, sdk::CallId> key{op.instance_id, op.call_id};
      if (op.deleted || !agents.count(key)) result.insert(key);
    }
    return result;
  };
  auto fallBack = [&](const std::string& why) {
    log(sdk::LogLevel::Error, "unable to upgrade: " + why +
                                  "; falling back to persist-and-restart: exiting, the next lrmd restores the "
                                  "state from the journal (recurring operations with --resume-recurring; "
                                  "operations in flight are reported as interrupted)");
    upgrade_failed = true;
    loop.stop();
  };
  auto execUpgrade = [&] {
    try {
      store->sync();
    } catch (const std::exception& e) {
      return fallBack(e.what());
    }
    // Clients resume their sessions in the new image; a request they sent
    // meanwhile was not processed and they send it again (the client library
    // does). What a slow reader has not taken by the end of the drain goes
    // with its session, so it is said before the sessions are carried.
    server.goodbyeAll("upgrading: lrmd is being replaced; reconnect and send the request again");
    server.drainOutput(kGoodbyeDrain);
    Handover handed;
    handed.ops = engine.handOver();
    handed.sessions = server.handOver();
    handed.next_client = server.nextClient();
    handed.children = spawner.handOver();
    const std::string handover_path = config.state_dir + "/handover.json";
    try {
      writeHandover(handover_path, handed);
    } catch (const std::exception& e) {
      return fallBack(e.what());
    }
    const int fd = server.listenerForExec();
    std::vector<std::string> args = {upgrade_binary};
    std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
    std::string arg;
    bool first = true;
    bool skip_value = false;
    while (std::getline(cmdline, arg, '\0')) {
      if (first) {
        first = false;
        continue;
      }
      if (skip_value) {
        skip_value = false;
        continue;
      }
      if (arg == "--inherit-listen-fd") {
        skip_value = true;
        continue;
      }
      if (arg == "--resume-recurring") continue;
      args.push_back(arg);
    }
    cmdline.close();  // not close-on-exec: it would stay open in the new image
    // Without the handover (a binary that ignores it), recurring ops come from the journal.
    args.push_back("--resume-recurring");
    args.push_back("--inherit-listen-fd");
    args.push_back(std::to_string(fd));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    log(sdk::LogLevel::Notice, "upgrading: executing " + upgrade_binary + " with " +
                                   std::to_string(handed.ops.ops.size()) + " operation(s) and " +
                                   std::to_string(handed.children.size()) + " agent process(es)");
    closeLogTarget();
    ::setenv(kHandoverEnv, handover_path.c_str(), 1);
    state_lock->keepAcrossExec(true);
    // The signal mask stays blocked across exec(): a SIGCHLD of a handed-over
    // agent stays pending for the new image's signalfd, and so does the
    // SIGHUP of an upgrade queued meanwhile.
    if (upgrade_queued) ::kill(::getpid(), SIGHUP);
    ::execv(upgrade_binary.c_str(), argv.data());
    const std::string why = std::strerror(errno);
    ::unsetenv(kHandoverEnv);
    state_lock->keepAcrossExec(false);
    std::error_code ec;
    std::filesystem::remove(handover_path, ec);
    ::close(fd);
    fallBack("cannot execute " + upgrade_binary + ": " + why);
  };
  upgrade_check = [&] {
    const auto waiting_for = notCarriable();
    if (waiting_for.empty()) return execUpgrade();
    if (Clock::now() >= upgrade_deadline) {
      engine.abandonInFlight("lrmd was upgraded before the agent completed; the agent was left running",
                             [&](const std::string& id, sdk::CallId call) { return waiting_for.count({id, call}) > 0; });
      return execUpgrade();
    }
    loop.addTimer(kDrainPoll, upgrade_check);
  };
  auto startUpgrade = [&](const std::string& binary) -> std::string {
    if (!store) return "an upgrade needs a state directory (--state-dir) to carry the state over";
    if (upgrading || shutting_down) return "already upgrading or shutting down";
    if (std::string why = outage->refusal(); !why.empty()) return why;
    std::error_code ec;
    upgrade_binary = binary.empty() ? std::filesystem::read_symlink("/proc/self/exe", ec).string() : binary;
    // A package upgrade renamed a new file over the running one, which the
    // kernel now calls "PATH (deleted)": the new one is at PATH.
    constexpr std::string_view kDeleted = " (deleted)";
    if (binary.empty() && upgrade_binary.size() > kDeleted.size() &&
        upgrade_binary.compare(upgrade_binary.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
      upgrade_binary.resize(upgrade_binary.size() - kDeleted.size());
    }
    if (upgrade_binary.empty() || ::access(upgrade_binary.c_str(), X_OK) != 0) {
      return "cannot execute '" + upgrade_binary + "'";
    }
    upgrading = true;
    log(sdk::LogLevel::Notice, "upgrade to " + upgrade_binary + " requested; " + std::to_string(engine.inFlight()) +
                                   " operation(s) in flight, " + std::to_string(notCarriable().size()) +
                                   " of them to wait for");
    engine.freeze();
    server.pauseInput();
    upgrade_deadline = Clock::now() + Millis(config.shutdown_timeout_ms);
    loop.defer(upgrade_check);  // after the reply to the request has gone out
    return {};
  };
  server.setUpgradeHandler(startUpgrade);
  loop.onSignal(SIGHUP, [&] {
    // Perhaps a newer binary again: it runs once this upgrade is done.
    if (upgrading && !shutting_down && !upgrade_failed) {
      if (!upgrade_queued) {
        log(sdk::LogLevel::Notice, "SIGHUP during an upgrade: queued; the new image upgrades again once it is up");
      }
      upgrade_queued = true;
      return;
    }
    const std::string refusal = startUpgrade({});
    if (!refusal.empty()) log(sdk::LogLevel::Warning, "SIGHUP: not upgrading: " + refusal);
  });

  std::string classes;
  for (const auto& name : engine.classNames()) classes += (classes.empty() ? "" : ", ") + name;
  log(sdk::LogLevel::Notice, "lrmd " LRM_VERSION " ready on " + config.socket_path + " (classes: " +
                                 (classes.empty() ? "none" : classes) + ")");
  ready();
  loop.run();
  int status = upgrade_failed ? 1 : 0;
  if (store) {
    try {
      store->sync();
    } catch (const std::exception&) {
      try {
        store->compact(engine);  // a last try after an outage
      } catch (const std::exception& e) {
        log(sdk::LogLevel::Error, std::string("unable to write the journal at exit: ") + e.what() +
                                      "; operations whose results were not on disk (never told to a client) "
                                      "will be restored as interrupted");
        status = 1;
      }
    }
  }
  server.flushAll();  // results of the last iteration, e.g. ops abandoned at the shutdown bound
  server.stopAccepting();
  log(sdk::LogLevel::Notice, "lrmd exiting");
  return status;
}

}  // namespace lrm::kernel
