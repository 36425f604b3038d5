// Metadata through the daemon: fetched once per version of an agent,
// concurrent requests share one fetch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
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

namespace lrm::test {
namespace {

TEST_F(Metadata, ParsedFormShowsParametersAndActions) {
  auto parsed = client_->metadataParsed("ocf:lrmtest:MetaCount");
  EXPECT_EQ(parsed.name, "MetaCount");
  EXPECT_EQ(parsed.shortdesc, "counts");
  auto json = runCommand({binary("lrmctl"), "--socket", daemon_.socket(), "--json", "metadata", "ocf:lrmtest:MetaCount"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"name\":\"MetaCount\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"parameters\":[]"), std::string::npos) << json.out;
}

// Every OCF agent of the installed resource-agents package (and Pacemaker's,
// when installed): parsed, or listed here with the reason it cannot be.
TEST(MetadataCorpus, EveryInstalledAgentParses) {
  const std::map<std::string, std::string> known_broken = {};  // none so far on Debian 12
  if (!std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat")) GTEST_SKIP() << "resource-agents is not installed";
  DaemonOptions options;
  options.env["LRM_OCF_PATH"] = "/nonexistent";
  TestDaemon daemon(options);
  auto lister = daemon.connect();
  std::vector<std::string> specs;
  for (const auto& provider : lister->providers()) {
    for (const auto& type : lister->agents("ocf", provider)) specs.push_back("ocf:" + provider + ":" + type);
  }
  ASSERT_GT(specs.size(), 100u);
  std::mutex mutex;
  std::map<std::string, std::string> failures;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      auto client = daemon.connect("corpus");
      client->setRequestTimeout(Millis(120000));
      for (std::size_t i = next++; i < specs.size(); i = next++) {
        try {
          const auto parsed = client->metadataParsed(specs[i]);
          if (parsed.name.empty() || parsed.actions.empty()) {
            std::lock_guard<std::mutex> lock(mutex);
            failures[specs[i]] = "no name or no actions";
          }
        } catch (const client::Error& e) {
          std::lock_guard<std::mutex> lock(mutex);
          failures[specs[i]] = e.what();
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  for (const auto& [spec, reason] : failures) {
    EXPECT_TRUE(known_broken.count(spec)) << spec << ": " << reason;
  }
  std::cout << specs.size() << " agents, " << specs.size() - failures.size() << " parsed\n";
}

}  // namespace
}  // namespace lrm::test

namespace lrm::test {
namespace {

TEST(MetadataCheck, ReportsProblemsAgainstOcf11AsWarnings) {
  TestDaemon daemon;
  auto client = daemon.connect();
  const auto warnings = client->checkMetadata("ocf:lrmtest:Typed");
  const auto has = [&](const std::string& text) {
    return std::any_of(warnings.begin(), warnings.end(), [&](const auto& w) { return w.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("parameter 'weird': required=\"maybe\" is not 0 or 1"));
  EXPECT_TRUE(has("parameter 'weird': unknown content type 'colour'"));
  EXPECT_TRUE(has("parameter 'ratio': default 'half' is not an integer"));
  EXPECT_TRUE(has("action 'monitor' has no timeout"));
  EXPECT_TRUE(has("action 'monitor': interval 'often' is not a duration"));
  EXPECT_EQ(warnings.size(), 5u) << "nothing else is wrong";
  EXPECT_TRUE(client->checkMetadata("ocf:lrmtest:Sleeper").empty());
  auto cli = runCommand({binary("lrmctl"), "--socket", daemon.socket(), "metadata", "--check", "ocf:lrmtest:Typed"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.out.find("unknown content type 'colour'"), std::string::npos) << cli.out;
}

TEST(MetadataCheck, ValidateComparesAnInstancesParametersWithTheMetadata) {
  TestDaemon daemon;
  auto client = daemon.connect();
  client->registerInstance(registration("t", "ocf:lrmtest:Typed", {{"flag", "perhaps"}, {"mode", "slow"}, {"extra", "1"},
                                                                   {"CRM_meta_timeout", "5000"}}));
  const auto problems = client->validate("t");
  EXPECT_EQ(problems, (std::vector<std::string>{"parameter 'extra' is not one of the agent's",
                                                "parameter 'flag': 'perhaps' is not a boolean",
                                                "parameter 'mode': 'slow' is not one of the allowed values",
                                                "required parameter 'count' is missing"}));
  client->registerInstance(registration("ok", "ocf:lrmtest:Typed", {{"count", "7"}, {"flag", "yes"}, {"mode", "safe"}}));
  EXPECT_TRUE(client->validate("ok").empty());
  // Advisory only: the instance with problems still runs.
  EXPECT_EQ(client->waitForResult(client->exec(operation("t", "start")), kPatience).rc, 0);
  EXPECT_EQ(runCommand({binary("lrmctl"), "--socket", daemon.socket(), "validate", "ok"}).exit_code, 0);
  EXPECT_EQ(runCommand({binary("lrmctl"), "--socket", daemon.socket(), "validate", "ghost"}).exit_code, 2);
}

}  // namespace
}  // namespace lrm::test

namespace lrm::test {
namespace {

TEST(AgentListing, JsonIncludesEachAgentsShortdesc) {
  // Its own tree: describing runs every agent's meta-data, and some
  // fixtures keep state next to themselves.
  TempDir tree;
  std::filesystem::create_directories(tree.file("lrmtest"));
  for (const char* agent : {"Counter", "Sleeper"}) {
    std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/ocf/lrmtest/" + agent,
                               tree.file(std::string("lrmtest/") + agent));
  }
  DaemonOptions options;
  options.env["LRM_OCF_PATH"] = tree.path();
  TestDaemon daemon(options);
  auto client = daemon.connect();
  const auto described = client->describeAgents("ocf", "lrmtest");
  const auto sleeper = std::find_if(described.begin(), described.end(), [](const auto& a) { return a.first == "Sleeper"; });
  ASSERT_NE(sleeper, described.end());
  EXPECT_EQ(sleeper->second, "Test agent whose actions sleep");
  auto json = runCommand({binary("lrmctl"), "--socket", daemon.socket(), "--json", "agents", "ocf:lrmtest"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"Sleeper\":\"Test agent whose actions sleep\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"agents\":[\"Counter\""), std::string::npos) << "the fixed {\"agents\":[...]} shape stays";
  // A class with providers can only be described per provider: lrmctl then lists names only.
  auto all = runCommand({binary("lrmctl"), "--socket", daemon.socket(), "--json", "agents", "ocf"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_EQ(all.out.find("shortdesc"), std::string::npos);
}

}  // namespace
}  // namespace lrm::test

namespace lrm::test {
namespace {

TEST_F(Metadata, ListingsFollowTheDirectories) {
  EXPECT_EQ(client_->agents("ocf", "lrmtest"), std::vector<std::string>{"MetaCount"});
  EXPECT_EQ(client_->agents("ocf", "lrmtest"), std::vector<std::string>{"MetaCount"}) << "memoised";
  std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/ocf/lrmtest/Sleeper", tree_.file("lrmtest/Sleeper"));
  EXPECT_EQ(client_->agents("ocf", "lrmtest"), (std::vector<std::string>{"MetaCount", "Sleeper"}));
  std::filesystem::create_directories(tree_.file("newprovider"));
  std::filesystem::copy_file(std::string(LRM_TEST_FIXTURES_DIR) + "/ocf/lrmtest/Sleeper",
                             tree_.file("newprovider/Sleeper"));
  const auto providers = client_->providers("Sleeper");
  EXPECT_EQ(providers, (std::vector<std::string>{"lrmtest", "newprovider"}));
  std::filesystem::remove(tree_.file("lrmtest/Sleeper"));
  EXPECT_EQ(client_->agents("ocf", "lrmtest"), std::vector<std::string>{"MetaCount"});
}

}  // namespace
}  // namespace lrm::test
