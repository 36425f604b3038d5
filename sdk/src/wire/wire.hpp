// The lrm wire format (docs/protocol.md): 4-byte big-endian length + one XML
// element per frame. This is the only code that touches tinyxml2 for the
// protocol; the client library and the kernel server both build on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lrm::wire {

/** Protocol version spoken by this build (hello exchange). */
inline constexpr int kProtocolVersion = 1;
/**
 * Largest accepted frame payload; larger frames are a protocol error. It holds
 * an event carrying the largest agent output lrmd captures (10 MiB) even when
 * every byte needs escaping.
 */
inline constexpr std::size_t kMaxFrameBytes = 64 * 1024 * 1024;
/** Deepest accepted element nesting in a frame. */
inline constexpr int kMaxDepth = 8;

/**
 * Bounds checked in one linear pass before a payload is parsed, so decoding
 * takes time and memory in proportion to its size: tinyxml2 checks each
 * attribute against every earlier one of its element (quadratic), and
 * allocates a node for every element, however small.
 */
struct DecodeLimits {
  /** Attributes on one element; the largest message lrmd sends has 14. */
  std::size_t max_attributes = 64;
  /**
   * Elements in one message, the root included; comments, CDATA sections and
   * declarations count as elements. 0: no limit (a `list` reply of 100,000
   * instances has more than a million).
   */
  std::size_t max_elements = 0;
  /** Deepest element nesting, the root being level 1. */
  int max_depth = kMaxDepth;
};

/**
 * What lrmd accepts in a request: a `register` with 256 params is 257
 * elements, a `subscribe` to 4,095 instances by id 4,096.
 */
inline constexpr DecodeLimits kRequestLimits{64, 4096};

/** One XML element: name, ordered attributes, text and child elements. */
struct Message {
  std::string kind;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::string text;
  std::vector<Message> children;

  Message() = default;
  explicit Message(std::string k) : kind(std::move(k)) {}

  const std::string* find(std::string_view name) const;
  std::string get(std::string_view name, std::string_view fallback = {}) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  /** Unsigned integer attribute; nullopt when absent, empty, negative or not a number. */
  std::optional<std::uint64_t> getUnsigned(std::string_view name) const;
  /** Boolean attribute: "true", "1" or "yes" are true, anything else false; @p fallback when absent. */
  bool getBool(std::string_view name, bool fallback = false) const;

  Message& set(std::string name, std::string value);
  Message& set(std::string name, std::uint64_t value) { return set(std::move(name), std::to_string(value)); }
  Message& set(std::string name, int value) { return set(std::move(name), std::to_string(value)); }
  Message& set(std::string name, bool value) { return set(std::move(name), std::string(value ? "true" : "false")); }
  Message& set(std::string name, const char* value) { return set(std::move(name), std::string(value)); }
  Message& add(Message child) {
    children.push_back(std::move(child));
    return children.back();
  }
};

/** Serialize to XML. Text that XML cannot carry (invalid UTF-8, control characters) becomes U+FFFD. */
std::string encode(const Message& message);

/**
 * Parse one XML element. Returns nullopt with @p error (incl. line) when
 * malformed, too deep, or beyond @p limits (the error names the limit).
 */
std::optional<Message> decode(std::string_view xml, std::string& error, const DecodeLimits& limits = {});

/** Replace invalid UTF-8 sequences and XML-forbidden control characters with U+FFFD. */
std::string sanitize(std::string_view text);

/** Frame a payload: 4-byte big-endian length followed by the bytes. */
std::string frame(std::string_view payload);

/**
 * The bytes a frame reader has received and not yet taken. Frames are taken
 * from the front without moving the rest each time: the bytes are moved only
 * when everything was taken, or when more than 64 KiB and half of the
 * buffer were, so taking N frames costs O(bytes), not O(N × bytes).
 */
class StreamBuffer {
 public:
  void append(const char* data, std::size_t size) { bytes_.append(data, size); }
  /** The first byte not yet taken. */
  const char* data() const { return bytes_.data() + offset_; }
  std::size_t size() const { return bytes_.size() - offset_; }
  /** Take the first @p count bytes (at most size()). */
  void consume(std::size_t count);

 private:
  std::string bytes_;
  std::size_t offset_ = 0;
};

/** Incremental frame splitter for a byte stream. */
class FrameReader {
 public:
  enum class Status { NeedMore, Frame, Error };

  explicit FrameReader(std::size_t max_frame = kMaxFrameBytes) : max_frame_(max_frame) {}

  void feed(const char* data, std::size_t size) { buffer_.append(data, size); }
  /** Change the largest accepted payload, e.g. once a peer has proven who it is. */
  void setMaxFrame(std::size_t max_frame) { max_frame_ = max_frame; }
  /** Extract the next complete frame into @p payload. On Error, error() says why. */
  Status next(std::string& payload);
  const std::string& error() const { return error_; }
  std::size_t buffered() const { return buffer_.size(); }

 private:
  std::size_t max_frame_;
  StreamBuffer buffer_;
  std::string error_;
};

}  // namespace lrm::wire
