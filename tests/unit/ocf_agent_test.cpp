// Unit tests for the OCF 1.1 logic (plugins/ocf/ocf_agent.{hpp,cpp}): exit
// codes, exit reasons, the agent environment, results and agent lookup.
#include "ocf_agent.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace lrm::plugins::ocf {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---------------------------------------------------------------- mapExitCode

TEST(MapExitCode, OcfCodesPassThrough) {
  for (int code = 0; code <= 9; ++code) EXPECT_EQ(mapExitCode(code), code);
  EXPECT_EQ(mapExitCode(190), 190);
  EXPECT_EQ(mapExitCode(191), 191);
}

TEST(MapExitCode, EverythingElseIsGenericError) {
  for (int code : {10, 11, 99, 126, 127, 128, 189, 192, 200, 255, 256, -1, -190}) {
    EXPECT_EQ(mapExitCode(code), sdk::rc::kError) << code;
  }
}

// ---------------------------------------------------------------- parseExitReason

TEST(ParseExitReason, LastNonEmptyLineWins) {
  EXPECT_EQ(parseExitReason("ocf-exit-reason:first\nnoise\nocf-exit-reason:second\nmore noise\n"), "second");
}

TEST(ParseExitReason, EmptyRemainderIsIgnored) {
  EXPECT_EQ(parseExitReason("ocf-exit-reason:the real one\nocf-exit-reason:\nocf-exit-reason:   \t\n"),
            "the real one");
  EXPECT_EQ(parseExitReason("ocf-exit-reason:\n"), "");
}

TEST(ParseExitReason, Trims) {
  EXPECT_EQ(parseExitReason("ocf-exit-reason:   config file /etc/x missing \t\r\n"), "config file /etc/x missing");
}

TEST(ParseExitReason, NoPrefixMeansNoReason) {
  EXPECT_EQ(parseExitReason(""), "");
  EXPECT_EQ(parseExitReason("ERROR: something broke\nexit-reason: not quite\n"), "");
}

TEST(ParseExitReason, PrefixOnTheLastLineWithoutNewline) {
  EXPECT_EQ(parseExitReason("INFO: starting\nocf-exit-reason:at the end"), "at the end");
  EXPECT_EQ(parseExitReason("ocf-exit-reason:only"), "only");
}

TEST(ParseExitReason, KeepsTheWholeRestOfTheLine) {
  EXPECT_EQ(parseExitReason("ocf-exit-reason:a: b: c ocf\n"), "a: b: c ocf");
}

// ---------------------------------------------------------------- environment

std::map<std::string, std::string> asMap(const std::vector<std::string>& env) {
  std::map<std::string, std::string> result;
  for (const auto& entry : env) {
    const auto eq = entry.find('=');
    EXPECT_NE(eq, std::string::npos) << "not NAME=value: " << entry;
    if (eq == std::string::npos) continue;
    const bool inserted = result.emplace(entry.substr(0, eq), entry.substr(eq + 1)).second;
    EXPECT_TRUE(inserted) << "variable set twice: " << entry.substr(0, eq);
  }
  return result;
}

sdk::Operation sampleOp() {
  sdk::Operation op;
  op.call_id = 12;
  op.instance_id = "r1-uuid";
  op.instance_name = "web";
  op.agent = sdk::AgentSpec{"ocf", "heartbeat", "Dummy"};
  op.action = "monitor";
  op.interval_ms = 10000;
  op.timeout_ms = 20000;
  op.params = {{"state", "/run/dummy.state"},
               {"fake", "a=b=c"},
               {"empty", ""},
               {"CRM_meta_timeout", "1"},
               {"CRM_meta_interval", "2"}};
  return op;
}

const std::vector<std::string> kBase = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

