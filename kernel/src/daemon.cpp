// The daemon's parts and phases (see daemon.hpp).
#include "daemon.hpp"

#include <Poco/UUIDGenerator.h>
#include <signal.h>

#include <algorithm>
#include <set>

#include "journal_outage.hpp"
#include "log.hpp"
#include "plugin_loader.hpp"
#include "state_store.hpp"
#include "upgrade.hpp"

#ifndef LRM_VERSION
#define LRM_VERSION "0.0.0"
#endif

namespace lrm::kernel {
namespace {

constexpr std::size_t kWorkerThreads = 4;  // native agents; they mostly wait

SpawnerOptions spawnerOptions(const DaemonConfig& config) {
  SpawnerOptions options;
  options.max_output = config.max_output_bytes;
  options.kill_grace = Millis(config.kill_grace_ms);
  options.timeout_hook = config.timeout_hook;
  return options;
}

ServerOptions serverOptions(const DaemonConfig& config) {
  ServerOptions options;
  options.socket_path = config.socket_path;
  options.version = LRM_VERSION;
  options.boot_id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
  options.allowed_gid = config.allowed_gid;
  options.max_connections = config.max_connections;
  options.max_connections_per_uid = config.max_connections_per_uid;
  options.hello_timeout = Millis(config.hello_timeout_ms);
  options.max_buffered_bytes = config.max_buffered_bytes;
  return options;
}

// Signals arrive through the loop; children get a clean mask (spawner.cpp).
// Before any thread starts: the worker pool's threads inherit the mask.
void blockSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, signo);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // A file size limit (ulimit -f) makes a journal write fail with EFBIG, an
  // error lrmd handles, instead of killing it (agents get SIG_DFL back).
  ::signal(SIGXFSZ, SIG_IGN);
}

}  // namespace

Daemon::Daemon(DaemonConfig config)
    : config_(std::move(config)),
      spawner_(loop_, spawnerOptions(config_)),
      workers_(loop_, kWorkerThreads),
      host_(loop_, spawner_, workers_, config_.settings),
      server_(loop_, serverOptions(config_)),
      engine_(loop_, server_, config_.max_children) {
  server_.attach(engine_);
}

Daemon::~Daemon() = default;

int Daemon::run(const std::function<void()>& ready) {
  if (!lockStateDir()) return 1;
  loadPlugins();
  std::optional<Handover> handover = takeHandover(config_.state_dir);
  if (!config_.state_dir.empty() && !restoreState(std::move(handover))) return 1;
  if (engine_.classNames().empty()) log(sdk::LogLevel::Warning, "no resource class loaded; check --plugin-dir");
  if (!listen()) return 1;
  watchEvents();
  std::string classes;
  for (const auto& name : engine_.classNames()) classes += (classes.empty() ? "" : ", ") + name;
  log(sdk::LogLevel::Notice, "lrmd " LRM_VERSION " ready on " + config_.socket_path + " (classes: " +
                                 (classes.empty() ? "none" : classes) + ")");
  phase_ = Phase::Serving;
  ready();
  loop_.run();
  return finish();
}

// One lrmd per state directory, decided before anything in it is read: a
// second one must not replay, rewrite or append to the running one's journal.
bool Daemon::lockStateDir() {
  if (config_.state_dir.empty()) return true;
  try {
    state_lock_.emplace(config_.state_dir);
    return true;
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, std::string("unable to start: ") + e.what());
    return false;
  }
}

void Daemon::loadPlugins() {
  std::map<std::string, std::string> provided_by;  // class name → plugin file
  for (const auto& dir : config_.plugin_dirs) {
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
      if (!plugin->object->init(host_, error)) {
        log(sdk::LogLevel::Error, "unable to initialise plugin " + path + ": " + error);
        continue;
      }
      try {
        engine_.addClass(plugin->object, plugin->abi_minor);
        provided_by[plugin->name] = path;
        log(sdk::LogLevel::Info, "loaded class '" + plugin->name + "' " + plugin->version + " from " + path);
      } catch (const std::exception& e) {
        log(sdk::LogLevel::Error, "unable to load plugin " + path + ": " + e.what());
      }
    }
  }
}

