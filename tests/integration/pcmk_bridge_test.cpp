// ExecutorBridge against the real lrmd: executor requests written as the
// cluster's controller sends them (the XML of Pacemaker 2.1.5's samples,
// parsed with parseMessage) and the replies and notifies pacemaker-execd
// gives, field by field. Notifies are collected by waiting on the client's
// descriptor and pumping, as lrm-remoted's poll loop does.
#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <vector>

#include "daemon.hpp"
#include "executor_bridge.hpp"
#include "remote_message.hpp"

namespace lrm::pacemaker {
namespace {

using test::kPatience;
using test::Millis;
using Clock = std::chrono::steady_clock;
using Attributes = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kAsyncId = "88e529fa-b450-4ef6-832e-52f710945302";
constexpr const char* kUserdata = "1:20:7:5b26f5d8-98ad-4a5f-b3c6-e6ac73dd219b";

std::int64_t epochNow() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string attributeText(const Attributes& attributes) {
  std::string text;
  for (const auto& [name, value] : attributes) text += " " + name + "=\"" + value + "\"";
  return text;
}

// An `<lrmd_command>` as the controller sends it, @p rsc being the inside of `<lrmd_calldata>`.
std::string commandXml(const std::string& op, int callopt, const std::string& rsc, std::uint64_t timeout_ms = 0) {
  return std::string("<lrmd_command __name__=\"lrmd_command\" t=\"lrmd\" lrmd_async_id=\"") + kAsyncId +
         "\" lrmd_op=\"" + op + "\" lrmd_timeout=\"" + std::to_string(timeout_ms) + "\" lrmd_callopt=\"" +
         std::to_string(callopt) + "\" lrmd_remote_msg_id=\"7\" lrmd_remote_msg_type=\"request\"><lrmd_calldata>" +
         rsc + "</lrmd_calldata></lrmd_command>";
}

struct ExecSpec {
  std::string id;
  std::string action;
  std::uint64_t interval_ms = 0;
  std::uint64_t timeout_ms = 20000;
  std::uint64_t start_delay_ms = 0;
  int callopt = 0;
  Attributes params;  // instance parameters; CRM_meta_* are added as the controller does
};

// The CRM_meta_* values and feature set the controller adds to every exec.
Attributes withMeta(const ExecSpec& spec) {
  Attributes attributes = spec.params;
  if (spec.interval_ms > 0) {
    attributes.emplace_back("CRM_meta_name", spec.action);
    attributes.emplace_back("CRM_meta_interval", std::to_string(spec.interval_ms));
  }
  attributes.emplace_back("CRM_meta_on_node", "rnode1");
  attributes.emplace_back("CRM_meta_on_node_uuid", "rnode1");
  attributes.emplace_back("CRM_meta_timeout", std::to_string(spec.timeout_ms));
  attributes.emplace_back("crm_feature_set", "3.16.1");
  return attributes;
}

std::string execXml(const ExecSpec& spec) {
  return commandXml("lrmd_rsc_exec", spec.callopt,
                    "<lrmd_rsc lrmd_origin=\"lrmd_api_exec\" lrmd_rsc_id=\"" + spec.id + "\" lrmd_rsc_action=\"" +
                        spec.action + "\" lrmd_rsc_userdata_str=\"" + kUserdata + "\" lrmd_rsc_interval=\"" +
                        std::to_string(spec.interval_ms) + "\" lrmd_timeout=\"" + std::to_string(spec.timeout_ms) +
                        "\" lrmd_rsc_start_delay=\"" + std::to_string(spec.start_delay_ms) + "\"><attributes" +
                        attributeText(withMeta(spec)) + "/></lrmd_rsc>",
                    spec.timeout_ms);
}

std::string registerXml(const std::string& id, const std::string& cls, const std::string& provider,
                        const std::string& type, int callopt = 3) {
  return commandXml("lrmd_rsc_register", callopt,
                    "<lrmd_rsc lrmd_origin=\"lrmd_api_register_rsc\" lrmd_rsc_id=\"" + id + "\" lrmd_class=\"" + cls +
                        "\"" + (provider.empty() ? "" : " lrmd_provider=\"" + provider + "\"") + " lrmd_type=\"" +
                        type + "\"/>");
}

std::string rscXml(const std::string& op, const std::string& origin, const std::string& id) {
  return commandXml(op, 0, "<lrmd_rsc lrmd_origin=\"" + origin + "\" lrmd_rsc_id=\"" + id + "\"/>");
}

std::string cancelXml(const std::string& id, const std::string& action, std::uint64_t interval_ms) {
  return commandXml("lrmd_rsc_cancel", 0,
                    "<lrmd_rsc lrmd_origin=\"lrmd_api_cancel\" lrmd_rsc_action=\"" + action + "\" lrmd_rsc_id=\"" + id +
                        "\" lrmd_rsc_interval=\"" + std::to_string(interval_ms) + "\"/>");
}

// Every attribute of @p message except the two of the envelope and those named in @p skip.
Attributes attributesOf(const wire::Message& message, const std::vector<std::string>& skip = {}) {
  Attributes result;
  for (const auto& attribute : message.attrs) {
    if (attribute.first == "lrmd_remote_msg_id" || attribute.first == "lrmd_remote_msg_type") continue;
    if (std::find(skip.begin(), skip.end(), attribute.first) != skip.end()) continue;
    result.push_back(attribute);
  }
  std::sort(result.begin(), result.end());
  return result;
}

Attributes sorted(Attributes attributes) {
  std::sort(attributes.begin(), attributes.end());
  return attributes;
}

std::int64_t integer(const wire::Message& message, std::string_view name) {
  return std::stoll(message.get(name, "-999999"));
}

class PcmkBridge : public ::testing::Test {
 protected:
  void SetUp() override {
    lrmd_ = daemon_.connect("lrm-remoted");
    bridge_ = std::make_unique<ExecutorBridge>(*lrmd_, [this](const wire::Message& notify) {
      std::string error;
      EXPECT_TRUE(readEnvelope(notify, error)) << error;
      notifies_.push_back(notify);
    });
  }

