// Text and JSON renderings of lrm events and instances for lrmctl.
#include "output.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Stringifier.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace lrm::ctl {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr newObject() { return new Object(Poco::JSON_PRESERVE_KEY_ORDER); }

Array::Ptr opsJson(const std::vector<client::OpInfo>& ops) {
  Array::Ptr array = new Array();
  for (const auto& op : ops) {
    Object::Ptr item = newObject();
    item->set("action", op.action);
    item->set("interval_ms", static_cast<Poco::Int64>(op.interval_ms));
    item->set("call_id", static_cast<Poco::Int64>(op.call_id));
    item->set("timeout_ms", static_cast<Poco::Int64>(op.timeout_ms));
    array->add(item);
  }
  return array;
}

std::string opKey(const std::string& action, std::uint64_t interval_ms) {
  return interval_ms ? action + "/" + std::to_string(interval_ms) + "ms" : action;
}

std::string opsText(const std::vector<client::OpInfo>& ops) {
  std::string text;
  for (const auto& op : ops) {
    text += (text.empty() ? "" : ", ") + opKey(op.action, op.interval_ms) + " (call " + std::to_string(op.call_id) + ")";
  }
  return text.empty() ? "-" : text;
}

std::string resultText(const client::Event& event) {
  return std::string("rc=") + std::to_string(event.rc) + " (" + sdk::rcName(event.rc) +
         ") status=" + sdk::toString(event.status);
}

}  // namespace

Object::Ptr eventJson(const client::Event& event) {
  Object::Ptr object = newObject();
  object->set("type", event.type);
  object->set("id", event.id);
  object->set("name", event.name);
  if (!event.agent.empty()) object->set("agent", event.agent);
  if (event.type == "exec") {
    object->set("action", event.action);
    object->set("interval_ms", static_cast<Poco::Int64>(event.interval_ms));
    object->set("call_id", static_cast<Poco::Int64>(event.call_id));
    object->set("rc", event.rc);
    object->set("status", std::string(sdk::toString(event.status)));
    object->set("exit_reason", event.exit_reason);
    object->set("output", event.output);
    object->set("exec_ms", static_cast<Poco::Int64>(event.exec_ms));
    object->set("queue_ms", static_cast<Poco::Int64>(event.queue_ms));
    object->set("t_run", static_cast<Poco::Int64>(event.t_run));
    object->set("deleted", event.deleted);
  }
  return object;
}

Object::Ptr instanceJson(const client::InstanceInfo& info) {
  Object::Ptr object = newObject();
  object->set("id", info.id);
  object->set("name", info.name);
  object->set("agent", info.agent.toString());
  object->set("class", info.agent.cls);
  object->set("provider", info.agent.provider);
  object->set("type", info.agent.type);
  Object::Ptr params = newObject();
  for (const auto& [name, value] : info.params) params->set(name, value);
  object->set("params", params);
  object->set("busy", info.busy);
  object->set("pending", opsJson(info.pending));
  object->set("recurring", opsJson(info.recurring));
  Array::Ptr last = new Array();
  for (const auto& event : info.last) last->add(eventJson(event));
  object->set("last", last);
  return object;
}

Object::Ptr submittedJson(const std::string& id, const std::string& action, std::uint64_t interval_ms,
                          sdk::CallId call_id) {
  Object::Ptr object = newObject();
  object->set("type", "submitted");
  object->set("id", id);
  object->set("action", action);
  object->set("interval_ms", static_cast<Poco::Int64>(interval_ms));
  object->set("call_id", static_cast<Poco::Int64>(call_id));
  return object;
}

Object::Ptr metadataJson(const sdk::AgentMetadata& metadata) {
  Object::Ptr object = newObject();
  object->set("name", metadata.name);
  object->set("version", metadata.version);
  object->set("shortdesc", metadata.shortdesc);
  object->set("longdesc", metadata.longdesc);
  Array::Ptr parameters = new Array();
  for (const auto& p : metadata.parameters) {
    Object::Ptr parameter = newObject();
    parameter->set("name", p.name);
    parameter->set("type", p.type);
    parameter->set("default", p.default_value);
    parameter->set("required", p.required);
    parameter->set("unique", p.unique);
    parameter->set("reloadable", p.reloadable);
    parameter->set("deprecated", p.deprecated);
    Array::Ptr values = new Array();
    for (const auto& value : p.values) values->add(value);
    parameter->set("values", values);
    parameter->set("shortdesc", p.shortdesc);
    parameter->set("longdesc", p.longdesc);
    parameters->add(parameter);
  }
  object->set("parameters", parameters);
  Array::Ptr actions = new Array();
  for (const auto& a : metadata.actions) {
    Object::Ptr action = newObject();
    action->set("name", a.name);
    action->set("timeout", a.timeout);
    action->set("interval", a.interval);
    action->set("depth", a.depth);
    action->set("role", a.role);
    actions->add(action);
  }
  object->set("actions", actions);
  return object;
}

