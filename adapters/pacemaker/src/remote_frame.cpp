// Pacemaker Remote framing (remote_frame.hpp): header byte orders and
// validation, the incremental reader with bzip2 decompression, the writer.
#include "remote_frame.hpp"

#include <byteswap.h>
#include <bzlib.h>

#include <cstdio>
#include <cstring>

namespace lrm::pacemaker {
namespace {

// Field offsets in the packed header.
constexpr std::size_t kEndianAt = 0;
constexpr std::size_t kVersionAt = 4;
constexpr std::size_t kIdAt = 8;
constexpr std::size_t kFlagsAt = 16;
constexpr std::size_t kSizeTotalAt = 24;
constexpr std::size_t kPayloadOffsetAt = 28;
constexpr std::size_t kPayloadCompressedAt = 32;
constexpr std::size_t kPayloadUncompressedAt = 36;

template <typename T>
void put(std::string& out, std::size_t at, T value) {
  std::memcpy(out.data() + at, &value, sizeof value);
}

template <typename T>
T get(const char* bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes + at, sizeof value);
  return value;
}

std::string hex32(std::uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08X", value);
  return text;
}

// The most BZ2_bzBuffToBuffCompress can produce from @p size bytes, as
// bzlib's manual bounds it: 1% more than the input plus 600 bytes.
std::uint64_t bzip2Bound(std::uint32_t size) { return std::uint64_t{size} + size / 100 + 600; }

std::string bzip2Error(int rc, std::uint32_t buffer_bytes) {
  switch (rc) {
    case BZ_DATA_ERROR:
      return "corrupt data (BZ_DATA_ERROR)";
    case BZ_DATA_ERROR_MAGIC:
      return "not bzip2 data (BZ_DATA_ERROR_MAGIC)";
    case BZ_UNEXPECTED_EOF:
      return "data ends before the stream does (BZ_UNEXPECTED_EOF)";
    case BZ_OUTBUFF_FULL:
      // The buffer is full and the stream goes on, or stops short of its end marker.
      return "the stream does not end within payload_uncompressed " + std::to_string(buffer_bytes) +
             " bytes (BZ_OUTBUFF_FULL)";
    case BZ_MEM_ERROR:
      return "out of memory (BZ_MEM_ERROR)";
    default:
      return "bzip2 error " + std::to_string(rc);
  }
}

}  // namespace

std::string encodeHeader(const FrameHeader& header) {
  std::string out(kHeaderBytes, '\0');
  put(out, kEndianAt, header.endian);
  put(out, kVersionAt, header.version);
  put(out, kIdAt, header.id);
  put(out, kFlagsAt, header.flags);
  put(out, kSizeTotalAt, header.size_total);
  put(out, kPayloadOffsetAt, header.payload_offset);
  put(out, kPayloadCompressedAt, header.payload_compressed);
  put(out, kPayloadUncompressedAt, header.payload_uncompressed);
  return out;
}

std::optional<FrameHeader> decodeHeader(const char* bytes, bool& swapped, std::string& error) {
  FrameHeader header;
  header.endian = get<std::uint32_t>(bytes, kEndianAt);
  if (header.endian == kEndianMarker) {
    swapped = false;
  } else if (header.endian == bswap_32(kEndianMarker)) {
    swapped = true;
  } else {
    error = "unknown endian marker " + hex32(header.endian) + " (expected " + hex32(kEndianMarker) +
            " in either byte order)";
    return std::nullopt;
  }
  const auto u32 = [&](std::size_t at) {
    const auto value = get<std::uint32_t>(bytes, at);
    return swapped ? bswap_32(value) : value;
  };
  const auto u64 = [&](std::size_t at) {
    const auto value = get<std::uint64_t>(bytes, at);
    return swapped ? bswap_64(value) : value;
  };
  header.endian = kEndianMarker;
  header.version = u32(kVersionAt);
  header.id = u64(kIdAt);
  header.flags = u64(kFlagsAt);
  header.size_total = u32(kSizeTotalAt);
  header.payload_offset = u32(kPayloadOffsetAt);
  header.payload_compressed = u32(kPayloadCompressedAt);
  header.payload_uncompressed = u32(kPayloadUncompressedAt);
  return header;
}