  wire::Message send(const std::string& xml) {
    std::string error;
    const std::optional<wire::Message> command = parseMessage(xml, error);
    EXPECT_TRUE(command) << error << ": " << xml;
    wire::Message reply = bridge_->handle(*command, ++request_id_);
    EXPECT_EQ(reply.kind, "lrmd_reply");
    EXPECT_EQ(reply.get("lrmd_remote_msg_id"), std::to_string(request_id_));
    EXPECT_EQ(reply.get("lrmd_remote_msg_type"), "reply");
    return reply;
  }

  int rcOf(const std::string& xml) { return static_cast<int>(integer(send(xml), "lrmd_rc")); }

  void registerResource(const std::string& id, const std::string& cls, const std::string& provider,
                        const std::string& type, int callopt = 3) {
    ASSERT_EQ(rcOf(registerXml(id, cls, provider, type, callopt)), 0);
    notifies_.clear();
  }

  std::int64_t exec(const ExecSpec& spec) {
    const wire::Message reply = send(execXml(spec));
    EXPECT_GT(integer(reply, "lrmd_rc"), 0) << wire::encode(reply);
    EXPECT_EQ(reply.get("lrmd_callid"), reply.get("lrmd_rc"));
    return integer(reply, "lrmd_rc");
  }

  // Wait on lrmd's descriptor and pump until a notify satisfies @p match; take it.
  std::optional<wire::Message> awaitNotify(const std::function<bool(const wire::Message&)>& match,
                                           Millis patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    while (true) {
      bridge_->pump();  // as lrm-remoted after every handle(): results the bridge made itself
      for (auto it = notifies_.begin(); it != notifies_.end(); ++it) {
        if (match(*it)) {
          wire::Message found = *it;
          notifies_.erase(it);
          return found;
        }
      }
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd watched{lrmd_->descriptor(), POLLIN, 0};
      ::poll(&watched, 1, static_cast<int>(left));
    }
  }

  // Wait on lrmd's descriptor (a short while, as the condition may hold
  // without a message from lrmd) and pump until @p done holds.
  bool pumpUntil(const std::function<bool()>& done) {
    const auto deadline = Clock::now() + kPatience;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      pollfd watched{lrmd_->descriptor(), POLLIN, 0};
      ::poll(&watched, 1, 20);
      bridge_->pump();
    }
    return true;
  }

  wire::Message awaitResult(std::int64_t call_id) {
    auto notify = awaitNotify([&](const wire::Message& n) {
      return n.get("lrmd_op") == "lrmd_rsc_exec" && integer(n, "lrmd_callid") == call_id;
    });
    EXPECT_TRUE(notify) << "no result of call " << call_id;
    return notify.value_or(wire::Message());
  }

