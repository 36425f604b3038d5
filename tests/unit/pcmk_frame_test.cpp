// Pacemaker Remote framing and messages (adapters/pacemaker/src/remote_frame
// and remote_message): headers in both byte orders built here byte by byte,
// every size-field violation, streams fed in pieces, bzip2 payloads good and
// bad, and every real message sample parsed.
#include <bzlib.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "remote_frame.hpp"
#include "remote_message.hpp"

namespace lrm::pacemaker {
namespace {

using ::testing::HasSubstr;

enum class Order { Little, Big };

constexpr Order kHostOrder = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? Order::Little : Order::Big;
constexpr Order kOtherOrder = kHostOrder == Order::Little ? Order::Big : Order::Little;

// Append @p value as @p bytes bytes in @p order, independently of the code under test.
void putBytes(std::string& out, Order order, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    const int shift = 8 * (order == Order::Little ? i : bytes - 1 - i);
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

std::string rawHeader(const FrameHeader& header, Order order) {
  std::string out;
  putBytes(out, order, header.endian, 4);
  putBytes(out, order, header.version, 4);
  putBytes(out, order, header.id, 8);
  putBytes(out, order, header.flags, 8);
  putBytes(out, order, header.size_total, 4);
  putBytes(out, order, header.payload_offset, 4);
  putBytes(out, order, header.payload_compressed, 4);
  putBytes(out, order, header.payload_uncompressed, 4);
  return out;
}

// A valid header for an uncompressed payload of @p payload_bytes (NUL included).
FrameHeader plainHeader(std::uint32_t payload_bytes, std::uint64_t id = 7) {
  FrameHeader header;
  header.id = id;
  header.size_total = 40 + payload_bytes;
  header.payload_uncompressed = payload_bytes;
  return header;
}

// A whole frame carrying @p xml, built by hand in @p order.
std::string rawFrame(const std::string& xml, Order order = kHostOrder) {
  const auto payload_bytes = static_cast<std::uint32_t>(xml.size() + 1);
  return rawHeader(plainHeader(payload_bytes), order) + xml + '\0';
}

std::string bzip2(const std::string& data) {
  std::string out(data.size() + data.size() / 100 + 600, '\0');
  auto size = static_cast<unsigned int>(out.size());
  const int rc = BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(data.data()),
                                          static_cast<unsigned int>(data.size()), 9, 0, 0);
  EXPECT_EQ(rc, BZ_OK);
  out.resize(size);
  return out;
}

// A frame whose payload is @p compressed, announcing @p uncompressed_bytes.
std::string compressedFrame(const std::string& compressed,
                            std::uint32_t uncompressed_bytes,
                            Order order = kHostOrder) {
  FrameHeader header;
  header.size_total = static_cast<std::uint32_t>(40 + compressed.size());
  header.payload_compressed = static_cast<std::uint32_t>(compressed.size());
  header.payload_uncompressed = uncompressed_bytes;
  return rawHeader(header, order) + compressed;
}

// The reader's verdict on @p bytes fed at once: the XML of every frame, then the error if any.
struct Outcome {
  std::vector<std::string> xml;
  std::string error;
};

Outcome readAll(const std::string& bytes, std::uint32_t max_payload_bytes = kMaxPayloadBytes) {
  FrameReader reader(max_payload_bytes);
  reader.feed(bytes.data(), bytes.size());
  Outcome outcome;
  Frame frame;
  while (true) {
    switch (reader.next(frame)) {
      case FrameReader::Status::NeedMore:
        return outcome;
      case FrameReader::Status::Error:
        outcome.error = reader.error();
        return outcome;
      case FrameReader::Status::Frame:
        outcome.xml.push_back(frame.xml);
        break;
    }
  }
}

std::string errorOf(const std::string& bytes) {
  const Outcome outcome = readAll(bytes);
  EXPECT_TRUE(outcome.xml.empty());
  return outcome.error;
}

// --- headers -----------------------------------------------------------------

TEST(PcmkFrameHeader, EncodesTheFortyBytesInHostOrder) {
  FrameHeader header = plainHeader(12, 0x0102030405060708);
  header.flags = 0x1112131415161718;
  const std::string encoded = encodeHeader(header);
  ASSERT_EQ(encoded.size(), kHeaderBytes);
  EXPECT_EQ(encoded, rawHeader(header, kHostOrder));
}

TEST(PcmkFrameHeader, DecodesBothByteOrders) {
  FrameHeader sent = plainHeader(12, 0x0102030405060708);
  sent.flags = 0x1112131415161718;
  for (const Order order : {Order::Little, Order::Big}) {
    SCOPED_TRACE(order == Order::Little ? "little-endian" : "big-endian");
    const std::string raw = rawHeader(sent, order);
    bool swapped = false;
    std::string error;
    const auto got = decodeHeader(raw.data(), swapped, error);
    ASSERT_TRUE(got.has_value()) << error;
    EXPECT_EQ(swapped, order != kHostOrder);
    EXPECT_EQ(got->endian, kEndianMarker);
    EXPECT_EQ(got->version, 1U);
    EXPECT_EQ(got->id, 0x0102030405060708U);
    EXPECT_EQ(got->flags, 0x1112131415161718U);
    EXPECT_EQ(got->size_total, 52U);
    EXPECT_EQ(got->payload_offset, 40U);
    EXPECT_EQ(got->payload_compressed, 0U);
    EXPECT_EQ(got->payload_uncompressed, 12U);
    EXPECT_EQ(validateHeader(*got), "");
  }
}

TEST(PcmkFrameHeader, RefusesAnUnknownEndianMarker) {
  FrameHeader header = plainHeader(12);
  header.endian = 0x12345678;
  const std::string raw = rawHeader(header, kHostOrder);
  bool swapped = false;
  std::string error;
  EXPECT_FALSE(decodeHeader(raw.data(), swapped, error).has_value());
  EXPECT_EQ(error, "unknown endian marker 0x12345678 (expected 0xBADADBBD in either byte order)");
}

TEST(PcmkFrameHeader, ValidationNamesTheFieldTheValueAndTheRule) {
  struct Case {
    const char* what;
    FrameHeader header;
    std::string error;
  };
  std::vector<Case> cases;
  const auto add = [&](const char* what, auto change, std::string error) {
    FrameHeader header = plainHeader(10);
    change(header);
    cases.push_back({what, header, std::move(error)});
  };
  add(
      "version", [](FrameHeader& h) { h.version = 2; }, "unsupported header version 2 (expected 1)");
  add(
      "version 0", [](FrameHeader& h) { h.version = 0; }, "unsupported header version 0 (expected 1)");
  add(
      "offset", [](FrameHeader& h) { h.payload_offset = 48; }, "payload_offset 48 is not the header size 40");
  add(
      "no NUL room", [](FrameHeader& h) { h.payload_uncompressed = 0, h.size_total = 40; },
      "payload_uncompressed 0: a payload holds at least its terminating NUL");
  add(
      "total too small", [](FrameHeader& h) { h.size_total = 49; },
      "size_total 49 is not the header size 40 + payload_uncompressed 10");
  add(
      "total too large", [](FrameHeader& h) { h.size_total = 51; },
      "size_total 51 is not the header size 40 + payload_uncompressed 10");
  add(
      "total wraps", [](FrameHeader& h) { h.size_total = 0xFFFFFFFF, h.payload_uncompressed = 0xFFFFFFD7; },
      "payload_uncompressed 4294967255 exceeds the limit of 20971520 bytes");
  add(
      "uncompressed over the cap", [](FrameHeader& h) { h.payload_uncompressed = kMaxPayloadBytes + 1; },
      "payload_uncompressed 20971521 exceeds the limit of 20971520 bytes");
  add(
      "compressed over the cap",
      [](FrameHeader& h) {
        h.payload_uncompressed = kMaxPayloadBytes, h.payload_compressed = kMaxPayloadBytes + 1;
      },
      "payload_compressed 20971521 exceeds the limit of 20971520 bytes");
  add(
      "compressed beyond bzip2's bound",
      [](FrameHeader& h) { h.payload_compressed = 611, h.size_total = 651; },
      "payload_compressed 611 is more than bzip2 makes of payload_uncompressed 10 bytes (at most 610)");
  add(
      "total ignores the compressed size", [](FrameHeader& h) { h.payload_compressed = 30; },
      "size_total 50 is not the header size 40 + payload_compressed 30");
  for (const Case& c : cases) {
    EXPECT_EQ(validateHeader(c.header), c.error) << c.what;
  }

  FrameHeader at_cap = plainHeader(kMaxPayloadBytes);
  EXPECT_EQ(validateHeader(at_cap), "");
  at_cap.payload_compressed = 100;
  at_cap.size_total = 140;
  EXPECT_EQ(validateHeader(at_cap), "");
  EXPECT_EQ(validateHeader(plainHeader(10), 9), "payload_uncompressed 10 exceeds the limit of 9 bytes");
}

TEST(PcmkFrameHeader, AViolationIsFoundInEitherByteOrder) {
  FrameHeader header = plainHeader(10);
  header.payload_offset = 41;
  for (const Order order : {Order::Little, Order::Big}) {
    EXPECT_EQ(errorOf(rawHeader(header, order) + std::string(10, 'x')),
              "payload_offset 41 is not the header size 40");
  }
}

// --- the reader --------------------------------------------------------------

TEST(PcmkFrameReader, AFrameFedByteByByteCompletesOnItsLastByte) {
  for (const Order order : {Order::Little, Order::Big}) {
    const std::string bytes = rawFrame("<lrmd_command lrmd_op=\"register\"/>", order);
    FrameReader reader;
    Frame frame;
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
      reader.feed(&bytes[i], 1);
      ASSERT_EQ(reader.next(frame), FrameReader::Status::NeedMore) << "after byte " << i;
      EXPECT_EQ(reader.buffered(), i + 1);
    }
    reader.feed(&bytes.back(), 1);
    ASSERT_EQ(reader.next(frame), FrameReader::Status::Frame) << reader.error();
    EXPECT_EQ(frame.xml, "<lrmd_command lrmd_op=\"register\"/>");
    EXPECT_EQ(frame.swapped, order != kHostOrder);
    EXPECT_EQ(frame.header.id, 7U);
    EXPECT_EQ(reader.buffered(), 0U);
    EXPECT_EQ(reader.next(frame), FrameReader::Status::NeedMore);
  }
}

TEST(PcmkFrameReader, SeveralMessagesInOneFeedComeOutInOrder) {
  const std::string tail = rawFrame("<d/>", kOtherOrder);
  const std::string bytes =
      rawFrame("<a/>") + rawFrame("<b x=\"1\"/>", kOtherOrder) + rawFrame("<c/>") + tail.substr(0, 43);
  FrameReader reader;
  reader.feed(bytes.data(), bytes.size());
  Frame frame;
  std::vector<std::string> got;
  while (reader.next(frame) == FrameReader::Status::Frame) got.push_back(frame.xml);
  EXPECT_EQ(got, (std::vector<std::string>{"<a/>", "<b x=\"1\"/>", "<c/>"}));
  EXPECT_EQ(reader.buffered(), 43U);
  reader.feed(tail.data() + 43, tail.size() - 43);
  ASSERT_EQ(reader.next(frame), FrameReader::Status::Frame) << reader.error();
  EXPECT_EQ(frame.xml, "<d/>");
  EXPECT_TRUE(frame.swapped);
}

TEST(PcmkFrameReader, ACapBreakingHeaderIsRefusedBeforeItsPayloadArrives) {
  // Only the 40 header bytes are fed: the reader must not wait for (or
  // allocate) the 20 MiB it announces.
  FrameHeader header = plainHeader(kMaxPayloadBytes + 1);
  FrameReader reader;
  const std::string raw = rawHeader(header, kOtherOrder);
  reader.feed(raw.data(), raw.size());
  Frame frame;
  EXPECT_EQ(reader.next(frame), FrameReader::Status::Error);
  EXPECT_EQ(reader.error(), "payload_uncompressed 20971521 exceeds the limit of 20971520 bytes");

  // At the cap, the header is accepted and the reader waits for the payload.
  FrameReader waiting;
  const std::string at_cap = rawHeader(plainHeader(kMaxPayloadBytes), kHostOrder);
  waiting.feed(at_cap.data(), at_cap.size());
  EXPECT_EQ(waiting.next(frame), FrameReader::Status::NeedMore);
  EXPECT_EQ(waiting.buffered(), 40U);
}

TEST(PcmkFrameReader, AnErrorIsFinal) {
  FrameReader reader;
  const std::string bad = rawFrame("<a/>").replace(0, 4, "XXXX");
  reader.feed(bad.data(), bad.size());
  Frame frame;
  EXPECT_EQ(reader.next(frame), FrameReader::Status::Error);
  EXPECT_EQ(reader.error(), "unknown endian marker 0x58585858 (expected 0xBADADBBD in either byte order)");
  const std::string good = rawFrame("<b/>");
  reader.feed(good.data(), good.size());
  EXPECT_EQ(reader.next(frame), FrameReader::Status::Error);
}

TEST(PcmkFrameReader, ThePayloadEndsWithItsOnlyNul) {
  std::string no_nul = rawFrame("<a/>");
  no_nul.back() = ' ';
  EXPECT_EQ(errorOf(no_nul), "payload does not end with a NUL byte");

  std::string early_nul = rawFrame("<a/>");
  early_nul[41] = '\0';
  EXPECT_EQ(errorOf(early_nul), "payload has a NUL byte at offset 1, before its last byte (offset 4)");

  // Just the NUL: an empty text, left to the XML parser to refuse.
  const Outcome empty = readAll(rawFrame(""));
  EXPECT_EQ(empty.error, "");
  EXPECT_EQ(empty.xml, std::vector<std::string>{""});
}

TEST(PcmkFrameReader, ABzip2PayloadIsDecompressedInEitherByteOrder) {
  std::string xml = "<lrmd_notify lrmd_rsc_output=\"";
  xml.append(100000, 'a');
  xml += "\"/>";
  const std::string compressed = bzip2(xml + '\0');
  ASSERT_LT(compressed.size(), 1000U);
  for (const Order order : {Order::Little, Order::Big}) {
    const std::string bytes =
        compressedFrame(compressed, static_cast<std::uint32_t>(xml.size() + 1), order) + rawFrame("<next/>");
    const Outcome outcome = readAll(bytes);
    EXPECT_EQ(outcome.error, "");
    ASSERT_EQ(outcome.xml.size(), 2U);
    EXPECT_EQ(outcome.xml[0], xml);
    EXPECT_EQ(outcome.xml[1], "<next/>");
  }
}

TEST(PcmkFrameReader, CorruptBzip2IsAnError) {
  const std::string text = std::string("<a b=\"hello, bzip2\"/>") + '\0';
  const auto size = static_cast<std::uint32_t>(text.size());
  std::string corrupt = bzip2(text);
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_THAT(errorOf(compressedFrame(corrupt, size)), HasSubstr("unable to decompress the bzip2 payload: "));

  EXPECT_EQ(errorOf(compressedFrame("not bzip2 at all", size)),
            "unable to decompress the bzip2 payload: not bzip2 data (BZ_DATA_ERROR_MAGIC)");

  const std::string whole = bzip2(text);
  EXPECT_EQ(errorOf(compressedFrame(whole.substr(0, whole.size() / 2), size)),
            "unable to decompress the bzip2 payload: data ends before the stream does (BZ_UNEXPECTED_EOF)");

  // A valid stream without the terminating NUL.
  EXPECT_EQ(errorOf(compressedFrame(bzip2("<a/>"), 4)), "payload does not end with a NUL byte");
}

TEST(PcmkFrameReader, ADecompressedSizeThatLiesIsAnError) {
  const std::string text = std::string(1000, 'x') + '\0';
  const std::string compressed = bzip2(text);
  EXPECT_EQ(
      errorOf(compressedFrame(compressed, 1000)),
      "unable to decompress the bzip2 payload: the stream does not end within payload_uncompressed 1000 "
      "bytes (BZ_OUTBUFF_FULL)");
  EXPECT_EQ(errorOf(compressedFrame(compressed, 1002)),
            "bzip2 payload decompresses to 1001 bytes, not payload_uncompressed 1002");
  // A bomb is capped by the header: it never announces more than the limit.
  FrameHeader bomb;
  bomb.payload_compressed = 50;
  bomb.payload_uncompressed = 0xFFFFFFFF;
  bomb.size_total = 90;
  EXPECT_EQ(errorOf(rawHeader(bomb, kHostOrder) + std::string(50, 'B')),
            "payload_uncompressed 4294967295 exceeds the limit of 20971520 bytes");
}

// --- the writer --------------------------------------------------------------

TEST(PcmkFrameWriter, HeaderAndPayloadArePiecesTheReaderTakesBack) {
  FrameWriter writer;
  EXPECT_EQ(writer.lastId(), 0U);
  std::string error;
  const auto first = writer.encode("<lrmd_reply lrmd_rc=\"0\"/>", error);
  ASSERT_TRUE(first.has_value()) << error;
  EXPECT_EQ(first->header, rawHeader(plainHeader(26, 1), kHostOrder));
  EXPECT_EQ(first->payload, std::string("<lrmd_reply lrmd_rc=\"0\"/>") + '\0');
  const auto second = writer.encode("<b/>", error);
  ASSERT_TRUE(second.has_value()) << error;
  EXPECT_EQ(writer.lastId(), 2U);

  FrameReader reader;
  Frame frame;
  for (const auto& piece : {first->header, first->payload, second->header, second->payload}) {
    reader.feed(piece.data(), piece.size());
  }
  ASSERT_EQ(reader.next(frame), FrameReader::Status::Frame) << reader.error();
  EXPECT_EQ(frame.xml, "<lrmd_reply lrmd_rc=\"0\"/>");
  EXPECT_EQ(frame.header.id, 1U);
  ASSERT_EQ(reader.next(frame), FrameReader::Status::Frame) << reader.error();
  EXPECT_EQ(frame.xml, "<b/>");
  EXPECT_EQ(frame.header.id, 2U);
}

TEST(PcmkFrameWriter, RefusesANulAndAnOversizedMessageWithoutCountingThem) {
  FrameWriter writer;
  std::string error;
  EXPECT_FALSE(writer.encode(std::string("<a/>\0<b/>", 9), error).has_value());
  EXPECT_EQ(error, "message text has a NUL byte at offset 4");
  EXPECT_EQ(writer.lastId(), 0U);

  std::string big(kMaxPayloadBytes, 'x');
  EXPECT_FALSE(writer.encode(big, error).has_value());
  EXPECT_EQ(error, "message of 20971520 bytes and its NUL exceed the limit of 20971520 bytes");
  EXPECT_EQ(writer.lastId(), 0U);
  big.pop_back();
  const auto at_cap = writer.encode(big, error);
  ASSERT_TRUE(at_cap.has_value()) << error;
  EXPECT_EQ(at_cap->payload.size(), kMaxPayloadBytes);
  EXPECT_EQ(writer.lastId(), 1U);
}

// --- messages ----------------------------------------------------------------

struct Sample {
  std::string heading;
  std::string xml;
};

std::vector<Sample> loadSamples() {
  std::ifstream in(std::string(LRM_TEST_FIXTURES_DIR) + "/pacemaker/remote-samples.txt");
  std::vector<Sample> samples;
  std::string line;
  std::string heading;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) heading = line;
    if (line.rfind("<", 0) == 0) samples.push_back({heading, line});
  }
  return samples;
}

