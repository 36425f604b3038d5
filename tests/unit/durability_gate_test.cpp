// The durability gate (kernel/src/durability_gate.{hpp,cpp}) against a fake
// journal: output waits for its batch, leaves in batch order and never
// overtakes what its connection already has held; while the journal cannot
// be written, replies to reads still go out at once.
#include "durability_gate.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lrm::kernel {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Released = std::pair<ClientId, std::size_t>;

// Batches numbered from 1, made durable when the test says.
class FakeJournal : public DurabilityGate::Journal {
 public:
  std::uint64_t commit() override { return appended ? ++batch : batch; }
  std::uint64_t durable() const override { return on_disk; }
  std::string refusal() const override { return failure; }

  bool appended = true;  // something was journaled since the last commit
  std::uint64_t batch = 0;
  std::uint64_t on_disk = 0;
  std::string failure;
};

class DurabilityGateTest : public ::testing::Test {
 protected:
  DurabilityGate::Release recorder() {
    return [this](ClientId id, std::size_t upto) { released.emplace_back(id, upto); };
  }

  FakeJournal journal;
  DurabilityGate gate{journal};
  std::vector<Released> released;
};

TEST_F(DurabilityGateTest, OutputGoesAtOnceWhenNothingWaitsForTheDisk) {
  journal.appended = false;
  gate.commit();
  EXPECT_EQ(gate.admit(1, 0, 100, true), 100u);
  gate.releaseDurable(recorder());
  EXPECT_THAT(released, IsEmpty());
}

TEST_F(DurabilityGateTest, OutputWaitsForItsBatchAndLeavesInBatchOrder) {
  gate.commit();  // batch 1
  EXPECT_EQ(gate.admit(1, 0, 100, true), 0u);
  EXPECT_EQ(gate.admit(2, 0, 50, true), 0u);
  gate.commit();  // batch 2
  EXPECT_EQ(gate.admit(1, 0, 150, true), 0u);
  gate.releaseDurable(recorder());
  EXPECT_THAT(released, IsEmpty());

  journal.on_disk = 1;
  gate.journalDurable(recorder());
  EXPECT_THAT(released, ElementsAre(Released{1, 100}, Released{2, 50}));
  journal.on_disk = 2;
  gate.journalDurable(recorder());
  EXPECT_THAT(released, ElementsAre(Released{1, 100}, Released{2, 50}, Released{1, 150}));
  gate.journalDurable(recorder());
  EXPECT_EQ(released.size(), 3u);  // each hold is released once
}

TEST_F(DurabilityGateTest, ReleaseAtCommitUsesWhatWasOnDiskThen) {
  gate.commit();  // batch 1
  EXPECT_EQ(gate.admit(1, 0, 10, true), 0u);
  journal.on_disk = 1;
  journal.appended = false;
  gate.commit();  // batch 1 again, on disk now
  gate.releaseDurable(recorder());
  EXPECT_THAT(released, ElementsAre(Released{1, 10}));
}

TEST_F(DurabilityGateTest, ConnectionWithHeldOutputDoesNotOvertakeIt) {
  gate.commit();  // batch 1
  EXPECT_EQ(gate.admit(1, 0, 100, true), 0u);
  journal.on_disk = 1;
  journal.appended = false;
  gate.commit();  // nothing new to wait for, but connection 1 still has a hold
  EXPECT_EQ(gate.admit(1, 0, 120, false), 0u);
  EXPECT_EQ(gate.admit(2, 0, 30, true), 30u);
  gate.releaseDurable(recorder());
  EXPECT_THAT(released, ElementsAre(Released{1, 100}, Released{1, 120}));
}

TEST_F(DurabilityGateTest, NothingNewToHoldKeepsWhatWasReleased) {
  gate.commit();  // batch 1
  EXPECT_EQ(gate.admit(1, 40, 40, true), 40u);  // all of it was released before
  journal.on_disk = 1;
  gate.journalDurable(recorder());
  EXPECT_THAT(released, IsEmpty());
}

TEST_F(DurabilityGateTest, WhileTheJournalCannotBeWrittenReadsGoOutChangesWait) {
  journal.failure = "the state directory cannot be written";
  gate.commit();  // batch 1, never durable while the failure lasts
  EXPECT_EQ(gate.refusal(), "the state directory cannot be written");
  EXPECT_EQ(gate.admit(1, 0, 80, false), 80u);  // a reply to a read, or a refusal
  EXPECT_EQ(gate.admit(2, 0, 60, true), 0u);    // a result: held
  EXPECT_EQ(gate.admit(2, 0, 90, false), 0u);   // behind what connection 2 has held
  journal.failure.clear();
  journal.on_disk = 1;
  gate.journalDurable(recorder());
  EXPECT_THAT(released, ElementsAre(Released{2, 60}, Released{2, 90}));
}

}  // namespace
}  // namespace lrm::kernel
