// Sample native agent native:sample:Hello, built out of tree against the
// installed SDK. It keeps "started" in memory, per instance; run() may be
// called for different instances at once, hence the mutex.
#include <mutex>
#include <set>

#include "lrm/sdk/agent.hpp"

namespace {

class Hello final : public lrm::sdk::Agent {
 public:
  std::string metadata() const override {
    return "<?xml version=\"1.0\"?><resource-agent name=\"Hello\" version=\"1.0\"><version>1.1</version>"
           "<shortdesc lang=\"en\">Sample native agent</shortdesc><parameters/><actions>"
           "<action name=\"start\" timeout=\"5s\"/><action name=\"stop\" timeout=\"5s\"/>"
           "<action name=\"monitor\" timeout=\"5s\" interval=\"10s\"/></actions></resource-agent>";
  }

  lrm::sdk::Result run(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) override {
    lrm::sdk::Result result;
    result.status = lrm::sdk::ExecStatus::Done;
    std::lock_guard<std::mutex> lock(mutex_);
    if (op.action == "start") {
      started_.insert(op.instance_id);
      context.log(lrm::sdk::LogLevel::Info, "hello, " + op.instance_name);
      result.rc = lrm::sdk::rc::kOk;
    } else if (op.action == "stop") {
      started_.erase(op.instance_id);
      result.rc = lrm::sdk::rc::kOk;
    } else if (op.action == "monitor") {
      result.rc = started_.count(op.instance_id) ? lrm::sdk::rc::kOk : lrm::sdk::rc::kNotRunning;
    } else {
      result.rc = lrm::sdk::rc::kUnimplemented;
    }
    return result;
  }

 private:
  std::mutex mutex_;
  std::set<std::string> started_;
};

}  // namespace

LRM_AGENT(Hello, "sample", "Hello", "1.0");
