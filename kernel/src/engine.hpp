// The engine: the instance registry and the life of every operation. It owns
// the per-instance queues (one operation in flight per instance, FIFO), start
// delays, recurring schedules, cancellation, the global child limit and the
// last results. Each op moves only as the table in op_transitions.hpp says.
// It knows nothing about sockets (results go to a Notifier) and nothing about
// any resource class (agents run through sdk::ResourceClass).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "event_loop.hpp"
#include "metadata_cache.hpp"
#include "lrm/protocol/records.hpp"
#include "lrm/sdk/abi.hpp"
#include "lrm/sdk/resource_class.hpp"
#include "op_transitions.hpp"
#include "plugin_loader.hpp"

namespace lrm::kernel {

/** Identifies a connected client; 0 is "nobody". */
using ClientId = std::uint64_t;

/** A request the engine refuses; code() is the protocol error code. */
class RequestError : public std::runtime_error {
 public:
  RequestError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// The engine's records are the protocol's (lrm/protocol/records.hpp): what
// the engine reports is what the server sends, the journal stores and the
// handover carries, field for field.
/** One reported operation result (an `exec` event). */
using ExecEvent = protocol::Event;
/** An op as info/list, the journal and the handover see it. */
using OpView = protocol::Op;
/** An instance as info/list see it; `running` is the op in flight. */
using InstanceView = protocol::Instance;

/**
 * An operation carried over an upgrade in place (daemon.cpp writes it into
 * the handover file): everything the engine knows about it, with times made
 * relative so they survive the exec().
 */
struct CarriedOp {
  std::string instance_id;
  OpView op;  ///< with the per-op parameters and notify options
  ClientId origin = 0;
  OpState state = OpState::Queued;  ///< Delayed, Queued, Running or Idle
  std::uint64_t start_delay_ms = 0;
  std::uint64_t remaining_ms = 0;  ///< Delayed: delay left; Idle: time to the next run
  std::uint64_t waited_ms = 0;     ///< Queued: since it became runnable; Running: since it started
  std::uint64_t queue_ms = 0;      ///< Running: how long it had been queued
  int last_rc = 0;
  bool notified = false;  ///< a result was sent before (for notify=changes)
  int notified_rc = 0;
  sdk::ExecStatus notified_status = sdk::ExecStatus::Done;
  bool rerun_now = false;
  bool cancel_requested = false;
};

/** The engine's operations as one image hands them to the next. */
struct CarriedOps {
  std::vector<CarriedOp> ops;  ///< per instance in queue order
  sdk::CallId next_call_id = 1;
  std::map<std::string, ClientId> registered_by;  ///< instance id → client (for drop_recurring)
};

/**
 * Where the engine sends what happened. It must not call back into the
 * engine: a report happens in the middle of a transition (Server defers what
 * a send may cause, e.g. dropping a client that does not read).
 */
class Notifier {
 public:
  virtual ~Notifier() = default;
  /** An op result: to @p origin, and to subscribers unless @p originator_only. */
  virtual void publishExec(const ExecEvent& event, ClientId origin, bool originator_only) = 0;
  /** `register` or `unregister` of an instance, to subscribers. */
  virtual void publishInstance(const std::string& type, const InstanceView& instance) = 0;
};

/** Where the engine records what must survive a restart (StateStore). */
class Journal {
 public:
  virtual ~Journal() = default;
  virtual void registered(const InstanceView& instance, bool drop_recurring) = 0;
  virtual void unregistered(const std::string& id) = 0;
  virtual void started(const std::string& id, const std::string& action, std::uint64_t interval_ms,
                       sdk::CallId call_id, std::int64_t t_run) = 0;
  virtual void reported(const ExecEvent& event) = 0;
  /** A recurring op was submitted (or merged: same action and interval, new call id). */
  virtual void recurringAdded(const std::string& id, const OpView& op) = 0;
  /** A recurring op ended (cancelled, stopped). */
  virtual void recurringRemoved(const std::string& id, const std::string& action, std::uint64_t interval_ms) = 0;
};

/** A register request (the protocol's record) and who sent it. */
struct RegisterParams : protocol::RegisterRequest {
  ClientId origin = 0;
};

/** An exec request (the protocol's record; `id` is the instance's) and who sent it. */
struct ExecParams : protocol::ExecRequest {
  ClientId origin = 0;
};

class Engine {
 public:
  /** @param max_children concurrent operations in flight, 0 = unlimited. */
  Engine(EventLoop& loop, Notifier& notifier, std::size_t max_children);
  ~Engine();

