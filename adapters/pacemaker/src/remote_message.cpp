// Pacemaker Remote messages (remote_message.hpp): parsing with the cluster's
// limits, the envelope, and the elements a request's data lives in.
#include "remote_message.hpp"

#include <utility>

namespace lrm::pacemaker {
namespace {

constexpr std::string_view kTypeAttribute = "lrmd_remote_msg_type";
constexpr std::string_view kIdAttribute = "lrmd_remote_msg_id";

// @p value quoted for an error message: a peer's text, so made printable and clipped.
std::string quoted(std::string_view value) {
  constexpr std::size_t kShown = 64;
  return "\"" + wire::sanitize(value.substr(0, kShown)) + (value.size() > kShown ? "\"..." : "\"");
}

}  // namespace

std::optional<wire::Message> parseMessage(std::string_view xml, std::string& error) {
  return wire::decode(xml, error, kMessageLimits);
}

std::optional<Envelope> readEnvelope(const wire::Message& message, std::string& error) {
  Envelope envelope;
  const std::string* type = message.find(kTypeAttribute);
  if (!type) {
    error = "<" + message.kind + "> has no " + std::string(kTypeAttribute);
    return std::nullopt;
  }
  if (*type == "request") {
    envelope.type = MessageType::Request;
  } else if (*type == "reply") {
    envelope.type = MessageType::Reply;
  } else if (*type == "notify") {
    envelope.type = MessageType::Notify;
  } else {
    error = "<" + message.kind + "> has unknown " + std::string(kTypeAttribute) + " " + quoted(*type) +
            " (expected request, reply or notify)";
    return std::nullopt;
  }
  const std::optional<std::uint64_t> id = message.getUnsigned(kIdAttribute);
  if (!id) {
    error =
        "<" + message.kind + "> has " +
        (message.has(kIdAttribute) ? std::string(kIdAttribute) + " " + quoted(*message.find(kIdAttribute)) +
                                         ", not a non-negative integer"
                                   : "no " + std::string(kIdAttribute));
    return std::nullopt;
  }
  envelope.id = *id;
  envelope.op = message.get("lrmd_op");
  return envelope;
}

const wire::Message* child(const wire::Message& message, std::string_view kind) {
  for (const auto& candidate : message.children) {
    if (candidate.kind == kind) return &candidate;
  }
  return nullptr;
}

const wire::Message* requestResource(const wire::Message& request) {
  const wire::Message* calldata = child(request, "lrmd_calldata");
  return calldata ? child(*calldata, "lrmd_rsc") : nullptr;
}

const wire::Message* resourceParameters(const wire::Message& resource) {
  return child(resource, "attributes");
}

wire::Message makeReply(std::uint64_t request_id) {
  wire::Message reply("lrmd_reply");
  reply.set(std::string(kIdAttribute), request_id);
  reply.set(std::string(kTypeAttribute), "reply");
  return reply;
}

wire::Message makeNotify(std::string kind) {
  wire::Message notify(std::move(kind));
  notify.set(std::string(kIdAttribute), std::uint64_t{0});
  notify.set(std::string(kTypeAttribute), "notify");
  return notify;
}

}  // namespace lrm::pacemaker
