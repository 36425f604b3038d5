// What a CRM does for one resource, in a few lines of lrm::client:
//   lrm_sample_client SOCKET AGENT [KEY=VALUE]...
// registers "sample-1" with AGENT, starts it, starts a 1 s recurring monitor,
// prints its first two results, stops it (which cancels the monitor) and
// unregisters it. Exit status 0 when every step succeeded.
#include <iostream>

#include "lrm/client/client.hpp"

int main(int argc, char** argv) {
  using namespace lrm;
  if (argc < 3) {
    std::cerr << "usage: lrm_sample_client SOCKET AGENT [KEY=VALUE]...\n";
    return 2;
  }
  try {
    auto lrm = client::Client::connect(argv[1], "sample");
    client::RegisterRequest reg;
    reg.id = "sample-1";
    reg.name = "sample resource";
    reg.agent = argv[2];
    for (int i = 3; i < argc; ++i) {
      const std::string param = argv[i];
      const auto eq = param.find('=');
      if (eq != std::string::npos) reg.params[param.substr(0, eq)] = param.substr(eq + 1);
    }
    lrm->registerInstance(reg);
    auto run = [&](const char* action, std::uint64_t interval_ms = 0) {
      client::ExecRequest op;
      op.id = reg.id;
      op.action = action;
      op.interval_ms = interval_ms;
      return lrm->exec(op);
    };
    auto show = [](const client::Event& event) {
      std::cout << event.action << (event.interval_ms ? " (recurring)" : "") << ": status=" << sdk::toString(event.status)
                << " rc=" << event.rc << " (" << sdk::rcName(event.rc) << ")\n";
      return event.status == sdk::ExecStatus::Done && event.rc == sdk::rc::kOk;
    };
    const client::Millis patience(60000);
    bool ok = show(lrm->waitForResult(run("start"), patience));
    const auto monitor = run("monitor", 1000);
    for (int i = 0; i < 2; ++i) ok = show(lrm->waitForResult(monitor, patience)) && ok;
    const auto stop = run("stop");
    const auto cancelled = lrm->waitForResult(monitor, patience);
    std::cout << "monitor: " << sdk::toString(cancelled.status) << " by stop\n";
    ok = show(lrm->waitForResult(stop, patience)) && ok;
    lrm->unregisterInstance(reg.id);
    return ok ? 0 : 1;
  } catch (const client::Error& e) {
    std::cerr << "sample: " << e.what() << " [" << e.code() << "]\n";
    return 1;
  }
}
