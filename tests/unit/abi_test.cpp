// Unit tests for the SDK's ABI gate (sdk/include/lrm/sdk/abi.hpp), the one
// check lrmd's plugin loader, the native class and lrm-agent-host apply to a
// descriptor, for the descriptor LRM_AGENT exports, and for what the
// appended ResourceClass methods answer when a class does not override them.
#include "lrm/sdk/abi.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lrm/sdk/agent.hpp"
#include "lrm/sdk/plugin.hpp"

namespace {

class SilentAgent final : public lrm::sdk::Agent {
 public:
  std::string metadata() const override { return "<resource-agent/>"; }
  lrm::sdk::Result run(const lrm::sdk::Operation&, lrm::sdk::ActionContext&) override { return {}; }
};

}  // namespace

// What a third party writes: defines the exported lrm_agent_info.
LRM_AGENT(SilentAgent, "test", "Silent", "1.0");

namespace lrm::sdk {
namespace {

using ::testing::IsEmpty;

// A plugin descriptor as LRM_PLUGIN makes it, to be spoilt field by field.
lrm_plugin_descriptor currentPlugin() {
  return {LRM_SDK_ABI_MAJOR, LRM_SDK_ABI_MINOR, sizeof(lrm_plugin_descriptor), "fake", "1.0",
          []() noexcept -> ResourceClass* { return nullptr; }, [](ResourceClass*) noexcept {}};
}

std::string problemOf(const lrm_plugin_descriptor& descriptor) {
  return descriptorProblem(descriptor, LRM_PLUGIN_DESCRIPTOR_MIN_SIZE);
}

std::string abi(std::uint32_t major, std::uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

const std::string kOurs = abi(LRM_SDK_ABI_MAJOR, LRM_SDK_ABI_MINOR);

TEST(DescriptorProblem, TheCurrentAbiPasses) { EXPECT_THAT(problemOf(currentPlugin()), IsEmpty()); }

TEST(DescriptorProblem, AnotherMajorIsRefusedEitherWay) {
  for (const std::uint32_t major : {LRM_SDK_ABI_MAJOR + 1, LRM_SDK_ABI_MAJOR - 1}) {
    auto descriptor = currentPlugin();
    descriptor.abi_major = major;
    descriptor.abi_minor = 0;
    EXPECT_EQ(problemOf(descriptor), "built for SDK ABI " + abi(major, 0) + ", this lrmd provides ABI " + kOurs);
  }
}

TEST(DescriptorProblem, ANewerMinorIsRefusedAnOlderOnePasses) {
  auto descriptor = currentPlugin();
  descriptor.abi_minor = LRM_SDK_ABI_MINOR + 1;
  EXPECT_EQ(problemOf(descriptor), "built for SDK ABI " + abi(LRM_SDK_ABI_MAJOR, LRM_SDK_ABI_MINOR + 1) +
                                       ", this lrmd provides ABI " + kOurs);
  descriptor.abi_minor = 0;
  EXPECT_THAT(problemOf(descriptor), IsEmpty());
}

TEST(DescriptorProblem, ADescriptorShorterThanAbi10IsRefused) {
  auto descriptor = currentPlugin();
  descriptor.struct_size = LRM_PLUGIN_DESCRIPTOR_MIN_SIZE - 1;
  EXPECT_EQ(problemOf(descriptor), "descriptor of " + std::to_string(LRM_PLUGIN_DESCRIPTOR_MIN_SIZE - 1) +
                                       " bytes is smaller than the " +
                                       std::to_string(LRM_PLUGIN_DESCRIPTOR_MIN_SIZE) + " bytes of ABI " +
                                       std::to_string(LRM_SDK_ABI_MAJOR) + ".0");
  descriptor.struct_size = LRM_PLUGIN_DESCRIPTOR_MIN_SIZE;
  EXPECT_THAT(problemOf(descriptor), IsEmpty());
}

TEST(DescriptorProblem, CreateAndDestroyMustBeSet) {
  auto descriptor = currentPlugin();
  descriptor.create = nullptr;
  EXPECT_EQ(problemOf(descriptor), "descriptor lacks create()");
  descriptor = currentPlugin();
  descriptor.destroy = nullptr;
  EXPECT_EQ(problemOf(descriptor), "descriptor lacks destroy()");
}

// The version is checked first: a descriptor of another major may have any
// layout, so nothing else of it is read.
TEST(DescriptorProblem, TheVersionIsCheckedBeforeAnythingElse) {
  auto descriptor = currentPlugin();
  descriptor.abi_major = LRM_SDK_ABI_MAJOR + 1;
  descriptor.struct_size = 0;
  descriptor.create = nullptr;
  EXPECT_THAT(problemOf(descriptor), ::testing::StartsWith("built for SDK ABI "));
}

TEST(DescriptorProblem, WhatLrmAgentExportsPassesAndWorks) {
  EXPECT_THAT(descriptorProblem(lrm_agent_info, LRM_AGENT_DESCRIPTOR_MIN_SIZE), IsEmpty());
  EXPECT_EQ(lrm_agent_info.struct_size, sizeof(lrm_agent_descriptor));
  EXPECT_STREQ(lrm_agent_info.provider, "test");
  EXPECT_STREQ(lrm_agent_info.type, "Silent");
  Agent* agent = lrm_agent_info.create();
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(agent->metadata(), "<resource-agent/>");
  lrm_agent_info.destroy(agent);
}

// A class that implements only the pure methods: what an older plugin's
// behaviour is at an upgrade.
class MinimalClass final : public ResourceClass {
 public:
  std::string name() const noexcept override { return "minimal"; }
  bool init(Host&, std::string&) noexcept override { return true; }
  bool requiresProvider() const noexcept override { return false; }
  std::vector<std::string> providers(const std::string&) noexcept override { return {}; }
  std::vector<std::string> types(const std::string&) noexcept override { return {}; }
  void metadata(const AgentSpec&, MetadataCallback) noexcept override {}
  void execute(const Operation&, CompletionCallback) noexcept override {}
  bool cancel(CallId) noexcept override { return false; }
};

TEST(ResourceClassDefaults, NothingIsCachedResumedOrCarriedOverUnlessTheClassSaysSo) {
  MinimalClass minimal;
  Operation start;
  start.action = "start";
  EXPECT_EQ(minimal.fingerprint({"minimal", "", "x"}), "");
  EXPECT_FALSE(minimal.resume(start, [](const Result&) {}));
  EXPECT_FALSE(minimal.carriesOver(start)) << "ABI 1.3: waited for at an upgrade unless the class says otherwise";
  minimal.released("r1", {"minimal", "", "x"});  // ABI 1.4: nothing to forget, and callable
}

}  // namespace
}  // namespace lrm::sdk
