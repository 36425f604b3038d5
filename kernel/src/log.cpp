// Poco channels and formatters behind a tiny logging API for the kernel.
#include "log.hpp"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FileChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/PatternFormatter.h>
#include <Poco/SyslogChannel.h>

#include <stdexcept>

namespace lrm::kernel {
namespace {

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

Poco::Logger& logger() { return Poco::Logger::get("lrmd"); }

// One log line per message: control characters (newlines of agent output or
// of a hostile instance id, terminal escapes) are shown as \xNN.
std::string printable(const std::string& message) {
  static const char kHex[] = "0123456789abcdef";
  const std::string text = clip(message, kMaxLogLineBytes);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string clip(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...[" + std::to_string(text.size() - max) + " more bytes]";
}

void setupLogging(const std::string& target, sdk::LogLevel level) {
  Poco::AutoPtr<Poco::Channel> sink;
  Poco::AutoPtr<Poco::PatternFormatter> formatter;
  if (target == "stderr") {
    sink = new Poco::ConsoleChannel();  // std::clog, i.e. stderr
    formatter = new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i lrmd[%P] %p: %t");
  } else if (target == "syslog") {
    sink = new Poco::SyslogChannel("lrmd", Poco::SyslogChannel::SYSLOG_PID,
                                   Poco::SyslogChannel::SYSLOG_DAEMON);
    formatter = new Poco::PatternFormatter("%t");
  } else if (!target.empty() && target[0] == '/') {
    sink = new Poco::FileChannel(target);
    formatter = new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i lrmd[%P] %p: %t");
  } else {
    throw std::runtime_error("log target must be stderr, syslog or an absolute file path, not '" +
                             target + "'");
  }
  Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(formatter, sink));
  logger().setChannel(channel);
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
