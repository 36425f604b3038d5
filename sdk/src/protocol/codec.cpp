// The non-template parts of the record codecs (see codec.hpp).
#include "protocol/codec.hpp"

#include <algorithm>

namespace lrm::protocol {

namespace xml {

void putParams(wire::Message& message, const sdk::Params& params) {
  for (const auto& [name, value] : params) {
    auto& attrs = message.add(wire::Message("param")).attrs;
    attrs.emplace_back("name", name);
    attrs.emplace_back("value", value);
  }
}

sdk::Params paramsOf(const wire::Message& message) {
  sdk::Params params;
  for (const auto& child : message.children) {
    if (child.kind == "param") params[child.get("name")] = child.get("value");
  }
  return params;
}

}  // namespace xml

wire::Message toMessage(const Event& event, bool full) {
  wire::Message message("event");
  xml::encodeFields(event, message, full ? kLocal : kLocal | kPrivileged);
  return message;
}

wire::Message toMessage(const Instance& instance, bool full) {
  wire::Message message("instance");
  xml::encodeFields(instance, message, full ? kLocal : kLocal | kPrivileged);
  return message;
}

wire::Message toMessage(const sdk::AgentMetadata& metadata) {
  wire::Message message("agent");
  xml::encodeFields(metadata, message, kLocal);
  return message;
}

namespace {

constexpr std::string_view kNotifySuffix = "_only";

// The notify list item of a kNotify field.
std::string_view notifyItem(const char* field_name) {
  std::string_view name(field_name);
  return name.substr(0, name.size() - kNotifySuffix.size());
}

template <class R>
wire::Message requestMessage(const char* kind, const R& request) {
  wire::Message message(kind);
  xml::encodeFields(request, message, kLocal | kNotify);
  for (auto& [name, value] : message.attrs) {
    if (name == "id") name = "instance";
  }
  return message;
}

}  // namespace

wire::Message toMessage(const RegisterRequest& request) { return requestMessage("register", request); }

wire::Message toMessage(const ExecRequest& request) {
  wire::Message message = requestMessage("exec", request);
  std::string notify;
  forEachField(
      [&](const auto& field, const auto& value) {
        if constexpr (std::is_same_v<std::decay_t<decltype(value)>, bool>) {
          if ((field.flags & kNotify) && value) notify += (notify.empty() ? "" : ",") + std::string(notifyItem(field.name));
        }
      },
      request);
  // Sent only when not the default, as by every earlier client.
  if (!notify.empty()) message.attrs.emplace_back("notify", notify);
  return message;
}

bool parseNotify(std::string_view text, ExecRequest& request) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    bool known = item == "all";
    forEachField(
        [&](const auto& field, auto& value) {
          if constexpr (std::is_same_v<std::decay_t<decltype(value)>, bool>) {
            if ((field.flags & kNotify) && item == notifyItem(field.name)) value = known = true;
          }
        },
        request);
    if (!known) return false;
    start = comma + 1;
  }
  return true;
}

namespace json {

Poco::JSON::Object::Ptr newObject(const Style& style) {
  return new Poco::JSON::Object(style.ordered ? Poco::JSON_PRESERVE_KEY_ORDER : 0);
}

std::string text(const std::string& value) { return wire::sanitize(value); }

Poco::JSON::Object::Ptr paramsJson(const sdk::Params& params, const Style& style) {
  auto object = newObject(style);
  for (const auto& [name, value] : params) object->set(name, text(value));
  return object;
}

void appendString(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string valid = wire::sanitize(value);
  out += '"';
  std::size_t run = 0;  // plain characters go out in runs: an output can be megabytes
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto c = static_cast<unsigned char>(valid[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(valid, run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(valid, run, std::string::npos);
  out += '"';
}

void appendKey(std::string& out, std::string_view name) {
  if (out.back() != '{') out += ',';
  appendString(out, name);
  out += ':';
}

sdk::Params paramsOf(const Poco::JSON::Object& object) {
  sdk::Params params;
  for (const auto& name : object.getNames()) params[name] = object.getValue<std::string>(name);
  return params;
}

}  // namespace json

}  // namespace lrm::protocol
