// Logging for the daemon, through Poco's logging framework. Every line about
// an instance starts with "[<human name> <id>]" so it can be grepped by either.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "logging/logging.hpp"
#include "lrm/sdk/types.hpp"

namespace lrm::kernel {


/**
 * Configure the root logger: @p target is `stderr`, `syslog` or a file path.
 * @throws std::runtime_error on a bad target.
 */
void setupLogging(const std::string& target, sdk::LogLevel level);

/**
 * Close the log file (the next message opens it again). Before exec():
 * Poco opens it without close-on-exec, so it would stay open in the new image.
 */
void closeLogTarget();

using logging::clip;
using logging::kMaxLogLineBytes;

/** "[web r1]" or "[web r1] start (call 5)" for the given context. */
std::string contextPrefix(const sdk::LogContext& context);

void log(sdk::LogLevel level, const std::string& message);
void log(sdk::LogLevel level, const sdk::LogContext& context, const std::string& message);
bool logEnabled(sdk::LogLevel level);

}  // namespace lrm::kernel
