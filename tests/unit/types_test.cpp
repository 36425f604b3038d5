// Unit tests for the SDK value types (sdk/src/types.cpp): agent specs,
// identifiers, durations, status names, rc names and the failure rule.
#include "lrm/sdk/types.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lrm::sdk {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------- parseAgentSpec

TEST(ParseAgentSpec, ClassProviderType) {
  std::string error;
  const auto spec = parseAgentSpec("ocf:heartbeat:Dummy", error);
  ASSERT_TRUE(spec.has_value()) << error;
  EXPECT_EQ(spec->cls, "ocf");
  EXPECT_EQ(spec->provider, "heartbeat");
  EXPECT_EQ(spec->type, "Dummy");
  EXPECT_EQ(spec->toString(), "ocf:heartbeat:Dummy");
}

TEST(ParseAgentSpec, ClassTypeWithoutProvider) {
  std::string error;
  const auto spec = parseAgentSpec("lsb:cron", error);
  ASSERT_TRUE(spec.has_value()) << error;
  EXPECT_EQ(spec->cls, "lsb");
  EXPECT_EQ(spec->provider, "");
  EXPECT_EQ(spec->type, "cron");
  EXPECT_EQ(spec->toString(), "lsb:cron");
}

TEST(ParseAgentSpec, AcceptsOrdinaryAgentNames) {
  for (const char* text : {"ocf:heartbeat:IPaddr2", "native:lrm:Dummy", "service:ssh", "ocf:pacemaker:Stateful",
                           "lsb:my-service.sh"}) {
    std::string error;
    const auto spec = parseAgentSpec(text, error);
    ASSERT_TRUE(spec.has_value()) << text << ": " << error;
    EXPECT_EQ(spec->toString(), text);
  }
}

TEST(ParseAgentSpec, SpecEquality) {
  std::string error;
  const auto a = parseAgentSpec("ocf:heartbeat:Dummy", error);
  const auto b = parseAgentSpec("ocf:heartbeat:Dummy", error);
  const auto c = parseAgentSpec("ocf:pacemaker:Dummy", error);
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a != *b);
  EXPECT_TRUE(*a != *c);
}

TEST(ParseAgentSpec, RejectsTooManyColons) {
  for (const char* text : {"ocf:heartbeat:Dummy:extra", "a:b:c:d:e", "ocf:heartbeat:Dummy:"}) {
    std::string error;
    EXPECT_FALSE(parseAgentSpec(text, error).has_value()) << text;
    EXPECT_THAT(error, HasSubstr("too many")) << text;
    EXPECT_THAT(error, HasSubstr(text));
  }
}

