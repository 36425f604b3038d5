// Unit tests for the metadata cache (kernel/src/metadata_cache.{hpp,cpp}):
// hits, misses and shared fetches all answer later from the loop, never from
// inside get() (the SDK's callback rule), and a new fingerprint refetches.
#include "metadata_cache.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lrm::kernel {
namespace {

// A class whose metadata() answers through the loop, as a plugin must, and
// counts its fetches; its fingerprint is whatever the test sets.
class FakeClass final : public sdk::ResourceClass {
 public:
  explicit FakeClass(EventLoop& loop) : loop_(loop) {}

  std::string name() const noexcept override { return "fake"; }
  bool init(sdk::Host&, std::string&) noexcept override { return true; }
  bool requiresProvider() const noexcept override { return false; }
  std::vector<std::string> providers(const std::string&) noexcept override { return {}; }
  std::vector<std::string> types(const std::string&) noexcept override { return {}; }
  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override {
    ++fetches;
    sdk::Result result;
    result.status = sdk::ExecStatus::Done;
    result.rc = sdk::rc::kOk;
    loop_.defer([done, result, xml = "<xml of " + agent.type + " " + std::to_string(fetches) + "/>"] {
      done(result, xml);
    });
  }
  void execute(const sdk::Operation&, sdk::CompletionCallback) noexcept override {}
  bool cancel(sdk::CallId) noexcept override { return false; }
  std::string fingerprint(const sdk::AgentSpec&) noexcept override { return stamp; }

  int fetches = 0;
  std::string stamp = "v1";

 private:
  EventLoop& loop_;
};

class MetadataCacheTest : public ::testing::Test {
 protected:
  // get(), recording the answers; @p answered_inside is set when one comes
  // while get() has not returned yet.
  void get(std::vector<std::string>& answers, bool& answered_inside) {
    in_get_ = true;
    cache_.get(class_, agent_, [this, &answers, &answered_inside](const sdk::Result& result,
                                                                 const std::string& xml) {
      if (in_get_) answered_inside = true;
      EXPECT_EQ(result.status, sdk::ExecStatus::Done);
      answers.push_back(xml);
    });
    in_get_ = false;
  }

  // Runs the loop until everything deferred so far has run.
  void drain() {
    loop_.defer([this] { loop_.stop(); });
    loop_.run();
  }

  bool in_get_ = false;
  EventLoop loop_;
  FakeClass class_{loop_};
  MetadataCache cache_{loop_};
  const sdk::AgentSpec agent_{"fake", "", "Dummy"};
};

TEST_F(MetadataCacheTest, AMissIsFetchedOnceAndAnsweredLater) {
  std::vector<std::string> answers;
  bool inside = false;
  get(answers, inside);
  get(answers, inside);  // joins the fetch in flight
  EXPECT_TRUE(answers.empty());
  drain();
  EXPECT_FALSE(inside);
  EXPECT_EQ(class_.fetches, 1);
  EXPECT_THAT(answers, ::testing::ElementsAre("<xml of Dummy 1/>", "<xml of Dummy 1/>"));
}

TEST_F(MetadataCacheTest, AHitIsAnsweredFromTheLoopNotInsideGet) {
  std::vector<std::string> answers;
  bool inside = false;
  get(answers, inside);
  drain();
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_EQ(cache_.size(), 1u);

  get(answers, inside);
  EXPECT_EQ(answers.size(), 1u) << "a hit called back from inside get()";
  drain();
  EXPECT_FALSE(inside);
  EXPECT_EQ(class_.fetches, 1) << "a hit fetched again";
  EXPECT_THAT(answers, ::testing::ElementsAre("<xml of Dummy 1/>", "<xml of Dummy 1/>"));
}

TEST_F(MetadataCacheTest, ANewFingerprintFetchesAgain) {
  std::vector<std::string> answers;
  bool inside = false;
  get(answers, inside);
  drain();
  class_.stamp = "v2";
  get(answers, inside);
  drain();
  EXPECT_EQ(class_.fetches, 2);
  EXPECT_THAT(answers, ::testing::ElementsAre("<xml of Dummy 1/>", "<xml of Dummy 2/>"));
}

TEST_F(MetadataCacheTest, NoFingerprintNeverCaches) {
  class_.stamp.clear();
  std::vector<std::string> answers;
  bool inside = false;
  get(answers, inside);
  drain();
  get(answers, inside);
  drain();
  EXPECT_EQ(class_.fetches, 2);
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_FALSE(inside);
}

}  // namespace
}  // namespace lrm::kernel
