// ExecutorBridge (executor_bridge.hpp): each executor request of the cluster
// becomes client-library calls to lrmd, and each lrmd result an `lrmd_notify`
// with the fields pacemaker-execd 2.1.5 fills in. What lrmd does not keep for
// Pacemaker (the userdata string, the `<attributes>` to echo, execd's timing
// fields) is kept here per call id until the op is over; resources of a class
// lrm does not have are kept here too, so that they behave as execd's do.
#include "executor_bridge.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "executor_mapping.hpp"
#include "remote_log.hpp"
#include "remote_message.hpp"

namespace lrm::pacemaker {
namespace {

constexpr std::string_view kRscInfo = "lrmd_rsc_info";
constexpr std::string_view kRscRegister = "lrmd_rsc_register";
constexpr std::string_view kRscExec = "lrmd_rsc_exec";
constexpr std::string_view kRscCancel = "lrmd_rsc_cancel";
constexpr std::string_view kRscUnregister = "lrmd_rsc_unregister";
constexpr std::string_view kGetRecurring = "lrmd_get_recurring";

using sdk::LogLevel;

// Log one line at @p level through lrm-remoted's log. Resource ids, classes
// and actions come from the cluster: what is not text becomes U+FFFD, and
// line breaks become spaces, so that one message reads as one line.
void log(LogLevel level, const std::string& line) {
  if (!remoteLogEnabled(level)) return;
  std::string text = wire::sanitize(line);
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  remoteLog(level, text);
}

// A request refused with @p rc, the negative errno execd would answer.
struct Refusal {
  int rc;
  std::string reason;
};

// An unsigned attribute of a request: 0 when absent (execd reads a missing
// number as 0), refused when it is not a number.
std::uint64_t number(const wire::Message& element, std::string_view name) {
  if (!element.has(name)) return 0;
  if (auto value = element.getUnsigned(name)) return *value;
  throw Refusal{-EINVAL, std::string(name) + " \"" + wire::sanitize(element.get(name).substr(0, 64)) +
                             "\" is not a non-negative integer"};
}

// execd names the function that made a reply in lrmd_origin; the cluster
// only logs it, but a side-by-side comparison sees it.
const char* replyOrigin(std::string_view op) {
  if (op == kRscInfo) return "process_lrmd_get_rsc_info";
  if (op == kGetRecurring) return "process_lrmd_get_recurring";
  return "process_lrmd_message";
}

// What a warning says the cluster was unable to do to a resource.
std::string verbOf(std::string_view op, const wire::Message& command) {
  const wire::Message* rsc = requestResource(command);
  const std::string action = rsc && rsc->has("lrmd_rsc_action") ? rsc->get("lrmd_rsc_action") : "an operation";
  if (op == kRscInfo) return "describe";
  if (op == kRscRegister) return "register";
  if (op == kRscExec) return "execute " + action + " of";
  if (op == kRscCancel) return "cancel " + action + " of";
  if (op == kRscUnregister) return "unregister";
  if (op == kGetRecurring) return "list the recurring operations of";
  return "carry out " + std::string(op) + " for";
}

// The `lrmd_rsc_id` of a request's resource; empty when absent.
std::string resourceId(const wire::Message& command) {
  const wire::Message* rsc = requestResource(command);
  return rsc ? rsc->get("lrmd_rsc_id") : std::string();
}

// The agent parameters of an exec: every attribute of `<attributes>`, then
// its `<param name value>` children (how Pacemaker sends names that start
// with a digit, which cannot be XML attributes).
sdk::Params execParameters(const wire::Message* attributes) {
  sdk::Params params;
  if (!attributes) return params;
  for (const auto& [name, value] : attributes->attrs) params[name] = value;
  for (const auto& child : attributes->children) {
    if (child.kind == "param" && child.has("name") && child.has("value")) {
      params[child.get("name")] = child.get("value");
    }
  }
  return params;
}

}  // namespace

class ExecutorBridge::Impl {
 public:
  Impl(client::Client& lrmd, Broadcast broadcast) : lrmd_(lrmd), broadcast_(std::move(broadcast)) {
    // Results of ops this client did not submit reach the cluster too: those
    // of an earlier lrm-remoted, and of local tools (execd notifies every op
    // to every client). pump() keeps the ones of resources the cluster named.
    lrmd_.subscribe({});
  }

