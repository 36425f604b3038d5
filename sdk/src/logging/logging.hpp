// What lrmd and lrm-remoted share about logging through Poco: the channel for
// a log target (stderr, syslog or a file), the priority of each log level,
// and the rule that every message is one printable, bounded line. Each
// program keeps its own small log API on top (kernel/src/log.hpp,
// adapters/pacemaker/src/remote_log.hpp).
#pragma once

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Message.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "lrm/sdk/types.hpp"

namespace lrm::logging {

/**
 * Longest log line, in bytes, before escaping: a longer message keeps its
 * head and says how much was cut (a client's 1 MB element name or an agent's
 * 10 MB stderr line must not become a 1 MB log line).
 */
inline constexpr std::size_t kMaxLogLineBytes = 4096;

/** @p text if it fits in @p max bytes, else its first @p max bytes + "...[N more bytes]". */
std::string clip(std::string_view text, std::size_t max);

/**
 * @p message clipped at kMaxLogLineBytes, with control characters (newlines
 * of agent output or of a hostile peer's text, terminal escapes) shown as
 * \xNN: one message, one line.
 */
std::string printable(std::string_view message);

Poco::Message::Priority toPriority(sdk::LogLevel level);

/**
 * A formatting channel to @p target: `stderr` or an absolute file path (lines
 * stamped with the time, @p program, its pid and the priority) or `syslog`
 * (identity @p program, facility daemon).
 * @throws std::runtime_error on another target.
 */
Poco::AutoPtr<Poco::Channel> makeChannel(const std::string& program, const std::string& target);

}  // namespace lrm::logging
