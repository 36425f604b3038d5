// The systemd class (see systemd_class.hpp).
#include "systemd_class.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace lrm::plugins::systemd {
namespace {

constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kService = "org.freedesktop.systemd1.Service";
constexpr const char* kDropInName = "50-lrm.conf";
constexpr std::uint32_t kFirstRecheckMs = 20;
constexpr std::uint32_t kLastRecheckMs = 1000;

sdk::Result withStatus(sdk::ExecStatus status, int rc, std::string reason) {
  sdk::Result result;
  result.status = status;
  result.rc = rc;
  result.exit_reason = std::move(reason);
  return result;
}

// Errors that say what the unit is, rather than that the manager could not
// answer now (no reply, bus gone, name without owner while it re-executes).
std::optional<sdk::Result> permanent(const sd_bus_error* error, const std::string& unit) {
  if (sd_bus_error_has_name(error, "org.freedesktop.systemd1.NoSuchUnit")) {
    return withStatus(sdk::ExecStatus::NotInstalled, sdk::rc::kNotInstalled, "unit " + unit + " not found");
  }
  if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED)) {
    return withStatus(sdk::ExecStatus::Error, sdk::rc::kInsufficientPriv, std::string(error->message));
  }
  if (sd_bus_error_has_name(error, SD_BUS_ERROR_INVALID_ARGS) ||
      sd_bus_error_has_name(error, "org.freedesktop.systemd1.UnitMasked") ||
      sd_bus_error_has_name(error, "org.freedesktop.systemd1.JobTypeNotApplicable") ||
      sd_bus_error_has_name(error, "org.freedesktop.systemd1.OnlyByDependency")) {
    return withStatus(sdk::ExecStatus::ErrorHard, sdk::rc::kNotConfigured, std::string(error->message));
  }
  return std::nullopt;
}

std::string dropInPath(const std::string& dir, const std::string& unit) {
  return dir + "/" + unit + ".d/" + kDropInName;
}

// On a worker: the drop-in in place; true when it replaced other content (a
// reload is due even if systemd has loaded a file of that name).
bool writeDropIn(const std::string& path) {
  namespace fs = std::filesystem;
  std::ifstream in(path, std::ios::binary);
  const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in && old == dropInText()) return false;
  const bool replaced = static_cast<bool>(in);
  fs::create_directories(fs::path(path).parent_path());
  const std::string temporary = path + ".tmp";
  std::ofstream(temporary, std::ios::binary | std::ios::trunc) << dropInText();
  fs::rename(temporary, path);
  return replaced;
}

// On a worker: remove the drop-in at @p path and its directory (when empty),
// but only if it is ours; true when it was.
bool removeOurDropIn(const std::string& path) {
  namespace fs = std::filesystem;
  std::ifstream in(path, std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in || content != dropInText()) return false;
  std::error_code ignored;
  if (!fs::remove(path, ignored)) return false;
  fs::remove(fs::path(path).parent_path(), ignored);  // only when empty
  return true;
}

}  // namespace

