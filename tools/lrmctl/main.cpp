// lrmctl: the command-line client of lrmd (README, lrmctl), built on the client
// library. Global options come before the command; each command parses its
// own options with a Poco::Util::OptionProcessor.
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>
#include <Poco/Util/OptionProcessor.h>
#include <Poco/Util/OptionSet.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lrm/client/client.hpp"
#include "output.hpp"

namespace {

using lrm::client::Client;
using lrm::client::Error;
using lrm::client::Millis;
using Poco::Util::Option;
using Poco::Util::OptionSet;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitTimeout = 124;
constexpr std::uint64_t kDefaultWaitMs = 30000;

/** Bad command line: exit 2 with the message. */
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* const kUsage =
    "usage: lrmctl [--socket PATH] [--json] [--wait D] COMMAND [ARGS]\n"
    "commands:\n"
    "  ping | classes | providers [TYPE] | agents CLASS[:PROVIDER]\n"
    "  metadata SPEC [--check] (--json: parsed) | validate ID\n"
    "  register ID --agent SPEC [--name NAME] [-p KEY=VALUE]... [--drop-recurring]\n"
    "  unregister ID | list | info ID\n"
    "  exec ID ACTION [--interval D] [--timeout D] [--start-delay D] [-p K=V]...\n"
    "       [--no-wait] [--changes-only] [--originator-only]\n"
    "  cancel ID ACTION [--interval D] | flush ID\n"
    "  watch [ID]... [--failures] [--count N]\n"
    "  upgrade [--binary PATH]\n"
    "durations: 500ms, 5s, 2m, 1h; a bare number is milliseconds; at most 4294967295 ms (49.7 days)\n";

struct Parsed {
  std::map<std::string, std::vector<std::string>> options;
  std::vector<std::string> positional;

  bool has(const std::string& name) const { return options.count(name) != 0; }
  std::string value(const std::string& name, const std::string& fallback = {}) const {
    const auto it = options.find(name);
    return it == options.end() ? fallback : it->second.back();
  }
};

Option flag(const char* name, const char* help) { return Option(name, "", help).required(false).repeatable(true); }
Option valued(const char* name, const char* shortName, const char* help) {
  return Option(name, shortName, help).required(false).repeatable(true).argument("VALUE");
}

// Parse options of @p set from args[begin..end). With @p stop_at_positional,
// stop at the first non-option (the command) and return its index.
std::size_t parseOptions(const OptionSet& set, const std::vector<std::string>& args, std::size_t begin,
                         Parsed& parsed, bool stop_at_positional) {
  Poco::Util::OptionProcessor processor(set);
  processor.setUnixStyle(true);
  std::size_t i = begin;
  try {
    for (; i < args.size(); ++i) {
      std::string name;
      std::string value;
      if (processor.process(args[i], name, value)) {
        if (!name.empty()) parsed.options[name].push_back(value);
        continue;
      }
      if (stop_at_positional) return i;
      parsed.positional.push_back(args[i]);
    }
    processor.checkRequired();
  } catch (const Poco::Util::OptionException& e) {
    throw UsageError(e.displayText());
  }
  return i;
}

std::uint64_t durationMs(const Parsed& parsed, const std::string& name, std::uint64_t fallback) {
  if (!parsed.has(name)) return fallback;
  const std::string text = parsed.value(name);
  const auto ms = lrm::sdk::parseDurationMs(text);
  if (!ms) throw UsageError("--" + name + ": bad duration '" + text + "' (e.g. 500ms, 5s, 2m, 1h)");
  if (*ms > lrm::sdk::kMaxDurationMs) {
    throw UsageError("--" + name + ": duration '" + text + "' is out of range: at most " +
                     std::to_string(lrm::sdk::kMaxDurationMs) + " ms (about 49.7 days)");
  }
  return *ms;
}

lrm::sdk::Params paramsOf(const Parsed& parsed) {
  lrm::sdk::Params params;
  const auto it = parsed.options.find("param");
  if (it == parsed.options.end()) return params;
  for (const auto& item : it->second) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("-p needs KEY=VALUE, not '" + item + "'");
    params[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return params;
}

void requirePositional(const Parsed& parsed, std::size_t min, std::size_t max, const char* what) {
  if (parsed.positional.size() < min || parsed.positional.size() > max) {
    throw UsageError(std::string("expected ") + what);
  }
}

int exitCodeFor(const Error& error) {
  const std::string& code = error.code();
  if (code == "timeout") return kExitTimeout;
  if (code == "unreachable" || code == "disconnected" || code == "protocol") return kExitUnreachable;
  if (code == "not-found" || code == "not-installed" || code == "failed" || code == "in-progress") {
    return kExitFailure;
  }
  return kExitUsage;
}

class Ctl {
 public:
  Ctl(std::string socket, bool json, std::optional<std::uint64_t> wait_ms)
      : socket_(std::move(socket)), json_(json), wait_ms_(wait_ms) {}

  int run(const std::string& command, const std::vector<std::string>& args, std::size_t begin) {
    using Handler = int (Ctl::*)(const std::vector<std::string>&, std::size_t);
    static const std::map<std::string, Handler> kCommands = {
        {"ping", &Ctl::ping},         {"classes", &Ctl::classes},       {"providers", &Ctl::providers},
        {"agents", &Ctl::agents},     {"metadata", &Ctl::metadata},     {"register", &Ctl::registerCmd},
        {"unregister", &Ctl::unregister}, {"list", &Ctl::list},         {"info", &Ctl::info},
        {"exec", &Ctl::exec},         {"cancel", &Ctl::cancel},         {"flush", &Ctl::flush},
        {"validate", &Ctl::validate},     {"upgrade", &Ctl::upgrade},
        {"watch", &Ctl::watch}};
    const auto it = kCommands.find(command);
    if (it == kCommands.end()) throw UsageError("unknown command '" + command + "'");
    return (this->*it->second)(args, begin);
  }

 private:
  Client& client() {
    if (!client_) {
      client_ = Client::connect(socket_, "lrmctl", Millis(wait_ms_.value_or(kDefaultWaitMs)));
    }
    return *client_;
  }

  Parsed parse(const std::vector<std::string>& args, std::size_t begin, const OptionSet& set = OptionSet()) {
    Parsed parsed;
    parseOptions(set, args, begin, parsed, false);
    return parsed;
  }

  void printEvent(const lrm::client::Event& event) {
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::eventJson(event));
    } else {
      std::cout << lrm::ctl::eventText(event) << std::endl;
    }
  }

