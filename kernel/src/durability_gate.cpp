// Output held until the journal batch it depends on is durable (see
// durability_gate.hpp): one queue of holds in batch order, released from the
// front as batches land.
#include "durability_gate.hpp"

#include <algorithm>

namespace lrm::kernel {

void DurabilityGate::commit() {
  batch_ = journal_.commit();
  durable_ = journal_.durable();
  // While the journal cannot be written, replies to reads (and refusals) need
  // nothing from it and go out at once (behind what a connection has held).
  unavailable_ = !journal_.refusal().empty();
}

std::size_t DurabilityGate::admit(ClientId id, std::size_t released, std::size_t queued, bool needs_journal) {
  const bool held = std::any_of(holds_.begin(), holds_.end(), [id](const Hold& hold) { return hold.id == id; });
  if ((batch_ <= durable_ || (unavailable_ && !needs_journal)) && !held) return queued;
  if (queued > released) holds_.push_back({batch_, id, queued});
  return released;
}

void DurabilityGate::releaseUpTo(std::uint64_t durable, const Release& release) {
  while (!holds_.empty() && holds_.front().batch <= durable) {
    const Hold hold = holds_.front();
    holds_.pop_front();
    release(hold.id, hold.upto);
  }
}

}  // namespace lrm::kernel
