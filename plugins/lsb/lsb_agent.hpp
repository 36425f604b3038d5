// Pure LSB init-script logic, separate from the plugin so it can be
// unit-tested: exit-code mapping, the action a script is called with, the
// `### BEGIN INIT INFO` header and the metadata synthesized from it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lrm::plugins::lsb {

/**
 * LSB exit code → OCF rc, the one place it is done. `status` (and `monitor`,
 * which runs `status`): 0 ok, 1/2/3 not running, 150 not installed, 151
 * insufficient privileges, anything else error. Other actions: 0-7 pass,
 * anything else error.
 */
int mapExitCode(const std::string& action, int exit_code);

/** The argument a script gets for @p action: `monitor` runs `status`. */
std::string scriptAction(const std::string& action);

/**
 * Fields of the `### BEGIN INIT INFO` … `### END INIT INFO` block: Provides,
 * Required-Start, Required-Stop, Should-Start, Should-Stop, Default-Start,
 * Default-Stop, Short-Description, Description (continuation lines, `#`
 * followed by a tab or two spaces, are appended). Empty without a block.
 */
std::map<std::string, std::string> parseInitInfo(std::string_view script);

/** OCF metadata XML for a script named @p name with header @p info. */
std::string synthesizeMetadata(const std::string& name, const std::map<std::string, std::string>& info);

/** First `<dir>/<name>` that is an executable file; @p name must be a plain file name. */
std::optional<std::string> findScript(const std::vector<std::string>& dirs, const std::string& name);

/** Executable files across @p dirs, sorted and unique. */
std::vector<std::string> listScripts(const std::vector<std::string>& dirs);

}  // namespace lrm::plugins::lsb
