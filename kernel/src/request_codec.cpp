// Request decoding and reply/event encoding of the daemon's protocol
// (docs/protocol.md): request attributes and parameters checked and turned
// into engine arguments; replies, exec and instance events, parsed metadata
// and error replies built as wire messages. No state, no sockets.
#include "request_codec.hpp"

#include "protocol/codec.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace lrm::kernel {

using wire::Message;

namespace {

constexpr std::size_t kMaxParams = 256;
constexpr std::size_t kMaxParamValueBytes = 64 * 1024;

}  // namespace

std::string requireAttr(const Message& request, const char* name) {
  const std::string* value = request.find(name);
  if (!value || value->empty()) {
    throw RequestError("bad-request", "'" + request.kind + "' needs a non-empty '" + name + "' attribute");
  }
  return *value;
}

std::uint64_t unsignedAttr(const Message& request, const char* name, std::uint64_t fallback,
                           std::uint64_t max) {
  if (!request.has(name)) return fallback;
  const auto value = request.getUnsigned(name);
  if (!value || *value > max) {
    throw RequestError("bad-request", "attribute '" + std::string(name) + "' of '" + request.kind +
                                          "' must be an unsigned integer up to " + std::to_string(max) +
                                          ", not '" + request.get(name) + "'");
  }
  return *value;
}

sdk::Params paramsOf(const Message& request) {
  sdk::Params params = protocol::xml::paramsOf(request);  // names are checked by the engine
  if (params.size() > kMaxParams) {
    throw RequestError("invalid-argument", "more than " + std::to_string(kMaxParams) + " parameters");
  }
  for (const auto& [name, value] : params) {
    if (value.size() > kMaxParamValueBytes) {
      throw RequestError("invalid-argument", "value of parameter '" + name + "' is longer than " +
                                                 std::to_string(kMaxParamValueBytes) + " bytes");
    }
  }
  return params;
}

// @p full: with the agent's output and exit reason, which only privileged
// peers may read (they can hold anything the agent prints, e.g. secrets).
Message eventMessage(const ExecEvent& event, bool full) { return protocol::toMessage(event, full); }

// @p full: with the parameters (they may be passwords) and the last results'
// output and exit reason; unprivileged peers get neither.
Message instanceMessage(const InstanceView& instance, bool full) { return protocol::toMessage(instance, full); }

// A register/unregister event: `type` is the event type here, so the agent
// goes in as one spec string only.
Message instanceEvent(const std::string& type, const InstanceView& instance) {
  ExecEvent event;
  event.type = type;
  event.id = instance.id;
  event.name = instance.name;
  event.agent = instance.agent.toString();
  return protocol::toMessage(event);
}

void addItems(Message& reply, const std::vector<std::string>& items) {
  for (const auto& item : items) reply.add(Message("item")).set("value", item);
}

Message errorReply(const std::string& id, const std::string& code, const std::string& text) {
  Message reply("reply");
  reply.set("id", id).set("ok", false).set("code", code).set("message", text);
  return reply;
}

// The error reply for metadata that could not be had.
Message metadataFailure(const std::string& id, const sdk::Result& result) {
  return errorReply(id, result.status == sdk::ExecStatus::NotInstalled ? "not-installed" : "failed",
                    result.exit_reason);
}


// format="parsed": the metadata as elements (docs/protocol.md).
Message parsedMetadata(const sdk::AgentMetadata& metadata) { return protocol::toMessage(metadata); }

}  // namespace lrm::kernel
