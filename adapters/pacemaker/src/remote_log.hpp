// Logging for lrm-remoted, through Poco's logging framework like lrmd's and
// with the same channels and line rules (sdk/src/logging): one line per
// message (control characters escaped, long text clipped), to stderr, syslog
// or a file.
#pragma once

#include <string>

#include "lrm/sdk/types.hpp"

namespace lrm::pacemaker {

/**
 * Send every logger's messages at @p level and above to @p target: `stderr`,
 * `syslog` (identity @p name) or an absolute file path.
 * @throws std::runtime_error on another target.
 */
void setupRemoteLogging(const std::string& name, const std::string& target, sdk::LogLevel level);

/** Log one message; control characters (e.g. in a peer's client name) are shown as \xNN. */
void remoteLog(sdk::LogLevel level, const std::string& message);
bool remoteLogEnabled(sdk::LogLevel level);

}  // namespace lrm::pacemaker