TEST(ParseAgentSpec, RejectsAMissingType) {
  for (const char* text : {"ocf", "", "Dummy"}) {
    std::string error;
    EXPECT_FALSE(parseAgentSpec(text, error).has_value()) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

struct BadPart {
  const char* spec;
  const char* part;  // class, provider or type
  const char* value;
};

class ParseAgentSpecBadPart : public ::testing::TestWithParam<BadPart> {};

TEST_P(ParseAgentSpecBadPart, ErrorNamesTheOffendingPart) {
  const BadPart& bad = GetParam();
  std::string error;
  EXPECT_FALSE(parseAgentSpec(bad.spec, error).has_value()) << bad.spec;
  EXPECT_THAT(error, HasSubstr(bad.part)) << bad.spec;
  EXPECT_THAT(error, HasSubstr(std::string("'") + bad.value + "'")) << bad.spec;
  for (const char* other : {"class", "provider", "type"}) {
    if (std::strcmp(other, bad.part) != 0) {
      EXPECT_THAT(error, Not(HasSubstr(other))) << bad.spec << " blames the wrong part";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Parts, ParseAgentSpecBadPart,
    ::testing::Values(BadPart{":heartbeat:Dummy", "class", ""}, BadPart{"ocf::Dummy", "provider", ""},
                      BadPart{"ocf:heartbeat:", "type", ""}, BadPart{"lsb:", "type", ""},
                      BadPart{":cron", "class", ""}, BadPart{"ocf:..:Dummy", "provider", ".."},
                      BadPart{"ocf:.:Dummy", "provider", "."}, BadPart{"ocf:heartbeat:..", "type", ".."},
                      BadPart{"ocf:heartbeat:.", "type", "."}, BadPart{"lsb:..", "type", ".."},
                      BadPart{"ocf:heart/beat:Dummy", "provider", "heart/beat"},
                      BadPart{"ocf:heartbeat:../../bin/sh", "type", "../../bin/sh"},
                      BadPart{"lsb:/etc/init.d/cron", "type", "/etc/init.d/cron"},
                      BadPart{"o/cf:heartbeat:Dummy", "class", "o/cf"},
                      BadPart{"..:cron", "class", ".."},
                      BadPart{"ocf:heartbeat:Du\tmmy", "type", "Du\tmmy"}));

TEST(ParseAgentSpec, ComponentLengthLimit) {
  std::string error;
  EXPECT_TRUE(parseAgentSpec("ocf:heartbeat:" + std::string(128, 'a'), error).has_value()) << error;
  error.clear();
  EXPECT_FALSE(parseAgentSpec("ocf:heartbeat:" + std::string(129, 'a'), error).has_value());
  EXPECT_THAT(error, HasSubstr("type"));
}

TEST(IsValidAgentComponent, Basics) {
  EXPECT_TRUE(isValidAgentComponent("heartbeat"));
  EXPECT_FALSE(isValidAgentComponent(""));
  EXPECT_FALSE(isValidAgentComponent("."));
  EXPECT_FALSE(isValidAgentComponent(".."));
  EXPECT_FALSE(isValidAgentComponent("a/b"));
  EXPECT_FALSE(isValidAgentComponent("a:b"));
  EXPECT_FALSE(isValidAgentComponent("a\nb"));
  EXPECT_FALSE(isValidAgentComponent(std::string(129, 'a')));
  EXPECT_TRUE(isValidAgentComponent(std::string(128, 'a')));
}

// ---------------------------------------------------------------- identifiers

bool inInstanceIdCharset(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("._:@-", c) != nullptr);
}

TEST(IsValidInstanceId, AcceptsTheDocumentedCharset) {
  EXPECT_TRUE(isValidInstanceId("r1"));
  EXPECT_TRUE(isValidInstanceId("0b7c6a3e-5f2d-4c1a-9e8b-2d3f4a5b6c7d"));
  EXPECT_TRUE(isValidInstanceId("web.server_1:main@node-2"));
  EXPECT_TRUE(isValidInstanceId("a"));
  EXPECT_TRUE(isValidInstanceId("..."));
  EXPECT_TRUE(isValidInstanceId(std::string(128, 'x')));
}

TEST(IsValidInstanceId, RejectsEmptyTooLongAndOtherCharacters) {
  EXPECT_FALSE(isValidInstanceId(""));
  EXPECT_FALSE(isValidInstanceId(std::string(129, 'x')));
  for (const char* bad : {"a b", "a/b", "a#b", "a\nb", "r1 ", "a=b", "a,b", "\xC3\xBC", "a*"}) {
    EXPECT_FALSE(isValidInstanceId(bad)) << ::testing::PrintToString(bad);
  }
}

TEST(IsValidInstanceId, EveryByteValue) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string id = std::string("id") + c + "x";
    EXPECT_EQ(isValidInstanceId(id), inInstanceIdCharset(c)) << "byte " << b;
  }
}

TEST(IsValidParamName, AcceptsLettersDigitsUnderscore) {
  EXPECT_TRUE(isValidParamName("state"));
  EXPECT_TRUE(isValidParamName("CRM_meta_timeout"));
  EXPECT_TRUE(isValidParamName("_"));
  EXPECT_TRUE(isValidParamName("ip6_addr2"));
  EXPECT_TRUE(isValidParamName(std::string(128, 'p')));
}

TEST(IsValidParamName, RejectsEverythingElse) {
  EXPECT_FALSE(isValidParamName(""));
  EXPECT_FALSE(isValidParamName(std::string(129, 'p')));
  for (const char* bad : {"-", "a-b", "a=b", "=", "a b", " ", "a.b", "a:b", "a/b", "a\n", "\xC3\xBC"}) {
    EXPECT_FALSE(isValidParamName(bad)) << ::testing::PrintToString(bad);
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    EXPECT_EQ(isValidParamName(std::string("p") + c), allowed) << "byte " << b;
  }
}

// ---------------------------------------------------------------- durations

TEST(ParseDurationMs, Units) {
  EXPECT_EQ(parseDurationMs("500"), std::optional<std::uint64_t>(500));
  EXPECT_EQ(parseDurationMs("0"), std::optional<std::uint64_t>(0));
  EXPECT_EQ(parseDurationMs("500ms"), std::optional<std::uint64_t>(500));
  EXPECT_EQ(parseDurationMs("5s"), std::optional<std::uint64_t>(5000));
  EXPECT_EQ(parseDurationMs("2m"), std::optional<std::uint64_t>(120000));
  EXPECT_EQ(parseDurationMs("1h"), std::optional<std::uint64_t>(3600000));
  EXPECT_EQ(parseDurationMs("90s"), std::optional<std::uint64_t>(90000));
  EXPECT_EQ(parseDurationMs("007"), std::optional<std::uint64_t>(7));
}

TEST(ParseDurationMs, SaturatesWhatSixtyFourBitsCannotHold) {
  EXPECT_EQ(parseDurationMs("4294967295"), std::optional<std::uint64_t>(kMaxDurationMs));
  EXPECT_EQ(parseDurationMs("9223372036854775808"), std::optional<std::uint64_t>(std::uint64_t{1} << 63));
  EXPECT_EQ(parseDurationMs("18446744073709551615"), std::optional<std::uint64_t>(UINT64_MAX));
  for (const char* huge : {"18446744073709551616", "99999999999999999999999ms", "18446744073709552s", "5124095576031h",
                           "000000000000000000000000000000000000000018446744073709551616"}) {
    EXPECT_EQ(parseDurationMs(huge), std::optional<std::uint64_t>(UINT64_MAX)) << huge;
  }
  EXPECT_EQ(parseDurationMs("5124095576030h"), std::optional<std::uint64_t>(5124095576030ull * 3600000));
}

TEST(ParseDurationMs, RejectsMalformed) {
  for (const char* bad : {"", "s", "ms", "5x", "-5", "1.5s", "5 s", " 5", "5 ", "5sec", "5mss", "+5", "h1", "1e3"}) {
    EXPECT_EQ(parseDurationMs(bad), std::nullopt) << "'" << bad << "'";
  }
}

// ---------------------------------------------------------------- status and rc names

const std::vector<std::pair<ExecStatus, const char*>> kStatuses = {
    {ExecStatus::Pending, "pending"},         {ExecStatus::Done, "done"},
    {ExecStatus::Cancelled, "cancelled"},     {ExecStatus::Timeout, "timeout"},
    {ExecStatus::NotSupported, "not_supported"}, {ExecStatus::Error, "error"},
    {ExecStatus::ErrorHard, "error_hard"},    {ExecStatus::ErrorFatal, "error_fatal"},
    {ExecStatus::NotInstalled, "not_installed"}};

TEST(ExecStatusNames, WireNamesRoundTrip) {
  for (const auto& [status, name] : kStatuses) {
    EXPECT_STREQ(toString(status), name);
    const auto parsed = parseExecStatus(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(*parsed, status) << name;
  }
}

TEST(ExecStatusNames, UnknownNamesAndValues) {
  for (const char* bad : {"", "Done", "DONE", "done ", "unknown", "not installed", "canceled"}) {
    EXPECT_EQ(parseExecStatus(bad), std::nullopt) << "'" << bad << "'";
  }
  EXPECT_STREQ(toString(static_cast<ExecStatus>(99)), "unknown");
  EXPECT_STREQ(toString(static_cast<ExecStatus>(-1)), "unknown");
}

TEST(RcName, KnownAndUnknownCodes) {
  EXPECT_STREQ(rcName(rc::kOk), "ok");
  EXPECT_STREQ(rcName(rc::kError), "error");
  EXPECT_STREQ(rcName(rc::kNotInstalled), "not installed");
  EXPECT_STREQ(rcName(rc::kNotRunning), "not running");
  EXPECT_STREQ(rcName(rc::kDegraded), "degraded");
  std::set<std::string> names;
  for (int code : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 190, 191}) {
    const std::string name = rcName(code);
    EXPECT_NE(name, "unknown") << code;
    EXPECT_FALSE(name.empty()) << code;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 12u) << "rc names must be distinct";
  for (int code : {-1, 10, 99, 189, 192, 255}) EXPECT_STREQ(rcName(code), "unknown") << code;
}

// ---------------------------------------------------------------- isFailure

TEST(IsFailure, DoneWithOkOrPromotedIsNotAFailure) {
  for (const char* action : {"start", "stop", "monitor", "promote"}) {
    for (std::uint64_t interval : {0u, 10000u}) {
      EXPECT_FALSE(isFailure(action, interval, ExecStatus::Done, rc::kOk)) << action << " " << interval;
      EXPECT_FALSE(isFailure(action, interval, ExecStatus::Done, rc::kRunningPromoted)) << action << " " << interval;
    }
  }
}

TEST(IsFailure, NotRunningIsANormalAnswerOnlyForAProbe) {
  EXPECT_FALSE(isFailure("monitor", 0, ExecStatus::Done, rc::kNotRunning));
  EXPECT_TRUE(isFailure("monitor", 10000, ExecStatus::Done, rc::kNotRunning));
  EXPECT_TRUE(isFailure("start", 0, ExecStatus::Done, rc::kNotRunning));
  EXPECT_TRUE(isFailure("status", 0, ExecStatus::Done, rc::kNotRunning));
  EXPECT_TRUE(isFailure("stop", 0, ExecStatus::Done, rc::kNotRunning));
}

TEST(IsFailure, DoneWithAnyOtherRcIsAFailure) {
  for (int code : {1, 2, 3, 4, 5, 6, 9, 190, 191, 42}) {
    EXPECT_TRUE(isFailure("monitor", 0, ExecStatus::Done, code)) << code;
    EXPECT_TRUE(isFailure("start", 0, ExecStatus::Done, code)) << code;
  }
}

TEST(IsFailure, CancelledIsNeverAFailure) {
  for (int code : {0, 1, 7, 8, 190}) {
    EXPECT_FALSE(isFailure("monitor", 10000, ExecStatus::Cancelled, code)) << code;
    EXPECT_FALSE(isFailure("start", 0, ExecStatus::Cancelled, code)) << code;
  }
}

TEST(IsFailure, OtherStatusesAlwaysAreFailures) {
  for (ExecStatus status : {ExecStatus::Timeout, ExecStatus::Error, ExecStatus::NotInstalled, ExecStatus::ErrorHard,
                            ExecStatus::ErrorFatal, ExecStatus::NotSupported}) {
    for (int code : {0, 1, 5, 7, 8}) {
      EXPECT_TRUE(isFailure("monitor", 0, status, code)) << toString(status) << " rc " << code;
      EXPECT_TRUE(isFailure("start", 0, status, code)) << toString(status) << " rc " << code;
    }
  }
}


TEST(ParseLogLevel, EveryNameAndNothingElse) {
  EXPECT_EQ(parseLogLevel("error"), LogLevel::Error);
  EXPECT_EQ(parseLogLevel("warning"), LogLevel::Warning);
  EXPECT_EQ(parseLogLevel("notice"), LogLevel::Notice);
  EXPECT_EQ(parseLogLevel("info"), LogLevel::Info);
  EXPECT_EQ(parseLogLevel("debug"), LogLevel::Debug);
  EXPECT_EQ(parseLogLevel("trace"), LogLevel::Trace);
  EXPECT_FALSE(parseLogLevel("Info"));
  EXPECT_FALSE(parseLogLevel(""));
  EXPECT_FALSE(parseLogLevel("warn"));
}

}  // namespace
}  // namespace lrm::sdk
