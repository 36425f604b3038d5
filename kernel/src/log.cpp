// Poco channels and formatters behind a tiny logging API for the kernel.
#include "log.hpp"

#include <Poco/Logger.h>
#include <Poco/Message.h>

#include "logging/logging.hpp"

namespace lrm::kernel {
namespace {

using logging::printable;
using logging::toPriority;

Poco::Logger& logger() { return Poco::Logger::get("lrmd"); }

}  // namespace

void setupLogging(const std::string& target, sdk::LogLevel level) {
  logger().setChannel(logging::makeChannel("lrmd", target));
  logger().setLevel(toPriority(level));
}

void closeLogTarget() {
  auto channel = logger().getChannel();
  if (!channel.isNull()) channel->close();
}

std::string contextPrefix(const sdk::LogContext& context) {
  std::string prefix;
  if (!context.instance_id.empty()) {
    prefix = "[" + (context.instance_name.empty() ? context.instance_id : context.instance_name) + " " +
             context.instance_id + "]";
  }
  if (!context.action.empty()) prefix += (prefix.empty() ? "" : " ") + context.action;
  if (context.call_id != 0) prefix += " (call " + std::to_string(context.call_id) + ")";
  return prefix;
}

bool logEnabled(sdk::LogLevel level) { return logger().is(toPriority(level)); }

void log(sdk::LogLevel level, const std::string& message) {
  if (!logEnabled(level)) return;
  logger().log(Poco::Message("lrmd", printable(message), toPriority(level)));
}

void log(sdk::LogLevel level, const sdk::LogContext& context, const std::string& message) {
  if (!logEnabled(level)) return;
  const std::string prefix = contextPrefix(context);
  logger().log(Poco::Message("lrmd", printable(prefix.empty() ? message : prefix + " " + message),
                             toPriority(level)));
}

}  // namespace lrm::kernel