// The value of "key=value" in a sample's heading, or "".
std::string headingValue(const std::string& heading, const std::string& key) {
  const std::size_t at = heading.find(" " + key + "=");
  if (at == std::string::npos) return {};
  const std::size_t begin = at + key.size() + 2;
  return heading.substr(begin, heading.find(' ', begin) - begin);
}

TEST(PcmkMessage, EverySampleParsesWithItsEnvelopeAndSurvivesFraming) {
  const std::vector<Sample> samples = loadSamples();
  ASSERT_EQ(samples.size(), 47U);
  FrameWriter writer;
  for (const Sample& sample : samples) {
    SCOPED_TRACE(sample.heading);
    std::string error;
    const auto message = parseMessage(sample.xml, error);
    ASSERT_TRUE(message.has_value()) << error;
    const auto envelope = readEnvelope(*message, error);
    ASSERT_TRUE(envelope.has_value()) << error;
    std::string type = headingValue(sample.heading, "lrmd_remote_msg_type");
    if (type.empty() && message->kind == "lrmd_reply") type = "reply";
    const MessageType expected = type == "request"  ? MessageType::Request
                                 : type == "reply"  ? MessageType::Reply
                                 : type == "notify" ? MessageType::Notify
                                                    : MessageType::Invalid;
    EXPECT_EQ(envelope->type, expected);
    EXPECT_EQ(envelope->op, message->get("lrmd_op"));
    if (const std::string op = headingValue(sample.heading, "lrmd_op"); !op.empty()) {
      EXPECT_EQ(envelope->op, op);
    }
    EXPECT_EQ(envelope->id == 0, expected == MessageType::Notify);

    // Sent by us and read back, the message is the same.
    const auto frame = writer.encode(wire::encode(*message), error);
    ASSERT_TRUE(frame.has_value()) << error;
    const Outcome outcome = readAll(frame->header + frame->payload);
    ASSERT_EQ(outcome.error, "");
    ASSERT_EQ(outcome.xml.size(), 1U);
    const auto again = parseMessage(outcome.xml[0], error);
    ASSERT_TRUE(again.has_value()) << error;
    EXPECT_EQ(wire::encode(*again), wire::encode(*message));
  }
}

