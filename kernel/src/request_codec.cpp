// Request decoding and reply/event encoding of the daemon's protocol
// (docs/protocol.md): request attributes and parameters checked and turned
// into engine arguments; replies, exec and instance events, parsed metadata
// and error replies built as wire messages. No state, no sockets.
#include "request_codec.hpp"

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
  sdk::Params params;
  for (const auto& child : request.children) {
    if (child.kind != "param") continue;
    const std::string name = child.get("name");  // checked by the engine
    const std::string value = child.get("value");
    if (value.size() > kMaxParamValueBytes) {
      throw RequestError("invalid-argument", "value of parameter '" + name + "' is longer than " +
                                                 std::to_string(kMaxParamValueBytes) + " bytes");
    }
    params[name] = value;
    if (params.size() > kMaxParams) {
      throw RequestError("invalid-argument", "more than " + std::to_string(kMaxParams) + " parameters");
    }
  }
  return params;
}

// @p full: with the agent's output and exit reason, which only privileged
// peers may read (they can hold anything the agent prints, e.g. secrets).
Message eventMessage(const ExecEvent& event, bool full) {
  Message message("event");
  message.set("type", "exec")
      .set("id", event.instance_id)
      .set("name", event.instance_name)
      .set("agent", event.agent)
      .set("action", event.action)
      .set("interval_ms", event.interval_ms)
      .set("call_id", event.call_id)
      .set("rc", event.result.rc)
      .set("status", sdk::toString(event.result.status))
      .set("exec_ms", event.exec_ms)
      .set("queue_ms", event.queue_ms)
      .set("t_run", std::to_string(event.t_run))
      .set("deleted", event.deleted);
  if (!full) return message;
  message.set("exit_reason", event.result.exit_reason);
  Message output("output");
  output.text = event.result.output;
  message.add(std::move(output));
  return message;
}

// @p full: with the parameters (they may be passwords) and the last results'
// output and exit reason; unprivileged peers get neither.
Message instanceMessage(const InstanceView& instance, bool full) {
  Message message("instance");
  message.set("id", instance.id)
      .set("name", instance.name)
      .set("agent", instance.agent.toString())
      .set("class", instance.agent.cls)
      .set("provider", instance.agent.provider)
      .set("type", instance.agent.type)
      .set("busy", instance.busy);
  for (const auto& [name, value] : full ? instance.params : sdk::Params{}) {
    message.add(Message("param")).set("name", name).set("value", value);
  }
  auto addOps = [&](const char* kind, const std::vector<OpView>& ops) {
    for (const auto& op : ops) {
      message.add(Message(kind))
          .set("action", op.action)
          .set("interval_ms", op.interval_ms)
          .set("call_id", op.call_id)
          .set("timeout_ms", op.timeout_ms);
    }
  };
  addOps("pending", instance.pending);
  addOps("recurring", instance.recurring);
  for (const auto& event : instance.last) message.add(eventMessage(event, full));
  return message;
}

// A register/unregister event: `type` is the event type here, so the agent
// goes in as one spec string only.
Message instanceEvent(const std::string& type, const InstanceView& instance) {
  Message message("event");
  message.set("type", type).set("id", instance.id).set("name", instance.name).set("agent", instance.agent.toString());
  return message;
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
Message parsedMetadata(const sdk::AgentMetadata& metadata) {
  Message agent("agent");
  agent.set("name", metadata.name)
      .set("version", metadata.version)
      .set("shortdesc", metadata.shortdesc)
      .set("longdesc", metadata.longdesc);
  for (const auto& p : metadata.parameters) {
    Message& parameter = agent.add(Message("parameter"));
    parameter.set("name", p.name)
        .set("type", p.type)
        .set("default", p.default_value)
        .set("required", p.required)
        .set("unique", p.unique)
        .set("reloadable", p.reloadable)
        .set("deprecated", p.deprecated)
        .set("shortdesc", p.shortdesc)
        .set("longdesc", p.longdesc);
    for (const auto& value : p.values) parameter.add(Message("value")).set("value", value);
  }
  for (const auto& a : metadata.actions) {
    agent.add(Message("action"))
        .set("name", a.name)
        .set("timeout", a.timeout)
        .set("interval", a.interval)
        .set("depth", a.depth)
        .set("role", a.role);
  }
  return agent;
}

}  // namespace lrm::kernel
