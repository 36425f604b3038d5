// The upgrade's handover file (kernel/src/handover.cpp): a session's
// undelivered messages are arbitrary bytes and come back exactly, and the
// file of an lrmd that did not carry them still reads.
#include "handover.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <stdexcept>

#include "temp_dir.hpp"

namespace lrm::kernel {
namespace {

TEST(Handover, ASessionsOutboxComesBackByteForByte) {
  test::TempDir dir;
  const std::string path = dir.str() + "/handover.json";
  Handover handed;
  CarriedSession session;
  session.client = 7;
  session.token = "0123456789abcdef0123456789abcdef";
  session.uid = 1000;
  session.name = "crm";
  session.subscription.subscribed = true;
  session.subscription.instances = {"web"};
  // Frames are binary: lengths with NUL bytes, and any byte in the payload.
  for (int byte = 0; byte < 256; ++byte) session.outbox += static_cast<char>(byte);
  session.outbox += std::string("\0\0\0\x05<a/>", 9);
  handed.sessions.push_back(session);
  handed.sessions.push_back(CarriedSession{8, "fedcba9876543210fedcba9876543210", 0, "idle", {}, {}});
  writeHandover(path, handed);

  const Handover read = readHandover(path);
  ASSERT_EQ(read.sessions.size(), 2u);
  EXPECT_EQ(read.sessions[0].client, 7u);
  EXPECT_EQ(read.sessions[0].token, session.token);
  EXPECT_TRUE(read.sessions[0].subscription.subscribed);
  EXPECT_EQ(read.sessions[0].outbox, session.outbox);
  EXPECT_EQ(read.sessions[1].outbox, "");
}

TEST(Handover, AFileWithoutOutboxesReadsWithEmptyOnes) {
  test::TempDir dir;
  const std::string path = dir.str() + "/handover.json";
  std::ofstream(path) << R"({"v":1,"next_call":5,"next_client":3,"registered_by":{},"ops":[],)"
                      << R"("sessions":[{"client":2,"token":"t","uid":0,"name":"n","subscribed":false,)"
                      << R"("failures_only":false,"instances":[]}],"children":[]})";
  const Handover read = readHandover(path);
  ASSERT_EQ(read.sessions.size(), 1u);
  EXPECT_EQ(read.sessions[0].client, 2u);
  EXPECT_EQ(read.sessions[0].outbox, "");
}

// The fuzzer's seeds (fuzz/corpus/fuzz_handover) are real handovers, so the
// fuzzer starts from inputs that reach every reader: they must stay ones.
// busy.json is of format 1 (the previous release's, still read at an
// upgrade from it), busy-v2.json the same handover in format 2.
TEST(Handover, TheFuzzSeedsReadWithEveryKindOfOpInBothFormats) {
  const std::string seeds = LRM_TEST_FIXTURES_DIR "/../../fuzz/corpus/fuzz_handover/";
  const Handover read = readHandover(seeds + "busy.json");
  ASSERT_EQ(read.ops.ops.size(), 4u);
  std::set<OpState> states;
  for (const auto& op : read.ops.ops) states.insert(op.state);
  EXPECT_EQ(states.size(), 4u);
  ASSERT_EQ(read.sessions.size(), 2u);
  EXPECT_FALSE(read.sessions[0].outbox.empty());
  ASSERT_EQ(read.children.size(), 1u);
  EXPECT_EQ(read.children[0].err, "starting\n");
  const Handover current = readHandover(seeds + "busy-v2.json");
  ASSERT_EQ(current.ops.ops.size(), read.ops.ops.size());
  for (std::size_t k = 0; k < read.ops.ops.size(); ++k) {
    EXPECT_TRUE(protocol::sameFields(current.ops.ops[k].op, read.ops.ops[k].op)) << k;
    EXPECT_TRUE(protocol::sameFields(current.ops.ops[k], read.ops.ops[k])) << k;
    EXPECT_EQ(current.ops.ops[k].state, read.ops.ops[k].state) << k;
  }
}

TEST(Handover, AnythingElseIsRefusedWithAReason) {
  for (const std::string text : {"", "[]", "{\"v\":1}", "{\"v\":2,\"next_call\":1}", "{\"v\":3}",
                                 R"({"v":1,"next_call":1,"next_client":2,"registered_by":{},"ops":7})"}) {
    EXPECT_THROW(parseHandover(text), std::runtime_error) << text;
  }
}

}  // namespace
}  // namespace lrm::kernel
