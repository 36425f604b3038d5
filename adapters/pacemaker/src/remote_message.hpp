// Pacemaker Remote messages: XML elements (`<lrmd_command>`, `<lrmd_reply>`,
// `<lrmd_notify>`, `<lrmd_ipc_proxy>`) held as lrm's wire::Message and parsed
// by wire::decode with limits that fit real cluster configurations. A thin
// typed layer reads the envelope every message carries (type, id, op), finds
// a request's resource and parameters, and starts replies and notifies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/wire.hpp"

namespace lrm::pacemaker {

/**
 * Bounds for parsing a message from the cluster:
 * * 512 attributes per element: an exec's `<attributes>` element carries the
 *   resource's instance parameters and `CRM_meta_*` values as attributes, one
 *   each, so a resource with a hundred parameters is normal and 64 (lrm's own
 *   limit) is not enough; the largest element of any sample has 21.
 * * 32 levels: the deepest sample (a CIB query reply through the IPC proxy)
 *   has 10; a whole CIB wrapped in the proxy's 4 levels stays under 20.
 * * 262,144 elements: a payload at the 20 MiB cap of typical CIB status
 *   entries (~300 bytes each) has about 70,000; the bound keeps 20 MiB of
 *   `<a/>` (5 million elements) from taking gigabytes of nodes.
 */
inline constexpr wire::DecodeLimits kMessageLimits{512, 262144, 32};

/** Parse one message's XML text; nullopt with @p error when malformed or beyond kMessageLimits. */
std::optional<wire::Message> parseMessage(std::string_view xml, std::string& error);

/** `lrmd_remote_msg_type`. */
enum class MessageType { Invalid = 0, Request, Reply, Notify };

/** What every message carries about itself. */
struct Envelope {
  MessageType type = MessageType::Invalid;
  std::uint64_t id = 0;  // lrmd_remote_msg_id: a request's number, echoed by its reply; 0 in notifies
  std::string op;        // lrmd_op; empty when absent (replies, the IPC proxy's notifies)
};

/**
 * Read @p message's envelope. Returns nullopt with @p error naming the
 * attribute and its value when the type is missing or unknown or the id is
 * missing or not a non-negative integer.
 */
std::optional<Envelope> readEnvelope(const wire::Message& message, std::string& error);

/** The first child element named @p kind, or nullptr. */
const wire::Message* child(const wire::Message& message, std::string_view kind);

/** A request's `<lrmd_calldata><lrmd_rsc>` element, or nullptr. */
const wire::Message* requestResource(const wire::Message& request);

/**
 * The `<attributes>` element of a resource (an exec's `lrmd_rsc`, or an exec
 * notify): one attribute per instance parameter and `CRM_meta_*` value. nullptr when absent.
 */
const wire::Message* resourceParameters(const wire::Message& resource);

/** `<lrmd_reply lrmd_remote_msg_id=@p request_id lrmd_remote_msg_type="reply"/>`, to be filled in. */
wire::Message makeReply(std::uint64_t request_id);

/**
 * A notify (`lrmd_remote_msg_id="0" lrmd_remote_msg_type="notify"`) named
 * @p kind: `lrmd_notify` for results, `lrmd_ipc_proxy` for the proxy and `shutdown_req`.
 */
wire::Message makeNotify(std::string kind = "lrmd_notify");

}  // namespace lrm::pacemaker
