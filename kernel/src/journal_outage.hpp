// A journal that cannot be written (a full or failing disk) does not stop
// lrmd: changes are refused with `unavailable`, reads are served, operations
// go on and their results are held until they are on disk. JournalOutage
// notices the failure, retries a snapshot every second, and ends the outage
// when one lands (docs/operations.md). It is also the journal as the
// durability gate sees it: one group commit per loop iteration, compacting
// the journal when it has grown enough.
#pragma once

#include <optional>
#include <string>

#include "durability_gate.hpp"
#include "event_loop.hpp"

namespace lrm::kernel {

class Engine;
class StateStore;

class JournalOutage : public DurabilityGate::Journal {
 public:
  JournalOutage(EventLoop& loop, StateStore& store, const Engine& engine)
      : loop_(loop), store_(store), engine_(engine) {}

  /** Once per loop iteration: has the journal just failed? Then retry until it can be written. */
  void check();
  /** Why changes are refused now ("" when they are not). */
  std::string refusal() const override;
  /** Once per loop iteration: compact when due, then hand the iteration's records to the syncer. */
  std::uint64_t commit() override;
  std::uint64_t durable() const override;

 private:
  void retry();

  static constexpr Millis kJournalRetry{1000};
  EventLoop& loop_;
  StateStore& store_;
  const Engine& engine_;
  std::optional<Clock::time_point> since_;  // of the outage, while it lasts
};

}  // namespace lrm::kernel