Object::Ptr pingJson(const client::PingInfo& info) {
  Object::Ptr object = newObject();
  object->set("version", info.version);
  object->set("protocol", info.protocol);
  object->set("uptime_s", static_cast<Poco::Int64>(info.uptime_s));
  object->set("boot_id", info.boot_id);
  object->set("restored", static_cast<Poco::Int64>(info.restored));
  object->set("instances", static_cast<Poco::Int64>(info.instances));
  object->set("in_flight", static_cast<Poco::Int64>(info.in_flight));
  return object;
}

Object::Ptr listJson(const std::string& key, const std::vector<std::string>& items) {
  Array::Ptr array = new Array();
  for (const auto& item : items) array->add(item);
  Object::Ptr object = newObject();
  object->set(key, array);
  return object;
}

void printJson(const Object::Ptr& object) {
  std::ostringstream line;
  Poco::JSON::Stringifier::condense(object, line);
  std::cout << line.str() << std::endl;  // endl: flush each line, also into a pipe
}

std::string eventText(const client::Event& event) {
  const std::string who = event.id + (event.name.empty() || event.name == event.id ? "" : " (" + event.name + ")");
  if (event.type != "exec") return event.type + " " + who + (event.agent.empty() ? "" : " " + event.agent);
  std::string text = who + " " + opKey(event.action, event.interval_ms) + ": " + resultText(event) +
                     " exec=" + std::to_string(event.exec_ms) + "ms queue=" + std::to_string(event.queue_ms) +
                     "ms call=" + std::to_string(event.call_id);
  if (event.deleted) text += " (instance deleted)";
  if (!event.exit_reason.empty()) text += "\n  reason: " + event.exit_reason;
  return text;
}

std::string instanceText(const client::InstanceInfo& info) {
  std::ostringstream out;
  out << "id:        " << info.id << "\n"
      << "name:      " << info.name << "\n"
      << "agent:     " << info.agent.toString() << "\n"
      << "state:     " << (info.busy ? "busy" : "idle") << "\n";
  out << "params:   ";
  if (info.params.empty()) out << " -";
  for (const auto& [name, value] : info.params) out << " " << name << "=" << value;
  out << "\n"
      << "pending:   " << opsText(info.pending) << "\n"
      << "recurring: " << opsText(info.recurring) << "\n"
      << "last results:" << (info.last.empty() ? " -" : "") << "\n";
  for (const auto& event : info.last) {
    out << "  " << std::left << std::setw(20) << opKey(event.action, event.interval_ms) << " " << resultText(event)
        << " call=" << event.call_id << " t_run=" << event.t_run << " exec=" << event.exec_ms << "ms";
    if (!event.exit_reason.empty()) out << " reason: " << event.exit_reason;
    out << "\n";
  }
  return out.str();
}

std::string tableText(const std::vector<client::InstanceInfo>& instances) {
  std::size_t id_width = 2, name_width = 4, agent_width = 5;
  for (const auto& info : instances) {
    id_width = std::max(id_width, info.id.size());
    name_width = std::max(name_width, info.name.size());
    agent_width = std::max(agent_width, info.agent.toString().size());
  }
  std::ostringstream out;
  out << std::left << std::setw(static_cast<int>(id_width)) << "ID" << "  " << std::setw(static_cast<int>(name_width))
      << "NAME" << "  " << std::setw(static_cast<int>(agent_width)) << "AGENT" << "  STATE  LAST\n";
  for (const auto& info : instances) {
    std::string last = "-";
    if (!info.last.empty()) {
      const auto& latest = info.last.back();  // oldest first: the last is the latest
      last = opKey(latest.action, latest.interval_ms) + " " + resultText(latest);
    }
    out << std::setw(static_cast<int>(id_width)) << info.id << "  " << std::setw(static_cast<int>(name_width))
        << info.name << "  " << std::setw(static_cast<int>(agent_width)) << info.agent.toString() << "  "
        << std::setw(5) << (info.busy ? "busy" : "idle") << "  " << last << "\n";
  }
  return out.str();
}

}  // namespace lrm::ctl
