// The smallest useful lrm client: what a CRM does for one resource.
//   lrm_sample_client [SOCKET]
// registers "sample-1" as ocf:heartbeat:Dummy, runs start, monitor and stop,
// prints each result and unregisters it again.
#include <iostream>

#include "lrm/client/client.hpp"

int main(int argc, char** argv) {
  using namespace lrm;
  try {
    auto lrm = client::Client::connect(argc > 1 ? argv[1] : client::defaultSocketPath(), "sample");
    client::RegisterRequest reg;
    reg.id = "sample-1";
    reg.name = "sample dummy";
    reg.agent = "ocf:heartbeat:Dummy";
    reg.params["state"] = "/run/lrm-sample-1.state";
    lrm->registerInstance(reg);
    int failures = 0;
    for (const char* action : {"start", "monitor", "stop"}) {
      client::ExecRequest op;
      op.id = reg.id;
      op.action = action;
      const auto call = lrm->exec(op);
      const auto result = lrm->waitForResult(call, client::Millis(60000));
      std::cout << action << ": status=" << sdk::toString(result.status) << " rc=" << result.rc << " ("
                << sdk::rcName(result.rc) << ")\n";
      failures += result.status == sdk::ExecStatus::Done && result.rc == sdk::rc::kOk ? 0 : 1;
    }
    lrm->unregisterInstance(reg.id);
    return failures == 0 ? 0 : 1;
  } catch (const client::Error& e) {
    std::cerr << "sample: " << e.what() << " [" << e.code() << "]\n";
    return 1;
  }
}