  wire::Message handle(const wire::Message& command, std::uint64_t request_id) {
    const std::string op = command.get("lrmd_op");
    const std::string id = resourceId(command);
    wire::Message reply = makeReply(request_id);
    reply.set("lrmd_origin", replyOrigin(op));
    request_id_ = request_id;
    try {
      if (op == kRscInfo) {
        describe(id, reply);
      } else if (op == kRscRegister) {
        registerResource(command, id, reply);
      } else if (op == kRscExec) {
        execute(command, id, reply);
      } else if (op == kRscCancel) {
        cancel(command, id, reply);
      } else if (op == kRscUnregister) {
        unregisterResource(id, reply);
      } else if (op == kGetRecurring) {
        listRecurring(command, id, reply);
      } else {
        throw Refusal{-EOPNOTSUPP, "not an executor request"};
      }
    } catch (const Refusal& refusal) {
      return refuse(std::move(reply), verbOf(op, command), id, request_id, refusal.rc, refusal.reason);
    } catch (const client::Error& error) {
      if (isLrmdUnreachable(error.code())) throw;
      // The controller asks about every resource before it registers it:
      // an unknown one is the normal answer there, not a refusal to warn of.
      const bool expected = op == kRscInfo && error.code() == "unknown-instance";
      return refuse(std::move(reply), verbOf(op, command), id, request_id, errnoForLrmError(error.code()),
                    "lrmd refused it (" + error.code() + "): " + error.what(),
                    expected ? LogLevel::Debug : LogLevel::Warning);
    }
    log(LogLevel::Debug, op + " [" + id + "]: lrmd_rc " + reply.get("lrmd_rc"));
    return reply;
  }

  void pump(bool broadcast) {
    while (!deferred_.empty()) {
      if (broadcast) broadcast_(deferred_.front());
      deferred_.pop_front();
    }
    while (auto event = lrmd_.nextEvent(client::Millis(0))) {
      if (event->type != "exec") continue;  // register/unregister events: notified by handle()
      std::optional<wire::Message> notify = resultNotify(*event);
      if (notify && broadcast) broadcast_(*notify);
    }
  }

  // execd cancels the recurring ops of every resource registered with
  // drop_recurring. The cluster's controller registers every resource so,
  // but it does not register again a resource lrmd still has after
  // lrm-remoted restarted: so every resource the cluster named counts,
  // except those registered through this bridge without the flag.
  void lastConnectionClosed() {
    for (const std::string& id : named_) {
      if (keep_recurring_.count(id) || foreign_.count(id)) continue;
      client::InstanceInfo info;
      try {
        info = lrmd_.info(id);
      } catch (const client::Error& error) {
        if (isLrmdUnreachable(error.code())) throw;
        if (error.code() != "unknown-instance") {
          log(LogLevel::Warning, "unable to drop the recurring operations of [" + id + "]: " + error.what());
        }
        continue;
      }
      for (const auto& op : info.recurring) {
        const std::string what = op.action + " every " + std::to_string(op.interval_ms) + " ms";
        try {
          lrmd_.cancel(id, op.action, op.interval_ms);
          markEnding(id, [&](const CallRecord& other) {
            return other.action == op.action && other.interval_ms == op.interval_ms;
          });
          log(LogLevel::Info,
              "[" + id + "] " + what + " cancelled: the last cluster connection closed");
        } catch (const client::Error& error) {
          if (isLrmdUnreachable(error.code())) throw;
          // not-found: already being cancelled, or ended meanwhile
          if (error.code() != "not-found") {
            log(LogLevel::Warning, "unable to cancel " + what + " of [" + id + "]: " + error.what());
          }
        }
      }
    }
    pump(false);
  }

