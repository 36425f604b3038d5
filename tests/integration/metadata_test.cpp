// Metadata through the daemon: fetched once per version of an agent,
// concurrent requests share one fetch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon.hpp"

namespace lrm::test {
namespace {

class Metadata : public ::testing::Test {
 protected:
  static DaemonOptions options(const TempDir& tree) {
    std::filesystem::create_directories(tree.file("lrmtest"));
    std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/ocf/lrmtest/MetaCount",
                               tree.file("lrmtest/MetaCount"));
    DaemonOptions result;
    result.env["LRM_OCF_PATH"] = tree.path();
    return result;
  }
  void SetUp() override { client_ = daemon_.connect(); }
  int runs() const { return std::atoi(readFile(tree_.file("lrmtest/.meta-count")).c_str()); }

  TempDir tree_;
  TestDaemon daemon_{options(tree_)};
  std::unique_ptr<client::Client> client_;
};

TEST_F(Metadata, IsFetchedOnceAndAgainWhenTheAgentChanges) {
  const std::string first = client_->metadata("ocf:lrmtest:MetaCount");
  EXPECT_NE(first.find("version=\"1\""), std::string::npos) << first;
  EXPECT_EQ(client_->metadata("ocf:lrmtest:MetaCount"), first);
  EXPECT_EQ(runs(), 1) << "the second request was served from the cache";
  // A new version of the agent: different size and modification time.
  std::ofstream(tree_.file("lrmtest/.meta-version")) << "2\n";
  std::ofstream(tree_.file("lrmtest/MetaCount"), std::ios::app) << "# changed\n";
  const std::string second = client_->metadata("ocf:lrmtest:MetaCount");
  EXPECT_NE(second.find("version=\"2\""), std::string::npos) << second;
  EXPECT_EQ(runs(), 2);
}

TEST_F(Metadata, ConcurrentRequestsShareOneFetch) {
  std::ofstream(tree_.file("lrmtest/.meta-sleep")) << "1\n";
  std::vector<std::thread> askers;
  std::vector<std::string> answers(4);
  for (int i = 0; i < 4; ++i) {
    askers.emplace_back([&, i] { answers[i] = daemon_.connect("asker")->metadata("ocf:lrmtest:MetaCount"); });
  }
  for (auto& asker : askers) asker.join();
  for (const auto& answer : answers) EXPECT_NE(answer.find("resource-agent name=\"MetaCount\""), std::string::npos);
  EXPECT_EQ(runs(), 1);
}

}  // namespace
}  // namespace lrm::test
