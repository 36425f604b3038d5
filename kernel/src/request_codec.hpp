// The protocol's codec on the daemon's side (docs/protocol.md): what a
// request's attributes mean, and how replies and events are written. The
// server calls these and nothing else to turn wire messages into engine
// arguments and engine records into wire messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine.hpp"
#include "lrm/sdk/metadata.hpp"
#include "wire/wire.hpp"

namespace lrm::kernel {

/** @p name's value, non-empty. @throws RequestError `bad-request`. */
std::string requireAttr(const wire::Message& request, const char* name);
/** @p name as an unsigned integer up to @p max; @p fallback when absent. @throws RequestError `bad-request`. */
std::uint64_t unsignedAttr(const wire::Message& request, const char* name, std::uint64_t fallback,
                           std::uint64_t max = UINT64_MAX);
/** The request's `param` children. @throws RequestError `invalid-argument` beyond the bounds. */
sdk::Params paramsOf(const wire::Message& request);
/** An exec event; @p full: with the output and exit reason (privileged peers only). */
wire::Message eventMessage(const ExecEvent& event, bool full = true);
/** An instance as listed; @p full: with parameters and the last results' output. */
wire::Message instanceMessage(const InstanceView& instance, bool full);
/** A register/unregister event. */
wire::Message instanceEvent(const std::string& type, const InstanceView& instance);
/** One `item` child per string. */
void addItems(wire::Message& reply, const std::vector<std::string>& items);
wire::Message errorReply(const std::string& id, const std::string& code, const std::string& text);
/** The error reply for metadata that could not be had. */
wire::Message metadataFailure(const std::string& id, const sdk::Result& result);
/** format="parsed": the metadata as elements. */
wire::Message parsedMetadata(const sdk::AgentMetadata& metadata);

}  // namespace lrm::kernel
