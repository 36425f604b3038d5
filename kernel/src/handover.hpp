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
