// The upgrade module's pure parts and the handover file's life
// (kernel/src/upgrade.cpp): which binary runs, with which arguments, and
// that a handover file is read once and never outlives the start.
#include "upgrade.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.hpp"

namespace lrm::kernel {
namespace {

using Args = std::vector<std::string>;

TEST(UpgradeBinary, TheRequestedBinaryWins) {
  EXPECT_EQ(upgradeBinary("/opt/lrmd", "/usr/bin/lrmd (deleted)"), "/opt/lrmd");
}

TEST(UpgradeBinary, TheRunningOneIsRunAgain) { EXPECT_EQ(upgradeBinary("", "/usr/bin/lrmd"), "/usr/bin/lrmd"); }

TEST(UpgradeBinary, AFileReplacedByAPackageIsRunFromItsPath) {
  EXPECT_EQ(upgradeBinary("", "/usr/bin/lrmd (deleted)"), "/usr/bin/lrmd");
  EXPECT_EQ(upgradeBinary("", " (deleted)"), " (deleted)") << "nothing but the suffix: left for access() to refuse";
}

TEST(UpgradeArguments, TheDaemonsOwnArgumentsComeBackWithTheListeningSocket) {
  EXPECT_EQ(upgradeArguments("/usr/bin/lrmd", {"--socket", "/run/x.sock", "--foreground"}, 5),
            (Args{"/usr/bin/lrmd", "--socket", "/run/x.sock", "--foreground", "--resume-recurring",
                  "--inherit-listen-fd", "5"}));
}

TEST(UpgradeArguments, ThoseOfAPreviousUpgradeAreReplacedNotRepeated) {
  EXPECT_EQ(upgradeArguments("/b", {"--inherit-listen-fd", "3", "--state-dir", "/s", "--resume-recurring"}, 7),
            (Args{"/b", "--state-dir", "/s", "--resume-recurring", "--inherit-listen-fd", "7"}));
}

class TakeHandover : public ::testing::Test {
 protected:
  void TearDown() override { ::unsetenv(kHandoverEnv); }
  test::TempDir dir_;
};

TEST_F(TakeHandover, TheNamedFileIsReadAndRemoved) {
  const std::string path = handoverPath(dir_.str());
  Handover handed;
  handed.next_client = 42;
  writeHandover(path, handed);
  ::setenv(kHandoverEnv, path.c_str(), 1);
  const auto taken = takeHandover(dir_.str());
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->next_client, 42u);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::getenv(kHandoverEnv), nullptr) << "agents must not inherit it";
}

TEST_F(TakeHandover, AnUnreadableFileIsRemovedAndNothingTakenOver) {
  const std::string path = handoverPath(dir_.str());
  std::ofstream(path) << "not a handover";
  ::setenv(kHandoverEnv, path.c_str(), 1);
  EXPECT_FALSE(takeHandover(dir_.str()));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(TakeHandover, AStaleFileIsRemovedWhenNoneIsNamed) {
  const std::string path = handoverPath(dir_.str());
  std::ofstream(path) << "{}";
  EXPECT_FALSE(takeHandover(dir_.str()));
  EXPECT_FALSE(std::filesystem::exists(path)) << "a later upgrade must not read it";
}

}  // namespace
}  // namespace lrm::kernel
