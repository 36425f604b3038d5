// Journal replay as a pure function over bytes (state_store.hpp): damaged
// records cost only themselves, a checksum catches a changed value, a torn
// last record is dropped, formats 1 and 2 are still read (their old key
// names too), an unreadable header is refused.
#include "state_store.hpp"

#include <Poco/Checksum.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
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

TEST(ReplayJournal, FormatTwoRecordsReadWithTheirOldKeyNames) {
  const std::string text =
      journal(1) +
      v2(R"({"r":"rec+","id":"i0","action":"monitor","interval":10000,"call":4,"timeout":20000,)"
         R"("params":{"depth":"10"},"changes":true})") +
      v2(R"({"r":"run","id":"i0","action":"stop","interval":0,"call":6,"t_run":7})") +
      v2(R"({"r":"res","id":"i0","action":"start","interval":0,"call":3,"t_run":1,)"
         R"("rc":1,"status":"done","reason":"it broke","exec":5,"queue":2})");
  const auto replay = replayJournal(text);
  EXPECT_TRUE(replay.damaged.empty());
  ASSERT_EQ(replay.instances.size(), 1u);
  const auto& instance = replay.instances[0];
  ASSERT_EQ(instance.last.size(), 1u);
  const ExecEvent& result = instance.last[0];
  EXPECT_EQ(result.type, "exec");
  EXPECT_EQ(result.id, "i0");
  EXPECT_EQ(result.name, "n");
  EXPECT_EQ(result.agent, "ocf:heartbeat:Dummy");
  EXPECT_EQ(result.interval_ms, 0u);
  EXPECT_EQ(result.call_id, 3u);
  EXPECT_EQ(result.rc, 1);
  EXPECT_EQ(result.exit_reason, "it broke");
  EXPECT_EQ(result.exec_ms, 5u);
  EXPECT_EQ(result.queue_ms, 2u);
  EXPECT_EQ(result.output, "");
  ASSERT_EQ(instance.interrupted.size(), 1u);
  EXPECT_EQ(instance.interrupted[0].call_id, 6u);
  EXPECT_EQ(instance.interrupted[0].name, "n");
  ASSERT_EQ(instance.recurring.size(), 1u);
  EXPECT_EQ(instance.recurring[0].interval_ms, 10000u);
  EXPECT_EQ(instance.recurring[0].timeout_ms, 20000u);
  EXPECT_TRUE(instance.recurring[0].changes_only);
  EXPECT_EQ(instance.recurring[0].params.at("depth"), "10");
}

// The fuzzer's seeds (fuzz/corpus/fuzz_journal) of every format are sound
// journals, so that the fuzzer starts from inputs that reach every reader.
TEST(ReplayJournal, TheFuzzSeedsOfEveryFormatReplayWithoutDamage) {
  for (const auto& [name, version] : {std::pair<std::string, int>{"v1.journal", 1}, {"v2-all-records.journal", 2},
                                      {"v3-all-records.journal", 3}}) {
    std::ifstream in(LRM_TEST_FIXTURES_DIR "/../../fuzz/corpus/fuzz_journal/" + name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const auto replay = replayJournal(text.str());
    EXPECT_EQ(replay.version, version) << name;
    EXPECT_TRUE(replay.damaged.empty()) << name << ": " << (replay.damaged.empty() ? "" : replay.damaged[0].why);
    ASSERT_EQ(replay.instances.size(), 1u) << name;
    EXPECT_EQ(replay.instances[0].id, "web-1") << name;
  }
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
  for (const std::string& text : {flipped, std::string("garbage\n") + v2(reg(0)), std::string(v2(R"({"v":4})")),
                                  std::string("{\"v\":2}\n"), std::string(v2(R"({"v":1})")), std::string("{\"v\":1")}) {
    EXPECT_THROW(replayJournal(text), std::runtime_error) << text;
  }
  try {
    replayJournal(v2(R"({"v":4})"));
    ADD_FAILURE() << "a journal of a newer format was replayed";
  } catch (const NewerJournalError& e) {
    EXPECT_EQ(e.version(), 4);
    EXPECT_THAT(e.what(), HasSubstr("format 4 is newer"));
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
