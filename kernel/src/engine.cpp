// The engine: instances, their queues and the life of every operation. An
// op's life is the table in op_transitions.hpp: every event of an op goes
// through step(), which finds its row and performs the row's actions
// (perform()); the functions here only decide which event happened.
//
//   submit ──► Delayed ──(delay elapsed)──► Queued ──(head of its instance's
//   queue, instance idle, a child slot free)──► Running ──(agent done)──►
//   reported; then Finished, or for a recurring op Idle ──(interval
//   elapsed)──► Queued again.
//
// Cancel: Delayed/Queued/Idle ops are reported `cancelled` at once; a
// Running recurring op has its process killed and is reported `cancelled`
// when it exits; a Running one-shot op cannot be cancelled.
// docs/architecture.md §5 tells the whole life.
#include "engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <tuple>

#include "log.hpp"

namespace lrm::kernel {
namespace {

// The ABI minor that appended each optional ResourceClass virtual.
constexpr std::uint32_t kResumeSince = 1;       // resume()
constexpr std::uint32_t kCarriesOverSince = 3;  // carriesOver()
constexpr std::uint32_t kReleasedSince = 4;     // released()

std::int64_t epochSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The event that re-creates an op handed over in @p carried state.
OpEvent takeOverEvent(OpState carried) {
  switch (carried) {
    case OpState::Delayed: return OpEvent::TakeOverDelayed;
    case OpState::Queued: return OpEvent::TakeOverQueued;
    case OpState::Idle: return OpEvent::TakeOverIdle;
    case OpState::Running: return OpEvent::TakeOverRunning;
    case OpState::Invalid:
    case OpState::Finished: break;  // never carried (handover.cpp reads only the four)
  }
  return OpEvent::Invalid;
}

// A cancellation that did nothing: refused, or impossible.
bool refused(const OpTransition* taken) {
  return !taken || taken->has(OpAction::RefuseInProgress) || taken->has(OpAction::RefuseCancelling);
}

// Parameter names become environment variable names: nothing else passes.
void checkParamNames(const sdk::Params& params) {
  for (const auto& [name, value] : params) {
    if (!sdk::isValidParamName(name)) {
      throw RequestError("invalid-argument",
                         "invalid parameter name '" + name + "' (must match [A-Za-z0-9_]+, at most 128 characters)");
    }
  }
}

}  // namespace

struct Engine::Op {
  sdk::CallId call_id = 0;
  std::string action;
  std::uint64_t interval_ms = 0;
  std::uint32_t timeout_ms = 0;
  std::uint64_t start_delay_ms = 0;
  sdk::Params params;
  ClientId origin = 0;
  bool changes_only = false;
  bool originator_only = false;

  OpState state = OpState::Invalid;
  TimerId timer = 0;                 // start delay or recurring interval
  Clock::time_point due;             // when that timer fires
  Clock::time_point ready_at;        // became runnable (for queue_ms)
  Clock::time_point started_at;
  std::int64_t t_run = 0;
  bool cancel_requested = false;     // in flight, being killed
  bool rerun_now = false;            // a duplicate arrived while it ran
  int last_rc = sdk::rc::kOk;        // what a cancellation reports
  std::optional<std::pair<int, sdk::ExecStatus>> last_notified;

  bool recurring() const { return interval_ms > 0; }
  // What a (possibly duplicate) submission sets: a merged duplicate takes
  // these from the newer request and keeps its action, interval and state.
  void take(const ExecParams& request, sdk::CallId id) {
    call_id = id;
    timeout_ms = request.timeout_ms;
    params = request.params;
    origin = request.origin;
    changes_only = request.changes_only;
    originator_only = request.originator_only;
  }
  OpView view() const { return {action, interval_ms, call_id, timeout_ms, params, changes_only, originator_only}; }
  sdk::LogContext context(const Instance& instance) const;
};

struct Engine::Instance {
  std::string id;
  std::string name;
  sdk::AgentSpec agent;
  ClassPtr cls;
  sdk::Params params;
  bool drop_recurring = false;
  ClientId registered_by = 0;

  // Delayed and Queued ops in submission order. A vector, not a deque: it
  // is short, and an empty deque costs ~600 bytes per instance.
  std::vector<OpPtr> queue;
  OpPtr running;             // the one op in flight
  std::vector<OpPtr> idle;   // recurring ops waiting for their next interval
  // Last result per (action, interval), with a sequence number for ordering.
  std::map<std::pair<std::string, std::uint64_t>, std::pair<std::uint64_t, ExecEvent>> last;
  bool deleted = false;      // unregistered while an op was in flight
  bool waiting = false;      // in Engine::waiting_
  // Agents it had that are gone (unregistered, or replaced by another agent)
  // while an op ran: ResourceClass::released() once that op ends.
  std::vector<std::pair<ClassPtr, sdk::AgentSpec>> releases;

