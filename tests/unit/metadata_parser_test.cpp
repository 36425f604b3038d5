// Unit tests for kernel/src/metadata_parser.cpp (OCF meta-data → AgentMetadata).
#include <gtest/gtest.h>

#include "metadata_parser.hpp"

namespace lrm::kernel {
namespace {

constexpr const char* kSample = R"(<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Sample" version="0.9">
<version>1.1</version>
<longdesc lang="de">Beispiel</longdesc>
<longdesc lang="en">  A sample agent.  </longdesc>
<shortdesc lang="en">Sample</shortdesc>
<parameters>
<parameter name="ip" unique-group="address" required="1" reloadable="1">
<longdesc lang="en">The address.</longdesc><shortdesc lang="en">IP</shortdesc>
<content type="string"/>
</parameter>
<parameter name="mode">
<shortdesc lang="en">Mode</shortdesc>
<content type="select" default="fast"><option value="fast"/><option value="safe"/></content>
</parameter>
<parameter name="old" deprecated="true"><content type="boolean" default="false"/></parameter>
<parameter name="older"><deprecated><replaced-with name="mode"/></deprecated><content type="integer"/></parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" timeout="10s" interval="10s" depth="0" role="Promoted"/>
</actions>
</resource-agent>
)";

TEST(MetadataParser, ReadsEverythingACrmAsksFor) {
  std::string error;
  const auto metadata = parseMetadata(kSample, error);
  ASSERT_TRUE(metadata) << error;
  EXPECT_EQ(metadata->name, "Sample");
  EXPECT_EQ(metadata->version, "1.1") << "<version> wins over the attribute";
  EXPECT_EQ(metadata->longdesc, "A sample agent.") << "English, trimmed";
  EXPECT_EQ(metadata->shortdesc, "Sample");
  ASSERT_EQ(metadata->parameters.size(), 4u);
  const auto& ip = metadata->parameters[0];
  EXPECT_EQ(ip.name, "ip");
  EXPECT_TRUE(ip.required);
  EXPECT_TRUE(ip.unique) << "unique-group makes it unique";
  EXPECT_TRUE(ip.reloadable);
  EXPECT_EQ(ip.type, "string");
  EXPECT_EQ(ip.longdesc, "The address.");
  const auto& mode = metadata->parameters[1];
  EXPECT_EQ(mode.type, "select");
  EXPECT_EQ(mode.default_value, "fast");
  EXPECT_EQ(mode.values, (std::vector<std::string>{"fast", "safe"}));
  EXPECT_TRUE(metadata->parameters[2].deprecated) << "deprecated attribute (OCF 1.0 style)";
  EXPECT_TRUE(metadata->parameters[3].deprecated) << "<deprecated> element (OCF 1.1)";
  ASSERT_EQ(metadata->actions.size(), 2u);
  EXPECT_EQ(metadata->actions[1].name, "monitor");
  EXPECT_EQ(metadata->actions[1].interval, "10s");
  EXPECT_EQ(metadata->actions[1].depth, "0");
  EXPECT_EQ(metadata->actions[1].role, "Promoted");
}

TEST(MetadataParser, RejectsWhatIsNotAgentMetadata) {
  std::string error;
  EXPECT_FALSE(parseMetadata("<resource-agent name='x'><unclosed></resource-agent>", error));
  EXPECT_NE(error.find("malformed"), std::string::npos) << error;
  EXPECT_FALSE(parseMetadata("<something-else/>", error));
  EXPECT_NE(error.find("<resource-agent>"), std::string::npos) << error;
  EXPECT_FALSE(parseMetadata("", error));
}

TEST(MetadataParser, AcceptsAMinimalAgent) {
  std::string error;
  const auto metadata = parseMetadata("<resource-agent name=\"m\"/>", error);
  ASSERT_TRUE(metadata) << error;
  EXPECT_TRUE(metadata->parameters.empty());
  EXPECT_TRUE(metadata->actions.empty());
}

}  // namespace
}  // namespace lrm::kernel

namespace lrm::kernel {
namespace {

TEST(MetadataCheck, TheSampleOnlyLacksTwoShortdescs) {
  EXPECT_EQ(checkMetadata(kSample), (std::vector<std::string>{"parameter 'old' has no <shortdesc>",
                                                              "parameter 'older' has no <shortdesc>"}));
}

TEST(MetadataCheck, MissingElementsAreWarnings) {
  const auto warnings = checkMetadata("<resource-agent/>");
  EXPECT_EQ(warnings, (std::vector<std::string>{"<resource-agent> has no name", "<version> (the OCF API version) is missing",
                                                "no <shortdesc> for the agent", "no <longdesc> for the agent",
                                                "<parameters> is missing", "<actions> is missing"}));
}

TEST(ParameterCheck, TypesSelectsAndRequiredOnes) {
  std::string error;
  const auto metadata = parseMetadata(kSample, error);
  ASSERT_TRUE(metadata);
  EXPECT_TRUE(checkParameters(*metadata, {{"ip", "10.0.0.1"}, {"mode", "safe"}, {"old", "true"}}).empty());
  const auto problems = checkParameters(*metadata, {{"mode", "turbo"}, {"older", "x"}, {"nope", "1"}});
  EXPECT_EQ(problems, (std::vector<std::string>{"parameter 'mode': 'turbo' is not one of the allowed values",
                                                "parameter 'nope' is not one of the agent's",
                                                "parameter 'older': 'x' is not an integer",
                                                "required parameter 'ip' is missing"}));
}

}  // namespace
}  // namespace lrm::kernel