bool SystemdClass::init(sdk::Host& host, std::string& error) noexcept {
  try {
    host_ = &host;
    dropin_dir_ = host.setting("systemd.dropin-dir", "/run/systemd/system");
    if (dropin_dir_ == "none") dropin_dir_.clear();
    const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    host.log(sdk::LogLevel::Info, {},
             std::string("systemd: system bus ") + (address && *address ? address : "(default)") + ", drop-ins " +
                 (dropin_dir_.empty() ? "off" : "in " + dropin_dir_));
    bus_ = std::make_unique<Bus>(host, Bus::Events{[this] { onUp(); }, [] {},
                                                   [this](const std::string& job, const std::string& result) {
                                                     onJobRemoved(job, result);
                                                   },
                                                   [this] { unitsChanged(); }});
    bus_->start();
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

// Nothing of ours may fire after the class is gone.
SystemdClass::~SystemdClass() {
  host_->stopTimer(listing_timer_);
  for (const auto& [id, op] : ops_) {
    host_->stopTimer(op.deadline_timer);
    host_->stopTimer(op.recheck_timer);
  }
}

void SystemdClass::execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept {
  begin(op, std::move(done), false);
}

bool SystemdClass::carriesOver(const sdk::Operation& op) const noexcept {
  return op.action == "start" || op.action == "stop";
}

// The job of a start or stop in flight at the upgrade is still known to
// systemd: wait for the unit to settle as after its JobRemoved.
bool SystemdClass::resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept {
  begin(op, std::move(done), op.action == "start" || op.action == "stop");
  return true;
}

void SystemdClass::begin(const sdk::Operation& op, sdk::CompletionCallback done, bool submitted) {
  try {
    const sdk::CallId id = op.call_id;
    Op& entry = ops_[id];
    entry.op = op;
    entry.done = std::move(done);
    entry.submitted = submitted;
    const auto unit = unitName(op.agent.type);
    if (!unit) {
      return finish(id, withStatus(sdk::ExecStatus::ErrorHard, sdk::rc::kNotConfigured,
                                   "'" + op.agent.type + "' is not a systemd unit name"));
    }
    entry.unit = *unit;
    if (op.timeout_ms != 0) entry.deadline_timer = host_->startTimer(op.timeout_ms, [this, id] { timedOut(id); });
    check(id);
  } catch (const std::exception& e) {
    const sdk::Result failure = withStatus(sdk::ExecStatus::Error, sdk::rc::kError, e.what());
    const auto it = ops_.find(op.call_id);
    if (it != ops_.end() && it->second.done) return finish(op.call_id, failure);  // done was moved there
    host_->post([done, failure] { done(failure); });
  }
}

SystemdClass::Op* SystemdClass::current(sdk::CallId id, std::uint64_t attempt) {
  const auto it = ops_.find(id);
  return it == ops_.end() || it->second.attempt != attempt ? nullptr : &it->second;
}

// One look at the unit: LoadUnit, LoadState and ActiveState (and the
// service's Result when it failed), then decide() or submit() the job.
void SystemdClass::check(sdk::CallId id) {
  Op& op = ops_.at(id);
  const std::uint64_t attempt = ++op.attempt;
  host_->stopTimer(op.recheck_timer);
  op.recheck_timer = 0;
  if (!bus_->up()) {
    op.last_problem = "the systemd manager is not connected";
    return;  // onUp() checks again
  }
  // Written before LoadUnit: a unit systemd had unloaded loads with it.
  if (op.op.action == "start" && !op.submitted && !dropin_dir_.empty() && !op.dropin_tried) {
    return ensureDropIn(id);
  }
  const std::string unit = op.unit;
  const bool sent = bus_->call(
      kManagerPath, kManager, "LoadUnit", [&](sd_bus_message* m) { return sd_bus_message_append(m, "s", unit.c_str()); },
      [this, id, attempt](sd_bus_message* reply, const sd_bus_error* error) {
        if (!current(id, attempt)) return;
        const char* path = nullptr;
        if (error) return failed(id, error, "LoadUnit");
        if (sd_bus_message_read(reply, "o", &path) < 0) return recheck(id, "unreadable LoadUnit reply");
        ops_.at(id).path = path;
        readState(id, attempt, path);
      });
  if (!sent) recheck(id, "cannot call LoadUnit");
}

void SystemdClass::readState(sdk::CallId id, std::uint64_t attempt, const std::string& path) {
  bus_->getString(path, kUnit, "LoadState", [this, id, attempt, path](const std::string& load, const sd_bus_error* error) {
    if (!current(id, attempt)) return;
    if (error) return failed(id, error, "LoadState");
    ops_.at(id).state.load = load;
    bus_->getString(path, kUnit, "ActiveState", [this, id, attempt, path](const std::string& active, const sd_bus_error* e) {
      Op* op = current(id, attempt);
      if (!op) return;
      if (e) return failed(id, e, "ActiveState");
      op->state.active = active;
      if (active == "failed") return readResult(id, attempt, path);
      op->state.result.clear();
      decide(id);
    });
  });
}

// systemd's reason for a failure is the service's Result (exit-code, signal, timeout, ...).
void SystemdClass::readResult(sdk::CallId id, std::uint64_t attempt, const std::string& path) {
  if (!listedType(ops_.at(id).unit)) return decide(id);  // not a service: no Result
  bus_->getString(path, kService, "Result", [this, id, attempt](const std::string& result, const sd_bus_error*) {
    Op* op = current(id, attempt);
    if (!op) return;
    op->state.result = result;
    decide(id);
  });
}

void SystemdClass::decide(sdk::CallId id) {
  Op& op = ops_.at(id);
  const bool job_action = op.op.action == "start" || op.op.action == "stop";
  if (op.state.load == "not-found" || !job_action || op.submitted) {
    auto result = verdict(op.op.action, op.unit, op.state);
    if (!result) return recheck(id, "unit " + op.unit + " is " + op.state.active);
    // A start of an unknown unit leaves no drop-in behind. Any other stays
    // while the instance is registered (released() removes it), as
    // Pacemaker keeps its override until the resource goes.
    if (op.dropin_written && result->status == sdk::ExecStatus::NotInstalled) return finishRemovingDropIn(id, *result);
    return finish(id, *result);
  }
  if (!op.job.empty()) return;  // waiting for JobRemoved
  if (op.op.action == "start" && !dropin_dir_.empty()) return reloadUnlessLoaded(id, op.attempt, op.dropin_replaced);
  submit(id);
}

// Before a start: the drop-in in place (on a worker: file I/O); the unit is
// then looked at, and the manager reloaded unless it has loaded that very
// file, so that the start already obeys it.
void SystemdClass::ensureDropIn(sdk::CallId id) {
  Op& op = ops_.at(id);
  const std::uint64_t attempt = op.attempt;
  const std::string path = dropInPath(dropin_dir_, op.unit);
  auto outcome = std::make_shared<std::pair<bool, std::string>>();
  host_->work(
      [path, outcome] {
        try {
          outcome->first = writeDropIn(path);
        } catch (const std::exception& e) {
          outcome->second = e.what();
        }
      },
      [this, id, attempt, path, outcome] {
        Op* op = current(id, attempt);
        if (!op) return;
        op->dropin_tried = true;
        op->dropin_written = outcome->second.empty();  // else no reload for it; the start goes on
        op->dropin_replaced = outcome->first;
        if (op->dropin_written) {
          dropin_units_[op->op.instance_id] = op->unit;
        } else {
          host_->log(sdk::LogLevel::Warning, op->op.context(), "cannot write " + path + ": " + outcome->second);
        }
        check(id);
      });
}

// A Reload costs the manager 40-75 ms: skipped when the unit's DropInPaths
// already has the file (loaded at an earlier start and kept since, or
// removed at a release and written again before a reload) and it did not
// replace other content.
void SystemdClass::reloadUnlessLoaded(sdk::CallId id, std::uint64_t attempt, bool changed) {
  if (!ops_.at(id).dropin_written) return submit(id);
  const std::string tail = "/" + ops_.at(id).unit + ".d/" + kDropInName;
  auto reload = [this, id, attempt] {
    const bool sent = bus_->call(kManagerPath, kManager, "Reload", nullptr,
                                 [this, id, attempt](sd_bus_message*, const sd_bus_error* error) {
                                   if (!current(id, attempt)) return;
                                   if (error) return failed(id, error, "Reload");
                                   ops_.at(id).dropin_replaced = false;
                                   submit(id);
                                 });
    if (!sent) recheck(id, "cannot call Reload");
  };
  if (changed) return reload();
  const bool sent = bus_->call(
      ops_.at(id).path, "org.freedesktop.DBus.Properties", "Get",
      [](sd_bus_message* m) { return sd_bus_message_append(m, "ss", kUnit, "DropInPaths"); },
      [this, id, attempt, tail, reload](sd_bus_message* reply, const sd_bus_error* error) {
        if (!current(id, attempt)) return;
        char** paths = nullptr;
        bool loaded = false;
        if (!error && sd_bus_message_enter_container(reply, 'v', "as") >= 0 &&
            sd_bus_message_read_strv(reply, &paths) >= 0) {
          for (char** p = paths; p && *p; ++p) {
            const std::string loaded_path = *p;
            loaded = loaded || (loaded_path.size() >= tail.size() &&
                                loaded_path.compare(loaded_path.size() - tail.size(), tail.size(), tail) == 0);
            std::free(*p);
          }
        }
        std::free(paths);
        if (loaded) return submit(id);
        reload();
      });
  if (!sent) recheck(id, "cannot read DropInPaths");
}

void SystemdClass::submit(sdk::CallId id) {
  Op& op = ops_.at(id);
  const std::uint64_t attempt = op.attempt;
  const std::string unit = op.unit;
  const char* method = op.op.action == "start" ? "StartUnit" : "StopUnit";
  const bool sent = bus_->call(
      kManagerPath, kManager, method,
      [&](sd_bus_message* m) { return sd_bus_message_append(m, "ss", unit.c_str(), "replace"); },
      [this, id, attempt, method](sd_bus_message* reply, const sd_bus_error* error) {
        Op* op = current(id, attempt);
        if (!op) return;
        const char* job = nullptr;
        if (error) return failed(id, error, method);
        if (sd_bus_message_read(reply, "o", &job) < 0) return recheck(id, std::string("unreadable ") + method + " reply");
        op->submitted = true;
        op->job = job;  // JobRemoved completes it
        op->last_problem = std::string("its job ") + job + " is still running";
      });
  if (!sent) recheck(id, std::string("cannot call ") + method);
}

void SystemdClass::onJobRemoved(const std::string& job, const std::string& result) {
  for (auto& [id, op] : ops_) {
    if (op.job != job) continue;
    op.job.clear();
    op.state.job_result = result;
    check(id);
    return;
  }
}

// A bus error: what the unit is (not found, masked, ...) ends the op; the
// manager not answering now makes it pending until its timeout.
void SystemdClass::failed(sdk::CallId id, const sd_bus_error* error, const std::string& what) {
  Op& op = ops_.at(id);
  if (auto result = permanent(error, op.unit)) return finish(id, *result);
  recheck(id, what + ": " + (error->message ? error->message : error->name));
}

void SystemdClass::recheck(sdk::CallId id, const std::string& problem) {
  Op& op = ops_.at(id);
  op.last_problem = problem;
  op.backoff_ms = op.backoff_ms == 0 ? kFirstRecheckMs : std::min(op.backoff_ms * 2, kLastRecheckMs);
  host_->stopTimer(op.recheck_timer);
  op.recheck_timer = host_->startTimer(op.backoff_ms, [this, id] {
    ops_.at(id).recheck_timer = 0;
    check(id);
  });
}

void SystemdClass::timedOut(sdk::CallId id) {
  const auto it = ops_.find(id);
  if (it == ops_.end()) return;
  it->second.deadline_timer = 0;
  const Op& op = it->second;
  finish(id, withStatus(sdk::ExecStatus::Timeout, sdk::rc::kError,
                        op.op.action + " of " + op.unit + " did not settle within " + std::to_string(op.op.timeout_ms) +
                            " ms" + (op.last_problem.empty() ? "" : ": " + op.last_problem)));
}

bool SystemdClass::cancel(sdk::CallId call_id) noexcept {
  if (ops_.count(call_id) == 0) return false;
  finish(call_id, withStatus(sdk::ExecStatus::Cancelled, sdk::rc::kOk, "cancelled"));
  return true;
}

// A start that found no unit: its drop-in goes at once (there is nothing to override).
void SystemdClass::finishRemovingDropIn(sdk::CallId id, sdk::Result result) {
  if (dropin_dir_.empty()) return finish(id, std::move(result));
  const std::uint64_t attempt = ops_.at(id).attempt;
  const std::string path = dropInPath(dropin_dir_, ops_.at(id).unit);
  host_->work(
      [path] {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        std::filesystem::remove(std::filesystem::path(path).parent_path(), ignored);  // only when empty
      },
      [this, id, attempt, result] {
        if (current(id, attempt)) finish(id, result);
      });
}

// The drop-in goes unless another instance of this image started the same
// unit with it; one lrm did not write (other content) stays. The Reload is
// asynchronous and its reply ignored: systemd forgets the override then, or
// at its next reload when it is not connected now.
void SystemdClass::released(const std::string& instance_id, const sdk::AgentSpec& agent) noexcept {
  try {
    dropin_units_.erase(instance_id);
    const auto unit = unitName(agent.type);
    if (dropin_dir_.empty() || !unit) return;
    for (const auto& [other, other_unit] : dropin_units_) {
      if (other_unit == *unit) return;
    }
    const std::string path = dropInPath(dropin_dir_, *unit);
    auto removed = std::make_shared<bool>(false);
    host_->work([path, removed] { *removed = removeOurDropIn(path); },
                [this, instance_id, path, removed] {
                  if (!*removed) return;
                  const bool sent = bus_->call(kManagerPath, kManager, "Reload", nullptr,
                                               [](sd_bus_message*, const sd_bus_error*) {});
                  host_->log(sdk::LogLevel::Info, {instance_id, instance_id, {}, 0},
                             "removed " + path +
                                 (sent ? "; reloading the manager" : "; the manager forgets it at its next reload"));
                });
  } catch (const std::exception& e) {
    host_->log(sdk::LogLevel::Warning, {instance_id, instance_id, {}, 0},
               std::string("cannot remove the drop-in: ") + e.what());
  }
}

// Every completion goes through here, once, from a later loop iteration.
void SystemdClass::finish(sdk::CallId id, sdk::Result result) {
  const auto it = ops_.find(id);
  if (it == ops_.end()) return;
  host_->stopTimer(it->second.deadline_timer);
  host_->stopTimer(it->second.recheck_timer);
  host_->post([done = std::move(it->second.done), result = std::move(result)] { done(result); });
  ops_.erase(it);
}

// Connected again (or the manager is back): a JobRemoved may have been missed,
// so every op looks at its unit afresh.
void SystemdClass::onUp() {
  ++generation_;
  refreshListing();
  std::vector<sdk::CallId> ids;
  for (auto& [id, op] : ops_) {
    op.job.clear();
    ids.push_back(id);
  }
  for (const auto id : ids) check(id);
}

}  // namespace lrm::plugins::systemd