TEST(BuildEnvironment, ContainsBaseAndOcfVariables) {
  const auto env = asMap(buildEnvironment(kBase, "/usr/lib/ocf", sampleOp()));
  EXPECT_EQ(env.at("PATH"), "/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(env.at("OCF_ROOT"), "/usr/lib/ocf");
  EXPECT_EQ(env.at("OCF_RA_VERSION_MAJOR"), "1");
  EXPECT_EQ(env.at("OCF_RA_VERSION_MINOR"), "1");
  EXPECT_EQ(env.at("OCF_RESOURCE_INSTANCE"), "r1-uuid");
  EXPECT_EQ(env.at("OCF_RESOURCE_TYPE"), "Dummy");
  EXPECT_EQ(env.at("OCF_RESOURCE_PROVIDER"), "heartbeat");
  EXPECT_EQ(env.at("OCF_EXIT_REASON_PREFIX"), "ocf-exit-reason:");
}

TEST(BuildEnvironment, CheckLevelIsExportedUnprefixed) {
  sdk::Operation op = sampleOp();
  op.params["OCF_CHECK_LEVEL"] = "10";
  const auto env = asMap(buildEnvironment(kBase, "/usr/lib/ocf", op));
  EXPECT_EQ(env.at("OCF_CHECK_LEVEL"), "10");
  EXPECT_EQ(env.count("OCF_RESKEY_OCF_CHECK_LEVEL"), 0u);
}

TEST(BuildEnvironment, MetaTimeoutAndIntervalComeFromTheOp) {
  const auto env = asMap(buildEnvironment(kBase, "/usr/lib/ocf", sampleOp()));
  EXPECT_EQ(env.at("OCF_RESKEY_CRM_meta_timeout"), "20000");
  EXPECT_EQ(env.at("OCF_RESKEY_CRM_meta_interval"), "10000");

  sdk::Operation oneShot = sampleOp();
  oneShot.interval_ms = 0;
  oneShot.timeout_ms = 0;
  oneShot.params.clear();
  const auto env2 = asMap(buildEnvironment(kBase, "/usr/lib/ocf", oneShot));
  EXPECT_EQ(env2.at("OCF_RESKEY_CRM_meta_timeout"), "0");
  EXPECT_EQ(env2.at("OCF_RESKEY_CRM_meta_interval"), "0");
}

TEST(BuildEnvironment, OneReskeyPerParameter) {
  const auto raw = buildEnvironment(kBase, "/usr/lib/ocf", sampleOp());
  const auto env = asMap(raw);
  EXPECT_EQ(env.at("OCF_RESKEY_state"), "/run/dummy.state");
  EXPECT_EQ(env.at("OCF_RESKEY_fake"), "a=b=c");
  EXPECT_EQ(env.at("OCF_RESKEY_empty"), "");
  // Nothing else: base + 9 OCF variables (6 common, instance, timeout, interval) + 3 params.
  EXPECT_EQ(raw.size(), kBase.size() + 9 + 3) << ::testing::PrintToString(raw);
  EXPECT_EQ(env.size(), raw.size());
}

TEST(BuildEnvironment, EmptyBaseAddsNothingInherited) {
  sdk::Operation op = sampleOp();
  op.params.clear();
  const auto env = asMap(buildEnvironment({}, "/opt/ocf", op));
  EXPECT_EQ(env.count("PATH"), 0u);
  EXPECT_EQ(env.at("OCF_ROOT"), "/opt/ocf");
  EXPECT_EQ(env.size(), 9u);
}

TEST(MetadataEnvironment, HasNoInstance) {
  const auto env = asMap(metadataEnvironment(kBase, "/usr/lib/ocf", sdk::AgentSpec{"ocf", "pacemaker", "Stateful"}));
  EXPECT_EQ(env.at("PATH"), "/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(env.at("OCF_ROOT"), "/usr/lib/ocf");
  EXPECT_EQ(env.at("OCF_RESOURCE_TYPE"), "Stateful");
  EXPECT_EQ(env.at("OCF_RESOURCE_PROVIDER"), "pacemaker");
  EXPECT_EQ(env.at("OCF_RA_VERSION_MAJOR"), "1");
  EXPECT_EQ(env.count("OCF_RESOURCE_INSTANCE"), 0u);
}

// ---------------------------------------------------------------- searchDirs

TEST(SearchDirs, ColonListThenResourceD) {
  EXPECT_THAT(searchDirs("/a:/b/c", "/usr/lib/ocf"), ElementsAre("/a", "/b/c", "/usr/lib/ocf/resource.d"));
}

TEST(SearchDirs, EmptyPartsAreSkipped) {
  EXPECT_THAT(searchDirs("", "/usr/lib/ocf"), ElementsAre("/usr/lib/ocf/resource.d"));
  EXPECT_THAT(searchDirs(":", "/r"), ElementsAre("/r/resource.d"));
  EXPECT_THAT(searchDirs("::/a:::/b:", "/r"), ElementsAre("/a", "/b", "/r/resource.d"));
}

// ---------------------------------------------------------------- toResult

sdk::SpawnResult exited(int code, std::string out, std::string err) {
  sdk::SpawnResult r;
  r.outcome = sdk::SpawnOutcome::Exited;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

TEST(ToResult, ExitedIsDoneWithMappedRc) {
  for (int code : {0, 1, 7, 8, 9, 190, 191}) {
    const auto result = toResult(exited(code, "", ""), "/x/Dummy", 20000);
    EXPECT_EQ(result.status, sdk::ExecStatus::Done) << code;
    EXPECT_EQ(result.rc, code);
  }
  for (int code : {10, 127, 255}) {
    const auto result = toResult(exited(code, "", ""), "/x/Dummy", 20000);
    EXPECT_EQ(result.status, sdk::ExecStatus::Done) << code;
    EXPECT_EQ(result.rc, sdk::rc::kError) << code;
  }
}

TEST(ToResult, OutputIsStderrIfNonEmptyElseStdout) {
  auto result = toResult(exited(0, "from stdout\n", ""), "/x/Dummy", 1000);
  EXPECT_EQ(result.output, "from stdout\n");
  EXPECT_EQ(result.exit_reason, "");

  result = toResult(exited(1, "from stdout\n", "from stderr\nocf-exit-reason:bad config\n"), "/x/Dummy", 1000);
  EXPECT_EQ(result.output, "from stderr\nocf-exit-reason:bad config\n");
  EXPECT_EQ(result.exit_reason, "bad config");
  EXPECT_EQ(result.rc, 1);
}

TEST(ToResult, ExitReasonComesFromStderrOnly) {
  const auto result = toResult(exited(1, "ocf-exit-reason:on stdout\n", ""), "/x/Dummy", 1000);
  EXPECT_EQ(result.exit_reason, "");
}

TEST(ToResult, TimedOutIsTimeoutRc1WithReason) {
  sdk::SpawnResult spawned;
  spawned.outcome = sdk::SpawnOutcome::TimedOut;
  spawned.err = "ocf-exit-reason:agent said something\n";
  const auto result = toResult(spawned, "/x/Dummy", 1234);
  EXPECT_EQ(result.status, sdk::ExecStatus::Timeout);
  EXPECT_EQ(result.rc, sdk::rc::kError);
  EXPECT_THAT(result.exit_reason, HasSubstr("1234"));
  EXPECT_THAT(result.exit_reason, ::testing::ContainsRegex("time|within"));
  EXPECT_EQ(result.output, spawned.err);
}

TEST(ToResult, SignaledIsErrorNamingTheSignal) {
  sdk::SpawnResult spawned;
  spawned.outcome = sdk::SpawnOutcome::Signaled;
  spawned.signal = SIGSEGV;
  const auto result = toResult(spawned, "/x/Dummy", 1000);
  EXPECT_EQ(result.status, sdk::ExecStatus::Error);
  EXPECT_EQ(result.rc, sdk::rc::kError);
  EXPECT_THAT(result.exit_reason, HasSubstr("signal"));
  EXPECT_THAT(result.exit_reason, HasSubstr(std::to_string(SIGSEGV)));
}

TEST(ToResult, KilledIsCancelled) {
  sdk::SpawnResult spawned;
  spawned.outcome = sdk::SpawnOutcome::Killed;
  const auto result = toResult(spawned, "/x/Dummy", 1000);
  EXPECT_EQ(result.status, sdk::ExecStatus::Cancelled);
}

sdk::SpawnResult spawnFailed(int error) {
  sdk::SpawnResult r;
  r.outcome = sdk::SpawnOutcome::SpawnFailed;
  r.spawn_errno = error;
  return r;
}

TEST(ToResult, SpawnFailedEnoentIsNotInstalled) {
  const auto result = toResult(spawnFailed(ENOENT), "/x/heartbeat/Missing", 1000);
  EXPECT_EQ(result.status, sdk::ExecStatus::NotInstalled);
  EXPECT_EQ(result.rc, sdk::rc::kNotInstalled);
  EXPECT_THAT(result.exit_reason, HasSubstr("/x/heartbeat/Missing"));
}

TEST(ToResult, SpawnFailedEaccesIsInsufficientPrivileges) {
  const auto result = toResult(spawnFailed(EACCES), "/x/heartbeat/NoExec", 1000);
  EXPECT_EQ(result.status, sdk::ExecStatus::Error);
  EXPECT_EQ(result.rc, sdk::rc::kInsufficientPriv);
  EXPECT_THAT(result.exit_reason, HasSubstr("/x/heartbeat/NoExec"));
}

TEST(ToResult, SpawnFailedOtherwiseIsGenericError) {
  for (int error : {EIO, ENOMEM, EAGAIN, E2BIG}) {
    const auto result = toResult(spawnFailed(error), "/x/Dummy", 1000);
    EXPECT_EQ(result.status, sdk::ExecStatus::Error) << error;
    EXPECT_EQ(result.rc, sdk::rc::kError) << error;
    EXPECT_FALSE(result.exit_reason.empty()) << error;
  }
}

// ---------------------------------------------------------------- agent lookup

class AgentTree : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir1_ = (tmp_.path() / "one").string();
    dir2_ = (tmp_.path() / "two").string();
    file(dir1_ + "/heartbeat/Dummy", 0755);
    file(dir1_ + "/heartbeat/Broken", 0644);
    file(dir1_ + "/heartbeat/Fallback", 0644);
    file(dir1_ + "/heartbeat/.hidden", 0755);
    fs::create_directories(dir1_ + "/heartbeat/Subdir");
    file(dir1_ + "/pacemaker/Stateful", 0755);
    file(dir1_ + "/.hiddenprov/Secret", 0755);
    file(dir1_ + "/loose-file", 0755);  // a file where a provider directory would be
    file(dir1_ + "/Escape", 0755);      // reachable only through '..'
    file(dir2_ + "/heartbeat/Dummy", 0755);
    file(dir2_ + "/heartbeat/IPaddr2", 0755);
    file(dir2_ + "/heartbeat/Fallback", 0755);
    file(dir2_ + "/custom/Thing", 0700);
    dirs_ = {dir1_, dir2_, (tmp_.path() / "missing").string()};
  }

  static void file(const std::string& path, mode_t mode) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
  }

  lrm::test::TempDir tmp_;
  std::string dir1_;
  std::string dir2_;
  std::vector<std::string> dirs_;
};

