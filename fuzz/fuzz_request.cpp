// Fuzzes what lrmd does with a request frame before any handler: wire::decode
// with the server's request limits, then the attribute accessors handlers
// use. A decoded message must be within the limits, survive encode() and
// decode() again, and a second round trip must change nothing (the first may:
// encode() sanitizes).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/wire.hpp"

namespace {

using lrm::wire::Message;

bool same(const Message& a, const Message& b) {
  if (a.kind != b.kind || a.attrs != b.attrs || a.text != b.text || a.children.size() != b.children.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.children.size(); ++i) {
    if (!same(a.children[i], b.children[i])) return false;
  }
  return true;
}

// getUnsigned() must accept exactly the plain decimal numbers that fit 64 bits.
void checkUnsigned(const Message& message, const std::string& name, const std::string& value) {
  const auto number = message.getUnsigned(name);
  if (!number) return;
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) std::abort();
  const std::size_t significant = std::min(value.find_first_not_of('0'), value.size() - 1);
  if (std::to_string(*number) != value.substr(significant)) std::abort();
}

void useAccessors(const Message& message) {
  for (const auto& [name, value] : message.attrs) {
    const std::string* found = message.find(name);
    if (!found || *found != value) std::abort();  // tinyxml2 refuses duplicate names
    checkUnsigned(message, name, value);
    if (message.getBool(name, true) != (value == "true" || value == "1" || value == "yes")) std::abort();
  }
  for (const auto& child : message.children) useAccessors(child);
}

// The bounds the pre-parse scan promises hold for what tinyxml2 parsed.
std::size_t elementsWithinLimits(const Message& message) {
  if (message.attrs.size() > lrm::wire::kRequestLimits.max_attributes) std::abort();
  std::size_t elements = 1;
  for (const auto& child : message.children) elements += elementsWithinLimits(child);
  return elements;
}

Message decodeOrAbort(const std::string& xml) {
  std::string error;
  auto message = lrm::wire::decode(xml, error);
  if (!message) std::abort();
  return *message;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto request = lrm::wire::decode(payload, error, lrm::wire::kRequestLimits);
  if (!request) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (elementsWithinLimits(*request) > lrm::wire::kRequestLimits.max_elements) std::abort();
  useAccessors(*request);
  const Message once = decodeOrAbort(lrm::wire::encode(*request));
  const Message twice = decodeOrAbort(lrm::wire::encode(once));
  if (!same(once, twice)) std::abort();
  return 0;
}