TEST(PcmkMessage, AnExecRequestShowsItsResourceAndParameters) {
  std::string exec;
  for (const Sample& sample : loadSamples()) {
    if (headingValue(sample.heading, "lrmd_op") == "lrmd_rsc_exec" &&
        sample.heading.find("C->R") != std::string::npos) {
      exec = sample.xml;
    }
  }
  std::string error;
  const auto message = parseMessage(exec, error);
  ASSERT_TRUE(message.has_value()) << error;
  const auto envelope = readEnvelope(*message, error);
  ASSERT_TRUE(envelope.has_value()) << error;
  EXPECT_EQ(envelope->id, 46U);
  EXPECT_EQ(envelope->op, "lrmd_rsc_exec");
  const wire::Message* rsc = requestResource(*message);
  ASSERT_NE(rsc, nullptr);
  EXPECT_EQ(rsc->get("lrmd_rsc_id"), "d1");
  EXPECT_EQ(rsc->get("lrmd_rsc_action"), "monitor");
  EXPECT_EQ(rsc->getUnsigned("lrmd_timeout"), 20000U);
  const wire::Message* parameters = resourceParameters(*rsc);
  ASSERT_NE(parameters, nullptr);
  EXPECT_EQ(parameters->get("CRM_meta_timeout"), "20000");
  EXPECT_EQ(parameters->get("crm_feature_set"), "3.16.1");
  EXPECT_EQ(parameters->attrs.size(), 4U);

  const auto check = parseMessage(loadSamples().front().xml, error);
  ASSERT_TRUE(check.has_value()) << error;
  EXPECT_EQ(requestResource(*check), nullptr);  // its calldata holds an <lrmd_op>
  EXPECT_EQ(child(*check, "nothing"), nullptr);
}

