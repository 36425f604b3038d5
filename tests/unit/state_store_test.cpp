// Journal replay as a pure function over bytes (state_store.hpp): damaged
// records cost only themselves, a checksum catches a changed value, a torn
// last record is dropped, format 1 is still read, an unreadable header is
// refused.
#include "state_store.hpp"

#include <Poco/Checksum.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "temp_dir.hpp"

namespace lrm::kernel {
namespace {

using ::testing::HasSubstr;

// A format 2 line: the CRC-32 of the JSON text in 8 hex digits, a space, the text.
std::string v2(const std::string& json) {
  Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
  crc.update(json);
  char digits[9];
  std::snprintf(digits, sizeof digits, "%08x", crc.checksum());
  return std::string(digits) + " " + json + "\n";
}

std::string reg(int k) {
  return R"({"r":"reg","id":"i)" + std::to_string(k) + R"(","name":"n","agent":"ocf:heartbeat:Dummy","params":{},"drop":false})";
}

// A format 2 journal of @p count registrations.
std::string journal(int count) {
  std::string text = v2(R"({"v":2})");
  for (int k = 0; k < count; ++k) text += v2(reg(k));
  return text;
}

// Offset of the first byte of line @p number (1-based) in @p text.
std::size_t lineStart(const std::string& text, std::size_t number) {
  std::size_t at = 0;
  for (std::size_t k = 1; k < number; ++k) at = text.find('\n', at) + 1;
  return at;
}

TEST(ReplayJournal, AFlippedByteInTheMiddleRecordLosesOnlyThatRecord) {
  std::string text = journal(100);
  // Line 52 holds instance i50; flip a byte of its agent, leaving the id readable.
  const std::size_t at = text.find("Dummy", lineStart(text, 52));
  text[at] ^= 0x01;
  const auto replay = replayJournal(text);
  EXPECT_EQ(replay.version, 2);
  EXPECT_EQ(replay.instances.size(), 99u);
  EXPECT_EQ(replay.records, 99u);
  ASSERT_EQ(replay.damaged.size(), 1u);
  EXPECT_EQ(replay.damaged[0].line, 52u);
  EXPECT_EQ(replay.damaged[0].why, "checksum mismatch");
  EXPECT_EQ(replay.damaged[0].lost, "a 'reg' record of instance 'i50'");
  for (const auto& instance : replay.instances) EXPECT_NE(instance.id, "i50");
}

TEST(ReplayJournal, AChangedDigitIsCaughtByTheChecksum) {
  std::string text = journal(1) + v2(R"({"r":"res","id":"i0","action":"start","interval":0,"call":3,"t_run":1,)"
                                     R"("rc":0,"status":"done","reason":"","exec":5,"queue":0})");
  const auto rc = text.find("\"rc\":0");
  text[rc + 5] = '7';  // still valid JSON, a different value
  const auto replay = replayJournal(text);
  ASSERT_EQ(replay.damaged.size(), 1u);
  EXPECT_EQ(replay.damaged[0].line, 3u);
  EXPECT_EQ(replay.damaged[0].lost, "a 'res' record of instance 'i0'");
  ASSERT_EQ(replay.instances.size(), 1u);
  EXPECT_TRUE(replay.instances[0].last.empty()) << "the changed result was accepted";
}

TEST(ReplayJournal, ATornLastRecordIsDroppedAndNotCountedAsDamage) {
  const std::string whole = journal(3);
  const std::string torn = whole.substr(0, whole.size() - 10);
  const auto replay = replayJournal(torn);
  EXPECT_TRUE(replay.damaged.empty());
  EXPECT_EQ(replay.torn_bytes, whole.size() - 10 - lineStart(whole, 4));
  EXPECT_EQ(replay.instances.size(), 2u);
}

TEST(ReplayJournal, FormatOneIsStillRead) {
  const std::string text = "{\"v\":1}\n" + reg(0) + "\n" + reg(1) + "\n{\"r\":\"unreg\",\"id\":\"i0\"}\n";
  const auto replay = replayJournal(text);
  EXPECT_EQ(replay.version, 1);
  EXPECT_TRUE(replay.damaged.empty());
  ASSERT_EQ(replay.instances.size(), 1u);
  EXPECT_EQ(replay.instances[0].id, "i1");
}

TEST(ReplayJournal, ARecordWithoutChecksumInFormatTwoIsDamage) {
  const auto replay = replayJournal(journal(1) + reg(7) + "\n" + "not json at all\n" + v2(reg(8)));
  ASSERT_EQ(replay.damaged.size(), 2u);
  EXPECT_EQ(replay.damaged[0].why, "no checksum");
  EXPECT_EQ(replay.damaged[0].lost, "a 'reg' record of instance 'i7'");
  EXPECT_EQ(replay.damaged[1].lost, "an unreadable record");
  EXPECT_EQ(replay.instances.size(), 2u) << "the sound record after the damage is replayed";
}

TEST(ReplayJournal, AnEmptyJournalIsAnEmptyState) {
  const auto replay = replayJournal("");
  EXPECT_EQ(replay.version, 0);
  EXPECT_TRUE(replay.instances.empty());
}

TEST(ReplayJournal, AnUnreadableHeaderOrANewerFormatIsRefused) {
  std::string flipped = journal(2);
  flipped[12] ^= 0x01;  // in the header's JSON
  for (const std::string& text : {flipped, std::string("garbage\n") + v2(reg(0)), std::string(v2(R"({"v":3})")),
                                  std::string("{\"v\":2}\n"), std::string(v2(R"({"v":1})")), std::string("{\"v\":1")}) {
    EXPECT_THROW(replayJournal(text), std::runtime_error) << text;
  }
  try {
    replayJournal(v2(R"({"v":3})"));
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("format 3 is newer"));
  }
}

TEST(ReplayJournal, AnUnknownRecordTypeOrMissingFieldIsDamage) {
  const auto replay = replayJournal(journal(0) + v2(R"({"r":"what","id":"x"})") + v2(R"({"r":"reg","id":"y"})"));
  ASSERT_EQ(replay.damaged.size(), 2u);
  EXPECT_THAT(replay.damaged[0].why, HasSubstr("unknown record type"));
  EXPECT_EQ(replay.damaged[1].lost, "a 'reg' record of instance 'y'");
}

// A journal that cannot be read is not an empty one: the compaction at
// start would replace it with an empty snapshot.
TEST(StateStore, AnUnreadableJournalIsRefusedNotTakenAsEmpty) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "journal");  // read() fails with EISDIR
  StateStore store(dir.str());
  try {
    store.load();
    ADD_FAILURE() << "an unreadable journal was replayed as empty";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to read " + dir.str() + "/journal: Is a directory"));
  }
}

}  // namespace
}  // namespace lrm::kernel
