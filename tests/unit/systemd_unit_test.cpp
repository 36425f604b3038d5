// The systemd class's rules apart from the bus (plugins/systemd/systemd_unit.hpp):
// unit names, what a unit's state means per action, the drop-in, the listing
// and the synthesized metadata.
#include "systemd_unit.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lrm::plugins::systemd {
namespace {

using ::testing::HasSubstr;

TEST(SystemdUnitName, ServiceUnlessSuffixed) {
  EXPECT_EQ(unitName("httpd"), "httpd.service");
  EXPECT_EQ(unitName("httpd.service"), "httpd.service");
  EXPECT_EQ(unitName("cups.socket"), "cups.socket");
  EXPECT_EQ(unitName("postgresql@15-main"), "postgresql@15-main.service");
  EXPECT_EQ(unitName("my.app"), "my.app.service") << "a dot alone is no unit suffix";
}

TEST(SystemdUnitName, RefusesWhatSystemdWould) {
  EXPECT_FALSE(unitName(""));
  EXPECT_FALSE(unitName("foo@")) << "a template is not startable";
  EXPECT_FALSE(unitName("foo@.service"));
  EXPECT_FALSE(unitName("@x"));
  EXPECT_FALSE(unitName("a b"));
  EXPECT_FALSE(unitName("../etc"));
}

UnitState state(const std::string& active, const std::string& result = {}, const std::string& job = {}) {
  return UnitState{"loaded", active, result, job};
}

TEST(SystemdVerdict, Monitor) {
  EXPECT_EQ(verdict("monitor", "u", state("active"))->rc, sdk::rc::kOk);
  EXPECT_EQ(verdict("monitor", "u", state("reloading"))->rc, sdk::rc::kOk);
  EXPECT_EQ(verdict("monitor", "u", state("inactive"))->rc, sdk::rc::kNotRunning);
  const auto failed = verdict("monitor", "u.service", state("failed", "exit-code"));
  EXPECT_EQ(failed->status, sdk::ExecStatus::Done);
  EXPECT_EQ(failed->rc, sdk::rc::kNotRunning);
  EXPECT_EQ(failed->exit_reason, "unit u.service failed (exit-code)");
  EXPECT_FALSE(verdict("monitor", "u", state("activating")));
  EXPECT_FALSE(verdict("monitor", "u", state("deactivating")));
}

TEST(SystemdVerdict, StartWaitsForItsJob) {
  EXPECT_EQ(verdict("start", "u", state("active"))->rc, sdk::rc::kOk);
  EXPECT_FALSE(verdict("start", "u", state("activating")));
  EXPECT_FALSE(verdict("start", "u", state("inactive"))) << "the job may still be queued";
  EXPECT_EQ(verdict("start", "u", state("inactive", "", "done"))->rc, sdk::rc::kNotRunning);
  const auto failed = verdict("start", "u", state("failed", "exit-code", "failed"));
  EXPECT_EQ(failed->status, sdk::ExecStatus::Done);
  EXPECT_EQ(failed->rc, sdk::rc::kNotRunning);  // as Pacemaker's follow-up monitor answers
  EXPECT_THAT(failed->exit_reason, HasSubstr("exit-code"));
}

TEST(SystemdVerdict, StopSettlesInactiveOrFailed) {
  EXPECT_EQ(verdict("stop", "u", state("inactive"))->rc, sdk::rc::kOk);
  EXPECT_EQ(verdict("stop", "u", state("failed"))->rc, sdk::rc::kOk);
  EXPECT_FALSE(verdict("stop", "u", state("deactivating")));
  EXPECT_FALSE(verdict("stop", "u", state("active")));
}

TEST(SystemdVerdict, NotFoundIsNotInstalledOtherActionsUnsupported) {
  for (const char* action : {"start", "stop", "monitor"}) {
    const auto result = verdict(action, "x.service", UnitState{"not-found", "inactive", "", ""});
    EXPECT_EQ(result->status, sdk::ExecStatus::NotInstalled) << action;
    EXPECT_EQ(result->rc, sdk::rc::kNotInstalled) << action;
  }
  EXPECT_EQ(verdict("promote", "u", state("active"))->status, sdk::ExecStatus::NotSupported);
}

TEST(SystemdDropIn, OrdersBeforeLrmdAndForbidsRestarts) {
  EXPECT_THAT(dropInText(), HasSubstr("[Unit]\nBefore=lrmd.service\n"));
  EXPECT_THAT(dropInText(), HasSubstr("[Service]\nRestart=no\n"));
}

TEST(SystemdListing, ServicesAndTemplates) {
  EXPECT_EQ(listedType("sshd.service"), "sshd");
  EXPECT_EQ(listedType("/lib/systemd/system/getty@.service"), "getty@");
  EXPECT_EQ(listedType("getty@tty1.service"), "getty@tty1");
  EXPECT_FALSE(listedType("cups.socket"));
  EXPECT_FALSE(listedType(".service"));
}

TEST(SystemdMetadata, DescriptionIsShortdesc) {
  const std::string xml = synthesizeMetadata("web", "web.service", "Web <server> & co");
  EXPECT_THAT(xml, HasSubstr("<resource-agent name=\"web\""));
  EXPECT_THAT(xml, HasSubstr("<shortdesc lang=\"en\">Web &lt;server&gt; &amp; co</shortdesc>"));
  EXPECT_THAT(xml, HasSubstr("<action name=\"monitor\" timeout=\"100s\" interval=\"60s\"/>"));
  EXPECT_THAT(synthesizeMetadata("x", "x.service", ""), HasSubstr("<shortdesc lang=\"en\">x.service</shortdesc>"));
}

}  // namespace
}  // namespace lrm::plugins::systemd
