// The configuration of lrm-remoted, lrm's Pacemaker Remote endpoint: the
// settings a node moved from pacemaker-remoted already has (the PCMK_*
// variables, from the environment or Debian's /etc/default/pacemaker) and
// lrm's own, merged as command line > environment > defaults file > default.
// Loading is pure but for reading the files it is given, so tests pass their
// own environment and files and never touch the host's /etc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lrm/sdk/types.hpp"

namespace lrm::pacemaker {

/** Pacemaker Remote's port (PCMK_remote_port's default). */
inline constexpr std::uint16_t kDefaultRemotePort = 3121;

/**
 * Longest key file accepted: a TLS 1.2 PSK travels in 16-bit length fields
 * (RFC 4279), so a longer key cannot work, and a mistaken path such as
 * /dev/zero must not be read forever.
 */
inline constexpr std::size_t kMaxAuthKeyBytes = 65535;

/** Longest /etc/default/pacemaker read (it is a few kilobytes of comments). */
inline constexpr std::size_t kMaxDefaultsFileBytes = 1024 * 1024;

/** The files of Pacemaker 3.0's X.509 mode (no PSK then). */
struct X509Files {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string crl_file;  ///< empty: no revocation list
};

/** Everything lrm-remoted runs with, validated. */
struct RemoteConfig {
  std::uint16_t port = kDefaultRemotePort;
  /** IPv4 or IPv6 literal or host name to listen on; empty: every address. */
  std::string address;
  /** GnuTLS priority string; the transport appends the PSK suffix in PSK mode. */
  std::string tls_priorities = "NORMAL";
  /** PSK mode: where the key was read, and its bytes (the whole file is the key). */
  std::string authkey_path;
  std::string authkey;
  /** Set: X.509 mode (client certificates required, no PSK, authkey_* empty). */
  std::optional<X509Files> x509;
  /** lrmd's socket. */
  std::string socket_path;
  sdk::LogLevel log_level = sdk::LogLevel::Info;
  /** stderr, syslog or an absolute file path. */
  std::string log_target;
  bool foreground = false;
};

/** Where the built-in defaults of the host are; tests point them into a temporary directory. */
struct HostDefaults {
  std::string pacemaker_defaults_file = "/etc/default/pacemaker";
  std::string authkey_file = "/etc/pacemaker/authkey";
  /** Pacemaker 2.1's fallback when authkey_file does not exist (see loadRemoteConfig). */
  std::string legacy_authkey_file = "/etc/corosync/authkey";
  /** lrmd's socket when neither --socket nor $LRM_SOCKET is set; the daemon passes
   *  lrm::client::defaultSocketPath(), lrmctl's default. */
  std::string socket_path;
};

/** What the command line asks for. */
enum class RemoteAction { Invalid = 0, Run, ShowHelp, ShowVersion };

/** The outcome of loading: start with @c config only when @c errors is empty. */
struct LoadedRemoteConfig {
  RemoteAction action = RemoteAction::Invalid;
  RemoteConfig config;
  /** For ShowHelp and ShowVersion: what to print (then exit 0). */
  std::string text;
  /** Things to log at warning level when starting (e.g. a skipped line of the defaults file). */
  std::vector<std::string> warnings;
  /** Each a whole sentence naming the setting, its source and what is wrong. Any: exit 2. */
  std::vector<std::string> errors;
};

using Environment = std::map<std::string, std::string>;

/** The command line split into settings: option name (without "--") → value ("true" for switches). */
struct RemoteCommandLine {
  RemoteAction action = RemoteAction::Invalid;
  std::map<std::string, std::string> options;
  std::string error;  ///< set: a usage error, everything else is meaningless
};

/**
 * Parses lrm-remoted's arguments (@p args without the program name): every
 * option is `--name VALUE`, `--name=VALUE` or a switch; an unambiguous prefix
 * of a name is accepted (as by lrmd); an option given twice, an unknown
 * option, a missing value or a positional argument is an error.
 */
RemoteCommandLine parseRemoteCommandLine(const std::vector<std::string>& args);

/** lrm-remoted's --help text. */
std::string remoteHelpText();

/**
 * Loads the configuration: each setting comes from its command-line option,
 * else its environment variable in @p environment, else its assignment in the
 * defaults file (`--pacemaker-defaults`, else host.pacemaker_defaults_file;
 * only the PCMK_* variables, never executed; a missing default file is no
 * error), else its default. An empty value counts as unset. Reads the
 * defaults file, the key (PSK mode) and checks the X.509 files are readable;
 * nothing else touches the host. PSK key: an unreadable or empty configured
 * key is an error; when none is configured and host.authkey_file does not
 * exist, host.legacy_authkey_file is used with a warning (Pacemaker 2.1's
 * fallback, which 3.0 removed), so a node moved from Debian 12's
 * pacemaker-remoted keeps working.
 */
LoadedRemoteConfig loadRemoteConfig(const std::vector<std::string>& args,
                                    const Environment& environment,
                                    const HostDefaults& host);

}  // namespace lrm::pacemaker