  test::TestDaemon daemon_;
  test::TempDir scratch_;
  std::unique_ptr<client::Client> lrmd_;
  std::unique_ptr<ExecutorBridge> bridge_;
  std::vector<wire::Message> notifies_;
  std::uint64_t request_id_ = 0;
};

TEST_F(PcmkBridge, RegisterRepliesAndNotifiesThenInfoDescribesIt) {
  // The sample's register, drop_recurring as 2.1 encodes it.
  const wire::Message reply = send(registerXml("d1", "ocf", "pacemaker", "Dummy", 3));
  EXPECT_EQ(attributesOf(reply),
            sorted({{"lrmd_origin", "process_lrmd_message"}, {"lrmd_rc", "0"}, {"lrmd_callid", "1"}}));
  ASSERT_EQ(notifies_.size(), 1u);
  EXPECT_EQ(notifies_[0].kind, "lrmd_notify");
  EXPECT_EQ(notifies_[0].get("lrmd_remote_msg_id"), "0");
  EXPECT_EQ(notifies_[0].get("lrmd_remote_msg_type"), "notify");
  EXPECT_EQ(attributesOf(notifies_[0]), sorted({{"lrmd_origin", "send_generic_notify"},
                                                {"lrmd_rc", "0"},
                                                {"lrmd_callid", "1"},
                                                {"lrmd_op", "lrmd_rsc_register"},
                                                {"lrmd_rsc_id", "d1"}}));
  EXPECT_EQ(lrmd_->info("d1").agent.toString(), "ocf:pacemaker:Dummy");
  EXPECT_EQ(lrmd_->info("d1").name, "d1");

  const wire::Message info = send(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "d1"));
  EXPECT_EQ(attributesOf(info), sorted({{"lrmd_origin", "process_lrmd_get_rsc_info"},
                                        {"lrmd_rc", "0"},
                                        {"lrmd_callid", std::to_string(request_id_)},
                                        {"lrmd_rsc_id", "d1"},
                                        {"lrmd_class", "ocf"},
                                        {"lrmd_provider", "pacemaker"},
                                        {"lrmd_type", "Dummy"}}));

  // 3.0's drop_recurring bit alone, and a class without providers.
  registerResource("l1", "lsb", "", "lrm-test-service", 1);
  const wire::Message lsb = send(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "l1"));
  EXPECT_EQ(lsb.get("lrmd_class"), "lsb");
  EXPECT_FALSE(lsb.has("lrmd_provider"));
  EXPECT_EQ(lsb.get("lrmd_type"), "lrm-test-service");

  const wire::Message unknown = send(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "nope"));
  EXPECT_EQ(attributesOf(unknown), sorted({{"lrmd_origin", "process_lrmd_get_rsc_info"},
                                           {"lrmd_rc", "-19"},
                                           {"lrmd_callid", std::to_string(request_id_)}}));
}

TEST_F(PcmkBridge, RegistrationLrmRefusesIsEinvalWithoutNotify) {
  EXPECT_EQ(rcOf(registerXml("o1", "ocf", "", "Dummy")), -22) << "ocf needs a provider";
  EXPECT_EQ(rcOf(registerXml("bad id", "ocf", "heartbeat", "Dummy")), -22);
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_register", 3, "<lrmd_rsc lrmd_rsc_id=\"x\" lrmd_class=\"ocf\"/>")), -22);
  EXPECT_TRUE(notifies_.empty());
}

TEST_F(PcmkBridge, ProbeStartMonitorOfDummyNotifyEveryFieldAsExecd) {
  if (!std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat/Dummy")) {
    GTEST_SKIP() << "resource-agents is not installed";
  }
  registerResource("d1", "ocf", "heartbeat", "Dummy");
  const Attributes params = {{"state", scratch_.file("d1.state")}};
  const std::int64_t before = epochNow();

  const std::int64_t probe_call = exec({"d1", "monitor", 0, 20000, 0, 0, params});
  const wire::Message probe = awaitResult(probe_call);
  EXPECT_EQ(probe.kind, "lrmd_notify");
  EXPECT_EQ(probe.get("lrmd_remote_msg_id"), "0");
  EXPECT_EQ(probe.get("lrmd_remote_msg_type"), "notify");
  const std::vector<std::string> timing = {"lrmd_run_time", "lrmd_rcchange_time", "lrmd_exec_time", "lrmd_queue_time"};
  EXPECT_EQ(attributesOf(probe, timing), sorted({{"lrmd_origin", "send_cmd_complete_notify"},
                                                 {"lrmd_timeout", "20000"},
                                                 {"lrmd_rsc_interval", "0"},
                                                 {"lrmd_rsc_start_delay", "0"},
                                                 {"lrmd_exec_rc", "7"},
                                                 {"lrmd_exec_op_status", "0"},
                                                 {"lrmd_callid", std::to_string(probe_call)},
                                                 {"lrmd_rsc_deleted", "0"},
                                                 {"lrmd_op", "lrmd_rsc_exec"},
                                                 {"lrmd_rsc_id", "d1"},
                                                 {"lrmd_rsc_action", "monitor"},
                                                 {"lrmd_rsc_userdata_str", kUserdata}}));
  EXPECT_GE(integer(probe, "lrmd_run_time"), before);
  EXPECT_LE(integer(probe, "lrmd_run_time"), epochNow());
  // rc 7 differs from the 0 execd starts from: the change is dated.
  EXPECT_GE(integer(probe, "lrmd_rcchange_time"), before);
  EXPECT_GE(integer(probe, "lrmd_exec_time"), 0);
  EXPECT_LT(integer(probe, "lrmd_exec_time"), 20000);
  EXPECT_GE(integer(probe, "lrmd_queue_time"), 0);
  // The `<attributes>` come back as sent.
  ASSERT_EQ(probe.children.size(), 1u);
  EXPECT_EQ(probe.children[0].kind, "attributes");
  EXPECT_EQ(sorted(probe.children[0].attrs), sorted(withMeta({"d1", "monitor", 0, 20000, 0, 0, params})));

  const wire::Message start = awaitResult(exec({"d1", "start", 0, 20000, 0, 0, params}));
  EXPECT_EQ(start.get("lrmd_exec_rc"), "0");
  EXPECT_EQ(start.get("lrmd_exec_op_status"), "0");
  EXPECT_EQ(start.get("lrmd_rcchange_time"), "0") << "rc 0 never changed";
  EXPECT_FALSE(start.has("lrmd_rsc_exit_reason"));
  EXPECT_TRUE(std::filesystem::exists(scratch_.file("d1.state")));
  EXPECT_EQ(awaitResult(exec({"d1", "monitor", 0, 20000, 0, 0, params})).get("lrmd_exec_rc"), "0");
}

