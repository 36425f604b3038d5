// native:lrm:Dummy — the in-process twin of ocf:heartbeat:Dummy: "running"
// means its state file exists. The benchmark workhorse: an action costs a
// stat() or two, not a fork.
//   params: state    state file (default /run/lrm-native/Dummy-<instance>.state)
//           op_sleep seconds (fractions allowed) each action takes, default 0
#include <filesystem>
#include <fstream>

#include "../common.hpp"

namespace {

namespace fs = std::filesystem;
using lrm::agents::param;
using lrm::agents::pause;
using lrm::agents::result;

class Dummy final : public lrm::sdk::Agent {
 public:
  std::string metadata() const override {
    return R"(<?xml version="1.0"?>
<resource-agent name="Dummy" version="1.0">
<version>1.1</version>
<longdesc lang="en">An in-process example agent that does nothing but remember whether it is started, in a state file.</longdesc>
<shortdesc lang="en">Example native agent</shortdesc>
<parameters>
<parameter name="state" unique-group="state">
<longdesc lang="en">Location to store the resource state in.</longdesc>
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/run/lrm-native/Dummy-INSTANCE.state"/>
</parameter>
<parameter name="op_sleep">
<longdesc lang="en">Number of seconds each action takes (fractions allowed).</longdesc>
<shortdesc lang="en">Action duration</shortdesc>
<content type="string" default="0"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="stop" timeout="20s"/>
<action name="monitor" timeout="20s" interval="10s" depth="0"/>
<action name="reload" timeout="20s"/>
<action name="migrate_to" timeout="20s"/>
<action name="migrate_from" timeout="20s"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="20s"/>
</actions>
</resource-agent>
)";
  }

  lrm::sdk::Result run(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) override {
    const fs::path state = param(op, "state", "/run/lrm-native/Dummy-" + op.instance_id + ".state");
    const double sleep_s = std::stod(param(op, "op_sleep", "0"));  // a bad number throws: reported as an error
    if (!pause(context, static_cast<long>(sleep_s * 1000))) return result(lrm::sdk::rc::kError, "interrupted");
    std::error_code ec;
    if (op.action == "start" || op.action == "migrate_from") {
      fs::create_directories(state.parent_path(), ec);
      std::ofstream(state).flush();
      return fs::exists(state, ec) ? result(lrm::sdk::rc::kOk)
                                   : result(lrm::sdk::rc::kError, "cannot create " + state.string());
    }
    if (op.action == "stop" || op.action == "migrate_to") {
      fs::remove(state, ec);
      return result(lrm::sdk::rc::kOk);
    }
    if (op.action == "monitor" || op.action == "status") {
      return fs::exists(state, ec) ? result(lrm::sdk::rc::kOk) : result(lrm::sdk::rc::kNotRunning);
    }
    if (op.action == "reload" || op.action == "validate-all") return result(lrm::sdk::rc::kOk);
    return result(lrm::sdk::rc::kUnimplemented, "action '" + op.action + "' is not implemented");
  }
};

}  // namespace

LRM_AGENT(Dummy, "lrm", "Dummy", "1.0");
