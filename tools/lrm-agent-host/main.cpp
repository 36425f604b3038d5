// lrm-agent-host: runs one action of a native agent in a process of its own,
// for native:...:... instances registered with isolation=process. The native
// class spawns it like any agent (own process group, timeout, captured
// output), so a crashing or hanging agent takes only this process down.
//
//   lrm-agent-host LIBRARY ACTION
// The operation comes in the environment and the result goes out as the last
// line of stdout, both as plugins/native/agent_host_protocol.hpp defines them.
// Exit status 0 when that line was written.
#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "agent_host_protocol.hpp"
#include "lrm/sdk/agent.hpp"

extern char** environ;

namespace {

class Context final : public lrm::sdk::ActionContext {
 public:
  explicit Context(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}
  bool cancelled() const noexcept override { return std::chrono::steady_clock::now() >= deadline_; }
  std::chrono::steady_clock::time_point deadline() const noexcept override { return deadline_; }
  void log(lrm::sdk::LogLevel level, const std::string& message) noexcept override {
    static const char* const kLevels[] = {"error", "warning", "notice", "info", "debug", "trace"};
    std::cerr << kLevels[static_cast<int>(level)] << ": " << message << "\n";
  }

 private:
  std::chrono::steady_clock::time_point deadline_;
};

// Prints the result line; the exit status says whether it was written.
int report(lrm::sdk::ExecStatus status, int rc, const std::string& reason) {
  lrm::sdk::Result result;
  result.status = status;
  result.rc = rc;
  result.exit_reason = reason;
  std::cout << lrm::plugins::native::resultLine(result) << std::endl;
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: lrm-agent-host LIBRARY ACTION\n";
    return 2;
  }
  boost::dll::shared_library library;
  boost::dll::fs::error_code ec;
  library.load(argv[1], boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !library.has(LRM_AGENT_SYMBOL)) {
    return report(lrm::sdk::ExecStatus::NotInstalled, lrm::sdk::rc::kNotInstalled,
                  std::string("unable to load agent ") + argv[1] + (ec ? ": " + ec.message() : ""));
  }
  const auto& info = library.get<const lrm_agent_descriptor>(LRM_AGENT_SYMBOL);
  const std::string problem = lrm::sdk::descriptorProblem(info, LRM_AGENT_DESCRIPTOR_MIN_SIZE);
  if (!problem.empty()) {
    return report(lrm::sdk::ExecStatus::Error, lrm::sdk::rc::kError, "incompatible agent library: " + problem);
  }
  const lrm::sdk::Operation op = lrm::plugins::native::operationFromEnvironment(environ, argv[2]);
  Context context(op.timeout_ms ? std::chrono::steady_clock::now() + std::chrono::milliseconds(op.timeout_ms)
                                : std::chrono::steady_clock::time_point::max());
  lrm::sdk::Agent* agent = info.create();
  if (!agent) return report(lrm::sdk::ExecStatus::Error, lrm::sdk::rc::kError, "create() failed");
  lrm::sdk::Result result;
  try {
    result = agent->run(op, context);
  } catch (const std::exception& e) {
    result.status = lrm::sdk::ExecStatus::Error;
    result.rc = lrm::sdk::rc::kError;
    result.exit_reason = e.what();
  }
  info.destroy(agent);
  std::cerr << result.output;  // the caller reports stderr as the op's output
  return report(result.status, result.rc, result.exit_reason);
}
