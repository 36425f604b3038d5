// native:lrm:Stateful — a promotable example agent, the in-process twin of
// ocf:pacemaker:Stateful: its state file says "unpromoted" or "promoted".
//   params: state (default /run/lrm-native/Stateful-<instance>.state)
#include <filesystem>
#include <fstream>

#include "../common.hpp"

namespace {

namespace fs = std::filesystem;
using lrm::agents::param;
using lrm::agents::result;
namespace rc = lrm::sdk::rc;

class Stateful final : public lrm::sdk::Agent {
 public:
  std::string metadata() const override {
    return R"(<?xml version="1.0"?>
<resource-agent name="Stateful" version="1.0">
<version>1.1</version>
<longdesc lang="en">A promotable example agent: started, it is unpromoted; promote and demote move it between the two roles.</longdesc>
<shortdesc lang="en">Example promotable native agent</shortdesc>
<parameters>
<parameter name="state" unique-group="state">
<longdesc lang="en">Location to store the resource state in.</longdesc>
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/run/lrm-native/Stateful-INSTANCE.state"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="stop" timeout="20s"/>
<action name="promote" timeout="10s"/>
<action name="demote" timeout="10s"/>
<action name="monitor" depth="0" timeout="20s" interval="10s" role="Promoted"/>
<action name="monitor" depth="0" timeout="20s" interval="11s" role="Unpromoted"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="20s"/>
</actions>
</resource-agent>
)";
  }

  lrm::sdk::Result run(const lrm::sdk::Operation& op, lrm::sdk::ActionContext&) override {
    const fs::path state = param(op, "state", "/run/lrm-native/Stateful-" + op.instance_id + ".state");
    std::error_code ec;
    const auto role = [&] {
      std::ifstream in(state);
      std::string text;
      return in && std::getline(in, text) ? text : std::string();
    };
    const auto write = [&](const char* text) {
      fs::create_directories(state.parent_path(), ec);
      std::ofstream(state) << text << "\n";
      return role() == text ? result(rc::kOk) : result(rc::kError, "cannot write " + state.string());
    };
    const std::string& action = op.action;
    if (action == "start") return role().empty() ? write("unpromoted") : result(rc::kOk);
    if (action == "stop") {
      fs::remove(state, ec);
      return result(rc::kOk);
    }
    if (action == "monitor" || action == "status") {
      const std::string now = role();
      if (now.empty()) return result(rc::kNotRunning);
      return result(now == "promoted" ? rc::kRunningPromoted : rc::kOk);
    }
    if (action == "promote" || action == "demote") {
      if (role().empty()) return result(rc::kNotRunning, "cannot " + action + ": not running");
      return write(action == "promote" ? "promoted" : "unpromoted");
    }
    if (action == "validate-all") return result(rc::kOk);
    return result(rc::kUnimplemented, "action '" + action + "' is not implemented");
  }
};

}  // namespace

LRM_AGENT(Stateful, "lrm", "Stateful", "1.0");
