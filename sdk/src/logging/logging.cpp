// Poco channels and formatters for lrm's programs (logging.hpp).
#include "logging/logging.hpp"

#include <Poco/ConsoleChannel.h>
#include <Poco/FileChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/PatternFormatter.h>
#include <Poco/SyslogChannel.h>

#include <stdexcept>

namespace lrm::logging {

std::string clip(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...[" + std::to_string(text.size() - max) + " more bytes]";
}

std::string printable(std::string_view message) {
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

Poco::AutoPtr<Poco::Channel> makeChannel(const std::string& program, const std::string& target) {
  const std::string pattern = "%Y-%m-%d %H:%M:%S.%i " + program + "[%P] %p: %t";
  Poco::AutoPtr<Poco::Channel> sink;
  Poco::AutoPtr<Poco::PatternFormatter> formatter;
  if (target == "stderr") {
    sink = new Poco::ConsoleChannel();  // std::clog, i.e. stderr
    formatter = new Poco::PatternFormatter(pattern);
  } else if (target == "syslog") {
    sink = new Poco::SyslogChannel(program, Poco::SyslogChannel::SYSLOG_PID, Poco::SyslogChannel::SYSLOG_DAEMON);
    formatter = new Poco::PatternFormatter("%t");
  } else if (!target.empty() && target[0] == '/') {
    sink = new Poco::FileChannel(target);
    formatter = new Poco::PatternFormatter(pattern);
  } else {
    throw std::runtime_error("log target must be stderr, syslog or an absolute file path, not '" + target + "'");
  }
  return new Poco::FormattingChannel(formatter, sink);
}

}  // namespace lrm::logging
