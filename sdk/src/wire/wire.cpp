// Framing and the XML element codec of the lrm protocol (tinyxml2).
#include "wire/wire.hpp"

#include <tinyxml2.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace lrm::wire {
namespace {

// Length in bytes of the valid UTF-8 sequence starting at text[i], or 0.
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t length = 0;
  std::uint32_t min = 0;
  std::uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    length = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
    return 0;
  }
  return length;
}

// tinyxml2's printer writes tabs and line breaks in attribute values as they
// are, and a conforming parser reads each of them as a space (XML's
// attribute-value normalization; libxml2 does, so Pacemaker's daemons
// would see an agent's several lines of output as one). This printer writes
// them as character references, which every parser, tinyxml2 included,
// reads back as the characters themselves.
class Printer : public tinyxml2::XMLPrinter {
 public:
  Printer() : XMLPrinter(nullptr, true) {}

  // @p value is sanitized: it holds no NUL byte.
  void pushAttribute(const std::string& name, const std::string& value) {
    Putc(' ');
    Write(name.data(), name.size());
    Write("=\"", 2);
    // Runs of plain characters are found by libc and go out in one write: a
    // value can be megabytes.
    const char* text = value.c_str();
    std::size_t at = 0;
    while (true) {
      const std::size_t run = std::strcspn(text + at, "&<>\"\t\n\r");
      if (run > 0) Write(text + at, run);
      at += run;
      if (at >= value.size()) break;
      const std::string_view reference = referenceFor(text[at++]);
      Write(reference.data(), reference.size());
    }
    Putc('"');
  }

 private:
  static std::string_view referenceFor(char c) {
    switch (c) {
      case '&': return "&amp;";
      case '<': return "&lt;";
      case '>': return "&gt;";
      case '"': return "&quot;";
      case '\t': return "&#9;";
      case '\n': return "&#10;";
      case '\r': return "&#13;";
      default: return {};
    }
  }
};

void encodeElement(Printer& printer, const Message& message) {
  // XMLPrinter keeps the element name pointer until CloseElement(): pass the
  // message's own string, never a temporary. Names are ours, not user text.
  printer.OpenElement(message.kind.c_str(), true);
  for (const auto& [name, value] : message.attrs) printer.pushAttribute(name, sanitize(value));
  if (!message.text.empty()) printer.PushText(sanitize(message.text).c_str());
  for (const auto& child : message.children) encodeElement(printer, child);
  printer.CloseElement(true);
}

bool decodeElement(const tinyxml2::XMLElement& element, Message& out, int depth, int max_depth,
                   std::string& error) {
  if (depth > max_depth) {
    error = "elements nested deeper than " + std::to_string(max_depth) + " levels";
    return false;
  }
  out.kind = element.Name();
  for (const auto* attribute = element.FirstAttribute(); attribute; attribute = attribute->Next()) {
    out.attrs.emplace_back(attribute->Name(), attribute->Value());
  }
  for (const auto* node = element.FirstChild(); node; node = node->NextSibling()) {
    if (const auto* text = node->ToText()) {
      out.text += text->Value();
    } else if (const auto* child = node->ToElement()) {
      if (!decodeElement(*child, out.children.emplace_back(), depth + 1, max_depth, error)) return false;
    }
  }
  return true;
}

// An element's name as far as a start tag shows it, for an error message.
std::string tagName(std::string_view xml, std::size_t begin) {
  const std::size_t end = std::min(xml.find_first_of(" \t\r\n/>=\"'", begin), xml.size());
  return sanitize(xml.substr(begin, std::min<std::size_t>(end - begin, 64)));
}

// One linear pass over @p xml that finds what would make tinyxml2 slow or
// big: it skips markup exactly where tinyxml2 does (declarations to "?>",
// comments to "-->", CDATA to "]]>", other "<!" such as DOCTYPE to the first
// ">", quoted attribute values to their closing quote), so up to the first
// point where tinyxml2 would stop with an error, both see the same elements
// and every attribute tinyxml2 parses has an "=" counted here. Text nodes
// lie between markup, so bounding markup bounds them. @return the error, or "".
std::string exceededLimit(std::string_view xml, const DecodeLimits& limits) {
  constexpr auto npos = std::string_view::npos;
  std::size_t elements = 0;
  std::size_t pos = 0;
  const auto skipPast = [&](std::size_t from, std::string_view terminator) {
    const std::size_t end = xml.find(terminator, from);
    pos = end == npos ? xml.size() : end + terminator.size();
  };
  const auto opens = [&](std::string_view opener) { return xml.compare(pos, opener.size(), opener) == 0; };
  while ((pos = xml.find('<', pos)) != npos) {
    const bool closing = opens("</");
    if (!closing && limits.max_elements != 0 && ++elements > limits.max_elements) {
      return "more than " + std::to_string(limits.max_elements) + " elements in one message";
    }
    if (opens("<?")) {
      skipPast(pos + 2, "?>");
    } else if (opens("<!--")) {
      skipPast(pos + 4, "-->");
    } else if (opens("<![CDATA[")) {
      skipPast(pos + 9, "]]>");
    } else if (opens("<!")) {
      skipPast(pos + 2, ">");
    } else {
      // A start or end tag: tinyxml2 parses attributes in both.
      const std::size_t name = pos + (closing ? 2 : 1);
      std::size_t attributes = 0;
      for (++pos; pos < xml.size() && xml[pos] != '>'; ++pos) {
        if (xml[pos] == '"' || xml[pos] == '\'') {
          pos = xml.find(xml[pos], pos + 1);
          if (pos == npos) return {};  // unterminated: tinyxml2 reports it
        } else if (xml[pos] == '=' && ++attributes > limits.max_attributes) {
          return "more than " + std::to_string(limits.max_attributes) + " attributes on element <" +
                 tagName(xml, name) + ">";
        }
      }
    }
  }
  return {};
}

}  // namespace

