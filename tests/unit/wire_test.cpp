// Unit tests for the wire format (sdk/src/wire/wire.{hpp,cpp}): framing, the
// incremental frame reader, the XML codec and text sanitizing.
#include "wire/wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace lrm::wire {
namespace {

using ::testing::HasSubstr;

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string header(std::uint32_t size) {
  std::string out(4, '\0');
  out[0] = static_cast<char>((size >> 24) & 0xFF);
  out[1] = static_cast<char>((size >> 16) & 0xFF);
  out[2] = static_cast<char>((size >> 8) & 0xFF);
  out[3] = static_cast<char>(size & 0xFF);
  return out;
}

// Is @p text a strictly valid UTF-8 string without XML-forbidden characters?
// Independent of the implementation under test.
bool isCleanUtf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::uint32_t cp = 0;
    std::size_t n = 0;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      cp = c & 0x1F, n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      cp = c & 0x0F, n = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      cp = c & 0x07, n = 4;
    } else {
      return false;
    }
    if (i + n > text.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const std::uint32_t min = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
      return false;
    }
    if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') return false;
    i += n;
  }
  return true;
}

// @p text must be @p prefix, then one or more U+FFFD, then @p suffix.
void expectReplaced(const std::string& input, const std::string& prefix, const std::string& suffix) {
  SCOPED_TRACE(::testing::PrintToString(input));
  const std::string out = sanitize(input);
  EXPECT_TRUE(isCleanUtf8(out)) << ::testing::PrintToString(out);
  ASSERT_GE(out.size(), prefix.size() + suffix.size() + kReplacement.size());
  EXPECT_EQ(out.substr(0, prefix.size()), prefix);
  EXPECT_EQ(out.substr(out.size() - suffix.size()), suffix);
  std::string middle = out.substr(prefix.size(), out.size() - prefix.size() - suffix.size());
  ASSERT_FALSE(middle.empty());
  ASSERT_EQ(middle.size() % kReplacement.size(), 0u) << ::testing::PrintToString(middle);
  for (std::size_t i = 0; i < middle.size(); i += kReplacement.size()) {
    EXPECT_EQ(middle.substr(i, kReplacement.size()), kReplacement) << ::testing::PrintToString(middle);
  }
}

void expectSameMessage(const Message& expected, const Message& actual, const std::string& where = "root") {
  SCOPED_TRACE(where);
  EXPECT_EQ(actual.kind, expected.kind);
  EXPECT_EQ(actual.attrs, expected.attrs);
  EXPECT_EQ(actual.text, expected.text);
  ASSERT_EQ(actual.children.size(), expected.children.size());
  for (std::size_t i = 0; i < expected.children.size(); ++i) {
    expectSameMessage(expected.children[i], actual.children[i], where + "/" + std::to_string(i));
  }
}

Message roundTrip(const Message& message) {
  std::string error;
  const std::string xml = encode(message);
  auto decoded = decode(xml, error);
  EXPECT_TRUE(decoded.has_value()) << "decode failed: " << error << "\nxml: " << xml;
  return decoded.value_or(Message{});
}

std::string nested(int depth) {
  std::string xml;
  for (int i = 0; i < depth; ++i) xml += "<e" + std::to_string(i) + ">";
  for (int i = depth - 1; i >= 0; --i) xml += "</e" + std::to_string(i) + ">";
  return xml;
}

// ---------------------------------------------------------------- frame()

TEST(WireFrame, PrefixesAFourByteBigEndianLength) {
  EXPECT_EQ(frame("abc"), std::string("\x00\x00\x00\x03" "abc", 7));
  EXPECT_EQ(frame(""), std::string(4, '\0'));

  const std::string payload(0x010203, 'x');
  const std::string framed = frame(payload);
  ASSERT_EQ(framed.size(), payload.size() + 4);
  EXPECT_EQ(framed.substr(0, 4), std::string("\x00\x01\x02\x03", 4));
  EXPECT_EQ(framed.substr(4), payload);
}

TEST(WireFrame, KeepsBinaryPayloadBytes) {
  const std::string payload("a\0b\xff", 4);
  EXPECT_EQ(frame(payload), header(4) + payload);
}

// ---------------------------------------------------------------- FrameReader

