// Unit tests for OutputCapture (kernel/src/spawner.hpp): bounded capture of a
// child's stdout/stderr, keeping the head and a window of the tail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>

#include "spawner.hpp"

namespace lrm::kernel {
namespace {

using ::testing::HasSubstr;

constexpr std::size_t kHead = 256 * 1024;
constexpr std::size_t kTail = OutputCapture::kMaxTailBytes;
constexpr std::size_t kLimit = kHead + kTail;

std::string randomText(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string text(size, ' ');
  for (auto& c : text) c = static_cast<char>(letter(rng));
  return text;
}

void feed(OutputCapture& capture, const std::string& text, std::size_t chunk) {
  for (std::size_t offset = 0; offset < text.size(); offset += chunk) {
    capture.append(text.data() + offset, std::min(chunk, text.size() - offset));
  }
}

// The captured text must be head + a marker naming @p dropped + the last kTail bytes.
void expectTruncated(const std::string& input, const std::string& text) {
  const std::size_t dropped = input.size() - kHead - kTail;
  ASSERT_GT(text.size(), kHead + kTail);
  EXPECT_EQ(text.substr(0, kHead), input.substr(0, kHead)) << "head differs";
  EXPECT_EQ(text.substr(text.size() - kTail), input.substr(input.size() - kTail)) << "tail differs";
  const std::string marker = text.substr(kHead, text.size() - kHead - kTail);
  EXPECT_LT(marker.size(), 200u);
  EXPECT_THAT(marker, HasSubstr(std::to_string(dropped))) << marker;
  EXPECT_THAT(marker, HasSubstr("dropped"));
}

TEST(OutputCapture, EmptyByDefault) {
  OutputCapture capture;
  EXPECT_EQ(capture.text(), "");
  EXPECT_EQ(capture.totalBytes(), 0u);
}

TEST(OutputCapture, KeepsEverythingBelowTheHeadLimit) {
  OutputCapture capture(kLimit);
  const std::string input = "hello\n" + randomText(1000, 1) + std::string("\0binary\xff", 8);
  feed(capture, input, 7);
  EXPECT_EQ(capture.text(), input);
  EXPECT_EQ(capture.totalBytes(), input.size());
}

TEST(OutputCapture, KeepsExactlyTheHeadLimit) {
  OutputCapture capture(kLimit);
  const std::string input = randomText(kHead, 2);
  feed(capture, input, 4096);
  EXPECT_EQ(capture.text(), input);
  EXPECT_EQ(capture.totalBytes(), kHead);
}

TEST(OutputCapture, NoMarkerWhenNothingWasDropped) {
  // Head plus at most one tail window: every byte is still there.
  for (std::size_t extra : {std::size_t{1}, kTail / 2, kTail}) {
    OutputCapture capture(kLimit);
    const std::string input = randomText(kHead + extra, 3);
    feed(capture, input, 1000);
    EXPECT_EQ(capture.text(), input) << "extra " << extra;
    EXPECT_EQ(capture.totalBytes(), input.size());
  }
}

TEST(OutputCapture, OneByteDroppedIsReported) {
  OutputCapture capture(kLimit);
  const std::string input = randomText(kHead + kTail + 1, 4);
  feed(capture, input, 65536);
  expectTruncated(input, capture.text());
}

TEST(OutputCapture, KeepsHeadMarkerAndTailOfALargeStream) {
  const std::string input = randomText(kHead + 10 * kTail + 12345, 5);
  for (std::size_t chunk : {std::size_t{1} << 16, std::size_t{4093}, std::size_t{kTail * 3}, input.size()}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    OutputCapture capture(kLimit);
    feed(capture, input, chunk);
    EXPECT_EQ(capture.totalBytes(), input.size());
    expectTruncated(input, capture.text());
  }
}

TEST(OutputCapture, ByteByByteAcrossTheTailWindow) {
  const std::string input = randomText(kHead + 3 * kTail + 17, 6);
  OutputCapture capture(kLimit);
  feed(capture, input, 1);
  expectTruncated(input, capture.text());
}

TEST(OutputCapture, LimitSplitsIntoHeadAndTail) {
  const OutputCapture capture(kLimit);
  EXPECT_EQ(capture.headBytes(), kHead);
  EXPECT_EQ(capture.tailBytes(), kTail);
  const OutputCapture fallback;
  EXPECT_EQ(fallback.headBytes() + fallback.tailBytes(), OutputCapture::kDefaultLimit);
  const OutputCapture tiny(1);  // raised to the minimum
  EXPECT_EQ(tiny.headBytes() + tiny.tailBytes(), OutputCapture::kMinLimit);
  EXPECT_EQ(tiny.tailBytes(), OutputCapture::kMinLimit / 4);
}

TEST(OutputCapture, DroppedBytesCountsWhatTextLacks) {
  OutputCapture capture(OutputCapture::kMinLimit);
  const std::string input = randomText(3 * OutputCapture::kMinLimit, 7);
  feed(capture, input, 1000);
  EXPECT_EQ(capture.droppedBytes(), 2 * OutputCapture::kMinLimit);
  EXPECT_THAT(capture.text(), HasSubstr(std::to_string(2 * OutputCapture::kMinLimit)));
}

}  // namespace
}  // namespace lrm::kernel