const std::string* Message::find(std::string_view name) const {
  for (const auto& [key, value] : attrs) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string Message::get(std::string_view name, std::string_view fallback) const {
  const std::string* value = find(name);
  return value ? *value : std::string(fallback);
}

std::optional<std::uint64_t> Message::getUnsigned(std::string_view name) const {
  const std::string* value = find(name);
  if (!value || value->empty()) return std::nullopt;
  std::uint64_t result = 0;
  const char* end = value->data() + value->size();
  const auto [ptr, ec] = std::from_chars(value->data(), end, result);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return result;
}

bool Message::getBool(std::string_view name, bool fallback) const {
  const std::string* value = find(name);
  if (!value) return fallback;
  return *value == "true" || *value == "1" || *value == "yes";
}

Message& Message::set(std::string name, std::string value) {
  for (auto& [key, existing] : attrs) {
    if (key == name) {
      existing = std::move(value);
      return *this;
    }
  }
  attrs.emplace_back(std::move(name), std::move(value));
  return *this;
}

std::string sanitize(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  // Fast path: plain ASCII text (the common case) is copied as it is.
  const auto needs_care = [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || (byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r');
  };
  if (std::none_of(text.begin(), text.end(), needs_care)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      out += kReplacement;
      ++i;
      continue;
    }
    const std::size_t length = utf8SequenceLength(text, i);
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string encode(const Message& message) {
  Printer printer;
  encodeElement(printer, message);
  return std::string(printer.CStr(), static_cast<std::size_t>(printer.CStrSize() - 1));
}

std::optional<Message> decode(std::string_view xml, std::string& error, const DecodeLimits& limits) {
  if (xml.size() > kMaxFrameBytes) {
    error = "message of " + std::to_string(xml.size()) + " bytes exceeds the limit";
    return std::nullopt;
  }
  if (std::string exceeded = exceededLimit(xml, limits); !exceeded.empty()) {
    error = std::move(exceeded);
    return std::nullopt;
  }
  tinyxml2::XMLDocument document(true, tinyxml2::PRESERVE_WHITESPACE);
  if (document.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    error = std::string("malformed XML: ") + document.ErrorStr();
    return std::nullopt;
  }
  const tinyxml2::XMLElement* root = document.RootElement();
  if (!root) {
    error = "no XML element in message";
    return std::nullopt;
  }
  if (root->NextSiblingElement()) {
    error = "more than one XML element in one message";
    return std::nullopt;
  }
  Message message;
  if (!decodeElement(*root, message, 1, limits.max_depth, error)) return std::nullopt;
  return message;
}

std::string frame(std::string_view payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  std::string out;
  out.reserve(4 + payload.size());
  out.push_back(static_cast<char>((size >> 24) & 0xFF));
  out.push_back(static_cast<char>((size >> 16) & 0xFF));
  out.push_back(static_cast<char>((size >> 8) & 0xFF));
  out.push_back(static_cast<char>(size & 0xFF));
  out.append(payload);
  return out;
}

FrameReader::Status FrameReader::next(std::string& payload) {
  if (!error_.empty()) return Status::Error;
  if (buffered() < 4) return Status::NeedMore;
  const auto* head = reinterpret_cast<const unsigned char*>(buffer_.data());
  const std::uint32_t size = (std::uint32_t{head[0]} << 24) | (std::uint32_t{head[1]} << 16) |
                             (std::uint32_t{head[2]} << 8) | std::uint32_t{head[3]};
  if (size == 0) {
    error_ = "empty frame";
    return Status::Error;
  }
  if (size > max_frame_) {
    error_ = "frame of " + std::to_string(size) + " bytes exceeds the limit of " +
             std::to_string(max_frame_) + " bytes";
    return Status::Error;
  }
  if (buffered() < 4 + std::size_t{size}) return Status::NeedMore;
  payload.assign(buffer_.data() + 4, size);
  buffer_.consume(4 + std::size_t{size});
  return Status::Frame;
}

void StreamBuffer::consume(std::size_t count) {
  offset_ += count;
  if (offset_ == bytes_.size()) {
    bytes_.clear();
    offset_ = 0;
  } else if (offset_ > 64 * 1024 && offset_ * 2 > bytes_.size()) {
    bytes_.erase(0, offset_);
    offset_ = 0;
  }
}

}  // namespace lrm::wire
