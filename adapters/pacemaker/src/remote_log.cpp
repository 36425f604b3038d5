// Poco channels behind lrm-remoted's one-function logging API.
#include "remote_log.hpp"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FileChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/PatternFormatter.h>
#include <Poco/SyslogChannel.h>

#include <cstddef>
#include <stdexcept>

namespace lrm::pacemaker {
namespace {

// A peer's 1 MB client name must not become a 1 MB log line.
constexpr std::size_t kMaxLogLineBytes = 4096;

Poco::Message::Priority toPriority(sdk::LogLevel level) {
  switch (level) {
    case sdk::LogLevel::Error: return Poco::Message::PRIO_ERROR;
    case sdk::LogLevel::Warning: return Poco::Message::PRIO_WARNING;
    case sdk::LogLevel::Notice: return Poco::Message::PRIO_NOTICE;
    case sdk::LogLevel::Info: return Poco::Message::PRIO_INFORMATION;
    case sdk::LogLevel::Debug: return Poco::Message::PRIO_DEBUG;
    case sdk::LogLevel::Trace: return Poco::Message::PRIO_TRACE;
  }
  return Poco::Message::PRIO_INFORMATION;
}

Poco::Logger& logger() { return Poco::Logger::get("lrm-remoted"); }

std::string printable(const std::string& message) {
  static const char kHex[] = "0123456789abcdef";
  const bool clipped = message.size() > kMaxLogLineBytes;
  const std::size_t size = clipped ? kMaxLogLineBytes : message.size();
  std::string out;
  out.reserve(size + 32);
  for (std::size_t i = 0; i < size; ++i) {
    const auto byte = static_cast<unsigned char>(message[i]);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += message[i];
    }
  }
  if (clipped) out += "...[" + std::to_string(message.size() - size) + " more bytes]";
  return out;
}

}  // namespace

void setupRemoteLogging(const std::string& name, const std::string& target, sdk::LogLevel level) {
  const std::string pattern = "%Y-%m-%d %H:%M:%S.%i " + name + "[%P] %p: %t";
  Poco::AutoPtr<Poco::Channel> sink;
  Poco::AutoPtr<Poco::PatternFormatter> formatter;
  if (target == "stderr") {
    sink = new Poco::ConsoleChannel();
    formatter = new Poco::PatternFormatter(pattern);
  } else if (target == "syslog") {
    sink = new Poco::SyslogChannel(name, Poco::SyslogChannel::SYSLOG_PID, Poco::SyslogChannel::SYSLOG_DAEMON);
    formatter = new Poco::PatternFormatter("%t");
  } else if (!target.empty() && target[0] == '/') {
    sink = new Poco::FileChannel(target);
    formatter = new Poco::PatternFormatter(pattern);
  } else {
    throw std::runtime_error("log target must be stderr, syslog or an absolute file path, not '" + target + "'");
  }
  Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(formatter, sink));
  // "" names every logger, existing or created later, so a module that logs
  // through its own Poco logger goes to the same place.
  Poco::Logger::root().setChannel(channel);
  Poco::Logger::root().setLevel(toPriority(level));
  Poco::Logger::setChannel("", channel);
  Poco::Logger::setLevel("", toPriority(level));
}

bool remoteLogEnabled(sdk::LogLevel level) { return logger().is(toPriority(level)); }

void remoteLog(sdk::LogLevel level, const std::string& message) {
  if (!remoteLogEnabled(level)) return;
  logger().log(Poco::Message("lrm-remoted", printable(message), toPriority(level)));
}

}  // namespace lrm::pacemaker