TEST_F(PcmkBridge, FailingMonitorCarriesRcExitReasonAndOutput) {
  registerResource("f1", "ocf", "lrmtest", "Fail");
  const wire::Message failed = awaitResult(exec({"f1", "monitor", 0, 20000, 0, 0, {{"rc", "1"}}}));
  EXPECT_EQ(failed.get("lrmd_exec_rc"), "1");
  EXPECT_EQ(failed.get("lrmd_exec_op_status"), "0");
  EXPECT_EQ(failed.get("lrmd_rsc_exit_reason"), "disk /dev/null is not a filesystem");
  EXPECT_NE(failed.get("lrmd_rsc_output").find("some diagnostic"), std::string::npos) << "stderr wins";
  EXPECT_GT(integer(failed, "lrmd_rcchange_time"), 0);
}

// lrm never found the agent, as execd's services library would not have:
// nothing ran, so no rc change is dated.
TEST_F(PcmkBridge, AMissingAgentIsNotInstalledWithNoRcChangeDated) {
  registerResource("m1", "ocf", "lrmtest", "NoSuchAgent");
  const wire::Message missing = awaitResult(exec({"m1", "monitor", 0, 20000, 0, 0, {}}));
  EXPECT_EQ(missing.get("lrmd_exec_op_status"), "7");
  EXPECT_EQ(missing.get("lrmd_exec_rc"), "5");
  EXPECT_EQ(missing.get("lrmd_rcchange_time"), "0");
}

TEST_F(PcmkBridge, TimeoutIsOpStatus2WithRc1) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  const wire::Message timed_out =
      awaitResult(exec({"s1", "start", 0, 300, 0, 0, {{"state", scratch_.file("s1")}, {"sleep", "10"}}}));
  EXPECT_EQ(timed_out.get("lrmd_exec_op_status"), "2");
  EXPECT_EQ(timed_out.get("lrmd_exec_rc"), "1");
  EXPECT_EQ(timed_out.get("lrmd_timeout"), "300");
  EXPECT_EQ(timed_out.get("lrmd_rsc_exit_reason"), "Resource agent did not complete within 300ms") << "execd's words";
}

TEST_F(PcmkBridge, ExecOfUnknownOrIncompleteRequestsIsRefused) {
  EXPECT_EQ(rcOf(execXml({"nope", "start", 0, 20000, 0, 0, {}})), -19);
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_exec", 0, "<lrmd_rsc lrmd_rsc_id=\"s1\"/>")), -22) << "no action";
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_exec", 0,
                            "<lrmd_rsc lrmd_rsc_id=\"s1\" lrmd_rsc_action=\"start\" lrmd_rsc_interval=\"x\"/>")),
            -22);
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_exec", 0, "")), -22) << "no lrmd_rsc";
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_metadata", 0, "")), -95);
}

