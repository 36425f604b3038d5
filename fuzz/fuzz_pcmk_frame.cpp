// Fuzzes the Pacemaker Remote frame reader and message parser, the first
// code that sees a cluster's bytes: the input is split into chunks of
// fuzzer-chosen sizes, under the real 20 MiB cap or a fuzzer-chosen smaller
// one; what comes out must be what one reader fed the whole stream at once
// gets, and every message must survive being sent by FrameWriter and read back.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "remote_frame.hpp"
#include "remote_message.hpp"

namespace {

using lrm::pacemaker::Frame;
using lrm::pacemaker::FrameReader;

struct Outcome {
  std::vector<std::string> messages;
  std::string error;  // empty: no error
};

// Take every complete frame out of @p reader, checking what the reader promises of each.
void drain(FrameReader& reader, Outcome& outcome, std::uint32_t max_payload_bytes) {
  Frame frame;
  while (true) {
    switch (reader.next(frame)) {
      case FrameReader::Status::NeedMore:
        return;
      case FrameReader::Status::Error:
        if (reader.error().empty()) std::abort();
        outcome.error = reader.error();
        return;
      case FrameReader::Status::Frame:
        if (frame.xml.size() >= max_payload_bytes || frame.xml.find('\0') != std::string::npos) std::abort();
        if (frame.header.payload_uncompressed != frame.xml.size() + 1) std::abort();
        outcome.messages.push_back(frame.xml);
        break;
    }
  }
}

// Parse @p xml as a message; when it parses, our encoding of it must frame,
// read back and parse to the same encoding.
void checkMessage(const std::string& xml) {
  std::string error;
  const auto message = lrm::pacemaker::parseMessage(xml, error);
  if (!message) {
    if (error.empty()) std::abort();
    return;
  }
  if (!lrm::pacemaker::readEnvelope(*message, error) && error.empty()) std::abort();
  lrm::pacemaker::requestResource(*message);
  const std::string encoded = lrm::wire::encode(*message);
  lrm::pacemaker::FrameWriter writer;
  const auto out = writer.encode(encoded, error);
  if (!out) return;  // our encoding grew past the cap
  FrameReader reader;
  reader.feed(out->header.data(), out->header.size());
  reader.feed(out->payload.data(), out->payload.size());
  Frame frame;
  if (reader.next(frame) != FrameReader::Status::Frame || frame.xml != encoded) std::abort();
  const auto again = lrm::pacemaker::parseMessage(frame.xml, error);
  if (!again || lrm::wire::encode(*again) != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  std::uint32_t max_payload_bytes = lrm::pacemaker::kMaxPayloadBytes;
  if (provider.ConsumeBool()) max_payload_bytes = provider.ConsumeIntegralInRange<std::uint32_t>(1, 1 << 16);

  // Chunk sizes come from the end of the input, the bytes from its front.
  FrameReader chunked(max_payload_bytes);
  Outcome in_chunks;
  std::string stream;
  while (provider.remaining_bytes() > 0 && in_chunks.error.empty()) {
    const auto length = provider.ConsumeIntegralInRange<std::size_t>(1, 4096);
    const std::string chunk = provider.ConsumeBytesAsString(length);
    stream += chunk;
    chunked.feed(chunk.data(), chunk.size());
    drain(chunked, in_chunks, max_payload_bytes);
    if (in_chunks.error.empty() && chunked.buffered() > stream.size()) std::abort();
  }

  FrameReader whole(max_payload_bytes);
  Outcome at_once;
  whole.feed(stream.data(), stream.size());
  drain(whole, at_once, max_payload_bytes);
  if (at_once.messages != in_chunks.messages || at_once.error != in_chunks.error) std::abort();

  // An error is final.
  Frame frame;
  if (!at_once.error.empty() && whole.next(frame) != FrameReader::Status::Error) std::abort();

  for (const std::string& xml : at_once.messages) checkMessage(xml);
  return 0;
}