 private:
  // What an op's notify echoes and how execd fills in its timing fields.
  struct CallRecord {
    std::string rsc_id;
    std::string action;
    std::uint64_t interval_ms = 0;
    std::uint64_t timeout_ms = 0;
    std::uint64_t start_delay_ms = 0;
    std::optional<std::string> userdata;
    wire::Message attributes{"attributes"};
    bool ending = false;        // cancelled, stopped or unregistered: lrmd will not merge an exec into it
    bool notified = false;      // a result was notified: execd zeroes the times of later ones
    int last_rc = 0;            // execd starts from rc 0
    std::int64_t rcchange = 0;  // epoch s of the last change of rc; 0: never changed
  };

  // A resource of a class lrm does not have (upstart, stonith, ...): execd
  // registers any class without checking it; lrmd refuses the registration,
  // so the bridge keeps it and answers its ops itself (foreignResult()).
  struct Foreign {
    std::string cls;
    std::string provider;
    std::string type;
  };

  static wire::Message refuse(wire::Message reply, const std::string& verb, const std::string& id,
                              std::uint64_t request_id, int rc, const std::string& reason,
                              LogLevel level = LogLevel::Warning) {
    log(level,
        "unable to " + verb + " [" + id + "]: " + reason + " (answered " + std::to_string(rc) + ")");
    reply.set("lrmd_rc", rc);
    reply.set("lrmd_callid", request_id);
    return reply;
  }

  // execd numbers every request with its call id counter; its clients read
  // the number only from an exec's reply (the op's call id). Other requests,
  // and their notifies, carry the cluster's number of the request (counted
  // from 1), so that the field is set, as execd's always is.
  void succeed(wire::Message& reply, std::int64_t rc = 0) const { succeedCall(reply, rc, request_id_); }

  static void succeedCall(wire::Message& reply, std::int64_t rc, std::uint64_t call_id) {
    reply.set("lrmd_rc", std::to_string(rc));
    reply.set("lrmd_callid", call_id);
  }

  // Mark the ops of @p id that @p which selects as ending: their last result is still to come.
  template <typename Which>
  void markEnding(const std::string& id, Which which) {
    for (auto& [call_id, record] : calls_) {
      if (record.rsc_id == id && which(record)) record.ending = true;
    }
  }

  // execd's notify of register and unregister, after every accepted one.
  void genericNotify(std::string_view op, const std::string& id, int rc) {
    wire::Message notify = makeNotify();
    notify.set("lrmd_origin", "send_generic_notify");
    notify.set("lrmd_rc", rc);
    notify.set("lrmd_callid", request_id_);
    notify.set("lrmd_op", std::string(op));
    notify.set("lrmd_rsc_id", id);
    broadcast_(notify);
  }

  void describe(const std::string& id, wire::Message& reply) {
    if (id.empty()) throw Refusal{-ENODEV, "no lrmd_rsc_id"};
    Foreign agent;
    if (auto foreign = foreign_.find(id); foreign != foreign_.end()) {
      agent = foreign->second;
    } else {
      const sdk::AgentSpec spec = lrmd_.info(id).agent;
      agent = {spec.cls, spec.provider, spec.type};
    }
    named_.insert(id);
    succeed(reply);
    reply.set("lrmd_rsc_id", id);
    reply.set("lrmd_class", agent.cls);
    if (!agent.provider.empty()) reply.set("lrmd_provider", agent.provider);
    reply.set("lrmd_type", agent.type);
  }

  void registerResource(const wire::Message& command, const std::string& id, wire::Message& reply) {
    const wire::Message* rsc = requestResource(command);
    if (id.empty()) throw Refusal{-EINVAL, "no lrmd_rsc_id"};
    Foreign agent{rsc->get("lrmd_class"), rsc->get("lrmd_provider"), rsc->get("lrmd_type")};
    if (agent.cls.empty() || agent.type.empty()) throw Refusal{-EINVAL, "no lrmd_class or lrmd_type"};
    const bool drop_recurring = dropRecurringRequested(number(command, "lrmd_callopt"));
    client::RegisterRequest request;
    request.id = id;
    request.name = id;
    request.agent = agentSpecOf(agent.cls, agent.provider, agent.type);
    request.drop_recurring = drop_recurring;
    try {
      lrmd_.registerInstance(request);
      foreign_.erase(id);
    } catch (const client::Error& error) {
      if (error.code() != "unknown-class") throw;
      // Replace what lrmd had under this id, as execd replaces a resource.
      lrmd_.unregisterInstance(id);
      log(LogLevel::Warning, "[" + id + "] registered with class \"" + agent.cls +
                                           "\", which lrm does not have: its operations will end \"not installed\"");
      foreign_[id] = std::move(agent);
    }
    if (drop_recurring) {
      keep_recurring_.erase(id);
    } else {
      keep_recurring_.insert(id);
    }
    named_.insert(id);
    succeed(reply);
    genericNotify(kRscRegister, id, 0);
  }

