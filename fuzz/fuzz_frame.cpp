// Fuzzes wire::FrameReader, the first code that sees a peer's bytes: the
// input is split into chunks of fuzzer-chosen sizes, with or without a
// fuzzer-chosen setMaxFrame(), and what comes out must be what one reader
// fed the whole stream at once gets.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "wire/wire.hpp"

namespace {

using lrm::wire::FrameReader;

struct Outcome {
  std::vector<std::string> frames;
  std::string error;  // empty: no error
};

// Take every complete frame out of @p reader.
void drain(FrameReader& reader, Outcome& outcome, std::size_t max_frame) {
  std::string payload;
  while (true) {
    switch (reader.next(payload)) {
      case FrameReader::Status::NeedMore:
        return;
      case FrameReader::Status::Error:
        if (reader.error().empty()) std::abort();
        outcome.error = reader.error();
        return;
      case FrameReader::Status::Frame:
        if (payload.empty() || payload.size() > max_frame) std::abort();
        outcome.frames.push_back(payload);
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  std::size_t max_frame = lrm::wire::kMaxFrameBytes;
  const bool limited = provider.ConsumeBool();
  if (limited) max_frame = provider.ConsumeIntegralInRange<std::size_t>(0, 1 << 16);

  // Chunk sizes come from the end of the input, the bytes from its front.
  FrameReader chunked;
  if (limited) chunked.setMaxFrame(max_frame);
  Outcome in_chunks;
  std::string stream;
  while (provider.remaining_bytes() > 0 && in_chunks.error.empty()) {
    const auto length = provider.ConsumeIntegralInRange<std::size_t>(1, 4096);
    const std::string chunk = provider.ConsumeBytesAsString(length);
    stream += chunk;
    chunked.feed(chunk.data(), chunk.size());
    drain(chunked, in_chunks, max_frame);
    if (in_chunks.error.empty() && chunked.buffered() > stream.size()) std::abort();
  }

  FrameReader whole;
  if (limited) whole.setMaxFrame(max_frame);
  Outcome at_once;
  whole.feed(stream.data(), stream.size());
  drain(whole, at_once, max_frame);
  if (at_once.frames != in_chunks.frames || at_once.error != in_chunks.error) std::abort();

  // An error is final.
  std::string payload;
  if (!at_once.error.empty() && whole.next(payload) != FrameReader::Status::Error) std::abort();
  return 0;
}