TEST(FrameReader, NeedsMoreUntilAFrameIsComplete) {
  FrameReader reader;
  std::string payload;
  EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore);
  const std::string framed = frame("<ping/>");
  reader.feed(framed.data(), 2);
  EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore);
  reader.feed(framed.data() + 2, 5);  // header complete, payload not
  EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore);
  reader.feed(framed.data() + 7, framed.size() - 7);
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame);
  EXPECT_EQ(payload, "<ping/>");
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore);
}

TEST(FrameReader, SplitsFramesFedByteByByte) {
  const std::vector<std::string> payloads = {"<a/>", "<b x=\"1\"/>", std::string(300, 'z'), "c"};
  std::string stream;
  for (const auto& p : payloads) stream += frame(p);

  FrameReader reader;
  std::vector<std::string> got;
  std::string payload;
  for (char byte : stream) {
    reader.feed(&byte, 1);
    FrameReader::Status status;
    while ((status = reader.next(payload)) == FrameReader::Status::Frame) got.push_back(payload);
    ASSERT_EQ(status, FrameReader::Status::NeedMore) << reader.error();
  }
  EXPECT_EQ(got, payloads);
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_TRUE(reader.error().empty());
}

TEST(FrameReader, SplitsSeveralFramesFedAtOnce) {
  const std::string stream = frame("one") + frame("two") + frame("three") + frame("fo").substr(0, 5);
  FrameReader reader;
  reader.feed(stream.data(), stream.size());
  std::string payload;
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame);
  EXPECT_EQ(payload, "one");
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame);
  EXPECT_EQ(payload, "two");
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame);
  EXPECT_EQ(payload, "three");
  EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore);
  EXPECT_EQ(reader.buffered(), 5u);
  reader.feed("o", 1);
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame);
  EXPECT_EQ(payload, "fo");
}

TEST(FrameReader, KeepsOrderOverALongStreamInOddChunks) {
  // Enough data that the reader compacts its buffer along the way.
  std::vector<std::string> payloads;
  std::string stream;
  for (int i = 0; i < 3000; ++i) {
    payloads.push_back("<m n=\"" + std::to_string(i) + "\">" + std::string(static_cast<std::size_t>(i % 97), 'p') + "</m>");
    stream += frame(payloads.back());
  }
  FrameReader reader;
  std::vector<std::string> got;
  std::string payload;
  for (std::size_t offset = 0; offset < stream.size(); offset += 777) {
    reader.feed(stream.data() + offset, std::min<std::size_t>(777, stream.size() - offset));
    while (reader.next(payload) == FrameReader::Status::Frame) got.push_back(payload);
  }
  EXPECT_TRUE(reader.error().empty()) << reader.error();
  EXPECT_EQ(reader.buffered(), 0u);
  ASSERT_EQ(got.size(), payloads.size());
  EXPECT_EQ(got, payloads);
}

TEST(FrameReader, RejectsAnEmptyFrame) {
  FrameReader reader;
  const std::string stream = header(0) + frame("<late/>");
  reader.feed(stream.data(), stream.size());
  std::string payload;
  EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
  EXPECT_THAT(reader.error(), HasSubstr("empty"));
  // The error is sticky: nothing after a protocol error is trusted.
  EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
}

TEST(FrameReader, RejectsALengthAboveTheLimitAsSoonAsTheHeaderArrives) {
  FrameReader reader(16);
  const std::string head = header(17);
  reader.feed(head.data(), head.size());  // no payload bytes at all
  std::string payload;
  EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
  EXPECT_THAT(reader.error(), HasSubstr("17"));
  EXPECT_THAT(reader.error(), HasSubstr("16"));
  EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
}

TEST(FrameReader, AcceptsAFrameExactlyAtTheLimit) {
  FrameReader reader(16);
  const std::string stream = frame(std::string(16, 'x'));
  reader.feed(stream.data(), stream.size());
  std::string payload;
  ASSERT_EQ(reader.next(payload), FrameReader::Status::Frame) << reader.error();
  EXPECT_EQ(payload, std::string(16, 'x'));
}