  void printList(const std::string& key, const std::vector<std::string>& items) {
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::listJson(key, items));
    } else {
      for (const auto& item : items) std::cout << item << "\n";
    }
  }

  int ping(const std::vector<std::string>& args, std::size_t begin) {
    requirePositional(parse(args, begin), 0, 0, "no arguments");
    const auto info = client().ping();
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::pingJson(info));
    } else {
      std::cout << "lrmd " << info.version << " protocol " << info.protocol << " uptime " << info.uptime_s
                << "s boot " << info.boot_id << " restored " << info.restored << " instances " << info.instances
                << " in_flight " << info.in_flight << "\n";
    }
    return kExitOk;
  }

  int classes(const std::vector<std::string>& args, std::size_t begin) {
    requirePositional(parse(args, begin), 0, 0, "no arguments");
    printList("classes", client().classes());
    return kExitOk;
  }

  int providers(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 0, 1, "at most one TYPE");
    printList("providers", client().providers(parsed.positional.empty() ? "" : parsed.positional[0]));
    return kExitOk;
  }

  int agents(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 1, 1, "CLASS[:PROVIDER]");
    const std::string& spec = parsed.positional[0];
    const auto colon = spec.find(':');
    const std::string cls = spec.substr(0, colon);
    const std::string provider = colon == std::string::npos ? "" : spec.substr(colon + 1);
    std::vector<std::pair<std::string, std::string>> described;
    bool describable = json_;
    if (json_) {
      // With --json, each agent's shortdesc too (from the daemon's metadata
      // cache); classes with providers can only be described per provider.
      try {
        described = client().describeAgents(cls, provider);
      } catch (const Error& e) {
        if (e.code() != "bad-request") throw;
        describable = false;
      }
    }
    if (describable) {
      std::vector<std::string> names;
      Poco::JSON::Object::Ptr descriptions = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
      for (const auto& [name, shortdesc] : described) {
        names.push_back(name);
        descriptions->set(name, shortdesc);
      }
      auto object = lrm::ctl::listJson("agents", names);
      object->set("shortdesc", descriptions);
      lrm::ctl::printJson(object);
      return kExitOk;
    }
    printList("agents", client().agents(cls, provider));
    return kExitOk;
  }

  // Advisory findings: printed one per line (or as {"key":[...]}); exit 1 when there are any.
  int printFindings(const std::string& key, const std::vector<std::string>& findings, const std::string& none) {
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::listJson(key, findings));
    } else {
      for (const auto& finding : findings) std::cout << finding << "\n";
      if (findings.empty()) std::cout << none << "\n";
    }
    return findings.empty() ? kExitOk : kExitFailure;
  }

  int upgrade(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(valued("binary", "", "the new lrmd binary"));
    const Parsed parsed = parse(args, begin, set);
    requirePositional(parsed, 0, 0, "no arguments");
    client().upgrade(parsed.value("binary"));
    if (!json_) std::cout << "lrmd is upgrading\n";
    return kExitOk;
  }

  int validate(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 1, 1, "ID");
    return printFindings("problems", client().validate(parsed.positional[0]), "parameters match the metadata");
  }

  int metadata(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(flag("check", "report problems of the metadata against OCF 1.1"));
    const Parsed parsed = parse(args, begin, set);
    requirePositional(parsed, 1, 1, "CLASS[:PROVIDER]:TYPE");
    if (parsed.has("check")) {
      return printFindings("warnings", client().checkMetadata(parsed.positional[0]), "no problems found");
    }
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::metadataJson(client().metadataParsed(parsed.positional[0])));
    } else {
      std::cout << client().metadata(parsed.positional[0]);
    }
    return kExitOk;
  }

  int registerCmd(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(valued("agent", "", "agent spec"));
    set.addOption(valued("name", "", "human name"));
    set.addOption(valued("param", "p", "KEY=VALUE"));
    set.addOption(flag("drop-recurring", "cancel my recurring ops when I disconnect"));
    const Parsed parsed = parse(args, begin, set);
    requirePositional(parsed, 1, 1, "ID");
    if (!parsed.has("agent")) throw UsageError("register needs --agent SPEC");
    lrm::client::RegisterRequest request;
    request.id = parsed.positional[0];
    request.agent = parsed.value("agent");
    request.name = parsed.value("name");
    request.params = paramsOf(parsed);
    request.drop_recurring = parsed.has("drop-recurring");
    printEvent(client().registerInstance(request));
    return kExitOk;
  }

  int unregister(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 1, 1, "ID");
    printEvent(client().unregisterInstance(parsed.positional[0]));
    return kExitOk;
  }

  int list(const std::vector<std::string>& args, std::size_t begin) {
    requirePositional(parse(args, begin), 0, 0, "no arguments");
    const auto instances = client().list();
    if (json_) {
      for (const auto& info : instances) lrm::ctl::printJson(lrm::ctl::instanceJson(info));
    } else {
      std::cout << lrm::ctl::tableText(instances);
    }
    return kExitOk;
  }

  int info(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 1, 1, "ID");
    const auto info = client().info(parsed.positional[0]);
    if (json_) {
      lrm::ctl::printJson(lrm::ctl::instanceJson(info));
    } else {
      std::cout << lrm::ctl::instanceText(info);
    }
    return kExitOk;
  }

  int exec(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(valued("interval", "", "recurring interval"));
    set.addOption(valued("timeout", "", "operation timeout"));
    set.addOption(valued("start-delay", "", "delay before the first run"));
    set.addOption(valued("param", "p", "KEY=VALUE"));
    set.addOption(flag("no-wait", "print the call id and return"));
    set.addOption(flag("changes-only", "notify only when the result changes"));
    set.addOption(flag("originator-only", "notify only this client"));
    const Parsed parsed = parse(args, begin, set);
    requirePositional(parsed, 2, 2, "ID ACTION");
    lrm::client::ExecRequest request;
    request.id = parsed.positional[0];
    request.action = parsed.positional[1];
    request.interval_ms = durationMs(parsed, "interval", 0);
    request.timeout_ms = durationMs(parsed, "timeout", 20000);
    request.start_delay_ms = durationMs(parsed, "start-delay", 0);
    request.params = paramsOf(parsed);
    request.changes_only = parsed.has("changes-only");
    request.originator_only = parsed.has("originator-only");
    const auto call_id = client().exec(request);
    if (parsed.has("no-wait")) {
      if (json_) {
        lrm::ctl::printJson(lrm::ctl::submittedJson(request.id, request.action, request.interval_ms, call_id));
      } else {
        std::cout << "submitted " << request.id << " " << request.action << " (call " << call_id << ")\n";
      }
      return kExitOk;
    }
    const std::uint64_t wait = wait_ms_.value_or(kDefaultWaitMs + request.timeout_ms + request.start_delay_ms);
    const auto event = client().waitForResult(call_id, Millis(wait));
    printEvent(event);
    const bool ok = event.status == lrm::sdk::ExecStatus::Done && event.rc == lrm::sdk::rc::kOk;
    return ok ? kExitOk : kExitFailure;
  }

  int cancel(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(valued("interval", "", "interval of the op to cancel"));
    const Parsed parsed = parse(args, begin, set);
    requirePositional(parsed, 2, 2, "ID ACTION");
    client().cancel(parsed.positional[0], parsed.positional[1], durationMs(parsed, "interval", 0));
    if (!json_) std::cout << "cancelled " << parsed.positional[0] << " " << parsed.positional[1] << "\n";
    return kExitOk;
  }

  int flush(const std::vector<std::string>& args, std::size_t begin) {
    const Parsed parsed = parse(args, begin);
    requirePositional(parsed, 1, 1, "ID");
    const auto count = client().flush(parsed.positional[0]);
    if (!json_) std::cout << "cancelled " << count << " operation(s) of " << parsed.positional[0] << "\n";
    return kExitOk;
  }

  int watch(const std::vector<std::string>& args, std::size_t begin) {
    OptionSet set;
    set.addOption(flag("failures", "only failed results"));
    set.addOption(valued("count", "", "exit after N events"));
    const Parsed parsed = parse(args, begin, set);
    std::optional<std::uint64_t> count;
    if (parsed.has("count")) {
      const std::string text = parsed.value("count");
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 9) {
        throw UsageError("--count needs a number, not '" + text + "'");
      }
      count = std::stoull(text);
    }
    lrm::client::SubscribeRequest request;
    request.instances = parsed.positional;
    request.failures_only = parsed.has("failures");
    client().subscribe(request);
    using Clock = std::chrono::steady_clock;
    const auto deadline = wait_ms_ ? Clock::now() + Millis(*wait_ms_) : Clock::time_point::max();
    std::uint64_t printed = 0;
    while (!count || printed < *count) {
      const auto left = deadline == Clock::time_point::max()
                            ? Millis(60000)
                            : std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) return kExitTimeout;
      const auto event = client().nextEvent(left);
      if (!event) continue;
      if (request.failures_only && !lrm::client::isFailure(*event)) continue;
      printEvent(*event);
      ++printed;
    }
    return kExitOk;
  }

  std::string socket_;
  bool json_;
  std::optional<std::uint64_t> wait_ms_;
  std::unique_ptr<Client> client_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    OptionSet global;
    global.addOption(valued("socket", "", "daemon socket"));
    global.addOption(flag("json", "JSON output"));
    global.addOption(valued("wait", "", "how long to wait"));
    global.addOption(flag("help", "this help"));
    Parsed parsed;
    const std::size_t command_index = parseOptions(global, args, 0, parsed, true);
    if (parsed.has("help")) {
      std::cout << kUsage;
      return kExitOk;
    }
    if (command_index >= args.size()) throw UsageError("no command given");
    std::optional<std::uint64_t> wait_ms;
    if (parsed.has("wait")) wait_ms = durationMs(parsed, "wait", kDefaultWaitMs);
    Ctl ctl(parsed.value("socket", lrm::client::defaultSocketPath()), parsed.has("json"), wait_ms);
    return ctl.run(args[command_index], args, command_index + 1);
  } catch (const UsageError& e) {
    std::cerr << "lrmctl: " << e.what() << "\n" << kUsage;
    return kExitUsage;
  } catch (const Error& e) {
    std::cerr << "lrmctl: " << e.what() << " [" << e.code() << "]\n";
    return exitCodeFor(e);
  } catch (const std::exception& e) {
    std::cerr << "lrmctl: " << e.what() << "\n";
    return kExitFailure;
  }
}
