// The encodings of the protocol records (lrm/protocol/records.hpp), in one
// place: XML elements for the wire (wire::Message), JSON objects
// (Poco::JSON) for lrmctl's --json output and lrmd's handover file, and the
// same JSON written as text for lrmd's journal. All walk a record's schema,
// so every field has the same name in every encoding. The walkers are templates so that lrmd can encode its own
// records (an op carried over an upgrade) with a schema of their own.
//
// Per type: a string is an attribute (or, flagged kText, a child element's
// text) and a JSON string; numbers and booleans are attributes and JSON
// numbers and booleans; an ExecStatus is its name; an AgentSpec is its spec
// string under the field's name plus its own fields (class, provider,
// type); Params are <param name= value=/> children and a JSON object; a
// list is children named by the field's element and a JSON array.
// Decoding is lenient on the wire (an absent or unreadable attribute leaves
// the member as it is) and strict in JSON (a value of another type throws
// Poco::Exception; so does an absent key, unless the caller allows it).
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lrm/protocol/records.hpp"
#include "wire/wire.hpp"

namespace lrm::protocol {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

/** Fields a record leaves out whatever the encoding: an event other than exec has no exec fields. */
template <class R>
unsigned omittedBy(const R&) {
  return 0;
}
inline unsigned omittedBy(const Event& event) { return event.type == "exec" ? 0u : unsigned{kExecOnly}; }

// ---- XML (wire::Message) ----

namespace xml {

void putParams(wire::Message& message, const sdk::Params& params);
sdk::Params paramsOf(const wire::Message& message);

template <class R>
void encodeFields(const R& record, wire::Message& message, unsigned omit);

template <class T>
void putValue(wire::Message& message, const char* name, const char* element, unsigned flags, unsigned omit,
              const T& value) {
  // Names in a schema are distinct: attributes are appended without looking for an earlier one.
  auto attr = [&](std::string text) { message.attrs.emplace_back(name, std::move(text)); };
  if constexpr (std::is_same_v<T, std::string>) {
    if (flags & kText) {
      message.add(wire::Message(name)).text = value;
    } else {
      attr(value);
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    attr(value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    attr(std::to_string(value));
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    attr(sdk::toString(value));
  } else if constexpr (std::is_same_v<T, sdk::AgentSpec>) {
    attr(value.toString());
    encodeFields(value, message, omit);
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    putParams(message, value);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    for (const auto& item : value) message.add(wire::Message(element)).attrs.emplace_back("value", item);
  } else if constexpr (IsOptional<T>::value) {
    if (value) encodeFields(*value, message.add(wire::Message(element)), omit);
  } else {  // a list of records
    for (const auto& item : value) encodeFields(item, message.add(wire::Message(element)), omit);
  }
}

/** Add @p record's fields to @p message, but those flagged in @p omit. */
template <class R>
void encodeFields(const R& record, wire::Message& message, unsigned omit) {
  omit |= omittedBy(record);
  message.attrs.reserve(message.attrs.size() + fieldCount<R>());  // one allocation on the hot path (events)
  forEachField(
      [&](const auto& field, const auto& value) {
        if ((field.flags & omit) == 0) putValue(message, field.name, field.element, field.flags, omit, value);
      },
      record);
}

template <class T>
bool parseNumber(const std::string& text, T& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

template <class R>
void decodeFields(const wire::Message& message, R& record);

template <class T>
void takeValue(const wire::Message& message, const char* name, const char* element, unsigned flags, T& value) {
  const std::string* attr = message.find(name);
  if constexpr (std::is_same_v<T, std::string>) {
    if (flags & kText) {
      for (const auto& child : message.children) {
        if (child.kind == name) value = child.text;
      }
    } else if (attr) {
      value = *attr;
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    if (attr) value = *attr == "true" || *attr == "1" || *attr == "yes";
  } else if constexpr (std::is_integral_v<T>) {
    T parsed{};
    if (attr && parseNumber(*attr, parsed)) value = parsed;
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    if (attr) value = sdk::parseExecStatus(*attr).value_or(value);
  } else if constexpr (std::is_same_v<T, sdk::AgentSpec>) {
    decodeFields(message, value);
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    value = paramsOf(message);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    for (const auto& child : message.children) {
      if (child.kind == element) value.push_back(child.get("value"));
    }
  } else if constexpr (IsOptional<T>::value) {
    for (const auto& child : message.children) {
      if (child.kind == element) decodeFields(child, value.emplace());
    }
  } else {  // a list of records
    for (const auto& child : message.children) {
      if (child.kind == element) decodeFields(child, value.emplace_back());
    }
  }
}

/** Read @p record's fields from @p message; what is absent or unreadable stays as it is. */
template <class R>
void decodeFields(const wire::Message& message, R& record) {
  forEachField([&](const auto& field, auto& value) { takeValue(message, field.name, field.element, field.flags, value); },
               record);
}

}  // namespace xml

/** An event element (`event`); @p full: with the fields withheld from unprivileged peers. */
wire::Message toMessage(const Event& event, bool full = true);
/** An instance element (`instance`); @p full as for events. */
wire::Message toMessage(const Instance& instance, bool full);
/** The parsed metadata element (`agent`). */
wire::Message toMessage(const sdk::AgentMetadata& metadata);

/**
 * A request element: the record's fields as attributes, but its `id` (the
 * instance's) as `instance`, the element's own `id` being the request's;
 * an exec request's notify options as one `notify` list.
 */
wire::Message toMessage(const RegisterRequest& request);
wire::Message toMessage(const ExecRequest& request);

/**
 * Read an exec request's `notify` attribute ("all", or a comma-separated
 * list of "changes" and "originator") into @p request's notify options.
 * @return false when it is not such a list.
 */
bool parseNotify(std::string_view text, ExecRequest& request);

/** A record from its element (lenient: what is absent is the member's default). */
template <class R>
R fromMessage(const wire::Message& message) {
  R record;
  xml::decodeFields(message, record);
  return record;
}

// ---- JSON (Poco::JSON) ----

namespace json {

/** How a record is written as JSON. */
struct Style {
  unsigned omit = 0;     ///< fields flagged so are left out
  bool ordered = false;  ///< keys in schema order (for people); else Poco's sorted map (faster)
};

/** lrmctl's output: keys in schema order, without lrmd's own fields. */
inline constexpr Style kPrinted{kLocal, true};
/** lrmd's files (journal, handover): everything. */
inline constexpr Style kStored{0, false};

Poco::JSON::Object::Ptr newObject(const Style& style);
/** Text as JSON can carry it: invalid UTF-8 and control characters become U+FFFD (see wire::sanitize). */
std::string text(const std::string& value);
Poco::JSON::Object::Ptr paramsJson(const sdk::Params& params, const Style& style);
/** @throws Poco::Exception when a value is not a string. */
sdk::Params paramsOf(const Poco::JSON::Object& object);

template <class R>
void encodeFields(const R& record, Poco::JSON::Object& object, const Style& style);
template <class R>
Poco::JSON::Object::Ptr toJson(const R& record, const Style& style) {
  auto object = newObject(style);
  encodeFields(record, *object, style);
  return object;
}

template <class T>
void putValue(Poco::JSON::Object& object, const char* name, const Style& style, const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    object.set(name, text(value));
  } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int>) {
    object.set(name, value);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    object.set(name, static_cast<Poco::Int64>(value));
  } else if constexpr (std::is_integral_v<T>) {
    object.set(name, static_cast<Poco::UInt64>(value));
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    object.set(name, std::string(sdk::toString(value)));
  } else if constexpr (std::is_same_v<T, sdk::AgentSpec>) {
    object.set(name, value.toString());
    encodeFields(value, object, style);
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    object.set(name, paramsJson(value, style));
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    Poco::JSON::Array::Ptr array = new Poco::JSON::Array();
    for (const auto& item : value) array->add(text(item));
    object.set(name, array);
  } else if constexpr (IsOptional<T>::value) {
    if (value) object.set(name, toJson(*value, style));
  } else {  // a list of records
    Poco::JSON::Array::Ptr array = new Poco::JSON::Array();
    for (const auto& item : value) array->add(toJson(item, style));
    object.set(name, array);
  }
}

/** Add @p record's fields to @p object, but those flagged in the style's omit. */
template <class R>
void encodeFields(const R& record, Poco::JSON::Object& object, const Style& style) {
  const unsigned omit = style.omit | omittedBy(record);
  forEachField(
      [&](const auto& field, const auto& value) {
        if ((field.flags & omit) == 0) putValue(object, field.name, style, value);
      },
      record);
}

// JSON text written straight from a record, without building a
// Poco::JSON::Object first: lrmd's journal writes two records per op, and
// the object costs more than the text. It parses back like any JSON.

/** Append @p value as a JSON string (made valid UTF-8 by text(); quotes, backslashes, controls escaped). */
void appendString(std::string& out, std::string_view value);
/** Append `"name":` to @p out, after a comma unless it follows the object's `{`. */
void appendKey(std::string& out, std::string_view name);

template <class R>
void appendFields(const R& record, std::string& out, unsigned omit, std::string_view except = {});

template <class T>
void appendValue(std::string& out, unsigned omit, const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    appendString(out, value);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(value);
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    appendString(out, sdk::toString(value));
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    out += '{';
    for (const auto& [name, item] : value) {
      appendKey(out, name);
      appendString(out, item);
    }
    out += '}';
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    out += '[';
    for (const auto& item : value) {
      if (out.back() != '[') out += ',';
      appendString(out, item);
    }
    out += ']';
  } else if constexpr (kHasSchema<T>) {
    out += '{';
    appendFields(value, out, omit);
    out += '}';
  } else {  // a list of records
    out += '[';
    for (const auto& item : value) {
      if (out.back() != '[') out += ',';
      appendValue(out, omit, item);
    }
    out += ']';
  }
}

/**
 * Append @p record's fields as `"name":value` members of the JSON object
 * being written in @p out (the same as encodeFields() gives), but those
 * flagged in @p omit or named @p except (a member the caller wrote).
 */
template <class R>
void appendFields(const R& record, std::string& out, unsigned omit, std::string_view except) {
  omit |= omittedBy(record);
  forEachField(
      [&](const auto& field, const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if ((field.flags & omit) != 0 || field.name == except) return;
        if constexpr (IsOptional<T>::value) {
          if (!value) return;
          appendKey(out, field.name);
          appendValue(out, omit, *value);
        } else if constexpr (std::is_same_v<T, sdk::AgentSpec>) {
          appendKey(out, field.name);
          appendString(out, value.toString());
          appendFields(value, out, omit);
        } else {
          appendKey(out, field.name);
          appendValue(out, omit, value);
        }
      },
      record);
}

/** For decodeFields(): every key may be absent. */
inline constexpr unsigned kAllOptional = ~0u;

template <class R>
void decodeFields(const Poco::JSON::Object& object, R& record, unsigned optional = kAllOptional);

template <class T>
void takeValue(const Poco::JSON::Object& object, const char* name, bool required, unsigned optional, T& value) {
  if constexpr (std::is_same_v<T, sdk::AgentSpec>) {
    decodeFields(object, value, optional);  // its own fields, beside the spec string
  } else if (!object.has(name)) {
    if (required) throw Poco::NotFoundException("no '" + std::string(name) + "'");
  } else if constexpr (std::is_same_v<T, sdk::ExecStatus>) {
    value = sdk::parseExecStatus(object.getValue<std::string>(name)).value_or(value);
  } else if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T>) {
    value = object.getValue<T>(name);
  } else if constexpr (std::is_same_v<T, sdk::Params>) {
    value = paramsOf(*object.getObject(name));
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    const auto array = object.getArray(name);
    for (std::size_t i = 0; i < array->size(); ++i) {
      value.push_back(array->getElement<std::string>(static_cast<unsigned>(i)));
    }
  } else if constexpr (IsOptional<T>::value) {
    decodeFields(*object.getObject(name), value.emplace(), optional);
  } else {  // a list of records
    const auto array = object.getArray(name);
    for (std::size_t i = 0; i < array->size(); ++i) {
      decodeFields(*array->getObject(static_cast<unsigned>(i)), value.emplace_back(), optional);
    }
  }
}

/**
 * Read @p record's fields from @p object. A key may be absent (its member
 * stays as it is) when its field has a flag in @p optional, or when
 * @p optional is kAllOptional. @throws Poco::Exception when a required key
 * is absent or a value has another type.
 */
template <class R>
void decodeFields(const Poco::JSON::Object& object, R& record, unsigned optional) {
  forEachField(
      [&](const auto& field, auto& value) {
        const bool required = optional != kAllOptional && (field.flags & optional) == 0;
        takeValue(object, field.name, required, optional, value);
      },
      record);
}

template <class R>
R fromJson(const Poco::JSON::Object& object, unsigned optional = kAllOptional) {
  R record;
  decodeFields(object, record, optional);
  return record;
}

}  // namespace json

}  // namespace lrm::protocol
