// The `native` class: C++ agents (lrm::sdk::Agent) loaded in-process from the
// agent directories, each action run on the daemon's worker pool with a
// deadline and a cancellation token. A run that overruns its deadline is
// reported `timeout` at the deadline and its late result discarded; the
// instance stays busy until the agent code has really returned, so two runs
// of one instance never overlap even then.
//
// An instance registered with the parameter isolation=process runs each
// action in a separate lrm-agent-host process instead (spawned like any
// agent: own process group, timeout kill), so an agent that crashes or
// hangs for good takes only that process with it.
//
// Settings: the agent libraries are the *.so files of lrm.agent-dirs (lrmd's
// --agent-dir); the helper is native.agent-host, default lrm-agent-host in
// lrm.bin-dir (lrmd's own directory).
#define BOOST_DLL_USE_STD_FS
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <cstring>

#include "agent_host_protocol.hpp"
#include "lrm/sdk/agent.hpp"
#include "lrm/sdk/plugin.hpp"
#include "script_class.hpp"

namespace lrm::plugins::native {
namespace {

using AgentPtr = std::shared_ptr<sdk::Agent>;

struct LoadedAgent {
  std::string path;
  AgentPtr agent;
};

// One action in flight: shared by the loop (timer, cancel, report) and the
// worker running it (token, deadline, buffered log lines).
struct Run : sdk::ActionContext {
  sdk::Operation op;
  sdk::CompletionCallback done;
  AgentPtr agent;
  std::atomic<bool> token{false};
  std::chrono::steady_clock::time_point until;
  std::uint64_t timer = 0;
  bool reported = false;  // loop thread only
  sdk::Result result;     // written by the worker before its continuation runs
  std::mutex log_mutex;
  std::vector<std::pair<sdk::LogLevel, std::string>> lines;

  bool cancelled() const noexcept override {
    return token.load() || std::chrono::steady_clock::now() >= until;
  }
  std::chrono::steady_clock::time_point deadline() const noexcept override { return until; }
  void log(sdk::LogLevel level, const std::string& message) noexcept override {
    try {
      std::lock_guard<std::mutex> lock(log_mutex);
      lines.emplace_back(level, message);
    } catch (...) {
    }
  }
};
using RunPtr = std::shared_ptr<Run>;

sdk::Result failure(sdk::ExecStatus status, std::string reason) {
  sdk::Result result;
  result.status = status;
  result.rc = sdk::rc::kError;
  result.exit_reason = std::move(reason);
  return result;
}

class NativeClass final : public sdk::ResourceClass {
 public:
  // Runs still on a worker are told to stop; their results go nowhere.
  ~NativeClass() override {
    for (auto& [call, run] : running_) run->token = true;
  }

  std::string name() const noexcept override { return "native"; }
  bool requiresProvider() const noexcept override { return true; }

  bool init(sdk::Host& host, std::string& error) noexcept override {
    host_ = &host;
    try {
      // lrm-agent-host is installed beside lrmd.
      agent_host_ = host.setting(
          "native.agent-host", (std::filesystem::path(host.setting("lrm.bin-dir", "")) / "lrm-agent-host").string());
      for (const auto& dir : sdk::splitPath(host.setting("lrm.agent-dirs", ""))) {
        for (const auto& entry : listDir(dir)) {
          // Absolute: lrm-agent-host (isolation=process) runs in "/".
          if (entry.extension() == ".so") load(std::filesystem::absolute(entry).string());
        }
      }
      host.log(sdk::LogLevel::Info, {}, "native: " + std::to_string(agents_.size()) + " agent(s) loaded");
      return true;
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
  }

  std::vector<std::string> providers(const std::string& type) noexcept override {
    std::set<std::string> result;
    for (const auto& [key, loaded] : agents_) {
      if (type.empty() || key.second == type) result.insert(key.first);
    }
    return {result.begin(), result.end()};
  }

  std::vector<std::string> types(const std::string& provider) noexcept override {
    std::set<std::string> result;
    for (const auto& [key, loaded] : agents_) {
      if (provider.empty() || key.first == provider) result.insert(key.second);
    }
    return {result.begin(), result.end()};
  }

  void metadata(const sdk::AgentSpec& spec, sdk::MetadataCallback done) noexcept override {
    const AgentPtr agent = find(spec);
    if (!agent) {
      host_->post([done, result = notInstalled(missing(spec))] { done(result, {}); });
      return;
    }
    // Agent code runs on a worker, never on the event loop.
    auto answer = std::make_shared<std::pair<sdk::Result, std::string>>();
    host_->work(
        [agent, answer] {
          try {
            answer->second = agent->metadata();
            answer->first.status = sdk::ExecStatus::Done;
            answer->first.rc = sdk::rc::kOk;
          } catch (const std::exception& e) {
            answer->first = failure(sdk::ExecStatus::Error, std::string("agent metadata() threw: ") + e.what());
          } catch (...) {
            answer->first = failure(sdk::ExecStatus::Error, "agent metadata() threw");
          }
        },
        [done, answer] { done(answer->first, answer->second); });
  }

  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    try {
      const AgentPtr agent = find(op.agent);
      if (!agent) {
        host_->post([done, result = notInstalled(missing(op.agent))] { done(result); });
        return;
      }
      const auto isolation = op.params.find("isolation");
      if (isolation != op.params.end() && isolation->second == "process") {
        isolated(op, agents_.at({op.agent.provider, op.agent.type}).path, std::move(done));
        return;
      }
      auto run = std::make_shared<Run>();
      run->op = op;
      run->done = std::move(done);
      run->agent = agent;
      // An earlier run of this instance that overran may still be on a worker.
      if (busy_.count(op.instance_id)) {
        waiting_[op.instance_id].push_back(run);
      } else {
        start(run);
      }
    } catch (const std::exception& e) {
      host_->post([done, result = failure(sdk::ExecStatus::Error, e.what())] { done(result); });
    }
  }

