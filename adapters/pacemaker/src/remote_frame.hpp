// Pacemaker Remote framing: every message on a cluster connection is a
// 40-byte header in the sender's byte order followed by the payload, XML text
// plus a terminating NUL, optionally bzip2-compressed. This file decodes and
// validates headers from either byte order, splits a byte stream into
// messages, and encodes outgoing messages. No I/O: the connection code feeds
// bytes in and writes the encoded pieces out (docs/pacemaker-remote.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/wire.hpp"

namespace lrm::pacemaker {

/** First header field as the sender wrote it; byte-swapped it means the other byte order. */
inline constexpr std::uint32_t kEndianMarker = 0xBADADBBD;
/** The only header version Pacemaker has defined. */
inline constexpr std::uint32_t kFrameVersion = 1;
/** Size of the packed header; also the only valid payload_offset. */
inline constexpr std::size_t kHeaderBytes = 40;
/**
 * Largest payload, compressed or uncompressed (20 MiB, the cap upstream
 * Pacemaker puts on a message). Checked on the header alone, before any
 * buffer for the payload is allocated.
 */
inline constexpr std::uint32_t kMaxPayloadBytes = 20 * 1024 * 1024;

/** The header fields, in host byte order once decoded. */
struct FrameHeader {
  std::uint32_t endian = kEndianMarker;
  std::uint32_t version = kFrameVersion;
  std::uint64_t id = 0;     // the sender's own counter; not used for matching
  std::uint64_t flags = 0;  // 0 from every Pacemaker release; carried, not interpreted
  std::uint32_t size_total = 0;
  std::uint32_t payload_offset = static_cast<std::uint32_t>(kHeaderBytes);
  std::uint32_t payload_compressed = 0;    // 0: not compressed, else the bzip2 size
  std::uint32_t payload_uncompressed = 0;  // XML bytes + 1 (the NUL)
};

/** The 40 header bytes in host byte order. */
std::string encodeHeader(const FrameHeader& header);

/**
 * Read a header from @p bytes (at least kHeaderBytes) in either byte order.
 * Sets @p swapped when the sender's byte order is not ours. Returns nullopt
 * with @p error when the endian marker is neither; the other fields are not
 * checked here (validateHeader does).
 */
std::optional<FrameHeader> decodeHeader(const char* bytes, bool& swapped, std::string& error);

/**
 * Check every field of a decoded header against the framing rules and
 * @p max_payload_bytes; returns the first violation (naming the field, its
 * value and the rule) or "" when the header is valid.
 */
std::string validateHeader(const FrameHeader& header, std::uint32_t max_payload_bytes = kMaxPayloadBytes);

/** One received message. */
struct Frame {
  FrameHeader header;
  bool swapped = false;  // the peer's byte order differs from ours
  std::string xml;       // the payload, decompressed, without its terminating NUL
};

/**
 * Incremental splitter of a connection's byte stream into frames. Feed what
 * the socket gave, then call next() until NeedMore. A header is validated as
 * soon as its 40 bytes are in, so a frame announcing too much is refused
 * before its payload is buffered. An error is final: the stream cannot be
 * resynchronised, the connection must be closed.
 */
class FrameReader {
 public:
  enum class Status { NeedMore, Frame, Error };

  explicit FrameReader(std::uint32_t max_payload_bytes = kMaxPayloadBytes)
      : max_payload_bytes_(max_payload_bytes) {}

  void feed(const char* data, std::size_t size) { buffer_.append(data, size); }
  /** Extract the next complete message into @p frame. On Error, error() says why. */
  Status next(Frame& frame);
  const std::string& error() const { return error_; }
  /** Bytes fed and not yet returned in a frame. */
  std::size_t buffered() const { return buffer_.size(); }

 private:
  Status fail(std::string error);

  std::uint32_t max_payload_bytes_;
  wire::StreamBuffer buffer_;
  std::string error_;
};

/**
 * An outgoing message as the two byte strings to write. They must go out as
 * two separate TLS records (two gnutls_record_send calls, never coalesced by
 * a buffering layer): Pacemaker 2.1.5's client reads at most 80 bytes until it
 * has a header, then waits for the socket to become readable again; whatever
 * else one record carried is already decrypted inside GnuTLS, the socket never
 * becomes readable for it, and the client times out after 10 s.
 */
struct OutgoingFrame {
  std::string header;
  std::string payload;  // the XML text and its terminating NUL
};

/**
 * Encodes a connection's outgoing messages, numbering them with its own
 * counter (Pacemaker's header id). One per connection. Never compresses:
 * no Pacemaker release compresses when sending either.
 */
class FrameWriter {
 public:
  /**
   * Frame @p xml. Returns nullopt with @p error when the text holds a NUL
   * byte (the receiver would cut the message there) or the payload would
   * exceed kMaxPayloadBytes (upstream refuses it); the counter then stays.
   */
  std::optional<OutgoingFrame> encode(std::string_view xml, std::string& error);
  /** The id of the last message encoded; 0 before the first. */
  std::uint64_t lastId() const { return last_id_; }

 private:
  std::uint64_t last_id_ = 0;
};

}  // namespace lrm::pacemaker
