// The life of an operation as data: its states, the events that reach it, the
// guards that choose between rows of one (state, event), the actions a
// transition performs, in order, and the table itself. The engine
// (engine.cpp) looks every event up here and performs the actions; it holds
// no transition of its own. docs/architecture.md §5.1 prints this table (a
// unit test keeps the two equal).
#pragma once

#include <array>
#include <cstddef>

namespace lrm::kernel {

/** Where an op is in its life (docs/architecture.md §5). */
enum class OpState {
  Invalid = 0,  ///< just made: not submitted or taken over yet
  Delayed,      ///< in its instance's queue, waiting for its start delay
  Queued,       ///< in its instance's queue, runnable
  Running,      ///< its agent runs (instance->running); counted against --max-children
  Idle,         ///< recurring, between two runs (instance->idle)
  Finished,     ///< reported for the last time; held by nothing
};

/** What can happen to an op. */
enum class OpEvent {
  Invalid = 0,
  Submit,           ///< exec made it (not a duplicate)
  TakeOverDelayed,  ///< the next image re-creates an op the previous one handed over
  TakeOverQueued,
  TakeOverIdle,
  TakeOverRunning,
  TimerElapsed,     ///< its start delay or its interval elapsed
  Pump,             ///< it heads its instance's queue, the instance runs nothing, no drain or freeze
  AgentDone,        ///< its class called the completion callback of its run
  Complete,         ///< its run ends: the agent's result (deferred from AgentDone) or abandonInFlight's
  Cancel,           ///< cancel, flush, stop, unregister, an agent change, its client gone
  Merge,            ///< a duplicate recurring exec (same action and interval) merged into it
};

/** Which row of one (state, event) applies, from OpFacts. */
enum class OpGuard {
  Always = 0,
  StartDelay,    ///< submitted with start_delay_ms > 0
  NoStartDelay,
  SlotFree,      ///< fewer ops in flight than --max-children (or no limit)
  NoSlotFree,
  OneShot,       ///< interval_ms = 0
  Recurring,     ///< recurring, no cancel requested
  Cancelling,    ///< recurring, cancel requested (its agent is being killed)
  Rerun,         ///< recurring, no cancel requested, rescheduled, a duplicate arrived while it ran
  Repeat,        ///< recurring, no cancel requested, rescheduled, no duplicate
  LastRun,       ///< no cancel requested; one-shot or not rescheduled
};

/** What a transition does, in the order its row lists them. */
enum class OpAction {
  None = 0,          ///< pads a row's list
  JoinQueue,         ///< append to the instance's queue (behind what was submitted before)
  LeaveQueue,        ///< remove from the instance's queue
  JoinIdle,          ///< append to the instance's idle list
  LeaveIdle,         ///< remove from the instance's idle list
  ArmTimer,          ///< start its timer: the start delay, the interval, or what was left of either
  StopTimer,         ///< cancel its timer
  MarkReady,         ///< ready_at = now (queue_ms counts from here)
  TakeRequest,       ///< take the duplicate's call id, timeout, params, originator, notify options
  JournalAdded,      ///< journal the recurring op (added or merged); nothing for a one-shot
  JournalRemoved,    ///< journal that the recurring op ended; nothing for a one-shot or a deleted instance
  DeferPump,         ///< pump the instance from the loop (a request's reply goes out first)
  Pump,              ///< pump the instance now
  WaitForSlot,       ///< the instance waits in the engine's waiting_ list (once)
  Launch,            ///< started_at, t_run; instance->running; in_flight++; journal it; ResourceClass::execute
  Reattach,          ///< instance->running; in_flight++; ResourceClass::resume, or report the outcome unknown
  DeferComplete,     ///< complete it from the loop (a plugin that calls back at once is tolerated)
  EndRun,            ///< in_flight--; instance->running cleared
  ReportResult,      ///< pending → error; done → last_rc; record, journal, log and publish the result
  ReportCancelled,   ///< report status=cancelled with rc = last_rc
  Kill,              ///< cancel_requested; ResourceClass::cancel (its completion comes later)
  RefuseInProgress,  ///< nothing; a cancel request is answered in-progress (flush skips the op)
  RefuseCancelling,  ///< nothing; a cancel request is answered not-found
  SetRerun,          ///< rerun_now: run again as soon as this run ends
  ClearRerun,
  FreeSlot,          ///< forget a deleted instance or pump it; pump the waiting instances; onOpEnded
};

/** What the guards are evaluated on; the engine fills it for each event. */
struct OpFacts {
  bool start_delay = false;  ///< start_delay_ms > 0
  bool slot_free = false;    ///< in flight < --max-children, or no limit
  bool recurring = false;    ///< interval_ms > 0
  bool cancelling = false;   ///< cancel_requested
  bool rerun = false;        ///< rerun_now
  bool reschedule = false;   ///< its instance is registered and the engine is not draining
};

constexpr std::size_t kMaxOpActions = 7;

/** One row of the table. */
struct OpTransition {
  OpState from = OpState::Invalid;
  OpEvent event = OpEvent::Invalid;
  OpGuard guard = OpGuard::Always;
  OpState to = OpState::Invalid;
  std::array<OpAction, kMaxOpActions> actions{};  ///< in order, then None