  /**
   * Offer a resource class. @param abi_minor what its plugin was built with:
   * which virtuals of ResourceClass its vtable has, so which the engine may
   * call (resume() from 1.1, carriesOver() from 1.3, released() from 1.4).
   * @throws std::runtime_error on a duplicate name.
   */
  void addClass(ClassPtr cls, std::uint32_t abi_minor = LRM_SDK_ABI_MINOR);
  std::vector<std::string> classNames() const;
  /** @throws RequestError `unknown-class`. */
  sdk::ResourceClass& resourceClass(const std::string& name) const;
  /** Parse and check a spec against the known classes. @throws RequestError. */
  sdk::AgentSpec resolveSpec(const std::string& text) const;
  /** An agent's metadata XML, cached until the agent changes (MetadataCache). */
  void metadata(const sdk::AgentSpec& agent, MetadataCache::Done done);

  InstanceView registerInstance(const RegisterParams& request);
  /** @return the removed instance, or nullopt when the id was unknown. */
  std::optional<InstanceView> unregisterInstance(const std::string& id);
  sdk::CallId exec(const ExecParams& request);
  void cancel(const std::string& id, const std::string& action, std::uint64_t interval_ms);
  std::size_t flush(const std::string& id);
  std::vector<InstanceView> list() const;
  InstanceView info(const std::string& id) const;
  /** A client went away: cancel its recurring ops on drop_recurring instances. */
  void clientGone(ClientId client);

  /** Record state changes in @p journal (nullptr: none). */
  void setJournal(Journal* journal) { journal_ = journal; }
  /**
   * Re-create an instance from the journal with its last results; ops that
   * were in flight are reported (status=error) and journaled as such.
   * @return false when its class is not loaded (it is then skipped).
   */
  bool restore(const std::string& id, const std::string& name, const std::string& agent, const sdk::Params& params,
               bool drop_recurring, const std::vector<ExecEvent>& last, const std::vector<ExecEvent>& interrupted);
  /** Resubmit a restored recurring op (--resume-recurring); its results go to subscribers. */
  void resubmitRecurring(const std::string& id, const OpView& op);
  /** Every instance with its registration options, for a snapshot. */
  std::vector<std::pair<InstanceView, bool>> snapshot() const;

  /** Upgrading: start nothing new; ops in flight complete, queues and schedules stay. */
  void freeze() { frozen_ = true; }
  /** An op in flight; one of an unregistered instance cannot be carried over. */
  struct InFlight {
    std::string instance_id;
    sdk::CallId call_id = 0;
    bool deleted = false;
    bool carries_over = false;  ///< its class says it survives without a child (carriesOver())
  };
  std::vector<InFlight> running() const;
  /** Upgrading, at the exec(): every operation, for the next image. */
  CarriedOps handOver() const;
  /**
   * The next image, after restore(): take the operations over. Ops that were
   * in flight are re-attached through their class's resume(); when it
   * cannot, they are reported as failed with their outcome unknown.
   */
  void takeOver(const CarriedOps& carried);

  /** Shutting down: start nothing new; what is in flight completes. */
  void drain() { draining_ = true; }
  /**
   * At the shutdown bound: report every operation still in flight (those
   * @p which accepts, when given) as `status=error` with @p reason. Its agent
   * is left running.
   */
  void abandonInFlight(const std::string& reason,
                       const std::function<bool(const std::string& id, sdk::CallId call)>& which = {});