std::string execWithParameters(int count) {
  std::string xml =
      "<lrmd_command lrmd_op=\"lrmd_rsc_exec\" lrmd_remote_msg_id=\"5\" lrmd_remote_msg_type=\"request\">"
      "<lrmd_calldata><lrmd_rsc lrmd_rsc_id=\"big\"><attributes";
  for (int i = 0; i < count; ++i) xml += " p" + std::to_string(i) + "=\"v" + std::to_string(i) + "\"";
  return xml + "/></lrmd_rsc></lrmd_calldata></lrmd_command>";
}

TEST(PcmkMessage, AResourceMayHaveHundredsOfParameters) {
  std::string error;
  const auto message = parseMessage(execWithParameters(512), error);
  ASSERT_TRUE(message.has_value()) << error;
  const wire::Message* parameters = resourceParameters(*requestResource(*message));
  ASSERT_NE(parameters, nullptr);
  EXPECT_EQ(parameters->attrs.size(), 512U);
  EXPECT_EQ(parameters->get("p511"), "v511");

  EXPECT_FALSE(parseMessage(execWithParameters(513), error).has_value());
  EXPECT_EQ(error, "more than 512 attributes on element <attributes>");
}

TEST(PcmkMessage, NestingAndElementCountAreBounded) {
  std::string deep;
  for (int i = 0; i < 33; ++i) deep += "<e>";
  for (int i = 0; i < 33; ++i) deep += "</e>";
  std::string error;
  EXPECT_FALSE(parseMessage(deep, error).has_value());
  EXPECT_EQ(error, "elements nested deeper than 32 levels");
  EXPECT_TRUE(parseMessage(deep.substr(3, deep.size() - 7), error).has_value()) << error;

  std::string wide = "<r>";
  for (std::size_t i = 1; i < kMessageLimits.max_elements; ++i) wide += "<a/>";
  EXPECT_TRUE(parseMessage(wide + "</r>", error).has_value()) << error;
  EXPECT_FALSE(parseMessage(wide + "<a/></r>", error).has_value());
  EXPECT_EQ(error, "more than 262144 elements in one message");
}