  sdk::LogContext context() const { return {id, name, {}, 0}; }
};

sdk::LogContext Engine::Op::context(const Instance& instance) const {
  return {instance.id, instance.name, action, call_id};
}

Engine::Engine(EventLoop& loop, Notifier& notifier, std::size_t max_children)
    : loop_(loop), notifier_(notifier), max_children_(max_children) {}

Engine::~Engine() {
  for (auto& [id, instance] : instances_) {
    for (auto& op : instance->queue) loop_.cancelTimer(op->timer);
    for (auto& op : instance->idle) loop_.cancelTimer(op->timer);
  }
}

// A virtual appended in ABI 1.N is not in the vtable of a plugin built
// before: calling it would be undefined, so only classes built for it get it.
void Engine::addClass(ClassPtr cls, std::uint32_t abi_minor) {
  const std::string name = cls->name();
  if (!classes_.emplace(name, std::move(cls)).second) {
    throw std::runtime_error("resource class '" + name + "' is provided by two plugins");
  }
  abi_minors_[name] = abi_minor;
}

std::vector<std::string> Engine::classNames() const {
  std::vector<std::string> names;
  for (const auto& [name, cls] : classes_) names.push_back(name);
  return names;
}

sdk::ResourceClass& Engine::resourceClass(const std::string& name) const {
  const auto it = classes_.find(name);
  if (it == classes_.end()) {
    throw RequestError("unknown-class", "unknown resource class '" + name + "'");
  }
  return *it->second;
}

sdk::AgentSpec Engine::resolveSpec(const std::string& text) const {
  std::string error;
  auto spec = sdk::parseAgentSpec(text, error);
  if (!spec) throw RequestError("invalid-spec", error);
  const sdk::ResourceClass& cls = resourceClass(spec->cls);
  if (cls.requiresProvider() && spec->provider.empty()) {
    throw RequestError("invalid-spec", "agent spec '" + text + "': class '" + spec->cls +
                                           "' requires a provider (class:provider:type)");
  }
  if (!cls.requiresProvider() && !spec->provider.empty()) {
    throw RequestError("invalid-spec", "agent spec '" + text + "': class '" + spec->cls +
                                           "' has no providers (use class:type)");
  }
  return *spec;
}

void Engine::metadata(const sdk::AgentSpec& agent, MetadataCache::Done done) {
  metadata_.get(resourceClass(agent.cls), agent, std::move(done));
}

const Engine::InstancePtr& Engine::shared(const std::string& id) const {
  const auto it = instances_.find(id);
  if (it == instances_.end() || it->second->deleted) {
    throw RequestError("unknown-instance", "no instance with id '" + id + "'");
  }
  return it->second;
}

bool Engine::restore(const std::string& id, const std::string& name, const std::string& agent,
                     const sdk::Params& params, bool drop_recurring, const std::vector<ExecEvent>& last,
                     const std::vector<ExecEvent>& interrupted) {
  sdk::AgentSpec spec;
  try {
    spec = resolveSpec(agent);
  } catch (const RequestError& e) {
    log(sdk::LogLevel::Error, {id, name, {}, 0}, std::string("not restored: ") + e.what());
    return false;
  }
  auto instance = std::make_shared<Instance>();
  instance->id = id;
  instance->name = name;
  instance->agent = spec;
  instance->cls = classes_.at(spec.cls);
  instance->params = params;
  instance->drop_recurring = drop_recurring;
  for (const auto& event : last) {
    instance->last[{event.action, event.interval_ms}] = {next_result_seq_++, event};
    next_call_id_ = std::max(next_call_id_, event.call_id + 1);
  }
  for (auto event : interrupted) {
    event.status = sdk::ExecStatus::Error;
    event.rc = sdk::rc::kError;
    event.exit_reason = "lrmd restarted while the operation was in flight; its outcome is unknown";
    event.output.clear();
    instance->last[{event.action, event.interval_ms}] = {next_result_seq_++, event};
    next_call_id_ = std::max(next_call_id_, event.call_id + 1);
    log(sdk::LogLevel::Warning, {id, name, event.action, event.call_id}, event.exit_reason);
    if (journal_) journal_->reported(event);
  }
  instances_[id] = instance;
  return true;
}

void Engine::resubmitRecurring(const std::string& id, const OpView& op) {
  ExecParams request;
  request.id = id;
  request.action = op.action;
  request.interval_ms = op.interval_ms;
  request.timeout_ms = static_cast<std::uint32_t>(op.timeout_ms);
  request.params = op.params;
  request.changes_only = op.changes_only;
  request.originator_only = false;  // its originator is gone
  try {
    const sdk::CallId call = exec(request);
    log(sdk::LogLevel::Notice, {id, shared(id)->name, op.action, call},
        "resumed, every " + std::to_string(op.interval_ms) + " ms");
  } catch (const RequestError& e) {
    log(sdk::LogLevel::Error, std::string("unable to resume ") + op.action + " of " + id + ": " + e.what());
  }
}

std::vector<Engine::InFlight> Engine::running() const {
  std::vector<InFlight> result;
  for (const auto& [id, instance] : instances_) {
    if (!instance->running) continue;
    const bool carries = built(instance->agent.cls, kCarriesOverSince) &&
                         instance->cls->carriesOver(operationOf(*instance, *instance->running));
    result.push_back({id, instance->running->call_id, instance->deleted, carries});
  }
  return result;
}

CarriedOps Engine::handOver() const {
  CarriedOps carried;
  carried.next_call_id = next_call_id_;
  const auto now = Clock::now();
  auto carry = [&](const Instance& instance, const Op& op) {
    CarriedOp c;
    c.instance_id = instance.id;
    c.op = op.view();
    c.op.t_run = op.t_run;
    c.origin = op.origin;
    c.start_delay_ms = op.start_delay_ms;
    c.last_rc = op.last_rc;
    c.notified = op.last_notified.has_value();
    if (op.last_notified) std::tie(c.notified_rc, c.notified_status) = *op.last_notified;
    c.rerun_now = op.rerun_now;
    c.cancel_requested = op.cancel_requested;
    c.state = op.state;
    switch (op.state) {
      case OpState::Delayed:
      case OpState::Idle:
        c.remaining_ms = op.due > now ? msSince(now, op.due) : 0;
        break;
      case OpState::Queued:
        c.waited_ms = msSince(op.ready_at, now);
        break;
      case OpState::Running:
        c.waited_ms = msSince(op.started_at, now);
        c.queue_ms = msSince(op.ready_at, op.started_at);
        break;
      case OpState::Invalid:
      case OpState::Finished:
        return;  // never in a list (the table takes them out): nothing to carry
    }
    carried.ops.push_back(std::move(c));
  };
  for (const auto& [id, instance] : instances_) {
    if (instance->deleted) continue;  // the upgrade waits for its op in flight (daemon.cpp)
    if (instance->registered_by != 0) carried.registered_by[id] = instance->registered_by;
    if (instance->running) carry(*instance, *instance->running);
    for (const auto& op : instance->queue) carry(*instance, *op);
    for (const auto& op : instance->idle) carry(*instance, *op);
  }
  return carried;
}

void Engine::takeOver(const CarriedOps& carried) {
  next_call_id_ = std::max(next_call_id_, carried.next_call_id);
  for (const auto& [id, client] : carried.registered_by) {
    if (const auto it = instances_.find(id); it != instances_.end()) it->second->registered_by = client;
  }
  const auto now = Clock::now();
  std::set<InstancePtr> touched;
  for (const auto& c : carried.ops) {
    const auto it = instances_.find(c.instance_id);
    if (it == instances_.end()) {
      log(sdk::LogLevel::Error, {c.instance_id, c.instance_id, c.op.action, c.op.call_id},
          "carried over the upgrade, but its instance was not restored; dropped");
      continue;
    }
    const InstancePtr& instance = it->second;
    auto op = std::make_shared<Op>();
    op->action = c.op.action;
    op->interval_ms = c.op.interval_ms;
    op->start_delay_ms = c.start_delay_ms;
    op->call_id = c.op.call_id;
    op->timeout_ms = static_cast<std::uint32_t>(c.op.timeout_ms);
    op->params = c.op.params;
    op->origin = c.origin;
    op->changes_only = c.op.changes_only;
    op->originator_only = c.op.originator_only;
    op->t_run = c.op.t_run;
    op->last_rc = c.last_rc;
    if (c.notified) op->last_notified = std::make_pair(c.notified_rc, c.notified_status);
    op->rerun_now = c.rerun_now;
    op->cancel_requested = c.cancel_requested;
    next_call_id_ = std::max(next_call_id_, op->call_id + 1);
    touched.insert(instance);
    op->ready_at = now - Millis(c.waited_ms);  // Queued: it became runnable then
    if (c.state == OpState::Running) {
      op->started_at = now - Millis(c.waited_ms);
      op->ready_at = op->started_at - Millis(c.queue_ms);
    }
    StepInput input;
    input.delay = millisOf(c.remaining_ms);
    step(instance, op, takeOverEvent(c.state), input);
  }
  for (const auto& instance : touched) loop_.defer([this, instance] { pump(instance); });
}

void Engine::reattach(const InstancePtr& instance, const OpPtr& op) {
  instance->running = op;
  ++in_flight_;
  auto done = completion(instance, op);
  // The class times what is left of the op's timeout, not all of it again;
  // one already spent leaves 1 ms (0 would mean no timeout at all).
  sdk::Operation operation = operationOf(*instance, *op);
  if (operation.timeout_ms != 0) {
    const std::uint64_t elapsed = msSince(op->started_at, Clock::now());
    operation.timeout_ms = elapsed < operation.timeout_ms ? static_cast<std::uint32_t>(operation.timeout_ms - elapsed) : 1;
  }
  const bool resumed = built(instance->agent.cls, kResumeSince) && instance->cls->resume(operation, done);
  if (resumed) {
    log(sdk::LogLevel::Info, op->context(*instance), "carried over the upgrade; still running");
    return;
  }
  sdk::Result result;
  result.status = sdk::ExecStatus::Error;
  result.rc = sdk::rc::kError;
  result.exit_reason = "lrmd was upgraded while the operation was in flight and class '" + instance->agent.cls +
                       "' could not take its agent over; its outcome is unknown";
  done(result);
}

std::vector<std::pair<InstanceView, bool>> Engine::snapshot() const {
  std::vector<std::pair<InstanceView, bool>> result;
  for (const auto& [id, instance] : instances_) {
    if (!instance->deleted) result.emplace_back(view(*instance), instance->drop_recurring);
  }
  return result;
}

void Engine::abandonInFlight(const std::string& reason,
                             const std::function<bool(const std::string& id, sdk::CallId call)>& which) {
  std::vector<std::pair<InstancePtr, OpPtr>> running;
  for (const auto& [id, instance] : instances_) {
    if (instance->running && (!which || which(id, instance->running->call_id))) {
      running.emplace_back(instance, instance->running);
    }
  }
  for (const auto& [instance, op] : running) {
    sdk::Result result;
    result.status = sdk::ExecStatus::Error;
    result.rc = sdk::rc::kError;
    result.exit_reason = reason;
    complete(instance, op, result);
  }
}

std::size_t Engine::instanceCount() const {
  return static_cast<std::size_t>(std::count_if(instances_.begin(), instances_.end(),
                                                [](const auto& entry) { return !entry.second->deleted; }));
}

InstanceView Engine::registerInstance(const RegisterParams& request) {
  if (!sdk::isValidInstanceId(request.id)) {
    throw RequestError("invalid-argument", "invalid instance id '" + request.id +
                                               "' (1-128 characters of [A-Za-z0-9._:@-])");
  }
  checkParamNames(request.params);
  const sdk::AgentSpec spec = resolveSpec(request.agent);
  const std::string name = request.name.empty() ? request.id : request.name;
  if (name.size() > 256) throw RequestError("invalid-argument", "instance name longer than 256 bytes");

  auto& slot = instances_[request.id];
  if (!slot) {
    slot = std::make_shared<Instance>();
    slot->id = request.id;
  } else if (!slot->deleted && slot->agent == spec && slot->name == name &&
             slot->params == request.params && slot->drop_recurring == request.drop_recurring) {
    log(sdk::LogLevel::Debug, slot->context(), "re-registered unchanged");
    return view(*slot);
  } else if (!slot->deleted && slot->agent != spec) {
    log(sdk::LogLevel::Notice, slot->context(),
        "agent changes from " + slot->agent.toString() + " to " + spec.toString() +
            ": cancelling its queued and recurring operations");
    cancelEverything(slot);
    release(*slot, slot->cls, slot->agent);
  }
  InstancePtr instance = slot;
  instance->deleted = false;
  instance->name = name;
  instance->agent = spec;
  instance->cls = classes_.at(spec.cls);
  // Registered again with an agent it had while an op still runs: not gone.
  auto& releases = instance->releases;
  releases.erase(std::remove_if(releases.begin(), releases.end(), [&](const auto& r) { return r.second == spec; }),
                 releases.end());
  instance->params = request.params;
  instance->drop_recurring = request.drop_recurring;
  instance->registered_by = request.origin;
  log(sdk::LogLevel::Info, instance->context(), "registered as " + spec.toString());
  InstanceView result = view(*instance);
  if (journal_) journal_->registered(result, instance->drop_recurring);
  notifier_.publishInstance("register", result);
  return result;
}

std::optional<InstanceView> Engine::unregisterInstance(const std::string& id) {
  const auto it = instances_.find(id);
  if (it == instances_.end() || it->second->deleted) return std::nullopt;
  InstancePtr instance = it->second;
  instance->deleted = true;
  cancelEverything(instance);
  InstanceView result = view(*instance);
  if (journal_) journal_->unregistered(id);
  if (instance->running) {
    log(sdk::LogLevel::Info, instance->context(),
        "unregistered; its " + instance->running->action + " in flight will be reported as deleted");
  } else {
    instances_.erase(it);
    log(sdk::LogLevel::Info, instance->context(), "unregistered");
  }
  notifier_.publishInstance("unregister", result);
  release(*instance, instance->cls, instance->agent);
  return result;
}

sdk::CallId Engine::exec(const ExecParams& request) {
  InstancePtr instance = shared(request.id);
  Instance& found = *instance;
  if (!sdk::isValidAgentComponent(request.action) || request.action.size() > 64) {
    throw RequestError("invalid-argument", "invalid action name '" + request.action + "'");
  }
  checkParamNames(request.params);
  const sdk::CallId call_id = next_call_id_++;

  if (request.action == "stop") cancelAllRecurring(instance);

  if (request.interval_ms > 0) {
    // A second identical recurring op is merged into the first (docs/architecture.md §5.1).
    auto same = [&](const OpPtr& op) {
      return op->recurring() && !op->cancel_requested && op->action == request.action &&
             op->interval_ms == request.interval_ms;
    };
    OpPtr existing;
    if (found.running && same(found.running)) existing = found.running;
    for (const auto& op : found.idle) if (!existing && same(op)) existing = op;
    for (const auto& op : found.queue) if (!existing && same(op)) existing = op;
    if (existing) {
      log(sdk::LogLevel::Notice, existing->context(found),
          "duplicate recurring op merged; it now answers to call " + std::to_string(call_id));
      StepInput merged;
      merged.request = &request;
      merged.call_id = call_id;
      step(instance, existing, OpEvent::Merge, merged);
      return call_id;
    }
  }

  auto op = std::make_shared<Op>();
  op->action = request.action;
  op->interval_ms = request.interval_ms;
  op->start_delay_ms = request.start_delay_ms;
  op->take(request, call_id);
  // Its pump runs from the loop, not inside the request (DeferPump): the
  // reply with the call id then always reaches the client before the result.
  StepInput submitted;
  submitted.delay = millisOf(request.start_delay_ms);
  step(instance, op, OpEvent::Submit, submitted);
  log(sdk::LogLevel::Debug, op->context(found),
      "queued" + (request.interval_ms ? " every " + std::to_string(request.interval_ms) + " ms" : std::string()) +
          (request.start_delay_ms ? " after a delay of " + std::to_string(request.start_delay_ms) + " ms"
                                  : std::string()));
  return call_id;
}

const OpTransition* Engine::step(InstancePtr instance, OpPtr op, OpEvent event, const StepInput& input) {
  const OpTransition* row = findTransition(op->state, event, factsOf(*instance, *op));
  if (!row) {
    impossible(*instance, *op, event);
    return nullptr;
  }
  // The state first: an action may cause the op's next event at once (Pump
  // launches it; a plugin may call back from inside execute() or cancel()).
  op->state = row->to;
  for (OpAction action : row->actions) {
    if (action == OpAction::None) break;
    perform(action, instance, op, input);
  }
  return row;
}

const OpTransition* Engine::step(InstancePtr instance, OpPtr op, OpEvent event) {
  return step(std::move(instance), std::move(op), event, StepInput());
}

OpFacts Engine::factsOf(const Instance& instance, const Op& op) const {
  OpFacts facts;
  facts.start_delay = op.start_delay_ms > 0;
  facts.slot_free = max_children_ == 0 || in_flight_ < max_children_;
  facts.recurring = op.recurring();
  facts.cancelling = op.cancel_requested;
  facts.rerun = op.rerun_now;
  facts.reschedule = !instance.deleted && !draining_;
  return facts;
}

// An impossible pair is a defect of the engine, never bad input: the table
// holds every event the engine can send in every state it can be in. lrmd
// keeps the resources of everyone on the node, and crashing it for one op
// would abandon every operation in flight and every schedule: a production
// build logs the pair and leaves the op as it was (what the engine did
// before the table: return). A debug build, which every test runs, aborts,
// so that a test that reaches one fails loudly.
void Engine::impossible(const Instance& instance, const Op& op, OpEvent event) const {
  log(sdk::LogLevel::Error, op.context(instance),
      std::string("impossible transition: ") + toString(event) + " in state " + toString(op.state) +
          "; the operation is left as it was");
#ifndef NDEBUG
  std::abort();
#endif
}

void Engine::perform(OpAction action, const InstancePtr& instance, const OpPtr& op, const StepInput& input) {
  auto erase = [&op](std::vector<OpPtr>& list) { list.erase(std::remove(list.begin(), list.end(), op), list.end()); };
  switch (action) {
    case OpAction::None: return;
    case OpAction::JoinQueue: return instance->queue.push_back(op);
    case OpAction::LeaveQueue: return erase(instance->queue);
    case OpAction::JoinIdle: return instance->idle.push_back(op);
    case OpAction::LeaveIdle: return erase(instance->idle);
    case OpAction::ArmTimer: return arm(instance, op, input.delay);
    case OpAction::StopTimer:
      loop_.cancelTimer(op->timer);
      op->timer = 0;
      return;
    case OpAction::MarkReady: op->ready_at = Clock::now(); return;
    case OpAction::TakeRequest:
      op->take(*input.request, input.call_id);
      op->last_notified.reset();
      return;
    case OpAction::JournalAdded:
      if (journal_ && op->recurring()) journal_->recurringAdded(instance->id, op->view());
      return;
    case OpAction::JournalRemoved:
      if (journal_ && op->recurring() && !instance->deleted) {
        journal_->recurringRemoved(instance->id, op->action, op->interval_ms);
      }
      return;
    case OpAction::DeferPump: return loop_.defer([this, instance] { pump(instance); });
    case OpAction::Pump: return pump(instance);
    case OpAction::WaitForSlot:
      if (!instance->waiting) {
        instance->waiting = true;
        waiting_.push_back(instance);
      }
      return;
    case OpAction::Launch: return launch(instance, op);
    case OpAction::Reattach: return reattach(instance, op);
    case OpAction::DeferComplete:
      return loop_.defer([this, instance, op, result = input.result] { complete(instance, op, result); });
    case OpAction::EndRun:
      --in_flight_;
      instance->running.reset();
      return;
    case OpAction::ReportResult: {
      sdk::Result result = input.result;
      if (result.status == sdk::ExecStatus::Pending) {
        result.status = sdk::ExecStatus::Error;
        result.exit_reason = "plugin reported a pending result";
      }
      if (result.status == sdk::ExecStatus::Done) op->last_rc = result.rc;
      return report(*instance, *op, result, input.exec_ms, input.queue_ms);
    }
    case OpAction::ReportCancelled: {
      sdk::Result result = input.result;
      result.status = sdk::ExecStatus::Cancelled;
      result.rc = op->last_rc;
      return report(*instance, *op, result, input.exec_ms, input.queue_ms);
    }
    case OpAction::Kill:
      op->cancel_requested = true;
      log(sdk::LogLevel::Info, op->context(*instance), "cancelling: killing the running agent");
      instance->cls->cancel(op->call_id);
      return;
    case OpAction::RefuseInProgress:
    case OpAction::RefuseCancelling: return;  // the caller answers (cancel)
    case OpAction::SetRerun: op->rerun_now = true; return;
    case OpAction::ClearRerun: op->rerun_now = false; return;
    case OpAction::FreeSlot: return freeSlot(instance);
  }
}

void Engine::arm(const InstancePtr& instance, const OpPtr& op, Millis delay) {
  op->due = deadlineAfter(delay);
  op->timer = loop_.addTimer(delay, [this, instance, op] {
    op->timer = 0;
    step(instance, op, OpEvent::TimerElapsed);
  });
}

void Engine::pump(const InstancePtr& instance) {
  if (draining_ || frozen_ || instance->running || instance->queue.empty()) return;
  // Order on one instance is submission order: a delayed head holds the rest.
  step(instance, instance->queue.front(), OpEvent::Pump);
}

void Engine::pumpWaiting() {
  while (!waiting_.empty() && (max_children_ == 0 || in_flight_ < max_children_)) {
    InstancePtr instance = waiting_.front();
    waiting_.pop_front();
    instance->waiting = false;
    pump(instance);
  }
}

sdk::Operation Engine::operationOf(const Instance& instance, const Op& op) const {
  sdk::Operation operation;
  operation.call_id = op.call_id;
  operation.instance_id = instance.id;
  operation.instance_name = instance.name;
  operation.agent = instance.agent;
  operation.action = op.action;
  operation.interval_ms = op.interval_ms;
  operation.timeout_ms = op.timeout_ms;
  operation.params = instance.params;
  for (const auto& [name, value] : op.params) operation.params[name] = value;  // per-op values win
  return operation;
}

sdk::CompletionCallback Engine::completion(const InstancePtr& instance, const OpPtr& op) {
  // Plugins must call back later, from the loop; DeferComplete tolerates one that calls at once.
  return [this, instance, op](const sdk::Result& result) {
    StepInput input;
    input.result = result;
    step(instance, op, OpEvent::AgentDone, input);
  };
}

void Engine::launch(const InstancePtr& instance, const OpPtr& op) {
  op->started_at = Clock::now();
  op->t_run = epochSeconds();
  instance->running = op;
  ++in_flight_;
  log(sdk::LogLevel::Debug, op->context(*instance), "running");
  if (journal_) journal_->started(instance->id, op->action, op->interval_ms, op->call_id, op->t_run);
  ClassPtr cls = instance->cls;  // keeps the plugin alive for the duration of the call
  cls->execute(operationOf(*instance, *op), completion(instance, op));
}

void Engine::complete(const InstancePtr& instance, const OpPtr& op, const sdk::Result& result) {
  const auto now = Clock::now();
  StepInput input;
  input.result = result;
  input.exec_ms = msSince(op->started_at, now);
  input.queue_ms = msSince(op->ready_at, op->started_at);
  input.delay = millisOf(op->interval_ms);  // Repeat: the interval counts from the completion
  step(instance, op, OpEvent::Complete, input);
}

void Engine::freeSlot(const InstancePtr& instance) {
  releasePending(*instance);  // after the run's report (FreeSlot ends every row that ends a run)
  if (instance->deleted) {
    const auto it = instances_.find(instance->id);
    if (it != instances_.end() && it->second == instance) instances_.erase(it);
  } else {
    pump(instance);
  }
  pumpWaiting();
  if (on_op_ended_) on_op_ended_();
}

void Engine::release(Instance& instance, ClassPtr cls, const sdk::AgentSpec& agent) {
  if (!built(agent.cls, kReleasedSince)) return;
  if (instance.running) {
    instance.releases.emplace_back(std::move(cls), agent);
    return;
  }
  cls->released(instance.id, agent);
}

void Engine::releasePending(Instance& instance) {
  const auto releases = std::move(instance.releases);
  instance.releases.clear();
  for (const auto& [cls, agent] : releases) cls->released(instance.id, agent);
}

void Engine::report(Instance& instance, Op& op, const sdk::Result& result, std::uint64_t exec_ms,
                    std::uint64_t queue_ms) {
  ExecEvent event;
  event.type = "exec";
  event.id = instance.id;
  event.name = instance.name;
  event.agent = instance.agent.toString();
  event.action = op.action;
  event.interval_ms = op.interval_ms;
  event.call_id = op.call_id;
  event.rc = result.rc;
  event.status = result.status;
  event.exit_reason = result.exit_reason;
  event.output = result.output;
  event.exec_ms = exec_ms;
  event.queue_ms = queue_ms;
  event.t_run = op.t_run;
  event.deleted = instance.deleted;

  const std::pair<int, sdk::ExecStatus> outcome{result.rc, result.status};
  const bool changed = !op.last_notified || *op.last_notified != outcome;
  const auto key = std::make_pair(op.action, op.interval_ms);
  instance.last[key] = {next_result_seq_++, event};
  if (journal_ && !instance.deleted) journal_->reported(event);

  std::string line = std::string("status=") + sdk::toString(result.status) + " rc=" +
                     std::to_string(result.rc) + " (" + sdk::rcName(result.rc) + ") in " +
                     std::to_string(exec_ms) + " ms";
  if (queue_ms > 0) line += " after " + std::to_string(queue_ms) + " ms queued";
  if (!result.exit_reason.empty()) line += ": " + result.exit_reason;
  const bool failed = result.status != sdk::ExecStatus::Done && result.status != sdk::ExecStatus::Cancelled;
  log(failed ? sdk::LogLevel::Warning
             : (op.recurring() && !changed ? sdk::LogLevel::Debug : sdk::LogLevel::Info),
      op.context(instance), line);

  if (op.changes_only && !changed) return;
  op.last_notified = outcome;
  notifier_.publishExec(event, op.origin, op.originator_only);
}

const OpTransition* Engine::cancelOp(const InstancePtr& instance, const OpPtr& op) {
  return step(instance, op, OpEvent::Cancel);
}

std::size_t Engine::cancelWhere(const InstancePtr& instance,
                                const std::function<bool(const Op&)>& predicate) {
  // Collect first: cancelling edits the lists being walked.
  std::vector<OpPtr> victims;
  for (const auto& op : instance->queue) if (predicate(*op)) victims.push_back(op);
  for (const auto& op : instance->idle) if (predicate(*op)) victims.push_back(op);
  if (instance->running && predicate(*instance->running)) victims.push_back(instance->running);
  std::size_t count = 0;
  for (const auto& op : victims) count += refused(cancelOp(instance, op)) ? 0 : 1;
  return count;
}

void Engine::cancelAllRecurring(const InstancePtr& instance) {
  cancelWhere(instance, [](const Op& op) { return op.recurring(); });
}

void Engine::cancelEverything(const InstancePtr& instance) {
  cancelWhere(instance, [](const Op&) { return true; });
}

void Engine::cancel(const std::string& id, const std::string& action, std::uint64_t interval_ms) {
  InstancePtr instance = shared(id);
  auto matches = [&](const OpPtr& op) { return op->action == action && op->interval_ms == interval_ms; };
  for (const auto& op : instance->queue) {
    if (matches(op)) {
      cancelOp(instance, op);
      return;
    }
  }
  for (const auto& op : instance->idle) {
    if (matches(op)) {
      cancelOp(instance, op);
      return;
    }
  }
  if (instance->running && matches(instance->running)) {
    const OpTransition* taken = cancelOp(instance, instance->running);
    if (taken && taken->has(OpAction::RefuseInProgress)) {
      throw RequestError("in-progress", "the " + action + " of '" + id +
                                            "' is already running and cannot be cancelled; it will complete normally");
    }
    if (taken && taken->has(OpAction::RefuseCancelling)) {
      throw RequestError("not-found", "the " + action + " of '" + id + "' is already being cancelled");
    }
    return;
  }
  throw RequestError("not-found", "no pending or recurring " + action + " with interval " +
                                      std::to_string(interval_ms) + " ms on '" + id + "'");
}

std::size_t Engine::flush(const std::string& id) {
  return cancelWhere(shared(id), [](const Op&) { return true; });
}

void Engine::clientGone(ClientId client) {
  for (const auto& [id, instance] : instances_) {
    // Only the client that registered the instance with drop_recurring takes
    // its recurring ops with it (docs/architecture.md §5.1, Cancel).
    if (!instance->drop_recurring || instance->deleted || instance->registered_by != client) continue;
    const std::size_t count =
        cancelWhere(instance, [client](const Op& op) { return op.recurring() && op.origin == client; });
    if (count > 0) {
      log(sdk::LogLevel::Info, instance->context(),
          "client gone: cancelled " + std::to_string(count) + " of its recurring operations");
    }
  }
}

InstanceView Engine::view(const Instance& instance) const {
  InstanceView result;
  result.id = instance.id;
  result.name = instance.name;
  result.agent = instance.agent;
  result.params = instance.params;
  result.busy = static_cast<bool>(instance.running);
  for (const auto& op : instance.queue) {
    result.pending.push_back(op->view());  // queued or delayed, not yet started
    if (op->recurring()) result.recurring.push_back(op->view());
  }
  for (const auto& op : instance.idle) result.recurring.push_back(op->view());
  if (instance.running) {
    result.running = instance.running->view();
    result.running->t_run = instance.running->t_run;
    if (instance.running->recurring()) result.recurring.push_back(instance.running->view());
  }
  std::vector<const std::pair<std::uint64_t, ExecEvent>*> ordered;
  for (const auto& [key, entry] : instance.last) ordered.push_back(&entry);
  std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* entry : ordered) result.last.push_back(entry->second);
  return result;
}

std::vector<InstanceView> Engine::list() const {
  std::vector<InstanceView> result;
  for (const auto& [id, instance] : instances_) {
    if (!instance->deleted) result.push_back(view(*instance));
  }
  return result;
}

InstanceView Engine::info(const std::string& id) const { return view(*shared(id)); }

}  // namespace lrm::kernel