TEST_F(AgentTree, FindAgentFirstDirWins) {
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "Dummy"}), std::optional<std::string>(dir1_ + "/heartbeat/Dummy"));
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "IPaddr2"}),
            std::optional<std::string>(dir2_ + "/heartbeat/IPaddr2"));
  EXPECT_EQ(findAgent(dirs_, {"ocf", "custom", "Thing"}), std::optional<std::string>(dir2_ + "/custom/Thing"));
}

TEST_F(AgentTree, FindAgentSkipsNonExecutableFiles) {
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "Broken"}), std::nullopt);
  // Not executable in the first directory, executable in the second.
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "Fallback"}),
            std::optional<std::string>(dir2_ + "/heartbeat/Fallback"));
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "Subdir"}), std::nullopt);
}

TEST_F(AgentTree, FindAgentMissing) {
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "Nope"}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "nobody", "Dummy"}), std::nullopt);
  EXPECT_EQ(findAgent({}, {"ocf", "heartbeat", "Dummy"}), std::nullopt);
}

TEST_F(AgentTree, FindAgentNeverResolvesDotDot) {
  // <dir1>/heartbeat/../Escape exists and is executable: it must not be found.
  const std::vector<std::string> inner = {dir1_ + "/heartbeat"};
  ASSERT_TRUE(fs::exists(dir1_ + "/heartbeat/../Escape"));
  EXPECT_EQ(findAgent(inner, {"ocf", "..", "Escape"}), std::nullopt);
  EXPECT_EQ(findAgent(inner, {"ocf", ".", "Dummy"}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "../pacemaker/Stateful"}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat/..", "Escape"}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", ".."}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "", "Escape"}), std::nullopt);
  EXPECT_EQ(findAgent(dirs_, {"ocf", "heartbeat", "/bin/sh"}), std::nullopt);
}

