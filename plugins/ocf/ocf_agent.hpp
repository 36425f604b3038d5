// Pure OCF 1.1 logic, separate from the plugin so it can be unit-tested:
// the agent environment, exit-code mapping, exit reasons and agent lookup.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lrm/sdk/host.hpp"
#include "lrm/sdk/types.hpp"
#include "script_class.hpp"

namespace lrm::plugins::ocf {

using plugins::parseExitReason;

/** Map an agent's exit code to an OCF rc: 0-9, 190 and 191 pass, anything else is 1. */
int mapExitCode(int exit_code) noexcept;
/** The same, as an ExitCodeMapper (OCF maps every action alike). */
int mapExitCodeOfAction(const std::string& action, int exit_code);

/**
 * The complete environment of an agent run: @p base, then the OCF variables
 * (docs/architecture.md §6), then `OCF_RESKEY_<name>` for every parameter (except
 * `OCF_CHECK_LEVEL`, the monitor depth, which is exported as it is).
 */
std::vector<std::string> buildEnvironment(const std::vector<std::string>& base,
                                          const std::string& ocf_root, const sdk::Operation& op);

/** The environment for `meta-data` (no instance). */
std::vector<std::string> metadataEnvironment(const std::vector<std::string>& base,
                                             const std::string& ocf_root, const sdk::AgentSpec& agent);

/** Turn a finished child into a Result (status, rc, exit reason, output). */
sdk::Result toResult(const sdk::SpawnResult& spawned, const std::string& agent_path,
                     std::uint32_t timeout_ms);

/** The directories searched for agents: @p ocf_path (colon-separated) then `<ocf_root>/resource.d`. */
std::vector<std::string> searchDirs(const std::string& ocf_path, const std::string& ocf_root);

/** First `<dir>/<provider>/<type>` that is an executable regular file. */
std::optional<std::string> findAgent(const std::vector<std::string>& dirs, const sdk::AgentSpec& agent);

/** Providers (sorted, unique) across @p dirs; only those that have @p type when not empty. */
std::vector<std::string> listProviders(const std::vector<std::string>& dirs, const std::string& type);

/** Agent types (sorted, unique) across @p dirs; only of @p provider when not empty. */
std::vector<std::string> listTypes(const std::vector<std::string>& dirs, const std::string& provider);

}  // namespace lrm::plugins::ocf
