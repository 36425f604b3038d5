// lrm::protocol — the records lrmd and its clients exchange, each defined
// once: its members, and a schema that lists every member with its one name
// and how it may be encoded. Every encoding (the wire's XML elements, lrmctl's
// JSON, lrmd's journal and upgrade handover file) walks the schema with
// forEachField(), so a field is named in one place and cannot drift between
// them (docs/protocol.md, "Records").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "lrm/sdk/metadata.hpp"
#include "lrm/sdk/types.hpp"

namespace lrm::protocol {

/** @brief How a field may be encoded; flags combine. */
enum FieldFlag : unsigned {
  kPlain = 0,
  /** Withheld from unprivileged peers: agents' output and parameters can hold secrets. */
  kPrivileged = 1u << 0,
  /** An exec event's only, not a register/unregister event's. */
  kExecOnly = 1u << 1,
  /** What only an op's result holds (not known when the op starts). */
  kOutcome = 1u << 2,
  /** lrmd's own (journal, handover): never sent on the wire nor printed by lrmctl. */
  kLocal = 1u << 3,
  /** In XML, a child element's text rather than an attribute (it can be long). */
  kText = 1u << 4,
  /** In XML, an item of an exec request's `notify` list (named as the field, less `_only`). */
  kNotify = 1u << 5,
};

/** @brief One member of record @p R: its name, where it is, and its FieldFlags. */
template <class R, class T>
struct Field {
  const char* name;
  T R::*member;
  unsigned flags = kPlain;
  /** For a list of records or strings: the XML element name of one item. */
  const char* element = nullptr;
};

template <class R, class T>
constexpr Field<R, T> field(const char* name, T R::*member, unsigned flags = kPlain, const char* element = nullptr) {
  return {name, member, flags, element};
}

/** @brief The schema of a record: `static constexpr auto kFields = std::make_tuple(field(...), ...)`. */
template <class R>
struct Schema;

template <class R, class = void>
struct HasSchema : std::false_type {};
template <class R>
struct HasSchema<R, std::void_t<decltype(Schema<R>::kFields)>> : std::true_type {};
template <class R>
inline constexpr bool kHasSchema = HasSchema<std::remove_const_t<R>>::value;

/**
 * @brief Call `visit(field, record.*field.member...)` for each Field of the
 * records (all of one type), in schema order: `field.name` is its one name,
 * `field.flags` its FieldFlags (kPrivileged: withheld from unprivileged
 * peers). With two records the visitor sees each field of both, side by side.
 */
template <class Visitor, class R, class... Rs>
void forEachField(Visitor&& visit, R& record, Rs&... others) {
  using Record = std::remove_const_t<R>;
  const auto one = [&](const auto& f) { visit(f, record.*(f.member), others.*(f.member)...); };
  std::apply([&](const auto&... f) { (one(f), ...); }, Schema<Record>::kFields);
}

/** @brief The number of fields in a record's schema. */
template <class R>
constexpr std::size_t fieldCount() {
  return std::tuple_size_v<decltype(Schema<R>::kFields)>;
}

/** @brief An event from lrmd: `exec` (an op result), `register` or `unregister`. */
struct Event {
  std::string type;
  std::string id;     ///< the instance's
  std::string name;   ///< the instance's
  std::string agent;  ///< the instance's agent spec
  // exec events only:
  std::string action;
  std::uint64_t interval_ms = 0;
  sdk::CallId call_id = 0;
  int rc = 0;
  sdk::ExecStatus status = sdk::ExecStatus::Pending;
  std::string exit_reason;
  std::string output;
  std::uint64_t exec_ms = 0;
  std::uint64_t queue_ms = 0;
  std::int64_t t_run = 0;  ///< when it started, epoch seconds
  bool deleted = false;    ///< the instance was unregistered meanwhile
};

/** @brief A queued, delayed, recurring or running op. */
struct Op {
  std::string action;
  std::uint64_t interval_ms = 0;
  sdk::CallId call_id = 0;
  std::uint64_t timeout_ms = 0;
  sdk::Params params;  ///< per-op parameters (lrmd's own)
  bool changes_only = false;
  bool originator_only = false;
  std::int64_t t_run = 0;  ///< when it started, for the op in flight (lrmd's own)
};

/** @brief Everything lrmd knows about one instance. */
struct Instance {
  std::string id;
  std::string name;
  sdk::AgentSpec agent;
  sdk::Params params;
  bool busy = false;
  std::vector<Op> pending;
  std::vector<Op> recurring;
  std::optional<Op> running;  ///< the op in flight (lrmd's own)
  std::vector<Event> last;    ///< latest result per (action, interval), oldest first
};

/** @brief lrmd's answer to a ping. */
struct PingInfo {
  std::string version;
  int protocol = 0;
  std::uint64_t uptime_s = 0;
  std::string boot_id;
  std::uint64_t restored = 0;   ///< instances restored from the state directory at start
  std::uint64_t instances = 0;  ///< registered now
  std::uint64_t in_flight = 0;  ///< operations running now
};

/** @brief Add or replace an instance (also lrmd's journal record of a registration). */
struct RegisterRequest {
  std::string id;
  std::string name;  ///< empty: the id
  std::string agent;
  sdk::Params params;
  bool drop_recurring = false;
};

/** @brief Submit an op. */
struct ExecRequest {
  std::string id;
  std::string action;
  std::uint64_t interval_ms = 0;
  std::uint64_t timeout_ms = 20000;
  std::uint64_t start_delay_ms = 0;
  sdk::Params params;
  bool changes_only = false;
  bool originator_only = false;
};

/** @brief Receive events of other clients' ops too. */
struct SubscribeRequest {
  std::vector<std::string> instances;  ///< empty: all
  bool failures_only = false;
};

// The SDK's agent spec, as an instance carries it.
template <>
struct Schema<sdk::AgentSpec> {
  static constexpr auto kFields =
      std::make_tuple(field("class", &sdk::AgentSpec::cls), field("provider", &sdk::AgentSpec::provider),
                      field("type", &sdk::AgentSpec::type));
};

template <>
struct Schema<Event> {
  static constexpr auto kFields = std::make_tuple(
      field("type", &Event::type), field("id", &Event::id), field("name", &Event::name),
      field("agent", &Event::agent), field("action", &Event::action, kExecOnly),
      field("interval_ms", &Event::interval_ms, kExecOnly), field("call_id", &Event::call_id, kExecOnly),
      field("rc", &Event::rc, kExecOnly | kOutcome), field("status", &Event::status, kExecOnly | kOutcome),
      field("exit_reason", &Event::exit_reason, kExecOnly | kOutcome | kPrivileged),
      field("output", &Event::output, kExecOnly | kOutcome | kPrivileged | kText),
      field("exec_ms", &Event::exec_ms, kExecOnly | kOutcome), field("queue_ms", &Event::queue_ms, kExecOnly | kOutcome),
      field("t_run", &Event::t_run, kExecOnly), field("deleted", &Event::deleted, kExecOnly | kOutcome));
};

template <>
struct Schema<Op> {
  static constexpr auto kFields = std::make_tuple(
      field("action", &Op::action), field("interval_ms", &Op::interval_ms), field("call_id", &Op::call_id),
      field("timeout_ms", &Op::timeout_ms), field("params", &Op::params, kLocal | kPrivileged),
      field("changes_only", &Op::changes_only, kLocal), field("originator_only", &Op::originator_only, kLocal),
      field("t_run", &Op::t_run, kLocal));
};

template <>
struct Schema<Instance> {
  static constexpr auto kFields = std::make_tuple(
      field("id", &Instance::id), field("name", &Instance::name), field("agent", &Instance::agent),
      field("params", &Instance::params, kPrivileged), field("busy", &Instance::busy),
      field("pending", &Instance::pending, kPlain, "pending"),
      field("recurring", &Instance::recurring, kPlain, "recurring"),
      field("running", &Instance::running, kLocal, "running"), field("last", &Instance::last, kPlain, "event"));
};

template <>
struct Schema<PingInfo> {
  static constexpr auto kFields = std::make_tuple(
      field("version", &PingInfo::version), field("protocol", &PingInfo::protocol),
      field("uptime_s", &PingInfo::uptime_s), field("boot_id", &PingInfo::boot_id),
      field("restored", &PingInfo::restored), field("instances", &PingInfo::instances),
      field("in_flight", &PingInfo::in_flight));
};

template <>
struct Schema<RegisterRequest> {
  static constexpr auto kFields = std::make_tuple(
      field("id", &RegisterRequest::id), field("name", &RegisterRequest::name),
      field("agent", &RegisterRequest::agent), field("params", &RegisterRequest::params, kPrivileged),
      field("drop_recurring", &RegisterRequest::drop_recurring));
};

template <>
struct Schema<ExecRequest> {
  static constexpr auto kFields = std::make_tuple(
      field("id", &ExecRequest::id), field("action", &ExecRequest::action),
      field("interval_ms", &ExecRequest::interval_ms), field("timeout_ms", &ExecRequest::timeout_ms),
      field("start_delay_ms", &ExecRequest::start_delay_ms), field("params", &ExecRequest::params, kPrivileged),
      field("changes_only", &ExecRequest::changes_only, kNotify),
      field("originator_only", &ExecRequest::originator_only, kNotify));
};

template <>
struct Schema<SubscribeRequest> {
  static constexpr auto kFields =
      std::make_tuple(field("instances", &SubscribeRequest::instances, kPlain, "instance"),
                      field("failures_only", &SubscribeRequest::failures_only));
};

// The agent metadata lrmd parses (format="parsed"); the structs are the SDK's.
template <>
struct Schema<sdk::ParameterInfo> {
  using P = sdk::ParameterInfo;
  static constexpr auto kFields = std::make_tuple(
      field("name", &P::name), field("type", &P::type), field("default", &P::default_value),
      field("required", &P::required), field("unique", &P::unique), field("reloadable", &P::reloadable),
      field("deprecated", &P::deprecated), field("values", &P::values, kPlain, "value"),
      field("shortdesc", &P::shortdesc), field("longdesc", &P::longdesc));
};

template <>
struct Schema<sdk::ActionInfo> {
  using A = sdk::ActionInfo;
  static constexpr auto kFields =
      std::make_tuple(field("name", &A::name), field("timeout", &A::timeout), field("interval", &A::interval),
                      field("depth", &A::depth), field("role", &A::role));
};

template <>
struct Schema<sdk::AgentMetadata> {
  using M = sdk::AgentMetadata;
  static constexpr auto kFields = std::make_tuple(
      field("name", &M::name), field("version", &M::version), field("shortdesc", &M::shortdesc),
      field("longdesc", &M::longdesc), field("parameters", &M::parameters, kPlain, "parameter"),
      field("actions", &M::actions, kPlain, "action"));
};

namespace detail {

template <class T>
bool sameValue(const T& a, const T& b);

template <class T>
bool sameValue(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!sameValue(a[i], b[i])) return false;
  }
  return true;
}

template <class T>
bool sameValue(const std::optional<T>& a, const std::optional<T>& b) {
  return a.has_value() == b.has_value() && (!a || sameValue(*a, *b));
}

}  // namespace detail

/** @brief Are two records equal, field by field (through the schema)? */
template <class R>
bool sameFields(const R& a, const R& b) {
  bool same = true;
  forEachField([&](const auto&, const auto& x, const auto& y) { same = same && detail::sameValue(x, y); }, a, b);
  return same;
}

template <class T>
bool detail::sameValue(const T& a, const T& b) {
  if constexpr (kHasSchema<T>) {
    return sameFields(a, b);
  } else {
    return a == b;
  }
}

template <class R, class = std::enable_if_t<kHasSchema<R>>>
bool operator==(const R& a, const R& b) {
  return sameFields(a, b);
}

template <class R, class = std::enable_if_t<kHasSchema<R>>>
bool operator!=(const R& a, const R& b) {
  return !sameFields(a, b);
}

}  // namespace lrm::protocol