TEST_F(PcmkBridge, RecurringMonitorWithChangesOnlyNotifiesFirstAndChanges) {
  registerResource("c1", "ocf", "lrmtest", "Counter");
  const std::string count = scratch_.file("count");
  const std::string rcfile = scratch_.file("rc");
  const ExecSpec monitor{"c1", "monitor", 200, 20000, 0, 4, {{"count", count}, {"rcfile", rcfile}}};
  const std::int64_t call = exec(monitor);
  const wire::Message first = awaitResult(call);
  EXPECT_EQ(first.get("lrmd_exec_rc"), "0");
  EXPECT_EQ(first.get("lrmd_rsc_interval"), "200");
  EXPECT_GT(integer(first, "lrmd_run_time"), 0) << "execd dates the first run";
  EXPECT_EQ(first.get("lrmd_rcchange_time"), "0");
  ASSERT_EQ(first.children.size(), 1u);
  EXPECT_EQ(sorted(first.children[0].attrs), sorted(withMeta(monitor)));

  // Unchanged runs are not notified.
  auto runs = [&] { return std::atoi(test::readFile(count).c_str()); };
  const int seen = runs();
  EXPECT_TRUE(pumpUntil([&] { return runs() >= seen + 3; }));
  EXPECT_TRUE(notifies_.empty()) << wire::encode(notifies_.front());

  // A change is, with execd's zeroed times of a later run and the time of the change.
  std::ofstream(rcfile) << "7\n";
  const std::int64_t before_change = epochNow();
  const wire::Message changed = awaitResult(call);
  EXPECT_EQ(changed.get("lrmd_exec_rc"), "7");
  EXPECT_EQ(changed.get("lrmd_exec_op_status"), "0");
  EXPECT_EQ(changed.get("lrmd_run_time"), "0");
  EXPECT_EQ(changed.get("lrmd_exec_time"), "0");
  EXPECT_EQ(changed.get("lrmd_queue_time"), "0");
  EXPECT_GE(integer(changed, "lrmd_rcchange_time"), before_change);
  EXPECT_EQ(changed.get("lrmd_rsc_userdata_str"), kUserdata);

  // get_recurring lists it, nested as execd's reply.
  const wire::Message recurring = send(rscXml("lrmd_get_recurring", "lrmd_api_get_recurring_ops", "c1"));
  EXPECT_EQ(recurring.get("lrmd_rc"), "0");
  EXPECT_EQ(recurring.get("lrmd_origin"), "process_lrmd_get_recurring");
  ASSERT_EQ(recurring.children.size(), 1u);
  EXPECT_EQ(recurring.children[0].kind, "lrmd_rsc");
  EXPECT_EQ(recurring.children[0].get("lrmd_rsc_id"), "c1");
  ASSERT_EQ(recurring.children[0].children.size(), 1u);
  EXPECT_EQ(attributesOf(recurring.children[0].children[0]),
            sorted({{"lrmd_rsc_action", "monitor"}, {"lrmd_rsc_interval", "200"}, {"lrmd_timeout", "20000"}}));

  // Cancel: the cancelled result is notified before the reply is returned.
  notifies_.clear();
  const wire::Message cancelled_reply = send(cancelXml("c1", "monitor", 200));
  EXPECT_EQ(cancelled_reply.get("lrmd_rc"), "0");
  ASSERT_FALSE(notifies_.empty()) << "no cancelled notify before the reply";
  const wire::Message& cancelled = notifies_.back();
  EXPECT_EQ(integer(cancelled, "lrmd_callid"), call);
  EXPECT_EQ(cancelled.get("lrmd_exec_op_status"), "1");
  EXPECT_EQ(cancelled.get("lrmd_rsc_action"), "monitor");
  EXPECT_EQ(cancelled.get("lrmd_rsc_userdata_str"), kUserdata);

  EXPECT_EQ(rcOf(cancelXml("c1", "monitor", 200)), -95) << "nothing left to cancel";
  EXPECT_EQ(rcOf(cancelXml("nope", "monitor", 200)), -19);
  const wire::Message none = send(rscXml("lrmd_get_recurring", "lrmd_api_get_recurring_ops", "c1"));
  ASSERT_EQ(none.children.size(), 1u);
  EXPECT_TRUE(none.children[0].children.empty());
}

TEST_F(PcmkBridge, StartDelayCountsInQueueTimeAndADelayedOpCanBeCancelled) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  const Attributes params = {{"state", scratch_.file("s1")}, {"sleep", "0"}};
  const wire::Message delayed = awaitResult(exec({"s1", "start", 0, 20000, 300, 0, params}));
  EXPECT_EQ(delayed.get("lrmd_rsc_start_delay"), "300");
  EXPECT_GE(integer(delayed, "lrmd_queue_time"), 300) << "execd's queue time includes the start delay";

  const std::int64_t call = exec({"s1", "stop", 0, 20000, 600000, 0, params});
  notifies_.clear();
  EXPECT_EQ(rcOf(cancelXml("s1", "stop", 0)), 0);
  ASSERT_EQ(notifies_.size(), 1u) << "the cancelled notify precedes the reply";
  EXPECT_EQ(integer(notifies_[0], "lrmd_callid"), call);
  EXPECT_EQ(notifies_[0].get("lrmd_exec_op_status"), "1");
  EXPECT_EQ(notifies_[0].get("lrmd_run_time"), "0") << "it never ran";
  EXPECT_EQ(notifies_[0].get("lrmd_queue_time"), "0");
}

