// The native class and lrm-agent-host read and write the operation and the
// result through one table (plugins/native/agent_host_protocol.hpp): what one
// side writes, the other reads back field by field.
#include "agent_host_protocol.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace lrm::plugins::native {
namespace {

// The environment as the helper sees it: a NULL-terminated array, with
// variables of the base environment around ours.
sdk::Operation throughEnvironment(const sdk::Operation& op) {
  std::vector<std::string> entries = {"PATH=/usr/bin", "LRM_UNRELATED=1"};
  for (auto& entry : operationEnvironment(op)) entries.push_back(std::move(entry));
  entries.push_back("HOME=/root");
  std::vector<char*> environ;
  for (auto& entry : entries) environ.push_back(entry.data());
  environ.push_back(nullptr);
  return operationFromEnvironment(environ.data(), op.action);
}

TEST(AgentHostProtocol, EveryFieldOfTheOperationCrossesTheEnvironment) {
  sdk::Operation op;
  op.call_id = 123456789012ULL;
  op.instance_id = "web-1";
  op.instance_name = "front web server";
  op.agent = {"native", "lrm", "Dummy"};
  op.action = "monitor";
  op.interval_ms = 4294967295ULL;
  op.timeout_ms = 20000;
  op.params = {{"state", "/run/x=y"}, {"empty", ""}, {"EQ", "a=b=c"}};
  const sdk::Operation read = throughEnvironment(op);
  EXPECT_EQ(read.call_id, op.call_id);
  EXPECT_EQ(read.instance_id, op.instance_id);
  EXPECT_EQ(read.instance_name, op.instance_name);
  EXPECT_EQ(read.agent, op.agent);
  EXPECT_EQ(read.action, op.action);
  EXPECT_EQ(read.interval_ms, op.interval_ms);
  EXPECT_EQ(read.timeout_ms, op.timeout_ms);
  EXPECT_EQ(read.params, op.params);
}

TEST(AgentHostProtocol, TheResultLineReadsBackAfterTheAgentsOwnOutput) {
  sdk::Result result;
  result.status = sdk::ExecStatus::Done;
  result.rc = sdk::rc::kNotRunning;
  result.exit_reason = "pid file gone\nsince boot";
  const auto parsed = parseResultLine("the agent printed lrm-result done 0 early\n" + resultLine(result) + "\n");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->status, sdk::ExecStatus::Done);
  EXPECT_EQ(parsed->rc, sdk::rc::kNotRunning);
  EXPECT_EQ(parsed->exit_reason, "pid file gone since boot");  // one line
}

TEST(AgentHostProtocol, AMissingOrMalformedResultLineIsNoResult) {
  EXPECT_FALSE(parseResultLine("nothing here\n"));
  EXPECT_FALSE(parseResultLine("\nlrm-result done\n"));
  EXPECT_FALSE(parseResultLine("\nlrm-result done seven\n"));
  const auto unknown = parseResultLine("\nlrm-result sideways 3 odd\n");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, sdk::ExecStatus::Error);
}

}  // namespace
}  // namespace lrm::plugins::native