  std::string fingerprint(const sdk::AgentSpec& spec) noexcept override {
    try {
      const auto it = agents_.find({spec.provider, spec.type});
      return it == agents_.end() ? std::string() : fileFingerprint(it->second.path);
    } catch (...) {
      return {};
    }
  }

  // Only isolation=process actions run in a process that can be handed over
  // an upgrade; in-process ones finish before the daemon re-executes.
  bool resume(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    try {
      const sdk::SpawnId id = host_->adopt(op.context(), isolatedCompletion(op, std::move(done)));
      if (id == 0) return false;
      isolated_[op.call_id] = id;
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  bool cancel(sdk::CallId call_id) noexcept override {
    if (const auto spawned = isolated_.find(call_id); spawned != isolated_.end()) {
      return host_->kill(spawned->second);
    }
    const auto it = running_.find(call_id);
    if (it == running_.end()) return false;
    RunPtr run = it->second;
    run->token = true;
    // Reported from the loop, never from inside this call.
    host_->post([this, run] { report(run, failure(sdk::ExecStatus::Cancelled, "cancelled")); });
    return true;
  }

 private:
  void load(const std::string& path) {
    std::string why;
    if (!tryLoad(path, why)) host_->log(sdk::LogLevel::Error, {}, "unable to load agent " + path + ": " + why);
  }

  // One agent library, checked before any of its code runs but create();
  // false with @p why when it is skipped.
  bool tryLoad(const std::string& path, std::string& why) {
    auto library = std::make_shared<boost::dll::shared_library>();
    boost::dll::fs::error_code ec;
    library->load(std::filesystem::absolute(path),
                  boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
      why = ec.message();
      return false;
    }
    if (!library->has(LRM_AGENT_SYMBOL)) {
      why = "it does not export '" LRM_AGENT_SYMBOL "'";
      return false;
    }
    const auto& info = library->get<const lrm_agent_descriptor>(LRM_AGENT_SYMBOL);
    why = sdk::descriptorProblem(info, LRM_AGENT_DESCRIPTOR_MIN_SIZE);
    if (why.empty() && (!info.provider || !info.type)) why = "descriptor lacks a provider or a type";
    if (!why.empty()) return false;
    if (!sdk::isValidAgentComponent(info.provider) || !sdk::isValidAgentComponent(info.type)) {
      why = "it names itself native:" + std::string(info.provider) + ":" + info.type + ", not a valid spec";
      return false;
    }
    const auto key = std::make_pair(std::string(info.provider), std::string(info.type));
    if (const auto first = agents_.find(key); first != agents_.end()) {
      why = "native:" + key.first + ":" + key.second + " is already provided by " + first->second.path;
      return false;
    }
    sdk::Agent* raw = info.create();
    if (!raw) {
      why = "create() failed";
      return false;
    }
    loaded_forever_.push_back(library);  // agents are never unloaded (their code may be running)
    auto destroy = info.destroy;
    agents_[key] = {path, AgentPtr(raw, [library, destroy](sdk::Agent* agent) { destroy(agent); })};
    host_->log(sdk::LogLevel::Info, {},
               "loaded agent native:" + key.first + ":" + key.second + " " + (info.version ? info.version : "") +
                   " from " + path);
    return true;
  }

  AgentPtr find(const sdk::AgentSpec& spec) const {
    const auto it = agents_.find({spec.provider, spec.type});
    return it == agents_.end() ? nullptr : it->second.agent;
  }

  std::string missing(const sdk::AgentSpec& spec) const {
    return "agent " + spec.toString() + " not found: no native agent library provides it (" +
           std::to_string(agents_.size()) + " loaded from the agent dirs)";
  }

  // isolation=process: the action runs in lrm-agent-host, which prints its
  // result line last (agent_host_protocol.hpp).
  void isolated(const sdk::Operation& op, const std::string& library, sdk::CompletionCallback done) {
    sdk::SpawnRequest request;
    request.argv = {agent_host_, library, op.action};
    request.env = host_->baseEnvironment();
    for (auto& entry : operationEnvironment(op)) request.env.push_back(std::move(entry));
    request.timeout_ms = op.timeout_ms;
    request.context = op.context();
    // 0: the Host could not spawn; the completion still comes, as SpawnFailed.
    const sdk::SpawnId id = host_->spawn(std::move(request), isolatedCompletion(op, std::move(done)));
    if (id != 0) isolated_[op.call_id] = id;
  }

  std::function<void(const sdk::SpawnResult&)> isolatedCompletion(const sdk::Operation& op,
                                                                  sdk::CompletionCallback done) {
    return [this, call = op.call_id, timeout_ms = op.timeout_ms, done = std::move(done)](
               const sdk::SpawnResult& spawned) {
      isolated_.erase(call);
      done(isolatedResult(spawned, timeout_ms));
    };
  }

  static sdk::Result isolatedResult(const sdk::SpawnResult& spawned, std::uint32_t timeout_ms) {
    switch (spawned.outcome) {
      case sdk::SpawnOutcome::TimedOut:
        return failure(sdk::ExecStatus::Timeout, "native agent did not return within " + std::to_string(timeout_ms) +
                                                     " ms; its process was killed");
      case sdk::SpawnOutcome::Killed:
        return failure(sdk::ExecStatus::Cancelled, "cancelled");
      case sdk::SpawnOutcome::Signaled:
        return failure(sdk::ExecStatus::Error, "the agent's process was killed by signal " +
                                                   std::to_string(spawned.signal) + " (" + ::strsignal(spawned.signal) + ")");
      case sdk::SpawnOutcome::SpawnFailed:
        return failure(sdk::ExecStatus::Error, std::string("unable to run lrm-agent-host: ") +
                                                   std::strerror(spawned.spawn_errno));
      case sdk::SpawnOutcome::Exited:
        break;
    }
    if (spawned.out.rfind(kResultPrefix) == std::string::npos) {
      return failure(sdk::ExecStatus::Error, "the agent's process exited with " + std::to_string(spawned.exit_code) +
                                                 " without a result");
    }
    std::optional<sdk::Result> parsed = parseResultLine(spawned.out);
    if (!parsed) return failure(sdk::ExecStatus::Error, "the agent's process printed a malformed result line");
    sdk::Result result = std::move(*parsed);
    result.output = spawned.err;
    return result;
  }

  void start(const RunPtr& run) {
    // The deadline counts from now, not from submission: a run may have
    // waited for an overrunning one of the same instance.
    run->until = run->op.timeout_ms
                     ? std::chrono::steady_clock::now() + std::chrono::milliseconds(run->op.timeout_ms)
                     : std::chrono::steady_clock::time_point::max();
    busy_.insert(run->op.instance_id);
    running_[run->op.call_id] = run;
    if (run->op.timeout_ms > 0) {
      run->timer = host_->startTimer(run->op.timeout_ms, [this, run] {
        run->timer = 0;
        run->token = true;
        report(run, failure(sdk::ExecStatus::Timeout,
                            "native agent did not return within " + std::to_string(run->op.timeout_ms) +
                                " ms; its late result will be discarded"));
      });
    }
    host_->work(
        [run] {
          try {
            run->result = run->agent->run(run->op, *run);
          } catch (const std::exception& e) {
            run->result = failure(sdk::ExecStatus::Error, e.what());
          } catch (...) {
            run->result = failure(sdk::ExecStatus::Error, "the agent threw an unknown exception");
          }
        },
        [this, run] { finished(run); });
  }

  void finished(const RunPtr& run) {
    if (run->timer) host_->stopTimer(run->timer);
    {
      std::lock_guard<std::mutex> lock(run->log_mutex);
      for (const auto& [level, line] : run->lines) host_->log(level, run->op.context(), line);
    }
    if (run->reported) {
      host_->log(sdk::LogLevel::Warning, run->op.context(), "late result discarded (the op was already reported)");
    } else {
      report(run, run->result);
    }
    busy_.erase(run->op.instance_id);
    auto waiting = waiting_.find(run->op.instance_id);
    if (waiting != waiting_.end() && !waiting->second.empty()) {
      RunPtr next = waiting->second.front();
      waiting->second.pop_front();
      if (waiting->second.empty()) waiting_.erase(waiting);
      start(next);
    }
  }

  void report(const RunPtr& run, sdk::Result result) {
    if (run->reported) return;
    run->reported = true;
    running_.erase(run->op.call_id);
    run->done(result);
  }

  sdk::Host* host_ = nullptr;
  std::string agent_host_;  // lrm-agent-host, for isolation=process
  std::map<sdk::CallId, sdk::SpawnId> isolated_;
  std::map<std::pair<std::string, std::string>, LoadedAgent> agents_;
  std::vector<std::shared_ptr<boost::dll::shared_library>> loaded_forever_;
  std::map<sdk::CallId, RunPtr> running_;
  std::set<std::string> busy_;
  std::map<std::string, std::deque<RunPtr>> waiting_;
};

}  // namespace
}  // namespace lrm::plugins::native

LRM_PLUGIN(lrm::plugins::native::NativeClass, "native", "1.0");