// The controller changes a monitor by cancelling it and executing it again:
// the old op's cancelled result, coming after the new exec, still carries
// what the old request did.
TEST_F(PcmkBridge, AMonitorCancelledWhileRunningAndExecutedAgainKeepsBothRecords) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  ExecSpec monitor{"s1", "monitor", 60000, 20000, 0, 4, {{"state", scratch_.file("s1")}, {"sleep", "1"}}};
  const std::int64_t old_call = exec(monitor);
  ASSERT_TRUE(test::waitUntil([&] { return lrmd_->info("s1").busy; }));
  EXPECT_EQ(rcOf(cancelXml("s1", "monitor", 60000)), 0);
  monitor.timeout_ms = 15000;
  const std::int64_t new_call = exec(monitor);
  EXPECT_NE(new_call, old_call);
  const wire::Message cancelled = awaitResult(old_call);
  EXPECT_EQ(cancelled.get("lrmd_exec_op_status"), "1");
  EXPECT_EQ(cancelled.get("lrmd_timeout"), "20000");
  EXPECT_EQ(cancelled.get("lrmd_rsc_userdata_str"), kUserdata);
  EXPECT_EQ(cancelled.children.size(), 1u);
  const wire::Message result = awaitResult(new_call);
  EXPECT_EQ(result.get("lrmd_timeout"), "15000");
  EXPECT_EQ(result.get("lrmd_exec_op_status"), "0");
}

TEST_F(PcmkBridge, CancelOfARunningOneShotIsEopnotsupp) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  const std::int64_t call = exec({"s1", "start", 0, 20000, 0, 0, {{"state", scratch_.file("s1")}, {"sleep", "1"}}});
  ASSERT_TRUE(test::waitUntil([&] { return lrmd_->info("s1").busy; }));
  EXPECT_EQ(rcOf(cancelXml("s1", "start", 0)), -95);
  EXPECT_EQ(awaitResult(call).get("lrmd_exec_rc"), "0") << "the start completes";
}

TEST_F(PcmkBridge, UnregisterWithAnOpInFlightIsEinprogressAndTheResultSaysDeleted) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  const std::int64_t call = exec({"s1", "start", 0, 20000, 0, 0, {{"state", scratch_.file("s1")}, {"sleep", "1"}}});
  ASSERT_TRUE(test::waitUntil([&] { return lrmd_->info("s1").busy; }));
  const wire::Message reply = send(rscXml("lrmd_rsc_unregister", "lrmd_api_unregister_rsc", "s1"));
  const std::string unregister_id = std::to_string(request_id_);
  EXPECT_EQ(reply.get("lrmd_callid"), unregister_id) << "a request other than exec carries its own id";
  EXPECT_EQ(reply.get("lrmd_rc"), "-115");
  auto unregistered = awaitNotify([](const wire::Message& n) { return n.get("lrmd_op") == "lrmd_rsc_unregister"; });
  ASSERT_TRUE(unregistered);
  EXPECT_EQ(attributesOf(*unregistered), sorted({{"lrmd_origin", "send_generic_notify"},
                                                 {"lrmd_rc", "-115"},
                                                 {"lrmd_callid", unregister_id},
                                                 {"lrmd_op", "lrmd_rsc_unregister"},
                                                 {"lrmd_rsc_id", "s1"}}));
  const wire::Message result = awaitResult(call);
  EXPECT_EQ(result.get("lrmd_rsc_deleted"), "1");
  EXPECT_EQ(result.get("lrmd_exec_rc"), "0");
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "s1")), -19);
}

TEST_F(PcmkBridge, UnregisterIdleOrUnknownIsZeroAndNotified) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_unregister", "lrmd_api_unregister_rsc", "s1")), 0);
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_unregister", "lrmd_api_unregister_rsc", "never")), 0) << "execd: success";
  ASSERT_EQ(notifies_.size(), 2u);
  EXPECT_EQ(notifies_[0].get("lrmd_rsc_id"), "s1");
  EXPECT_EQ(notifies_[0].get("lrmd_rc"), "0");
  EXPECT_EQ(notifies_[1].get("lrmd_rsc_id"), "never");
  notifies_.clear();
  EXPECT_EQ(rcOf(commandXml("lrmd_rsc_unregister", 0, "")), -19) << "no id";
  EXPECT_TRUE(notifies_.empty()) << "execd notifies no failed unregister";
}

TEST_F(PcmkBridge, GetRecurringOfEveryResource) {
  registerResource("c1", "ocf", "lrmtest", "Counter");
  registerResource("c2", "ocf", "lrmtest", "Counter");
  const std::int64_t call = exec({"c1", "monitor", 60000, 5000, 0, 4, {{"count", scratch_.file("n")}}});
  awaitResult(call);
  const wire::Message all = send(commandXml("lrmd_get_recurring", 0, ""));
  EXPECT_EQ(all.get("lrmd_rc"), "0");
  std::map<std::string, std::size_t> ops;
  for (const auto& rsc : all.children) ops[rsc.get("lrmd_rsc_id")] = rsc.children.size();
  EXPECT_EQ(ops, (std::map<std::string, std::size_t>{{"c1", 1}, {"c2", 0}}));
  EXPECT_EQ(all.children.front().children.front().get("lrmd_timeout"), "5000");
  const wire::Message unknown = send(rscXml("lrmd_get_recurring", "lrmd_api_get_recurring_ops", "nope"));
  EXPECT_EQ(unknown.get("lrmd_rc"), "-19");
  EXPECT_TRUE(unknown.children.empty());
}

