// Unit tests for the LSB conventions (plugins/lsb/lsb_agent.hpp).
#include <gtest/gtest.h>
#include <tinyxml2.h>

#include "lrm/sdk/types.hpp"
#include "lsb_agent.hpp"

namespace lrm::plugins::lsb {
namespace {

TEST(LsbExitCodes, StatusAndMonitorFollowTheLsbStatusTable) {
  for (const char* action : {"status", "monitor"}) {
    EXPECT_EQ(mapExitCode(action, 0), sdk::rc::kOk);
    for (int code : {1, 2, 3}) EXPECT_EQ(mapExitCode(action, code), sdk::rc::kNotRunning) << code;
    EXPECT_EQ(mapExitCode(action, 4), sdk::rc::kError);
    EXPECT_EQ(mapExitCode(action, 150), sdk::rc::kNotInstalled);
    EXPECT_EQ(mapExitCode(action, 151), sdk::rc::kInsufficientPriv);
    EXPECT_EQ(mapExitCode(action, 255), sdk::rc::kError);
  }
}

TEST(LsbExitCodes, OtherActionsPassZeroToSeven) {
  for (int code = 0; code <= 7; ++code) EXPECT_EQ(mapExitCode("start", code), code);
  for (int code : {8, 9, 150, 151, 255, -1}) EXPECT_EQ(mapExitCode("stop", code), sdk::rc::kError) << code;
}

TEST(LsbActions, MonitorRunsStatus) {
  EXPECT_EQ(scriptAction("monitor"), "status");
  EXPECT_EQ(scriptAction("start"), "start");
  EXPECT_EQ(scriptAction("status"), "status");
}

TEST(InitInfo, ParsesTheBlockWithContinuationLines) {
  const auto info = parseInitInfo(
      "#!/bin/sh\n"
      "# Provides: outside the block\n"
      "### BEGIN INIT INFO\n"
      "# Provides:          cron\n"
      "# Required-Start:    $remote_fs $syslog\n"
      "# Default-Start:     2 3 4 5\n"
      "# Short-Description: Regular background program processing daemon\n"
      "# Description:       cron is a standard UNIX program that runs\n"
      "#\tuser-specified programs at periodic\n"
      "#  scheduled times\n"
      "# X-Unknown:         ignored\n"
      "### END INIT INFO\n"
      "# Should-Start: after the block\n");
  EXPECT_EQ(info.at("Provides"), "cron");
  EXPECT_EQ(info.at("Required-Start"), "$remote_fs $syslog");
  EXPECT_EQ(info.at("Default-Start"), "2 3 4 5");
  EXPECT_EQ(info.at("Short-Description"), "Regular background program processing daemon");
  EXPECT_EQ(info.at("Description"), "cron is a standard UNIX program that runs user-specified programs at periodic scheduled times");
  EXPECT_EQ(info.count("X-Unknown"), 0u);
  EXPECT_EQ(info.count("Should-Start"), 0u) << "fields after END INIT INFO are not part of it";
}

TEST(InitInfo, NoBlockGivesNothing) { EXPECT_TRUE(parseInitInfo("#!/bin/sh\n# Provides: x\nexit 0\n").empty()); }

TEST(SynthesizedMetadata, IsWellFormedAndEscaped) {
  const std::string xml = synthesizeMetadata("we<ird>&", {{"Short-Description", "a & b <c>"}, {"Provides", "x"}});
  tinyxml2::XMLDocument document;
  ASSERT_EQ(document.Parse(xml.c_str(), xml.size()), tinyxml2::XML_SUCCESS) << xml;
  const auto* root = document.RootElement();
  EXPECT_STREQ(root->Name(), "resource-agent");
  EXPECT_STREQ(root->Attribute("name"), "we<ird>&");
  EXPECT_STREQ(root->FirstChildElement("shortdesc")->GetText(), "a & b <c>");
  EXPECT_STREQ(root->FirstChildElement("special")->FirstChildElement("Provides")->GetText(), "x");
  int actions = 0;
  for (auto* action = root->FirstChildElement("actions")->FirstChildElement("action"); action;
       action = action->NextSiblingElement("action")) {
    ++actions;
  }
  EXPECT_EQ(actions, 7);
}

}  // namespace
}  // namespace lrm::plugins::lsb

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "script_class.hpp"

namespace lrm::plugins {
namespace {

void setMtime(const std::string& path, std::time_t when) {
  const timespec times[2] = {{when, 0}, {when, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(ListingMemo, RecomputesOnlyWhenADirectoryChanges) {
  const std::string dir = (std::filesystem::temp_directory_path() / "lrm-unit-memo").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::time_t hour_ago = std::time(nullptr) - 3600;
  setMtime(dir, hour_ago);
  ListingMemo memo;
  int computed = 0;
  const auto compute = [&] {
    ++computed;
    return std::vector<std::string>{"x"};
  };
  EXPECT_EQ(memo.get("k", {dir}, compute), std::vector<std::string>{"x"});
  memo.get("k", {dir}, compute);
  EXPECT_EQ(computed, 1) << "an unchanged directory is not scanned again";
  setMtime(dir, hour_ago + 1);
  memo.get("k", {dir}, compute);
  EXPECT_EQ(computed, 2) << "a new mtime invalidates";
  setMtime(dir, std::time(nullptr));
  memo.get("k", {dir}, compute);
  memo.get("k", {dir}, compute);
  EXPECT_EQ(computed, 4) << "a directory changed just now is not trusted yet (coarse mtimes)";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lrm::plugins