TEST(FrameReader, DefaultLimitIsKMaxFrameBytes) {
  {
    FrameReader reader;
    const std::string head = header(static_cast<std::uint32_t>(kMaxFrameBytes));
    reader.feed(head.data(), head.size());
    std::string payload;
    EXPECT_EQ(reader.next(payload), FrameReader::Status::NeedMore) << reader.error();
  }
  {
    FrameReader reader;
    const std::string head = header(static_cast<std::uint32_t>(kMaxFrameBytes + 1));
    reader.feed(head.data(), head.size());
    std::string payload;
    EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
    EXPECT_THAT(reader.error(), HasSubstr(std::to_string(kMaxFrameBytes + 1)));
  }
  {
    FrameReader reader;
    const std::string head = header(0xFFFFFFFFu);
    reader.feed(head.data(), head.size());
    std::string payload;
    EXPECT_EQ(reader.next(payload), FrameReader::Status::Error);
  }
}

// ---------------------------------------------------------------- Message

TEST(WireMessage, SetGetFindAndReplace) {
  Message m("op");
  m.set("a", "1").set("b", std::string("two")).set("n", 7).set("u", std::uint64_t{1} << 40).set("t", true);
  m.set("a", "replaced");
  ASSERT_EQ(m.attrs.size(), 5u);
  EXPECT_EQ(m.attrs[0], (std::pair<std::string, std::string>("a", "replaced")));
  EXPECT_EQ(m.get("b"), "two");
  EXPECT_EQ(m.get("n"), "7");
  EXPECT_EQ(m.get("u"), "1099511627776");
  EXPECT_EQ(m.get("t"), "true");
  EXPECT_EQ(m.get("missing", "fallback"), "fallback");
  EXPECT_EQ(m.get("missing"), "");
  EXPECT_TRUE(m.has("a"));
  EXPECT_FALSE(m.has("A"));
  EXPECT_EQ(m.find("missing"), nullptr);
  ASSERT_NE(m.find("b"), nullptr);
  EXPECT_EQ(*m.find("b"), "two");
}

