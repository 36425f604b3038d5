// The handover file (see handover.hpp): {"v":2,"next_call","next_client",
// "registered_by":{},"ops":[...],"sessions":[...],"children":[...]}. An op
// is its protocol record's fields (lrm/protocol/records.hpp, written by the
// protocol's JSON codec under the wire's names) and what the engine carries
// besides, listed once below. Bytes (captured output, a session's
// undelivered messages) are base64. Format 1 (the previous release's: other
// key names, mapped in legacy_keys.hpp) is still read: an upgrade in place
// from it hands over such a file.
#include "handover.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "legacy_keys.hpp"
#include "protocol/codec.hpp"

namespace lrm::kernel {
namespace {

constexpr int kFormatVersion = 2;
constexpr int kPreviousFormatVersion = 1;  // still read
namespace json = protocol::json;
using Poco::JSON::Array;
using Poco::JSON::Object;

// Captured output is arbitrary bytes; JSON strings are not.
std::string base64(const std::string& bytes) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out, Poco::BASE64_NO_PADDING);
  encoder.rdbuf()->setLineLength(0);
  encoder << bytes;
  encoder.close();
  return out.str();
}

std::string unbase64(const std::string& text) {
  std::istringstream in(text);
  Poco::Base64Decoder decoder(in, Poco::BASE64_NO_PADDING);
  std::ostringstream out;
  out << decoder.rdbuf();
  return out.str();
}

// The file's own words for the four states an op is handed over in: a format
// that both images read, so it does not follow a renamed enumerator.
const char* stateName(OpState state) {
  switch (state) {
    case OpState::Delayed: return "delayed";
    case OpState::Queued: return "queued";
    case OpState::Running: return "running";
    case OpState::Idle: return "idle";
    case OpState::Invalid:
    case OpState::Finished: break;  // Engine::handOver() carries neither
  }
  throw std::logic_error(std::string("an operation in state ") + toString(state) + " cannot be handed over");
}

OpState stateOf(const std::string& name) {
  for (const OpState state : {OpState::Delayed, OpState::Queued, OpState::Running, OpState::Idle}) {
    if (name == stateName(state)) return state;
  }
  throw std::runtime_error("unknown op state '" + name + "'");
}

Object::Ptr opJson(const CarriedOp& c) {
  Object::Ptr o = new Object();
  json::encodeFields(c.op, *o, json::kStored);
  json::encodeFields(c, *o, json::kStored);
  o->set("state", std::string(stateName(c.state)));
  return o;
}

// @p version: of the file.
CarriedOp opOf(Object::Ptr o, int version) {
  if (version == kPreviousFormatVersion) renameLegacyKeys(*o);
  CarriedOp c;
  json::decodeFields(*o, c.op, 0);
  json::decodeFields(*o, c, 0);
  c.state = stateOf(o->getValue<std::string>("state"));
  return c;
}

Object::Ptr sessionJson(const CarriedSession& session) {
  Object::Ptr o = new Object();
  o->set("client", session.client);
  o->set("token", session.token);
  o->set("uid", static_cast<std::uint64_t>(session.uid));
  o->set("name", session.name);
  o->set("subscribed", session.subscription.subscribed);
  o->set("failures_only", session.subscription.failures_only);
  Array::Ptr instances = new Array();
  for (const auto& id : session.subscription.instances) instances->add(id);
  o->set("instances", instances);
  o->set("outbox", base64(session.outbox));
  return o;
}

CarriedSession sessionOf(const Object::Ptr& o) {
  CarriedSession session;
  session.client = o->getValue<std::uint64_t>("client");
  session.token = o->getValue<std::string>("token");
  session.uid = static_cast<uid_t>(o->getValue<std::uint64_t>("uid"));
  session.name = o->getValue<std::string>("name");
  session.subscription.subscribed = o->getValue<bool>("subscribed");
  session.subscription.failures_only = o->getValue<bool>("failures_only");
  const auto instances = o->getArray("instances");
  for (std::size_t i = 0; i < instances->size(); ++i) {
    session.subscription.instances.insert(instances->getElement<std::string>(static_cast<unsigned>(i)));
  }
  // Absent in the file of an lrmd that did not carry undelivered messages.
  if (o->has("outbox")) session.outbox = unbase64(o->getValue<std::string>("outbox"));
  return session;
}

