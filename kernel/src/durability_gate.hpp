// The durability gate (group commit, docs/operations.md "Durability"): what
// a client is told in one loop iteration may depend on journal records of
// that iteration, so it is written only once the batch that holds them is on
// disk. The daemon wires the gate to the journal; the server asks it how much
// of each connection's output may go out, and hands back held output when a
// batch lands. Without a state directory there is no gate: nothing is held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "engine.hpp"

namespace lrm::kernel {

class DurabilityGate {
 public:
  /** The journal as the gate sees it (the daemon implements it over the StateStore). */
  class Journal {
   public:
    virtual ~Journal() = default;
    /** Start making what was journaled so far durable; @return the batch that covers it. */
    virtual std::uint64_t commit() = 0;
    /** The last batch on disk. */
    virtual std::uint64_t durable() const = 0;
    /** Why changes are refused now, the journal cannot be written; "" while it can. */
    virtual std::string refusal() const = 0;
  };
  /** Output of connection @p id up to byte @p upto may be written now. */
  using Release = std::function<void(ClientId id, std::size_t upto)>;

  explicit DurabilityGate(Journal& journal) : journal_(journal) {}

  /**
   * At the end of each loop iteration, before output is written: hand what
   * the journal recorded to its syncer (also when nobody is told anything,
   * e.g. a recurring op with notify=changes). The loop does not wait for it.
   */
  void commit();
  /**
   * Connection @p id has @p queued bytes of output, the first @p released of
   * them already free to go; @p needs_journal: this iteration's part has more
   * than replies to reads and refusals. @return how many may be written now;
   * the rest is held until this iteration's batch is durable (after what the
   * connection already has held: output leaves in order).
   */
  std::size_t admit(ClientId id, std::size_t released, std::size_t queued, bool needs_journal);
  /** Hand @p release the output held for batches on disk at the last commit(), in order. */
  void releaseDurable(const Release& release) { releaseUpTo(durable_, release); }
  /** A batch landed (the journal's syncer said so): hand @p release what waited for it. */
  void journalDurable(const Release& release) { releaseUpTo(journal_.durable(), release); }
  /** Why changes are refused now ("" when they are not): reads are still served. */
  std::string refusal() const { return journal_.refusal(); }

 private:
  struct Hold {
    std::uint64_t batch;  // journal batch that must be on disk first
    ClientId id;
    std::size_t upto;     // bytes of the connection's output it holds back
  };
  void releaseUpTo(std::uint64_t durable, const Release& release);

  Journal& journal_;
  std::uint64_t batch_ = 0;    // this iteration's, from commit()
  std::uint64_t durable_ = 0;  // on disk at commit()
  bool unavailable_ = false;   // the journal could not be written at commit()
  std::deque<Hold> holds_;     // in batch order
};

}  // namespace lrm::kernel