  void execute(const wire::Message& command, const std::string& id, wire::Message& reply) {
    const wire::Message* rsc = requestResource(command);
    if (id.empty()) throw Refusal{-EINVAL, "no lrmd_rsc_id"};
    CallRecord record;
    record.rsc_id = id;
    record.action = rsc->get("lrmd_rsc_action");
    if (record.action.empty()) throw Refusal{-EINVAL, "no lrmd_rsc_action"};
    record.interval_ms = number(*rsc, "lrmd_rsc_interval");
    record.timeout_ms = number(*rsc, "lrmd_timeout");
    record.start_delay_ms = number(*rsc, "lrmd_rsc_start_delay");
    if (const std::string* userdata = rsc->find("lrmd_rsc_userdata_str")) record.userdata = *userdata;
    const wire::Message* attributes = resourceParameters(*rsc);
    if (attributes) record.attributes = *attributes;
    named_.insert(id);

    if (auto foreign = foreign_.find(id); foreign != foreign_.end()) {
      const sdk::CallId call_id = ++last_call_id_;
      deferred_.push_back(foreignResult(record, call_id, foreign->second.cls));
      succeedCall(reply, static_cast<std::int64_t>(call_id), call_id);
      return;
    }

    client::ExecRequest request;
    request.id = id;
    request.action = record.action;
    request.interval_ms = record.interval_ms;
    request.timeout_ms = record.timeout_ms;
    request.start_delay_ms = record.start_delay_ms;
    request.params = execParameters(attributes);
    request.changes_only = changesOnlyRequested(number(command, "lrmd_callopt"));
    const sdk::CallId call_id = lrmd_.exec(request);
    last_call_id_ = std::max(last_call_id_, call_id);
    if (record.interval_ms > 0) {
      // lrmd merges a repeated recurring op into the existing one (unless it
      // is ending), which takes the new call id: the old one will not be
      // heard of again.
      for (auto it = calls_.begin(); it != calls_.end();) {
        const CallRecord& other = it->second;
        const bool merged = !other.ending && other.rsc_id == id && other.action == record.action &&
                            other.interval_ms == record.interval_ms;
        it = merged ? calls_.erase(it) : std::next(it);
      }
    }
    // A stop cancels the resource's recurring ops first.
    if (record.action == "stop") markEnding(id, [](const CallRecord& other) { return other.interval_ms > 0; });
    calls_[call_id] = std::move(record);
    succeedCall(reply, static_cast<std::int64_t>(call_id), call_id);
  }

  void cancel(const wire::Message& command, const std::string& id, wire::Message& reply) {
    const wire::Message* rsc = requestResource(command);
    if (id.empty()) throw Refusal{-EINVAL, "no lrmd_rsc_id"};
    const std::string action = rsc->get("lrmd_rsc_action");
    if (action.empty()) throw Refusal{-EINVAL, "no lrmd_rsc_action"};
    const std::uint64_t interval_ms = number(*rsc, "lrmd_rsc_interval");
    named_.insert(id);
    if (foreign_.count(id)) throw Refusal{-EOPNOTSUPP, "no " + action + " operation to cancel"};
    lrmd_.cancel(id, action, interval_ms);
    markEnding(id, [&](const CallRecord& other) { return other.action == action && other.interval_ms == interval_ms; });
    // lrmd sent the cancelled result before its reply: execd's cluster sees
    // the notify before the reply too.
    pump(true);
    succeed(reply);
  }