TEST(PcmkMessage, ABrokenEnvelopeIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<lrmd_command lrmd_remote_msg_id=\"3\"/>", "<lrmd_command> has no lrmd_remote_msg_type"},
      {"<lrmd_command lrmd_remote_msg_id=\"3\" lrmd_remote_msg_type=\"ask\"/>",
       "<lrmd_command> has unknown lrmd_remote_msg_type \"ask\" (expected request, reply or notify)"},
      {"<lrmd_command lrmd_remote_msg_type=\"request\"/>", "<lrmd_command> has no lrmd_remote_msg_id"},
      {"<lrmd_command lrmd_remote_msg_id=\"-1\" lrmd_remote_msg_type=\"request\"/>",
       "<lrmd_command> has lrmd_remote_msg_id \"-1\", not a non-negative integer"},
      {"<lrmd_command lrmd_remote_msg_id=\"4x\" lrmd_remote_msg_type=\"request\"/>",
       "<lrmd_command> has lrmd_remote_msg_id \"4x\", not a non-negative integer"},
      {"<lrmd_command lrmd_remote_msg_id=\"" + std::string(100, '9') +
           "\" lrmd_remote_msg_type=\"request\"/>",
       "<lrmd_command> has lrmd_remote_msg_id \"" + std::string(64, '9') +
           "\"..., not a non-negative integer"},
  };
  for (const auto& [xml, expected] : cases) {
    std::string error;
    const auto message = parseMessage(xml, error);
    ASSERT_TRUE(message.has_value()) << error;
    EXPECT_FALSE(readEnvelope(*message, error).has_value()) << xml;
    EXPECT_EQ(error, expected);
  }
}