TEST(WireMessage, GetUnsignedAcceptsOnlyPlainNonNegativeNumbers) {
  Message m("x");
  m.set("zero", "0")
      .set("n", "42")
      .set("max", "18446744073709551615")
      .set("overflow", "18446744073709551616")
      .set("negative", "-1")
      .set("garbage", "abc")
      .set("trailing", "12abc")
      .set("leading_space", " 12")
      .set("plus", "+5")
      .set("decimal", "1.5")
      .set("empty", "");
  EXPECT_EQ(m.getUnsigned("zero"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(m.getUnsigned("n"), std::optional<std::uint64_t>(42));
  EXPECT_EQ(m.getUnsigned("max"), std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
  for (const char* bad : {"overflow", "negative", "garbage", "trailing", "leading_space", "plus", "decimal",
                          "empty", "absent"}) {
    EXPECT_EQ(m.getUnsigned(bad), std::nullopt) << bad << " = '" << m.get(bad) << "'";
  }
}

TEST(WireMessage, GetBool) {
  Message m("x");
  m.set("t", "true").set("one", "1").set("f", "false").set("zero", "0").set("b", true).set("nb", false);
  EXPECT_TRUE(m.getBool("t"));
  EXPECT_TRUE(m.getBool("one"));
  EXPECT_TRUE(m.getBool("b"));
  EXPECT_FALSE(m.getBool("f", true));
  EXPECT_FALSE(m.getBool("zero", true));
  EXPECT_FALSE(m.getBool("nb", true));
  EXPECT_FALSE(m.getBool("absent"));
  m.set("yes", "yes").set("other", "maybe").set("empty", "");
  EXPECT_TRUE(m.getBool("yes"));
  EXPECT_FALSE(m.getBool("other", true)) << "a present value other than true/1/yes is false";
  EXPECT_FALSE(m.getBool("empty", true));
  EXPECT_TRUE(m.getBool("absent", true));
}

// ---------------------------------------------------------------- encode/decode

TEST(WireCodec, RoundTripsAnEmptyElement) {
  const Message decoded = roundTrip(Message("ping"));
  EXPECT_EQ(decoded.kind, "ping");
  EXPECT_TRUE(decoded.attrs.empty());
  EXPECT_TRUE(decoded.text.empty());
  EXPECT_TRUE(decoded.children.empty());
}

TEST(WireCodec, RoundTripsAttributesInOrder) {
  Message m("request");
  m.set("id", std::uint64_t{42})
      .set("zeta", "last-alphabetically-first-in-order")
      .set("quotes", "say \"hi\" and 'bye'")
      .set("markup", "<tag attr=\"v\"> & &amp; ]]>")
      .set("utf8", "Gr\xC3\xBC\xC3\x9F" "e \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89")
      .set("spaces", "  leading and trailing  ")
      .set("empty", "");
  expectSameMessage(m, roundTrip(m));
}

TEST(WireCodec, RoundTripsTextWithNewlinesMarkupQuotesAndUtf8) {
  Message m("result");
  m.text =
      "line 1\nline 2 <b>bold</b> & &lt; \"double\" 'single'\n"
      "\tindented \xC3\xBC\xC3\xB1\xC3\xAF \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89 ]]> end\n\n";
  expectSameMessage(m, roundTrip(m));

  Message padded("p");
  padded.text = "   only spaces around   ";
  expectSameMessage(padded, roundTrip(padded));
}

TEST(WireCodec, RoundTripsNestedChildren) {
  Message m("instance");
  m.set("id", "r1");
  Message& params = m.add(Message("params"));
  params.add(Message("param")).set("name", "ip").set("value", "10.0.0.1");
  params.add(Message("param")).set("name", "eq").set("value", "a=b=c");
  Message& last = m.add(Message("last"));
  last.set("rc", 7);
  last.text = "ocf-exit-reason:not running\n";
  Message& deep = last.add(Message("a")).add(Message("b")).add(Message("c"));
  deep.text = "deep & <deeper>";
  m.add(Message("empty"));
  expectSameMessage(m, roundTrip(m));
}

TEST(WireCodec, CarriageReturnsInTextBecomeLineFeeds) {
  // docs/protocol.md §1.1: CR in text is written raw and XML parsing turns a
  // raw CR or CRLF into LF, so a CR in text does not survive a round trip.
  Message m("result");
  m.text = "windows line\r\nold mac\rend";
  const Message decoded = roundTrip(m);
  EXPECT_EQ(decoded.text, "windows line\nold mac\nend");
}

// A conforming parser (libxml2: Pacemaker's) reads a raw TAB, LF or CR in an
// attribute value as a space; character references keep them.
TEST(WireCodec, AttributeTabsAndLineBreaksAreWrittenAsCharacterReferences) {
  Message m("result");
  m.set("output", "line 1\nline 2\r\n\tindented & \"quoted\" <b>");
  const std::string xml = encode(m);
  EXPECT_EQ(xml, "<result output=\"line 1&#10;line 2&#13;&#10;&#9;indented &amp; &quot;quoted&quot; &lt;b&gt;\"/>");
  expectSameMessage(m, roundTrip(m));
}

TEST(WireCodec, DecodeToleratesDeclarationAndComments) {
  std::string error;
  auto m = decode("<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- hello --><ping id=\"2\"><!-- c -->x</ping>", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->kind, "ping");
  EXPECT_EQ(m->get("id"), "2");
  EXPECT_EQ(m->text, "x");
  EXPECT_TRUE(m->children.empty());
}

TEST(WireCodec, DecodeExpandsEntities) {
  std::string error;
  auto m = decode("<t a=\"&lt;&amp;&quot;&apos;&gt;\">&#x263A;&#65;&lt;</t>", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->get("a"), "<&\"'>");
  EXPECT_EQ(m->text, "\xE2\x98\xBA" "A<");
}

TEST(WireCodec, EncodeReplacesTextXmlCannotCarry) {
  Message m("result");
  m.text = std::string("a\x01" "b\xff" "c\0d", 7);
  m.set("attr", "x\x1fy");
  std::string error;
  const std::string xml = encode(m);
  EXPECT_TRUE(isCleanUtf8(xml)) << ::testing::PrintToString(xml);
  auto decoded = decode(xml, error);
  ASSERT_TRUE(decoded) << error;
  EXPECT_EQ(decoded->text, "a" + kReplacement + "b" + kReplacement + "c" + kReplacement + "d");
  EXPECT_EQ(decoded->get("attr"), "x" + kReplacement + "y");
}

TEST(WireCodec, DecodeRejectsMalformedXml) {
  for (const std::string xml : {"", "   ", "not xml at all", "<a>", "<a><b></a>", "<a x=1/>", "<a x=\"1\" x=\"2\"/>",
                                "</a>", "<a></b>"}) {
    std::string error;
    EXPECT_FALSE(decode(xml, error).has_value()) << "accepted: " << xml;
    EXPECT_FALSE(error.empty()) << "no error for: " << xml;
  }
}

TEST(WireCodec, DecodeErrorNamesTheLine) {
  std::string error;
  ASSERT_FALSE(decode("<a>\n<b>\n</c>\n</a>", error).has_value());
  // The mismatch is between <b> (line 2) and </c> (line 3).
  EXPECT_THAT(error, ::testing::ContainsRegex("[Ll]ine[^0-9]*[23]"));
}

TEST(WireCodec, DecodeRejectsTwoRootElements) {
  std::string error;
  EXPECT_FALSE(decode("<a/><b/>", error).has_value());
  EXPECT_FALSE(error.empty());
  error.clear();
  EXPECT_FALSE(decode("<a></a>\n<a></a>", error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST(WireCodec, DecodeLimitsSetTheDepth) {
  DecodeLimits deep;
  deep.max_depth = 20;
  std::string error;
  EXPECT_TRUE(decode(nested(20), error, deep).has_value()) << error;
  EXPECT_FALSE(decode(nested(21), error, deep).has_value());
  EXPECT_THAT(error, HasSubstr("deeper than 20 levels"));
}

TEST(WireCodec, DecodeAcceptsKMaxDepthAndRejectsDeeper) {
  std::string error;
  auto ok = decode(nested(kMaxDepth), error);
  ASSERT_TRUE(ok.has_value()) << error;
  const Message* node = &*ok;
  int depth = 1;
  while (!node->children.empty()) {
    node = &node->children.front();
    ++depth;
  }
  EXPECT_EQ(depth, kMaxDepth);

  error.clear();
  EXPECT_FALSE(decode(nested(kMaxDepth + 1), error).has_value());
  EXPECT_THAT(error, HasSubstr(std::to_string(kMaxDepth)));

  error.clear();
  EXPECT_FALSE(decode(nested(200), error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST(WireCodec, DecodeRejectsMoreThanAFrame) {
  std::string xml = "<a>" + std::string(kMaxFrameBytes, 'x') + "</a>";
  std::string error;
  EXPECT_FALSE(decode(xml, error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST(WireCodec, DecodeKeepsWhitespaceOfText) {
  std::string error;
  auto m = decode("<out>  two  spaces\n\tand tab  </out>", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->text, "  two  spaces\n\tand tab  ");
}

// ---------------------------------------------------------------- decode limits

// <kind a0="" a1="" ...> with @p count attributes.
std::string withAttributes(const std::string& kind, std::size_t count, const std::string& close = "/>") {
  std::string xml = "<" + kind;
  for (std::size_t i = 0; i < count; ++i) xml += " a" + std::to_string(i) + "=\"\"";
  return xml + close;
}

// <kind><item/>...</kind> with @p count elements in all.
std::string withElements(std::size_t count, const std::string& child = "<item/>") {
  std::string xml = "<list>";
  for (std::size_t i = 1; i < count; ++i) xml += child;
  return xml + "</list>";
}

TEST(WireDecodeLimits, AcceptsTheAttributeLimitAndRefusesOneMoreNamingIt) {
  const DecodeLimits limits;
  std::string error;
  ASSERT_TRUE(decode(withAttributes("exec", limits.max_attributes), error)) << error;
  EXPECT_FALSE(decode(withAttributes("exec", limits.max_attributes + 1), error));
  EXPECT_EQ(error, "more than " + std::to_string(limits.max_attributes) + " attributes on element <exec>");
}

// The reported attack: tinyxml2 takes seconds over it (quadratic); the scan
// refuses it before tinyxml2 sees it.
TEST(WireDecodeLimits, RefusesFiftyThousandAttributes) {
  std::string error;
  EXPECT_FALSE(decode(withAttributes("hello", 50000), error, kRequestLimits));
  EXPECT_THAT(error, HasSubstr("attributes on element <hello>"));
}

TEST(WireDecodeLimits, CountsAttributesOfNestedAndClosingTags) {
  std::string error;
  EXPECT_FALSE(decode("<a>" + withAttributes("b", 65) + "</a>", error));
  EXPECT_THAT(error, HasSubstr("attributes on element <b>"));
  // tinyxml2 parses the attributes of an end tag too (then refuses them).
  EXPECT_FALSE(decode("<a>" + withAttributes("/a", 65, ">"), error));
  EXPECT_THAT(error, HasSubstr("attributes on element <a>"));
}

TEST(WireDecodeLimits, AttributeLikeTextInValuesCommentsAndOtherMarkupDoesNotCount) {
  const DecodeLimits two{2, 0};
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
      "<?pi a=\"1\" b=\"2\" c=\"3\"?>"
      "<!DOCTYPE a x=\"1\" y=\"2\" z=\"3\">"
      "<a x=\"1=2=3 > /> '=' \" y='<b c=\"d\" e=\"f\" g=\"h\">'>"
      "<!-- <c d=\"1\" e=\"2\" f=\"3\"> -->"
      "<![CDATA[<e f=\"1\" g=\"2\" h=\"3\">]]>"
      "text = with = equals > signs"
      "</a>";
  std::string error;
  auto m = decode(xml, error, two);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->get("x"), "1=2=3 > /> '=' ");
  EXPECT_EQ(m->get("y"), "<b c=\"d\" e=\"f\" g=\"h\">");
  EXPECT_EQ(m->text, "<e f=\"1\" g=\"2\" h=\"3\">text = with = equals > signs");
  EXPECT_FALSE(decode("<a x=\"1\" y='2' z=\"'\"/>", error, two));
  EXPECT_THAT(error, HasSubstr("more than 2 attributes on element <a>"));
}

TEST(WireDecodeLimits, ElementNameInTheErrorIsClippedAndSanitized) {
  std::string error;
  EXPECT_FALSE(decode(withAttributes(std::string(1000, 'n') + "\x01\xff", 65), error));
  EXPECT_EQ(error, "more than 64 attributes on element <" + std::string(64, 'n') + ">");
  EXPECT_FALSE(decode(withAttributes("x\x01\xff", 65), error));
  EXPECT_EQ(error, "more than 64 attributes on element <x" + kReplacement + kReplacement + ">");
}

TEST(WireDecodeLimits, RequestsMayHaveKRequestLimitsElementsAndNoMore) {
  std::string error;
  ASSERT_TRUE(decode(withElements(kRequestLimits.max_elements), error, kRequestLimits)) << error;
  EXPECT_FALSE(decode(withElements(kRequestLimits.max_elements + 1), error, kRequestLimits));
  EXPECT_EQ(error, "more than " + std::to_string(kRequestLimits.max_elements) + " elements in one message");
}

TEST(WireDecodeLimits, CommentsCdataAndDeclarationsCountAsElements) {
  std::string error;
  for (const std::string child : {"<!---->", "<![CDATA[]]>", "<?pi?>", "<!x>"}) {
    EXPECT_FALSE(decode(withElements(kRequestLimits.max_elements + 1, child), error, kRequestLimits)) << child;
    EXPECT_THAT(error, HasSubstr("elements in one message")) << child;
  }
}

TEST(WireDecodeLimits, RequestLimitsFitTheLargestRequests) {
  Message registration("register");
  registration.set("id", "1").set("instance", "db").set("agent", "ocf:heartbeat:Dummy");
  for (int i = 0; i < 256; ++i) {
    registration.add(Message("param")).set("name", "p" + std::to_string(i)).set("value", std::string(100, 'v'));
  }
  Message subscription("subscribe");
  subscription.set("id", "2");
  for (std::size_t i = 1; i < kRequestLimits.max_elements; ++i) {
    subscription.add(Message("instance")).set("id", "instance-" + std::to_string(i));
  }
  for (const Message& request : {registration, subscription}) {
    std::string error;
    auto decoded = decode(encode(request), error, kRequestLimits);
    ASSERT_TRUE(decoded) << error;
    expectSameMessage(request, *decoded);
  }
}

// The client decodes the daemon's replies: a `list` of many instances passes.
TEST(WireDecodeLimits, DefaultLimitsHaveNoElementLimit) {
  std::string error;
  auto m = decode(withElements(200000), error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->children.size(), 199999u);
}

// ---------------------------------------------------------------- sanitize()

TEST(WireSanitize, KeepsValidTextUnchanged) {
  for (const std::string& text :
       {std::string(""), std::string("plain ascii ~!@#$%^&*()"), std::string("tab\tnewline\ncr\r"),
        std::string("\xC3\xBC"),                      // U+00FC, 2 bytes
        std::string("\xE6\x97\xA5\xE6\x9C\xAC"),      // 3 bytes each
        std::string("\xF0\x9F\x8E\x89"),              // U+1F389, 4 bytes
        std::string("\xEF\xBF\xBD"),                  // U+FFFD itself
        std::string("\xED\x9F\xBF"),                  // U+D7FF, just below the surrogates
        std::string("\xEE\x80\x80"),                  // U+E000, just above them
        std::string("\xF4\x8F\xBF\xBF"),              // U+10FFFF, the last code point
        std::string("mixed \xC3\xA9t\xC3\xA9 \xE2\x82\xAC 100")}) {
    EXPECT_EQ(sanitize(text), text) << ::testing::PrintToString(text);
  }
}

TEST(WireSanitize, ReplacesControlCharactersExceptTabNewlineReturn) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string input = std::string("a") + static_cast<char>(c) + "b";
    if (c == '\t' || c == '\n' || c == '\r') {
      EXPECT_EQ(sanitize(input), input) << c;
    } else {
      EXPECT_EQ(sanitize(input), "a" + kReplacement + "b") << "control character " << c;
    }
  }
}

TEST(WireSanitize, ReplacesInvalidUtf8) {
  expectReplaced("a\xFF" "b", "a", "b");
  expectReplaced("a\xFE" "b", "a", "b");
  expectReplaced("a\x80" "b", "a", "b");          // lone continuation byte
  expectReplaced("a\xBF\x80" "b", "a", "b");
  expectReplaced("a\xC3" "b", "a", "b");          // lead byte without continuation
  expectReplaced("a\xE6\x97" "b", "a", "b");      // truncated 3-byte sequence
  expectReplaced("a\xE6\x97", "a", "");           // truncated at the very end
  expectReplaced("a\xF0\x9F\x8E", "a", "");
  expectReplaced("a\xF8\x88\x80\x80\x80" "b", "a", "b");  // 5-byte form
  expectReplaced("a\xF4\x90\x80\x80" "b", "a", "b");      // above U+10FFFF
  expectReplaced("a\xEF\xBF\xBE" "b", "a", "b");          // U+FFFE
  expectReplaced("a\xEF\xBF\xBF" "b", "a", "b");          // U+FFFF
}

TEST(WireSanitize, ReplacesOverlongEncodings) {
  // Overlong forms of '/' and NUL must never decode to those characters.
  for (const std::string& overlong : {std::string("\xC0\xAF"), std::string("\xC1\xBF"), std::string("\xE0\x80\xAF"),
                                     std::string("\xF0\x80\x80\xAF"), std::string("\xC0\x80"),
                                     std::string("\xE0\x9F\xBF")}) {
    const std::string out = sanitize("x" + overlong + "y");
    expectReplaced("x" + overlong + "y", "x", "y");
    EXPECT_EQ(out.find('/'), std::string::npos);
  }
}

TEST(WireSanitize, ReplacesSurrogates) {
  expectReplaced("a\xED\xA0\x80" "b", "a", "b");  // U+D800
  expectReplaced("a\xED\xBF\xBF" "b", "a", "b");  // U+DFFF
  expectReplaced("a\xED\xA0\xBD\xED\xB8\x80" "b", "a", "b");  // CESU-8 style pair
}

TEST(WireSanitize, KeepsValidTextAroundInvalidBytes) {
  const std::string input = "\xC3\xBC\xFF\xE6\x97\xA5\x01\xF0\x9F\x8E\x89";
  EXPECT_EQ(sanitize(input), "\xC3\xBC" + kReplacement + "\xE6\x97\xA5" + kReplacement + "\xF0\x9F\x8E\x89");
}

}  // namespace
}  // namespace lrm::wire