  void unregisterResource(const std::string& id, wire::Message& reply) {
    if (id.empty()) throw Refusal{-ENODEV, "no lrmd_rsc_id"};
    keep_recurring_.erase(id);
    int rc = 0;
    if (foreign_.erase(id) == 0) {
      bool busy = false;
      try {
        busy = lrmd_.info(id).busy;
      } catch (const client::Error& error) {
        if (error.code() != "unknown-instance") throw;
      }
      lrmd_.unregisterInstance(id);
      markEnding(id, [](const CallRecord&) { return true; });
      // The running op completes and is notified with lrmd_rsc_deleted=1.
      if (busy) rc = -EINPROGRESS;
    }
    succeed(reply, rc);
    genericNotify(kRscUnregister, id, rc);
  }

  void listRecurring(const wire::Message& command, const std::string& id, wire::Message& reply) {
    // A foreign resource has no recurring op: an empty `<lrmd_rsc>`, as execd's.
    auto foreign = [](const std::string& foreign_id) {
      client::InstanceInfo instance;
      instance.id = foreign_id;
      return instance;
    };
    std::vector<client::InstanceInfo> instances;
    const wire::Message* rsc = requestResource(command);
    if (!rsc || !rsc->has("lrmd_rsc_id")) {
      instances = lrmd_.list();
      for (const auto& entry : foreign_) instances.push_back(foreign(entry.first));
    } else if (foreign_.count(id)) {
      instances.push_back(foreign(id));
    } else {
      instances.push_back(lrmd_.info(id));
    }
    succeed(reply);
    for (const auto& instance : instances) {
      wire::Message& rsc = reply.add(wire::Message("lrmd_rsc"));
      rsc.set("lrmd_rsc_id", instance.id);
      for (const auto& op : instance.recurring) {
        wire::Message& entry = rsc.add(wire::Message("lrmd_rsc_op"));
        entry.set("lrmd_rsc_action", op.action);
        entry.set("lrmd_rsc_interval", op.interval_ms);
        entry.set("lrmd_timeout", op.timeout_ms);
      }
    }
  }

  // The start of an exec result's notify, in execd's attribute order.
  static wire::Message execNotify(const CallRecord* record, std::uint64_t interval_ms) {
    wire::Message notify = makeNotify();
    notify.set("lrmd_origin", "send_cmd_complete_notify");
    if (record) notify.set("lrmd_timeout", record->timeout_ms);
    notify.set("lrmd_rsc_interval", interval_ms);
    if (record) notify.set("lrmd_rsc_start_delay", record->start_delay_ms);
    return notify;
  }

  static void finishNotify(wire::Message& notify, const std::string& id, const std::string& action,
                           const CallRecord* record, const std::string& exit_reason, const std::string& output) {
    notify.set("lrmd_op", std::string(kRscExec));
    notify.set("lrmd_rsc_id", id);
    notify.set("lrmd_rsc_action", action);
    if (record && record->userdata) notify.set("lrmd_rsc_userdata_str", *record->userdata);
    if (!exit_reason.empty()) notify.set("lrmd_rsc_exit_reason", exit_reason);
    if (!output.empty()) notify.set("lrmd_rsc_output", output);
    if (record) notify.add(record->attributes);
  }

  // The result of an op of a class lrm does not have, as execd gives it for
  // an agent it cannot find (an upstart job that does not exist): not
  // installed, except a stop, which succeeds: nothing of that class runs
  // here. A probe answered "not installed" keeps the cluster from placing
  // the resource on this node; a failed stop would have it fence the node.
  wire::Message foreignResult(const CallRecord& record, sdk::CallId call_id, const std::string& cls) {
    const bool stop = record.action == "stop";
    wire::Message notify = execNotify(&record, record.interval_ms);
    notify.set("lrmd_exec_rc", stop ? sdk::rc::kOk : sdk::rc::kNotInstalled);
    notify.set("lrmd_exec_op_status", pcmkExecStatus(stop ? sdk::ExecStatus::Done : sdk::ExecStatus::NotInstalled));
    notify.set("lrmd_callid", call_id);
    notify.set("lrmd_rsc_deleted", 0);
    notify.set("lrmd_run_time", static_cast<std::uint64_t>(std::time(nullptr)));
    // execd's op ends before its services library runs anything: no rc change is dated.
    notify.set("lrmd_rcchange_time", 0);
    notify.set("lrmd_exec_time", 0);
    notify.set("lrmd_queue_time", 0);
    finishNotify(notify, record.rsc_id, record.action, &record,
                 stop ? std::string() : "lrm has no resource class \"" + cls + "\"", {});
    return notify;
  }

