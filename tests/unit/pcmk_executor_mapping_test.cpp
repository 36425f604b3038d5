// The translations ExecutorBridge applies: lrm's statuses as PCMK_EXEC_*
// values, lrmd's error codes as the errno pacemaker-execd answers, agent
// specs, both Pacemaker encodings of drop_recurring, and which requests
// the bridge takes.
#include <gtest/gtest.h>

#include <cerrno>

#include "executor_bridge.hpp"
#include "executor_mapping.hpp"

namespace lrm::pacemaker {
namespace {

using sdk::ExecStatus;

TEST(PcmkExecutorMapping, StatusesArePacemakersExecStatusValues) {
  EXPECT_EQ(pcmkExecStatus(ExecStatus::Pending), -1);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::Done), 0);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::Cancelled), 1);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::Timeout), 2);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::NotSupported), 3);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::Error), 4);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::ErrorHard), 5);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::ErrorFatal), 6);
  EXPECT_EQ(pcmkExecStatus(ExecStatus::NotInstalled), 7);
}

TEST(PcmkExecutorMapping, LrmdErrorsAreExecdsErrnos) {
  EXPECT_EQ(errnoForLrmError("unknown-instance"), -ENODEV);
  EXPECT_EQ(errnoForLrmError("invalid-argument"), -EINVAL);
  EXPECT_EQ(errnoForLrmError("invalid-spec"), -EINVAL);
  EXPECT_EQ(errnoForLrmError("bad-request"), -EINVAL);
  EXPECT_EQ(errnoForLrmError("not-found"), -EOPNOTSUPP);
  EXPECT_EQ(errnoForLrmError("in-progress"), -EOPNOTSUPP);
  EXPECT_EQ(errnoForLrmError("unavailable"), -EAGAIN);
  EXPECT_EQ(errnoForLrmError("permission-denied"), -EACCES);
  EXPECT_EQ(errnoForLrmError("unknown-class"), -EPROTONOSUPPORT);
  EXPECT_EQ(errnoForLrmError("protocol"), -EPROTO);
  EXPECT_EQ(errnoForLrmError("unknown-request"), -EPROTO);
  EXPECT_EQ(errnoForLrmError("internal"), -EREMOTEIO);
  EXPECT_EQ(errnoForLrmError("something new"), -EREMOTEIO);
}

TEST(PcmkExecutorMapping, OnlyConnectionFailuresMeanLrmdIsUnreachable) {
  for (const char* code : {"disconnected", "unreachable", "timeout"}) EXPECT_TRUE(isLrmdUnreachable(code)) << code;
  for (const char* code : {"protocol", "not-found", "unavailable", ""}) EXPECT_FALSE(isLrmdUnreachable(code)) << code;
}

TEST(PcmkExecutorMapping, AgentSpecHasTheProviderOnlyWhenGiven) {
  EXPECT_EQ(agentSpecOf("ocf", "heartbeat", "Dummy"), "ocf:heartbeat:Dummy");
  EXPECT_EQ(agentSpecOf("lsb", "", "cron"), "lsb:cron");
  EXPECT_EQ(agentSpecOf("service", "", "ssh"), "service:ssh");
}

TEST(PcmkExecutorMapping, DurationsAreWrittenAsPacemakerWritesThem) {
  EXPECT_EQ(readableInterval(0), "0s");
  EXPECT_EQ(readableInterval(300), "300ms");
  EXPECT_EQ(readableInterval(1000), "1000ms") << "a unit is taken only when the rest is more than it";
  EXPECT_EQ(readableInterval(1500), "1.500s");
  EXPECT_EQ(readableInterval(1005), "1.005s");
  EXPECT_EQ(readableInterval(20000), "20s");
  EXPECT_EQ(readableInterval(60000), "60s");
  EXPECT_EQ(readableInterval(90000), "1m30s");
  EXPECT_EQ(readableInterval(120000), "2m");
  EXPECT_EQ(readableInterval(3600000 + 60000 + 2000), "1h1m2s");
  EXPECT_EQ(readableInterval(2 * 86400000ull + 5), "2d5ms");
  EXPECT_EQ(timeoutExitReason(20000), "Resource agent did not complete within 20s");
}

TEST(PcmkExecutorMapping, CallOptionsOfBothPacemakerLines) {
  EXPECT_TRUE(dropRecurringRequested(0x3)) << "2.1";
  EXPECT_TRUE(dropRecurringRequested(0x1)) << "3.0";
  EXPECT_FALSE(dropRecurringRequested(0x0));
  EXPECT_FALSE(dropRecurringRequested(0x4));
  EXPECT_TRUE(changesOnlyRequested(0x4));
  EXPECT_TRUE(changesOnlyRequested(0x6));
  EXPECT_FALSE(changesOnlyRequested(0x3));
}

TEST(PcmkExecutorMapping, TheBridgeHandlesTheExecutorRequestsOnly) {
  for (const char* op : {"lrmd_rsc_info", "lrmd_rsc_register", "lrmd_rsc_exec", "lrmd_rsc_cancel",
                         "lrmd_rsc_unregister", "lrmd_get_recurring"}) {
    EXPECT_TRUE(ExecutorBridge::handles(op)) << op;
  }
  for (const char* op : {"register", "lrmd_rsc_poke", "lrmd_check", "ipc_fwd", "lrmd_alert_exec", ""}) {
    EXPECT_FALSE(ExecutorBridge::handles(op)) << op;
  }
}

}  // namespace
}  // namespace lrm::pacemaker
