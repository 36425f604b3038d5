// Poco channels behind lrm-remoted's one-function logging API.
#include "remote_log.hpp"

#include <Poco/Logger.h>
#include <Poco/Message.h>

#include "logging/logging.hpp"

namespace lrm::pacemaker {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("lrm-remoted"); }

}  // namespace

void setupRemoteLogging(const std::string& name, const std::string& target, sdk::LogLevel level) {
  const Poco::AutoPtr<Poco::Channel> channel = logging::makeChannel(name, target);
  // "" names every logger, existing or created later, so a module that logs
  // through its own Poco logger goes to the same place.
  Poco::Logger::root().setChannel(channel);
  Poco::Logger::root().setLevel(logging::toPriority(level));
  Poco::Logger::setChannel("", channel);
  Poco::Logger::setLevel("", logging::toPriority(level));
}

bool remoteLogEnabled(sdk::LogLevel level) { return logger().is(logging::toPriority(level)); }

void remoteLog(sdk::LogLevel level, const std::string& message) {
  if (!remoteLogEnabled(level)) return;
  logger().log(Poco::Message("lrm-remoted", logging::printable(message), logging::toPriority(level)));
}

}  // namespace lrm::pacemaker