std::string validateHeader(const FrameHeader& header, std::uint32_t max_payload_bytes) {
  const auto limit = [&] { return " exceeds the limit of " + std::to_string(max_payload_bytes) + " bytes"; };
  if (header.endian != kEndianMarker) {
    return "unknown endian marker " + hex32(header.endian) + " (expected " + hex32(kEndianMarker) + ")";
  }
  if (header.version != kFrameVersion) {
    return "unsupported header version " + std::to_string(header.version) + " (expected " +
           std::to_string(kFrameVersion) + ")";
  }
  if (header.payload_offset != kHeaderBytes) {
    return "payload_offset " + std::to_string(header.payload_offset) + " is not the header size " +
           std::to_string(kHeaderBytes);
  }
  if (header.payload_uncompressed == 0) {
    return "payload_uncompressed 0: a payload holds at least its terminating NUL";
  }
  if (header.payload_uncompressed > max_payload_bytes) {
    return "payload_uncompressed " + std::to_string(header.payload_uncompressed) + limit();
  }
  if (header.payload_compressed > max_payload_bytes) {
    return "payload_compressed " + std::to_string(header.payload_compressed) + limit();
  }
  if (header.payload_compressed > bzip2Bound(header.payload_uncompressed)) {
    return "payload_compressed " + std::to_string(header.payload_compressed) +
           " is more than bzip2 makes of payload_uncompressed " +
           std::to_string(header.payload_uncompressed) + " bytes (at most " +
           std::to_string(bzip2Bound(header.payload_uncompressed)) + ")";
  }
  const std::uint32_t payload_bytes =
      header.payload_compressed != 0 ? header.payload_compressed : header.payload_uncompressed;
  if (std::uint64_t{header.size_total} != kHeaderBytes + std::uint64_t{payload_bytes}) {
    return "size_total " + std::to_string(header.size_total) + " is not the header size " +
           std::to_string(kHeaderBytes) + " + " +
           (header.payload_compressed != 0 ? "payload_compressed " : "payload_uncompressed ") +
           std::to_string(payload_bytes);
  }
  return {};
}

FrameReader::Status FrameReader::fail(std::string error) {
  error_ = std::move(error);
  return Status::Error;
}

FrameReader::Status FrameReader::next(Frame& frame) {
  if (!error_.empty()) return Status::Error;
  if (buffered() < kHeaderBytes) return Status::NeedMore;
  const char* head = buffer_.data();
  std::string error;
  bool swapped = false;
  const std::optional<FrameHeader> header = decodeHeader(head, swapped, error);
  if (!header) return fail(std::move(error));
  if (error = validateHeader(*header, max_payload_bytes_); !error.empty()) return fail(std::move(error));
  if (buffered() < header->size_total) return Status::NeedMore;

  const char* payload = head + kHeaderBytes;
  std::string xml;
  if (header->payload_compressed != 0) {
    // The header's (validated) size and nothing else decides the allocation;
    // bzip2 stops with BZ_OUTBUFF_FULL rather than write past it.
    xml.assign(header->payload_uncompressed, '\0');
    // bzlib takes the source as char* but only reads it.
    unsigned int decompressed = header->payload_uncompressed;
    const int rc = BZ2_bzBuffToBuffDecompress(xml.data(), &decompressed, const_cast<char*>(payload),
                                              header->payload_compressed, 0, 0);
    if (rc != BZ_OK) {
      return fail("unable to decompress the bzip2 payload: " + bzip2Error(rc, header->payload_uncompressed));
    }
    if (decompressed != header->payload_uncompressed) {
      return fail("bzip2 payload decompresses to " + std::to_string(decompressed) +
                  " bytes, not payload_uncompressed " + std::to_string(header->payload_uncompressed));
    }
  } else {
    xml.assign(payload, header->payload_uncompressed);
  }
  const std::size_t nul = xml.find('\0');
  if (nul == std::string::npos) return fail("payload does not end with a NUL byte");
  if (nul != xml.size() - 1) {
    return fail("payload has a NUL byte at offset " + std::to_string(nul) +
                ", before its last byte (offset " + std::to_string(xml.size() - 1) + ")");
  }
  xml.pop_back();

  frame.header = *header;
  frame.swapped = swapped;
  frame.xml = std::move(xml);
  buffer_.consume(header->size_total);
  return Status::Frame;
}

std::optional<OutgoingFrame> FrameWriter::encode(std::string_view xml, std::string& error) {
  if (const std::size_t nul = xml.find('\0'); nul != std::string_view::npos) {
    error = "message text has a NUL byte at offset " + std::to_string(nul);
    return std::nullopt;
  }
  if (xml.size() >= kMaxPayloadBytes) {
    error = "message of " + std::to_string(xml.size()) + " bytes and its NUL exceed the limit of " +
            std::to_string(kMaxPayloadBytes) + " bytes";
    return std::nullopt;
  }
  const auto payload_bytes = static_cast<std::uint32_t>(xml.size() + 1);
  FrameHeader header;
  header.id = last_id_ + 1;
  header.size_total = static_cast<std::uint32_t>(kHeaderBytes) + payload_bytes;
  header.payload_uncompressed = payload_bytes;
  OutgoingFrame out;
  out.header = encodeHeader(header);
  out.payload.reserve(payload_bytes);
  out.payload.append(xml);
  out.payload.push_back('\0');
  last_id_ = header.id;
  return out;
}

}  // namespace lrm::pacemaker
