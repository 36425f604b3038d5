// What one lrmd image hands to the next at an upgrade in place
// (docs/operations.md): the operations (queued, delayed, idle recurring and
// in flight, with their originators), the agent processes in flight with
// their pipes, and the clients' sessions. Written as one JSON file in the
// state directory just before exec(); the new image reads and removes it
// (upgrade.cpp owns the file's life, this file its format).
// The durable state (instances, last results) is in the journal, not here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine.hpp"
#include "lrm/protocol/records.hpp"
#include "sessions.hpp"
#include "spawner.hpp"

namespace lrm::kernel {

struct Handover {
  CarriedOps ops;
  std::vector<CarriedSession> sessions;
  ClientId next_client = 1;
  std::vector<HandedChild> children;
};

/** @throws std::runtime_error when the file cannot be written. */
void writeHandover(const std::string& path, const Handover& handover);
/** @throws std::runtime_error when the file is missing, unreadable or of another format. */
Handover readHandover(const std::string& path);
/** The handover in @p text (a file's contents). @throws std::runtime_error when it is not one. */
Handover parseHandover(std::string_view text);

}  // namespace lrm::kernel

namespace lrm::protocol {

// The handover file's op: what the engine carries of an op besides its
// record (op, the protocol's) and its state (written by name).
template <>
struct Schema<kernel::CarriedOp> {
  using C = kernel::CarriedOp;
  static constexpr auto kFields = std::make_tuple(
      field("instance_id", &C::instance_id), field("origin", &C::origin), field("start_delay_ms", &C::start_delay_ms),
      field("remaining_ms", &C::remaining_ms), field("waited_ms", &C::waited_ms), field("queue_ms", &C::queue_ms),
      field("last_rc", &C::last_rc), field("notified", &C::notified), field("notified_rc", &C::notified_rc),
      field("notified_status", &C::notified_status), field("rerun_now", &C::rerun_now),
      field("cancel_requested", &C::cancel_requested));
};

}  // namespace lrm::protocol