Object::Ptr childJson(const HandedChild& child) {
  Object::Ptr o = new Object();
  o->set("instance", child.context.instance_id);
  o->set("name", child.context.instance_name);
  o->set("action", child.context.action);
  o->set("call", child.context.call_id);
  o->set("pid", static_cast<std::int64_t>(child.pid));
  o->set("out_fd", child.out_fd);
  o->set("err_fd", child.err_fd);
  o->set("out", base64(child.out));
  o->set("err", base64(child.err));
  o->set("elapsed", child.elapsed_ms);
  o->set("timeout", static_cast<std::uint64_t>(child.timeout_ms));
  o->set("timed_out", child.timed_out);
  o->set("killed", child.killed);
  return o;
}

HandedChild childOf(const Object::Ptr& o) {
  HandedChild child;
  child.context.instance_id = o->getValue<std::string>("instance");
  child.context.instance_name = o->getValue<std::string>("name");
  child.context.action = o->getValue<std::string>("action");
  child.context.call_id = o->getValue<std::uint64_t>("call");
  child.pid = static_cast<pid_t>(o->getValue<std::int64_t>("pid"));
  child.out_fd = o->getValue<int>("out_fd");
  child.err_fd = o->getValue<int>("err_fd");
  child.out = unbase64(o->getValue<std::string>("out"));
  child.err = unbase64(o->getValue<std::string>("err"));
  child.elapsed_ms = o->getValue<std::uint64_t>("elapsed");
  child.timeout_ms = static_cast<std::uint32_t>(o->getValue<std::uint64_t>("timeout"));
  child.timed_out = o->getValue<bool>("timed_out");
  child.killed = o->getValue<bool>("killed");
  return child;
}

}  // namespace

void writeHandover(const std::string& path, const Handover& handover) {
  Object root;
  root.set("v", kFormatVersion);
  root.set("next_call", handover.ops.next_call_id);
  root.set("next_client", handover.next_client);
  Object::Ptr registered_by = new Object();
  for (const auto& [id, client] : handover.ops.registered_by) registered_by->set(id, client);
  root.set("registered_by", registered_by);
  Array::Ptr ops = new Array();
  for (const auto& op : handover.ops.ops) ops->add(opJson(op));
  root.set("ops", ops);
  Array::Ptr sessions = new Array();
  for (const auto& session : handover.sessions) sessions->add(sessionJson(session));
  root.set("sessions", sessions);
  Array::Ptr children = new Array();
  for (const auto& child : handover.children) children->add(childJson(child));
  root.set("children", children);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  Poco::JSON::Stringifier::condense(root, out);
  out.close();
  if (!out) throw std::runtime_error("unable to write " + path);
}

Handover readHandover(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("unable to read " + path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parseHandover(text.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

Handover parseHandover(std::string_view text) {
  // Poco's JSON objects throw (a Poco::Exception) on a missing key, a value
  // of another type, and a null object or array dereferenced.
  try {
    Poco::JSON::Parser parser;
    const auto root = parser.parse(std::string(text)).extract<Object::Ptr>();
    const int version = root->getValue<int>("v");
    if (version != kFormatVersion && version != kPreviousFormatVersion) {
      throw std::runtime_error("format " + root->getValue<std::string>("v") + ", expected " +
                               std::to_string(kFormatVersion) + " or " + std::to_string(kPreviousFormatVersion));
    }
    Handover handover;
    handover.ops.next_call_id = root->getValue<std::uint64_t>("next_call");
    handover.next_client = root->getValue<std::uint64_t>("next_client");
    const auto registered_by = root->getObject("registered_by");
    for (const auto& id : registered_by->getNames()) {
      handover.ops.registered_by[id] = registered_by->getValue<std::uint64_t>(id);
    }
    auto each = [&](const char* key, auto&& take) {
      const auto array = root->getArray(key);
      for (std::size_t i = 0; i < array->size(); ++i) take(array->getObject(static_cast<unsigned>(i)));
    };
    each("ops", [&](const Object::Ptr& o) { handover.ops.ops.push_back(opOf(o, version)); });
    each("sessions", [&](const Object::Ptr& o) { handover.sessions.push_back(sessionOf(o)); });
    each("children", [&](const Object::Ptr& o) { handover.children.push_back(childOf(o)); });
    return handover;
  } catch (const Poco::Exception& e) {
    throw std::runtime_error(e.displayText());
  }
}

}  // namespace lrm::kernel