TEST(PcmkMessage, RepliesEchoTheRequestIdAndNotifiesCarryZero) {
  wire::Message reply = makeReply(46);
  reply.set("lrmd_origin", "process_lrmd_message").set("lrmd_rc", 9).set("lrmd_callid", 9);
  EXPECT_EQ(wire::encode(reply),
            "<lrmd_reply lrmd_remote_msg_id=\"46\" lrmd_remote_msg_type=\"reply\" "
            "lrmd_origin=\"process_lrmd_message\" "
            "lrmd_rc=\"9\" lrmd_callid=\"9\"/>");
  std::string error;
  auto envelope = readEnvelope(reply, error);
  ASSERT_TRUE(envelope.has_value()) << error;
  EXPECT_EQ(envelope->type, MessageType::Reply);
  EXPECT_EQ(envelope->id, 46U);

  EXPECT_EQ(wire::encode(makeNotify()),
            "<lrmd_notify lrmd_remote_msg_id=\"0\" lrmd_remote_msg_type=\"notify\"/>");
  wire::Message shutdown = makeNotify("lrmd_ipc_proxy");
  shutdown.set("lrmd_ipc_op", "shutdown_req");
  envelope = readEnvelope(shutdown, error);
  ASSERT_TRUE(envelope.has_value()) << error;
  EXPECT_EQ(envelope->type, MessageType::Notify);
  EXPECT_EQ(envelope->id, 0U);
  EXPECT_EQ(shutdown.kind, "lrmd_ipc_proxy");
}

}  // namespace
}  // namespace lrm::pacemaker
