// Text and JSON renderings of lrm events and instances for lrmctl. The JSON
// of a record is the protocol codec's (its schema's names, in schema order).
#include "output.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Stringifier.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "protocol/codec.hpp"

namespace lrm::ctl {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr newObject() { return new Object(Poco::JSON_PRESERVE_KEY_ORDER); }

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

Object::Ptr eventJson(const client::Event& event) { return protocol::json::toJson(event, protocol::json::kPrinted); }

Object::Ptr instanceJson(const client::InstanceInfo& info) {
  return protocol::json::toJson(info, protocol::json::kPrinted);
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
  return protocol::json::toJson(metadata, protocol::json::kPrinted);
}

Object::Ptr pingJson(const client::PingInfo& info) { return protocol::json::toJson(info, protocol::json::kPrinted); }

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