  constexpr bool has(OpAction action) const {
    for (OpAction a : actions) {
      if (a == action) return true;
    }
    return false;
  }
};

constexpr bool holds(OpGuard guard, const OpFacts& f) {
  const bool live = f.recurring && !f.cancelling;
  switch (guard) {
    case OpGuard::Always: return true;
    case OpGuard::StartDelay: return f.start_delay;
    case OpGuard::NoStartDelay: return !f.start_delay;
    case OpGuard::SlotFree: return f.slot_free;
    case OpGuard::NoSlotFree: return !f.slot_free;
    case OpGuard::OneShot: return !f.recurring;
    case OpGuard::Recurring: return live;
    case OpGuard::Cancelling: return f.recurring && f.cancelling;
    case OpGuard::Rerun: return live && f.reschedule && f.rerun;
    case OpGuard::Repeat: return live && f.reschedule && !f.rerun;
    case OpGuard::LastRun: return !f.cancelling && !(f.recurring && f.reschedule);
  }
  return false;
}

namespace op_table {
using S = OpState;
using E = OpEvent;
using G = OpGuard;
using A = OpAction;

// The guards of one (state, event) exclude each other; a pair with no row is
// impossible (the engine reports it: Engine::step).
inline constexpr OpTransition kRows[] = {
    // from       event              guard            to           actions, in order
    {S::Invalid, E::Submit, G::NoStartDelay, S::Queued, {A::JoinQueue, A::JournalAdded, A::MarkReady, A::DeferPump}},
    {S::Invalid, E::Submit, G::StartDelay, S::Delayed, {A::JoinQueue, A::JournalAdded, A::ArmTimer, A::DeferPump}},
    {S::Invalid, E::TakeOverDelayed, G::Always, S::Delayed, {A::JoinQueue, A::ArmTimer}},
    {S::Invalid, E::TakeOverQueued, G::Always, S::Queued, {A::JoinQueue}},
    {S::Invalid, E::TakeOverIdle, G::Always, S::Idle, {A::JoinIdle, A::ArmTimer}},
    {S::Invalid, E::TakeOverRunning, G::Always, S::Running, {A::Reattach}},
    {S::Delayed, E::TimerElapsed, G::Always, S::Queued, {A::MarkReady, A::Pump}},
    {S::Idle, E::TimerElapsed, G::Always, S::Queued, {A::LeaveIdle, A::JoinQueue, A::MarkReady, A::Pump}},
    {S::Delayed, E::Pump, G::Always, S::Delayed, {}},  // holds everything queued behind it
    {S::Queued, E::Pump, G::SlotFree, S::Running, {A::LeaveQueue, A::Launch}},
    {S::Queued, E::Pump, G::NoSlotFree, S::Queued, {A::WaitForSlot}},
    {S::Running, E::AgentDone, G::Always, S::Running, {A::DeferComplete}},
    // A run abandoned (abandonInFlight) ends later: its agent's result is ignored.
    {S::Queued, E::AgentDone, G::Always, S::Queued, {}},
    {S::Idle, E::AgentDone, G::Always, S::Idle, {}},
    {S::Finished, E::AgentDone, G::Always, S::Finished, {}},
    {S::Running, E::Complete, G::LastRun, S::Finished, {A::EndRun, A::ReportResult, A::FreeSlot}},
    {S::Running, E::Complete, G::Repeat, S::Idle, {A::EndRun, A::ReportResult, A::JoinIdle, A::ArmTimer, A::FreeSlot}},
    {S::Running, E::Complete, G::Rerun, S::Queued,
     {A::EndRun, A::ReportResult, A::ClearRerun, A::JoinQueue, A::MarkReady, A::Pump, A::FreeSlot}},
    {S::Running, E::Complete, G::Cancelling, S::Finished, {A::EndRun, A::ReportCancelled, A::JournalRemoved, A::FreeSlot}},
    // Abandoned between its AgentDone and its deferred completion.
    {S::Queued, E::Complete, G::Always, S::Queued, {}},
    {S::Idle, E::Complete, G::Always, S::Idle, {}},
    {S::Finished, E::Complete, G::Always, S::Finished, {}},
    {S::Delayed, E::Cancel, G::Always, S::Finished, {A::LeaveQueue, A::StopTimer, A::JournalRemoved, A::ReportCancelled}},
    {S::Queued, E::Cancel, G::Always, S::Finished, {A::LeaveQueue, A::StopTimer, A::JournalRemoved, A::ReportCancelled}},
    {S::Idle, E::Cancel, G::Always, S::Finished, {A::LeaveIdle, A::StopTimer, A::JournalRemoved, A::ReportCancelled}},
    {S::Running, E::Cancel, G::OneShot, S::Running, {A::RefuseInProgress}},
    {S::Running, E::Cancel, G::Recurring, S::Running, {A::Kill}},
    {S::Running, E::Cancel, G::Cancelling, S::Running, {A::RefuseCancelling}},
    {S::Delayed, E::Merge, G::Always, S::Delayed, {A::TakeRequest, A::JournalAdded}},
    {S::Queued, E::Merge, G::Always, S::Queued, {A::TakeRequest, A::JournalAdded}},
    {S::Idle, E::Merge, G::Always, S::Queued,
     {A::TakeRequest, A::JournalAdded, A::StopTimer, A::LeaveIdle, A::JoinQueue, A::MarkReady, A::Pump}},
    {S::Running, E::Merge, G::Recurring, S::Running, {A::TakeRequest, A::JournalAdded, A::SetRerun}},
};

}  // namespace op_table

/** Every row, in the order docs/architecture.md §5.1 numbers them. */
inline constexpr const auto& kOpTransitions = op_table::kRows;

/** The row for @p event in @p state, or nullptr: an impossible pair. */
constexpr const OpTransition* findTransition(OpState state, OpEvent event, const OpFacts& facts) {
  for (const OpTransition& row : kOpTransitions) {
    if (row.from == state && row.event == event && holds(row.guard, facts)) return &row;
  }
  return nullptr;
}

constexpr const char* toString(OpState state) {
  switch (state) {
    case OpState::Invalid: return "Invalid";
    case OpState::Delayed: return "Delayed";
    case OpState::Queued: return "Queued";
    case OpState::Running: return "Running";
    case OpState::Idle: return "Idle";
    case OpState::Finished: return "Finished";
  }
  return "?";
}

constexpr const char* toString(OpEvent event) {
  switch (event) {
    case OpEvent::Invalid: return "Invalid";
    case OpEvent::Submit: return "Submit";
    case OpEvent::TakeOverDelayed: return "TakeOverDelayed";
    case OpEvent::TakeOverQueued: return "TakeOverQueued";
    case OpEvent::TakeOverIdle: return "TakeOverIdle";
    case OpEvent::TakeOverRunning: return "TakeOverRunning";
    case OpEvent::TimerElapsed: return "TimerElapsed";
    case OpEvent::Pump: return "Pump";
    case OpEvent::AgentDone: return "AgentDone";
    case OpEvent::Complete: return "Complete";
    case OpEvent::Cancel: return "Cancel";
    case OpEvent::Merge: return "Merge";
  }
  return "?";
}

}  // namespace lrm::kernel