TEST_F(PcmkBridge, AClassLrmDoesNotHaveRegistersAndItsOpsEndNotInstalledButStop) {
  // upstart: a class Pacemaker knows and lrm has not (systemd it now has).
  const wire::Message reply = send(registerXml("sd1", "upstart", "", "chronyd"));
  EXPECT_EQ(reply.get("lrmd_rc"), "0");
  ASSERT_EQ(notifies_.size(), 1u);
  EXPECT_EQ(notifies_[0].get("lrmd_op"), "lrmd_rsc_register");
  notifies_.clear();
  const wire::Message info = send(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "sd1"));
  EXPECT_EQ(info.get("lrmd_class"), "upstart");
  EXPECT_EQ(info.get("lrmd_type"), "chronyd");

  const std::int64_t start_call = exec({"sd1", "start", 0, 20000, 0, 0, {}});
  const wire::Message start = awaitResult(start_call);
  EXPECT_EQ(start.get("lrmd_exec_rc"), "5");
  EXPECT_EQ(start.get("lrmd_exec_op_status"), "7");
  EXPECT_EQ(start.get("lrmd_rsc_action"), "start");
  EXPECT_EQ(start.get("lrmd_rsc_userdata_str"), kUserdata);
  EXPECT_NE(start.get("lrmd_rsc_exit_reason").find("upstart"), std::string::npos);
  // Its call ids follow lrm's.
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  const std::int64_t lrm_call = exec({"s1", "start", 0, 20000, 0, 0, {{"state", scratch_.file("s1")}}});
  EXPECT_GT(exec({"sd1", "monitor", 0, 20000, 0, 0, {}}), lrm_call);

  // Nothing of that class runs here: a stop succeeds.
  const wire::Message stop = awaitResult(exec({"sd1", "stop", 0, 20000, 0, 0, {}}));
  EXPECT_EQ(stop.get("lrmd_exec_rc"), "0");
  EXPECT_EQ(stop.get("lrmd_exec_op_status"), "0");
  EXPECT_FALSE(stop.has("lrmd_rsc_exit_reason"));

  EXPECT_EQ(rcOf(cancelXml("sd1", "monitor", 10000)), -95);
  const wire::Message recurring = send(rscXml("lrmd_get_recurring", "lrmd_api_get_recurring_ops", "sd1"));
  ASSERT_EQ(recurring.children.size(), 1u);
  EXPECT_TRUE(recurring.children[0].children.empty());
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_unregister", "lrmd_api_unregister_rsc", "sd1")), 0);
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "sd1")), -19);
}

TEST_F(PcmkBridge, LastConnectionClosedCancelsRecurringOpsOfDropRecurringResourcesSilently) {
  registerResource("drop", "ocf", "lrmtest", "Counter", 3);
  registerResource("keep", "ocf", "lrmtest", "Counter", 0);
  awaitResult(exec({"drop", "monitor", 60000, 20000, 0, 4, {{"count", scratch_.file("a")}}}));
  awaitResult(exec({"keep", "monitor", 60000, 20000, 0, 4, {{"count", scratch_.file("b")}}}));
  bridge_->lastConnectionClosed();
  EXPECT_TRUE(notifies_.empty()) << "no one to notify";
  EXPECT_TRUE(lrmd_->info("drop").recurring.empty());
  EXPECT_EQ(lrmd_->info("keep").recurring.size(), 1u);
}

// lrm-remoted restarted: lrmd still has the resource and the cluster does
// not register it again, yet its recurring ops are dropped as execd's.
TEST_F(PcmkBridge, LastConnectionClosedDropsRecurringOpsOfResourcesAnEarlierBridgeRegistered) {
  registerResource("drop", "ocf", "lrmtest", "Counter", 3);
  bridge_.reset();
  lrmd_.reset();
  lrmd_ = daemon_.connect("lrm-remoted");
  bridge_ =
      std::make_unique<ExecutorBridge>(*lrmd_, [this](const wire::Message& notify) { notifies_.push_back(notify); });
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "drop")), 0);
  awaitResult(exec({"drop", "monitor", 60000, 20000, 0, 4, {{"count", scratch_.file("a")}}}));
  ASSERT_EQ(lrmd_->info("drop").recurring.size(), 1u);
  bridge_->lastConnectionClosed();
  EXPECT_TRUE(lrmd_->info("drop").recurring.empty());
}