TEST_F(AgentTree, ListProvidersSortedUniqueWithoutHiddenOrFiles) {
  EXPECT_THAT(listProviders(dirs_, ""), ElementsAre("custom", "heartbeat", "pacemaker"));
}

TEST_F(AgentTree, ListProvidersOfAType) {
  EXPECT_THAT(listProviders(dirs_, "Dummy"), ElementsAre("heartbeat"));
  EXPECT_THAT(listProviders(dirs_, "Stateful"), ElementsAre("pacemaker"));
  EXPECT_THAT(listProviders(dirs_, "Thing"), ElementsAre("custom"));
  EXPECT_THAT(listProviders(dirs_, "Fallback"), ElementsAre("heartbeat"));
  EXPECT_THAT(listProviders(dirs_, "Broken"), IsEmpty());
  EXPECT_THAT(listProviders(dirs_, "Nope"), IsEmpty());
  EXPECT_THAT(listProviders(dirs_, "Subdir"), IsEmpty());
}

TEST_F(AgentTree, ListTypesAcrossDirs) {
  EXPECT_THAT(listTypes(dirs_, ""), ElementsAre("Dummy", "Fallback", "IPaddr2", "Stateful", "Thing"));
}

TEST_F(AgentTree, ListTypesOfAProvider) {
  EXPECT_THAT(listTypes(dirs_, "heartbeat"), ElementsAre("Dummy", "Fallback", "IPaddr2"));
  EXPECT_THAT(listTypes(dirs_, "pacemaker"), ElementsAre("Stateful"));
  EXPECT_THAT(listTypes(dirs_, "custom"), ElementsAre("Thing"));
  EXPECT_THAT(listTypes(dirs_, "nobody"), IsEmpty());
  EXPECT_THAT(listTypes(dirs_, ".hiddenprov"), IsEmpty());
}

TEST_F(AgentTree, EmptyOrMissingDirs) {
  EXPECT_THAT(listProviders({}, ""), IsEmpty());
  EXPECT_THAT(listTypes({}, ""), IsEmpty());
  const std::vector<std::string> missing = {(tmp_.path() / "nothing-here").string()};
  EXPECT_THAT(listProviders(missing, ""), IsEmpty());
  EXPECT_THAT(listTypes(missing, ""), IsEmpty());
}

}  // namespace
}  // namespace lrm::plugins::ocf
