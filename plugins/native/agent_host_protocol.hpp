// What the native class and lrm-agent-host (isolation=process, docs/sdk.md
// §5.6) say to each other, defined once for both sides: the operation goes
// to the helper as environment variables (one table names each of them), and
// the result comes back as the last line of the helper's stdout:
//
//   lrm-result <status> <rc> <exit reason...>
//
// Header-only: the plugin and the helper are separate binaries and share
// nothing else of ours but the SDK.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "lrm/sdk/types.hpp"

namespace lrm::plugins::native {

/** One field of sdk::Operation and the variable that carries it. */
struct OperationVariable {
  const char* name;
  std::string (*get)(const sdk::Operation&);
  void (*set)(sdk::Operation&, const std::string&);
};

/**
 * Every field of the operation the helper needs, each under its one name.
 * The class is `native` by definition; the action is the helper's argument.
 */
inline const OperationVariable kOperationVariables[] = {
    {"LRM_INSTANCE_ID", [](const sdk::Operation& op) { return op.instance_id; },
     [](sdk::Operation& op, const std::string& v) { op.instance_id = v; }},
    {"LRM_INSTANCE_NAME", [](const sdk::Operation& op) { return op.instance_name; },
     [](sdk::Operation& op, const std::string& v) { op.instance_name = v; }},
    {"LRM_PROVIDER", [](const sdk::Operation& op) { return op.agent.provider; },
     [](sdk::Operation& op, const std::string& v) { op.agent.provider = v; }},
    {"LRM_TYPE", [](const sdk::Operation& op) { return op.agent.type; },
     [](sdk::Operation& op, const std::string& v) { op.agent.type = v; }},
    {"LRM_CALL_ID", [](const sdk::Operation& op) { return std::to_string(op.call_id); },
     [](sdk::Operation& op, const std::string& v) { op.call_id = std::strtoull(v.c_str(), nullptr, 10); }},
    {"LRM_INTERVAL_MS", [](const sdk::Operation& op) { return std::to_string(op.interval_ms); },
     [](sdk::Operation& op, const std::string& v) { op.interval_ms = std::strtoull(v.c_str(), nullptr, 10); }},
    {"LRM_TIMEOUT_MS", [](const sdk::Operation& op) { return std::to_string(op.timeout_ms); },
     [](sdk::Operation& op, const std::string& v) {
       op.timeout_ms = static_cast<std::uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
     }},
};

/** Each parameter is `LRM_PARAM_<name>` (parameter names are [A-Za-z0-9_]). */
inline constexpr const char* kParamPrefix = "LRM_PARAM_";
inline constexpr const char* kResultPrefix = "lrm-result ";

/** The `NAME=value` entries that carry @p op (the caller adds the base environment). */
inline std::vector<std::string> operationEnvironment(const sdk::Operation& op) {
  std::vector<std::string> env;
  for (const auto& variable : kOperationVariables) env.push_back(std::string(variable.name) + "=" + variable.get(op));
  for (const auto& [name, value] : op.params) env.push_back(kParamPrefix + name + "=" + value);
  return env;
}

/** The operation carried by @p environ (NULL-terminated `NAME=value` entries) for @p action. */
inline sdk::Operation operationFromEnvironment(char* const* environ, const std::string& action) {
  sdk::Operation op;
  op.action = action;
  op.agent.cls = "native";
  const std::string param_prefix = kParamPrefix;
  for (char* const* entry = environ; *entry; ++entry) {
    const std::string item = *entry;
    const auto eq = item.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (name.rfind(param_prefix, 0) == 0) {
      op.params[name.substr(param_prefix.size())] = value;
      continue;
    }
    for (const auto& variable : kOperationVariables) {
      if (name == variable.name) variable.set(op, value);
    }
  }
  return op;
}

/** The result line (with the newline before it): the exit reason on one line. */
inline std::string resultLine(const sdk::Result& result) {
  std::string reason = result.exit_reason;
  for (char& c : reason) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return std::string("\n") + kResultPrefix + sdk::toString(result.status) + " " + std::to_string(result.rc) + " " +
         reason;
}

/**
 * The status, rc and exit reason of the last result line in @p out; nullopt
 * when there is none or it is malformed. An unknown status reads as error.
 */
inline std::optional<sdk::Result> parseResultLine(const std::string& out) {
  const auto at = out.rfind(kResultPrefix);
  if (at == std::string::npos) return std::nullopt;
  std::istringstream line(out.substr(at + std::char_traits<char>::length(kResultPrefix)));
  std::string status;
  sdk::Result result;
  if (!(line >> status >> result.rc)) return std::nullopt;
  result.status = sdk::parseExecStatus(status).value_or(sdk::ExecStatus::Error);
  std::getline(line >> std::ws, result.exit_reason);
  return result;
}

}  // namespace lrm::plugins::native