TEST_F(PcmkBridge, ResultsOfOpsOthersSubmittedAreNotifiedForTheClustersResourcesOnly) {
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  auto other = daemon_.connect("lrmctl");
  other->registerInstance(test::registration("local", "ocf:lrmtest:Sleeper"));
  // lrmd sends the bridge the local result before the cluster resource's, submitted after it.
  const sdk::CallId local_call = other->exec(test::operation("local", "start", {{"state", scratch_.file("l")}}));
  other->waitForResult(local_call, kPatience);
  const sdk::CallId cluster_call = other->exec(test::operation("s1", "start", {{"state", scratch_.file("s")}}));
  const wire::Message result = awaitResult(static_cast<std::int64_t>(cluster_call));
  EXPECT_EQ(result.get("lrmd_exec_rc"), "0");
  EXPECT_EQ(result.get("lrmd_rsc_id"), "s1");
  EXPECT_EQ(result.get("lrmd_rsc_action"), "start");
  EXPECT_FALSE(result.has("lrmd_rsc_userdata_str")) << "the bridge knows nothing of this call";
  EXPECT_FALSE(result.has("lrmd_timeout"));
  EXPECT_TRUE(result.children.empty());
  for (const auto& notify : notifies_) EXPECT_NE(notify.get("lrmd_rsc_id"), "local");
}

TEST_F(PcmkBridge, ARepeatedRecurringExecTakesOverTheOpWithItsNewCallId) {
  registerResource("c1", "ocf", "lrmtest", "Counter");
  ExecSpec monitor{"c1", "monitor", 60000, 20000, 0, 4, {{"count", scratch_.file("n")}}};
  const std::int64_t first = exec(monitor);
  awaitResult(first);
  monitor.timeout_ms = 15000;
  const std::int64_t second = exec(monitor);
  EXPECT_GT(second, first);
  // lrmd runs the merged op again and notifies it under the new call id,
  // echoing what the new request carried.
  const wire::Message result = awaitResult(second);
  EXPECT_EQ(result.get("lrmd_timeout"), "15000");
  ASSERT_EQ(result.children.size(), 1u);
  EXPECT_EQ(sorted(result.children[0].attrs), sorted(withMeta(monitor)));
  notifies_.clear();
  EXPECT_EQ(rcOf(cancelXml("c1", "monitor", 60000)), 0);
  ASSERT_EQ(notifies_.size(), 1u);
  EXPECT_EQ(integer(notifies_[0], "lrmd_callid"), second);
  EXPECT_EQ(notifies_[0].get("lrmd_timeout"), "15000");
}

// Poco channel keeping what the bridge logs.
class Captured : public Poco::Channel {
 public:
  void log(const Poco::Message& message) override { lines.emplace_back(message.getPriority(), message.getText()); }
  std::vector<std::pair<int, std::string>> lines;
};

TEST_F(PcmkBridge, LogsEveryRequestAtDebugAndEveryRefusalAtWarningButAnUnknownResourcesInfo) {
  Poco::Logger& logger = Poco::Logger::get("lrm-remoted");
  Poco::AutoPtr<Captured> captured(new Captured);
  Poco::Channel::Ptr previous_channel = logger.getChannel();
  const int previous_level = logger.getLevel();
  logger.setChannel(captured);
  logger.setLevel(Poco::Message::PRIO_DEBUG);
  registerResource("s1", "ocf", "lrmtest", "Sleeper");
  EXPECT_EQ(rcOf(execXml({"nope", "start", 0, 20000, 0, 0, {}})), -19);
  EXPECT_EQ(rcOf(rscXml("lrmd_rsc_info", "lrmd_api_get_rsc_info", "two&#10;lines&#1;")), -19);
  logger.setChannel(previous_channel);
  logger.setLevel(previous_level);
  ASSERT_EQ(captured->lines.size(), 3u);
  EXPECT_EQ(captured->lines[0].first, Poco::Message::PRIO_DEBUG);
  EXPECT_EQ(captured->lines[0].second, "lrmd_rsc_register [s1]: lrmd_rc 0");
  EXPECT_EQ(captured->lines[1].first, Poco::Message::PRIO_WARNING);
  EXPECT_EQ(captured->lines[1].second.rfind("unable to execute start of [nope]: lrmd refused it (unknown-instance)", 0),
            0u)
      << captured->lines[1].second;
  EXPECT_NE(captured->lines[1].second.find("(answered -19)"), std::string::npos);
  // The controller's info about a resource it has not registered yet is its
  // normal first step: debug, not a warning. A peer's text stays on one
  // printable line.
  EXPECT_EQ(captured->lines[2].first, Poco::Message::PRIO_DEBUG);
  EXPECT_EQ(captured->lines[2].second.rfind("unable to describe [two lines\xEF\xBF\xBD]", 0), 0u)
      << captured->lines[2].second;
}

}  // namespace
}  // namespace lrm::pacemaker