  // The notify of one lrmd result; nullopt for a result of a resource the
  // cluster has not named (an instance of lrm's own users).
  std::optional<wire::Message> resultNotify(const client::Event& event) {
    auto found = calls_.find(event.call_id);
    CallRecord* record = found == calls_.end() ? nullptr : &found->second;
    if (!record && !named_.count(event.id)) {
      log(LogLevel::Debug, "[" + event.id + "] result of call " + std::to_string(event.call_id) +
                                         " not notified: not a resource of the cluster");
      return std::nullopt;
    }
    const std::int64_t now = std::time(nullptr);
    // execd reports the run, exec and queue times of a recurring op's first
    // run only (later runs bypass its queue and report 0), and the time of
    // the last change of rc, starting from rc 0.
    // An agent lrm could not find never ran, and execd's op ends before its
    // services library runs anything: no rc change is dated.
    const bool first = !record || !record->notified;
    const bool ran = event.status != sdk::ExecStatus::NotInstalled;
    std::int64_t rcchange = ran && event.rc != 0 ? now : 0;
    if (record) {
      if (ran && event.rc != record->last_rc) {
        record->rcchange = now;
        record->last_rc = event.rc;
      }
      record->notified = true;
      rcchange = record->rcchange;
    }
    // execd's queue time runs from the request, its start delay included.
    const std::uint64_t delay_ms = record && event.t_run != 0 ? record->start_delay_ms : 0;

    wire::Message notify = execNotify(record, event.interval_ms);
    notify.set("lrmd_exec_rc", event.rc);
    notify.set("lrmd_exec_op_status", pcmkExecStatus(event.status));
    notify.set("lrmd_callid", event.call_id);
    notify.set("lrmd_rsc_deleted", event.deleted ? 1 : 0);
    notify.set("lrmd_run_time", std::to_string(first ? event.t_run : 0));
    notify.set("lrmd_rcchange_time", std::to_string(rcchange));
    notify.set("lrmd_exec_time", first ? event.exec_ms : 0);
    notify.set("lrmd_queue_time", first ? event.queue_ms + delay_ms : 0);
    // The cluster shows execd's words for a timeout; lrmd's log has its own (with the pid).
    const bool timed_out = record && event.status == sdk::ExecStatus::Timeout;
    finishNotify(notify, event.id, event.action, record,
                 timed_out ? timeoutExitReason(record->timeout_ms) : event.exit_reason, event.output);

    const bool over = event.interval_ms == 0 || event.status == sdk::ExecStatus::Cancelled || event.deleted;
    if (record && over) calls_.erase(found);
    return notify;
  }

  client::Client& lrmd_;
  Broadcast broadcast_;
  std::map<sdk::CallId, CallRecord> calls_;
  std::map<std::string, Foreign> foreign_;
  std::set<std::string> named_;           // resources the cluster named in a request
  std::set<std::string> keep_recurring_;  // registered through the bridge without drop_recurring
  std::deque<wire::Message> deferred_;    // results made here, notified by the next pump()
  sdk::CallId last_call_id_ = 0;          // the largest call id given out
  std::uint64_t request_id_ = 0;          // the request being handled
};

ExecutorBridge::ExecutorBridge(client::Client& lrmd, Broadcast broadcast)
    : impl_(std::make_unique<Impl>(lrmd, std::move(broadcast))) {}

ExecutorBridge::~ExecutorBridge() = default;

bool ExecutorBridge::handles(std::string_view op) {
  return op == kRscInfo || op == kRscRegister || op == kRscExec || op == kRscCancel || op == kRscUnregister ||
         op == kGetRecurring;
}

wire::Message ExecutorBridge::handle(const wire::Message& command, std::uint64_t request_id) {
  return impl_->handle(command, request_id);
}

void ExecutorBridge::pump() { impl_->pump(true); }

void ExecutorBridge::lastConnectionClosed() { impl_->lastConnectionClosed(); }

}  // namespace lrm::pacemaker