// Restore before serving: instances and last results come back, nothing is
// started, stopped or probed (docs/operations.md); after an upgrade, what
// the previous image handed over is taken over.
bool Daemon::restoreState(std::optional<Handover> handover) {
  try {
    store_ = std::make_unique<StateStore>(config_.state_dir, [this] {
      loop_.postFromAnyThread([this] { server_.journalDurable(); });
    });
    const auto start = Clock::now();
    engine_.setJournal(store_.get());
    const std::size_t restored = restoreInstances(handover ? &*handover : nullptr);
    if (handover) takeOver(*handover);
    store_->compact(engine_);
    server_.setRestored(restored);
    outage_ = std::make_unique<JournalOutage>(loop_, *store_, engine_);
    wireJournal();
    upgrade_ = std::make_unique<Upgrade>(engine_, server_, spawner_, *store_, *state_lock_, config_.state_dir,
                                         config_.args);
    log(sdk::LogLevel::Notice, "restored " + std::to_string(restored) + " instance(s) from " + config_.state_dir +
                                   " in " + std::to_string(msSince(start)) + " ms");
    return true;
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, std::string("unable to use the state directory: ") + e.what());
    return false;
  }
}

// The journal's instances; with a @p handover, the ops it carries in flight
// are not interrupted and its recurring ops come from it, with their state.
std::size_t Daemon::restoreInstances(const Handover* handover) {
  std::set<std::pair<std::string, sdk::CallId>> carried_running;
  if (handover) {
    for (const auto& op : handover->ops.ops) {
      if (op.state == OpState::Running) carried_running.emplace(op.instance_id, op.op.call_id);
    }
  }
  std::size_t restored = 0;
  std::size_t not_resumed = 0;
  for (auto& instance : store_->load()) {
    auto& interrupted = instance.interrupted;
    interrupted.erase(std::remove_if(interrupted.begin(), interrupted.end(),
                                     [&](const ExecEvent& event) {
                                       return carried_running.count({instance.id, event.call_id}) > 0;
                                     }),
                      interrupted.end());
    if (!engine_.restore(instance.id, instance.name, instance.agent, instance.params, instance.drop_recurring,
                         instance.last, instance.interrupted)) {
      continue;
    }
    ++restored;
    if (handover) continue;
    for (const auto& op : instance.recurring) {
      if (config_.resume_recurring) {
        engine_.resubmitRecurring(instance.id, op);
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
  return restored;
}

// The new image's side of an upgrade in place, after the journal's instances.
void Daemon::takeOver(Handover& handover) {
  const auto in_flight = std::count_if(handover.ops.ops.begin(), handover.ops.ops.end(),
                                       [](const CarriedOp& op) { return op.state == OpState::Running; });
  server_.takeOver(handover.sessions, handover.next_client, Millis(config_.resume_window_ms));
  spawner_.takeOver(std::move(handover.children));
  engine_.takeOver(handover.ops);
  spawner_.finishTakeOver();
  log(sdk::LogLevel::Notice, "upgraded in place: took over " + std::to_string(handover.ops.ops.size()) +
                                 " operation(s), " + std::to_string(in_flight) + " of them in flight; waiting " +
                                 std::to_string(config_.resume_window_ms) + " ms for " +
                                 std::to_string(handover.sessions.size()) + " client session(s) to resume");
}

// Group commit (docs/operations.md): at the end of each loop iteration the
// gate commits the journal and holds replies until their batch is durable;
// while the journal cannot be written, changes are refused.
void Daemon::wireJournal() {
  gate_ = std::make_unique<DurabilityGate>(*outage_);
  server_.setDurabilityGate(gate_.get());
}

bool Daemon::listen() {
  try {
    server_.listen(config_.inherited_listen_fd);
    return true;
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, std::string("unable to start: ") + e.what());
    return false;
  }
}

void Daemon::watchEvents() {
  loop_.onSignal(SIGTERM, [this] { terminate("SIGTERM"); });
  loop_.onSignal(SIGINT, [this] { terminate("SIGINT"); });
  loop_.onSignal(SIGHUP, [this] { hangUp(); });
  server_.setUpgradeHandler([this](const std::string& binary) { return requestUpgrade(binary); });
  engine_.setOnOpEnded([this] { opEnded(); });
}

void Daemon::terminate(const char* signal_name) {
  switch (phase_) {
    case Phase::Serving:
    case Phase::Upgrading:
    case Phase::UpgradeQueued:
      return drain(signal_name);
    case Phase::Draining:
      log(sdk::LogLevel::Notice, std::string(signal_name) + " again: exiting now");
      engine_.abandonInFlight("lrmd was stopped before the agent completed; the agent was left running");
      return stop(Phase::Stopped);
    case Phase::Invalid:
    case Phase::Starting:
    case Phase::FallingBack:
    case Phase::Stopped:
      return;  // the loop is not running, or stops at the end of this iteration
  }
}

// Perhaps a newer binary again: during an upgrade, it runs once this one is done.
void Daemon::hangUp() {
  if (phase_ == Phase::Upgrading) {
    log(sdk::LogLevel::Notice, "SIGHUP during an upgrade: queued; the new image upgrades again once it is up");
    phase_ = Phase::UpgradeQueued;
    return;
  }
  if (phase_ == Phase::UpgradeQueued) return;
  const std::string refusal = requestUpgrade({});
  if (!refusal.empty()) log(sdk::LogLevel::Warning, "SIGHUP: not upgrading: " + refusal);
}

// Stop taking requests and starting operations, wait for the ops in flight
// that cannot be handed over (those of in-process native agents), then
// hand over (docs/operations.md). @return why not ("" when it starts).
std::string Daemon::requestUpgrade(const std::string& binary) {
  if (!upgrade_) return "an upgrade needs a state directory (--state-dir) to carry the state over";
  if (phase_ != Phase::Serving) return "already upgrading or shutting down";
  if (std::string why = outage_->refusal(); !why.empty()) return why;
  if (std::string why = upgrade_->start(binary); !why.empty()) return why;
  log(sdk::LogLevel::Notice, "upgrade to " + upgrade_->binary() + " requested; " +
                                 std::to_string(engine_.inFlight()) + " operation(s) in flight, " +
                                 std::to_string(upgrade_->notCarriable().size()) + " of them to wait for");
  engine_.freeze();
  server_.pauseInput();
  waitFor(Phase::Upgrading);
  loop_.defer([this] { settle(); });  // after the reply to the request has gone out
  return {};
}

// Called from inside the engine: what it waits for is looked at once the
// engine's work of this iteration is done, from the loop.
void Daemon::opEnded() {
  if (settle_queued_ || (phase_ != Phase::Draining && !upgrading())) return;
  settle_queued_ = true;
  loop_.defer([this] {
    settle_queued_ = false;
    settle();
  });
}

void Daemon::deadlineReached() {
  deadline_.reset();
  if (phase_ == Phase::Draining) {
    engine_.abandonInFlight("lrmd shut down (timeout " + std::to_string(config_.shutdown_timeout_ms) +
                            " ms) before the agent completed; the agent was left running");
    stop(Phase::Stopped);
  } else if (upgrading()) {
    const auto waiting_for = upgrade_->notCarriable();
    engine_.abandonInFlight("lrmd was upgraded before the agent completed; the agent was left running",
                            [&](const std::string& id, sdk::CallId call) { return waiting_for.count({id, call}) > 0; });
    handOver();
  }
}

void Daemon::drain(const char* signal_name) {
  log(sdk::LogLevel::Notice, std::string(signal_name) + ": shutting down" +
                                 (upgrading() ? " (the upgrade is given up)" : "") + "; " +
                                 std::to_string(engine_.inFlight()) + " operation(s) in flight");
  server_.stopAccepting();
  engine_.drain();
  waitFor(Phase::Draining);
  settle();
}

// Enter a phase that waits, bounded by --shutdown-timeout.
void Daemon::waitFor(Phase phase) {
  phase_ = phase;
  if (deadline_) loop_.cancelTimer(*deadline_);
  deadline_ = loop_.addTimer(millisOf(config_.shutdown_timeout_ms), [this] { deadlineReached(); });
}

// Has what the phase waits for come?
void Daemon::settle() {
  if (phase_ == Phase::Draining && engine_.inFlight() == 0) {
    stop(Phase::Stopped);
  } else if (upgrading() && upgrade_->notCarriable().empty()) {
    handOver();
  }
}

// Returns only when the exec() failed: the daemon then exits for its
// supervisor to restart it from the journal.
void Daemon::handOver() {
  const std::string why = upgrade_->handOver(phase_ == Phase::UpgradeQueued);
  logFallBack(why);
  stop(Phase::FallingBack);
}

void Daemon::stop(Phase phase) {
  phase_ = phase;
  if (deadline_) loop_.cancelTimer(*deadline_);
  deadline_.reset();
  loop_.stop();
}

// The last journal write and the last replies, e.g. of ops abandoned at the shutdown bound.
int Daemon::finish() {
  int status = phase_ == Phase::FallingBack ? 1 : 0;
  if (store_) {
    try {
      store_->sync();
    } catch (const std::exception&) {
      try {
        store_->compact(engine_);  // a last try after an outage
      } catch (const std::exception& e) {
        log(sdk::LogLevel::Error, std::string("unable to write the journal at exit: ") + e.what() +
                                      "; operations whose results were not on disk (never told to a client) "
                                      "will be restored as interrupted");
        status = 1;
      }
    }
  }
  server_.flushAll();
  server_.stopAccepting();
  log(sdk::LogLevel::Notice, "lrmd exiting");
  return status;
}

int runDaemon(const DaemonConfig& config, const std::function<void()>& ready) {
  blockSignals();
  Daemon daemon(config);
  return daemon.run(ready);
}

}  // namespace lrm::kernel
