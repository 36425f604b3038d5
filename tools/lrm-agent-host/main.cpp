// lrm-agent-host: runs one action of a native agent in a process of its own,
// for native:...:... instances registered with isolation=process. The native
// class spawns it like any agent (own process group, timeout, captured
// output), so a crashing or hanging agent takes only this process down.
//
//   lrm-agent-host LIBRARY ACTION
//   environment: LRM_INSTANCE_ID, LRM_INSTANCE_NAME, LRM_PROVIDER, LRM_TYPE,
//                LRM_CALL_ID, LRM_INTERVAL_MS, LRM_TIMEOUT_MS, LRM_PARAM_<name>
// The result is the last line of stdout:
//   lrm-result <status> <rc> <exit reason...>
// Exit status 0 when that line was written.
#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

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

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// Prints the result line; the exit status says whether it was written.
int report(lrm::sdk::ExecStatus status, int rc, const std::string& reason) {
  std::string line = reason;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cout << "\nlrm-result " << lrm::sdk::toString(status) << " " << rc << " " << line << std::endl;
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
  lrm::sdk::Operation op;
  op.action = argv[2];
  op.instance_id = env("LRM_INSTANCE_ID");
  op.instance_name = env("LRM_INSTANCE_NAME");
  op.agent = {"native", env("LRM_PROVIDER"), env("LRM_TYPE")};
  op.call_id = std::strtoull(env("LRM_CALL_ID").c_str(), nullptr, 10);
  op.interval_ms = std::strtoull(env("LRM_INTERVAL_MS").c_str(), nullptr, 10);
  op.timeout_ms = static_cast<std::uint32_t>(std::strtoul(env("LRM_TIMEOUT_MS").c_str(), nullptr, 10));
  for (char** entry = environ; *entry; ++entry) {
    const std::string item = *entry;
    if (item.rfind("LRM_PARAM_", 0) != 0) continue;
    const auto eq = item.find('=');
    op.params[item.substr(10, eq - 10)] = item.substr(eq + 1);
  }
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