  std::size_t instanceCount() const;
  std::size_t inFlight() const { return in_flight_; }
  /**
   * Called (from the loop) each time an operation in flight ends: completed,
   * cancelled or abandoned. The daemon waits on it for "nothing in flight"
   * (shutdown) or "nothing left that cannot be handed over" (upgrade).
   */
  void setOnOpEnded(std::function<void()> ended) { on_op_ended_ = std::move(ended); }

 private:
  struct Op;
  struct Instance;
  using OpPtr = std::shared_ptr<Op>;
  using InstancePtr = std::shared_ptr<Instance>;

  /** @throws RequestError `unknown-instance`. */
  const InstancePtr& shared(const std::string& id) const;
  /** What an event brings to the actions of its transition. */
  struct StepInput {
    Millis delay{0};                      // ArmTimer
    sdk::Result result;                   // DeferComplete, ReportResult, ReportCancelled
    std::uint64_t exec_ms = 0;            // ReportResult, ReportCancelled
    std::uint64_t queue_ms = 0;
    const ExecParams* request = nullptr;  // TakeRequest
    sdk::CallId call_id = 0;
  };
  /**
   * Every event of an op goes through here: look its row up in
   * kOpTransitions, enter the row's state, perform its actions in order.
   * @return the row, or nullptr for an impossible pair (logged; op untouched).
   * By value: the actions edit the lists @p instance and @p op may come from.
   */
  const OpTransition* step(InstancePtr instance, OpPtr op, OpEvent event, const StepInput& input);
  const OpTransition* step(InstancePtr instance, OpPtr op, OpEvent event);  // with no input
  void perform(OpAction action, const InstancePtr& instance, const OpPtr& op, const StepInput& input);
  OpFacts factsOf(const Instance& instance, const Op& op) const;
  void impossible(const Instance& instance, const Op& op, OpEvent event) const;

  void pump(const InstancePtr& instance);
  void pumpWaiting();
  void launch(const InstancePtr& instance, const OpPtr& op);
  void reattach(const InstancePtr& instance, const OpPtr& op);
  sdk::Operation operationOf(const Instance& instance, const Op& op) const;
  sdk::CompletionCallback completion(const InstancePtr& instance, const OpPtr& op);
  void arm(const InstancePtr& instance, const OpPtr& op, Millis delay);
  void complete(const InstancePtr& instance, const OpPtr& op, const sdk::Result& result);
  void freeSlot(const InstancePtr& instance);
  /** An agent of @p instance is gone: now, or once its op in flight ends. */
  void release(Instance& instance, ClassPtr cls, const sdk::AgentSpec& agent);
  void releasePending(Instance& instance);
  const OpTransition* cancelOp(const InstancePtr& instance, const OpPtr& op);
  void report(Instance& instance, Op& op, const sdk::Result& result, std::uint64_t exec_ms,
              std::uint64_t queue_ms);
  std::size_t cancelWhere(const InstancePtr& instance, const std::function<bool(const Op&)>& predicate);
  void cancelAllRecurring(const InstancePtr& instance);
  void cancelEverything(const InstancePtr& instance);
  InstanceView view(const Instance& instance) const;

  EventLoop& loop_;
  Notifier& notifier_;
  std::size_t max_children_;
  std::size_t in_flight_ = 0;
  bool draining_ = false;
  bool frozen_ = false;
  // The ABI minor each class's plugin was built for: which of the virtuals
  // appended since 1.0 its vtable has (calling one it lacks is undefined).
  std::map<std::string, std::uint32_t> abi_minors_;
  bool built(const std::string& cls, std::uint32_t since_minor) const {
    const auto it = abi_minors_.find(cls);
    return it != abi_minors_.end() && it->second >= since_minor;
  }
  sdk::CallId next_call_id_ = 1;
  std::uint64_t next_result_seq_ = 1;
  std::map<std::string, ClassPtr> classes_;
  MetadataCache metadata_{loop_};
  Journal* journal_ = nullptr;
  std::map<std::string, InstancePtr> instances_;
  std::deque<InstancePtr> waiting_;  // instances ready to run but held by max_children
  std::function<void()> on_op_ended_;
};

}  // namespace lrm::kernel
