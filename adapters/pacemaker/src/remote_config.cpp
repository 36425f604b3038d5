// lrm-remoted's configuration: one table of settings (option, environment
// variable, help) from which the command line, the --help text and the
// lookup in every source are derived, then one validation per setting.
#include "remote_config.hpp"

#include <Poco/Exception.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionProcessor.h>
#include <Poco/Util/OptionSet.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "shell_variables.hpp"

namespace lrm::pacemaker {

namespace {

struct OptionSpec {
  const char* name;       // long option, without "--"
  const char* argument;   // nullptr: a switch
  const char* variable;   // environment variable, or nullptr: the command line only
  bool in_defaults_file;  // the variable is also read from the defaults file
  const char* help;
};

constexpr OptionSpec kOptions[] = {
    {"port", "PORT", "PCMK_remote_port", true, "TCP port to listen on (default 3121)"},
    {"address", "ADDRESS", "PCMK_remote_address", true,
     "IPv4 or IPv6 address or host name to listen on (default: all addresses)"},
    {"authkey", "FILE", "PCMK_authkey_location", true, "PSK key file (default /etc/pacemaker/authkey)"},
    {"tls-priorities", "STRING", "PCMK_tls_priorities", true, "GnuTLS priority string (default NORMAL)"},
    {"ca-file", "FILE", "PCMK_ca_file", true, "X.509 mode: CA that signs the cluster's certificates"},
    {"cert-file", "FILE", "PCMK_cert_file", true, "X.509 mode: this node's certificate"},
    {"key-file", "FILE", "PCMK_key_file", true, "X.509 mode: this node's private key"},
    {"crl-file", "FILE", "PCMK_crl_file", true, "X.509 mode: certificate revocation list (optional)"},
    {"pacemaker-defaults", "FILE", nullptr, false,
     "read the PCMK_* settings from FILE (default /etc/default/pacemaker)"},
    {"socket", "PATH", "LRM_SOCKET", false, "lrmd's socket (default as lrmctl's)"},
    {"log-level", "LEVEL", nullptr, false, "error, warning, notice, info (default), debug or trace"},
    {"log-target", "TARGET", nullptr, false, "stderr, syslog or an absolute file path"},
    {"foreground", nullptr, nullptr, false, "do not detach; log to stderr by default"},
    {"version", nullptr, nullptr, false, "print the version and exit"},
    {"help", nullptr, nullptr, false, "print this help and exit"},
};

const OptionSpec& spec(std::string_view name) {
  for (const auto& option : kOptions) {
    if (name == option.name) return option;
  }
  throw std::logic_error("no option --" + std::string(name));  // a typo in this file
}

Poco::Util::OptionSet optionSet() {
  Poco::Util::OptionSet options;
  for (const auto& spec : kOptions) {
    std::string help = spec.help;
    if (spec.variable) help += std::string(" [$") + spec.variable + "]";
    Poco::Util::Option option(spec.name, "", help);
    if (spec.argument) option.argument(spec.argument);
    options.addOption(option);
  }
  return options;
}

// A setting's value and where it came from, for error messages.
struct Setting {
  std::string value;
  std::string source;  // "--port", "PCMK_remote_port in the environment", "PCMK_remote_port at FILE line N"
};

// The three sources, searched in order of precedence.
struct Sources {
  const std::map<std::string, std::string>& options;
  const Environment& environment;
  const ShellVariables& file;
  const std::string& file_path;

  std::optional<Setting> find(std::string_view name) const {
    const OptionSpec& option = spec(name);
    if (const auto it = options.find(option.name); it != options.end() && !it->second.empty()) {
      return Setting{it->second, std::string("--") + option.name};
    }
    if (!option.variable) return std::nullopt;
    if (const auto it = environment.find(option.variable); it != environment.end() && !it->second.empty()) {
      return Setting{it->second, std::string(option.variable) + " in the environment"};
    }
    if (!option.in_defaults_file) return std::nullopt;
    if (const ShellVariable* variable = file.find(option.variable); variable && !variable->value.empty()) {
      return Setting{variable->value,
                     std::string(option.variable) + " at " + file_path + " line " + std::to_string(variable->line)};
    }
    return std::nullopt;
  }
};

std::string errnoText(int error) { return std::generic_category().message(error); }

// A file's contents, or why it cannot be used.
struct FileContents {
  enum class Problem { None, Missing, Empty, Other };
  std::string bytes;
  Problem problem = Problem::None;
  std::string error;  // why, when problem is not None
};

// Reads (or, without @p read, only checks) a non-empty regular file of at most
// @p max_bytes. Opened non-blocking: a FIFO given by mistake must not hang the
// daemon; only regular files are accepted, so nothing else is ever read.
FileContents readRegularFile(const std::string& path, std::size_t max_bytes, bool read) {
  FileContents contents;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    contents.problem = errno == ENOENT ? FileContents::Problem::Missing : FileContents::Problem::Other;
    contents.error = errnoText(errno);
    return contents;
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    contents.error = errnoText(errno);
  } else if (!S_ISREG(status.st_mode)) {
    contents.error = "not a regular file";
  } else if (status.st_size == 0) {
    contents.problem = FileContents::Problem::Empty;
    contents.error = "the file is empty";
  } else if (static_cast<std::uint64_t>(status.st_size) > max_bytes) {
    contents.error = "larger than " + std::to_string(max_bytes) + " bytes";
  }
  while (read && contents.error.empty()) {
    char buffer[4096];
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      contents.error = errnoText(errno);
    } else if (got == 0) {
      if (contents.bytes.empty()) {
        contents.problem = FileContents::Problem::Empty;
        contents.error = "the file is empty";
      }
      break;
    } else if (contents.bytes.size() + static_cast<std::size_t>(got) > max_bytes) {
      contents.error = "larger than " + std::to_string(max_bytes) + " bytes";  // it grew meanwhile
    } else {
      contents.bytes.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  if (!contents.error.empty()) {
    if (contents.problem == FileContents::Problem::None) contents.problem = FileContents::Problem::Other;
    contents.bytes.clear();
  }
  return contents;
}

// "(--port)", or "(the default)" for a built-in value.
std::string fromSource(const std::string& source) { return "(" + (source.empty() ? "the default" : source) + ")"; }

// Strictly decimal: digits only, no sign, no blanks, no suffix.
std::optional<std::uint16_t> parsePort(const std::string& text) {
  unsigned long value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// RFC 1123 host name: dot-separated labels of 1-63 letters, digits and
// hyphens, no hyphen first or last, at most 253 bytes, optional final dot; a
// last label of digits only is not a name (it is a malformed IPv4 address).
bool isHostName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  bool digits_only = false;
  while (true) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    digits_only = true;
    for (const char c : label) {
      const bool digit = c >= '0' && c <= '9';
      if (!digit && c != '-' && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
      digits_only = digits_only && digit;
    }
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return !digits_only;
}

// Why @p address cannot be listened on, or empty. Host names are resolved
// when the listener binds (getaddrinfo, as pacemaker-remoted does), not here.
std::string addressProblem(const std::string& address) {
  if (address.front() == '[') return "write an IPv6 address without brackets";
  in_addr ipv4{};
  if (::inet_pton(AF_INET, address.c_str(), &ipv4) == 1) return {};
  // An IPv6 address may carry a zone: fe80::1%eth0.
  const std::size_t percent = address.find('%');
  in6_addr ipv6{};
  if (::inet_pton(AF_INET6, address.substr(0, percent).c_str(), &ipv6) == 1) {
    return percent + 1 == address.size() ? "the IPv6 zone after '%' is empty" : "";
  }
  if (isHostName(address)) return {};
  return "not an IPv4 address, IPv6 address or host name";
}

// One of the X.509 variables, for messages: "PCMK_ca_file (--ca-file)".
std::string x509Name(std::string_view option) {
  return std::string(spec(option).variable) + " (--" + std::string(option) + ")";
}

class Loader {
 public:
  Loader(const Sources& sources, const HostDefaults& host, LoadedRemoteConfig& out)
      : sources_(sources), host_(host), out_(out), config_(out.config) {}

  void load() {
    loadPort();
    loadAddress();
    if (const auto priorities = sources_.find("tls-priorities")) config_.tls_priorities = priorities->value;
    if (!loadX509()) loadAuthKey();
    loadSocket();
    loadLogging();
  }

 private:
  void error(std::string text) { out_.errors.push_back(std::move(text)); }

  void loadPort() {
    const auto port = sources_.find("port");
    if (!port) return;
    if (const auto value = parsePort(port->value)) {
      config_.port = *value;
    } else {
      error("unable to use port '" + port->value + "' " + fromSource(port->source) + ": not a number from 1 to 65535");
    }
  }

  void loadAddress() {
    const auto address = sources_.find("address");
    if (!address) return;
    if (const std::string problem = addressProblem(address->value); !problem.empty()) {
      error("unable to use address '" + address->value + "' " + fromSource(address->source) + ": " + problem);
    }
    config_.address = address->value;
  }

  // Returns whether X.509 mode is configured: PSK is then not used. As in
  // Pacemaker, X.509 needs the CA, certificate and key all set; a partial
  // set leaves the node in PSK mode (a warning says so), so that a node
  // moved from pacemaker-remoted keeps working with its configuration.
  bool loadX509() {
    constexpr std::string_view kRequired[] = {"ca-file", "cert-file", "key-file"};
    std::vector<std::string> set;
    std::vector<std::string> missing;
    for (const auto name : kRequired) (sources_.find(name) ? set : missing).push_back(x509Name(name));
    const auto crl = sources_.find("crl-file");
    if (crl) set.push_back(x509Name("crl-file"));
    if (set.empty()) return false;
    if (!missing.empty()) {
      out_.warnings.push_back("not using X.509 mode: " + join(set) + (set.size() == 1 ? " is" : " are") +
                              " set but " + join(missing) + (missing.size() == 1 ? " is" : " are") +
                              " not; using the PSK key file (set the CA, certificate and key files for X.509)");
      return false;
    }
    X509Files files;
    files.ca_file = checkedFile("CA file", *sources_.find("ca-file"));
    files.cert_file = checkedFile("certificate file", *sources_.find("cert-file"));
    files.key_file = checkedFile("private key file", *sources_.find("key-file"));
    if (crl) files.crl_file = checkedFile("revocation list file", *crl);
    config_.x509 = files;
    if (const auto authkey = sources_.find("authkey")) {
      out_.warnings.push_back("ignoring the PSK key file '" + authkey->value + "' " + fromSource(authkey->source) +
                              ": X.509 mode is configured, and it uses no PSK");
    }
    return true;
  }

  // The path in @p file, checked to be a non-empty regular file GnuTLS can read later.
  std::string checkedFile(const char* what, const Setting& file) {
    const FileContents check = readRegularFile(file.value, SIZE_MAX, false);
    if (check.problem != FileContents::Problem::None) {
      error(std::string("unable to read ") + what + " '" + file.value + "' " + fromSource(file.source) + ": " +
            check.error);
    }
    return file.value;
  }

  void loadAuthKey() {
    const auto configured = sources_.find("authkey");
    config_.authkey_path = configured ? configured->value : host_.authkey_file;
    FileContents key = readRegularFile(config_.authkey_path, kMaxAuthKeyBytes, true);
    // Pacemaker 2.1 used Corosync's key when its own default did not exist;
    // Pacemaker 3.0 does not. A configured key is never replaced.
    if (key.problem == FileContents::Problem::Missing && !configured) {
      FileContents legacy = readRegularFile(host_.legacy_authkey_file, kMaxAuthKeyBytes, true);
      if (legacy.problem == FileContents::Problem::None) {
        out_.warnings.push_back("using the key file '" + host_.legacy_authkey_file + "' because '" +
                                host_.authkey_file +
                                "' does not exist (a fallback of Pacemaker 2.1 that Pacemaker 3.0 removed): "
                                "move the key to '" +
                                host_.authkey_file + "' or set PCMK_authkey_location");
        config_.authkey_path = host_.legacy_authkey_file;
        config_.authkey = std::move(legacy.bytes);
        return;
      }
      key.error += "; nor '" + host_.legacy_authkey_file + "' (Pacemaker 2.1's fallback): " + legacy.error;
    }
    if (key.problem != FileContents::Problem::None) {
      error("unable to read key file '" + config_.authkey_path + "' " +
            fromSource(configured ? configured->source : "") + ": " + key.error);
      return;
    }
    config_.authkey = std::move(key.bytes);
  }

  void loadSocket() {
    const auto socket = sources_.find("socket");
    config_.socket_path = socket ? socket->value : host_.socket_path;
    constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
    if (config_.socket_path.size() > kMaxSocketPath) {
      error("unable to use lrmd's socket '" + config_.socket_path + "' " + fromSource(socket ? socket->source : "") +
            ": longer than " + std::to_string(kMaxSocketPath) + " bytes");
    } else if (config_.socket_path.empty()) {
      error("unable to find lrmd's socket: no --socket, no LRM_SOCKET and no default");
    }
  }

  void loadLogging() {
    config_.foreground = sources_.find("foreground").has_value();
    if (const auto level = sources_.find("log-level")) {
      if (const auto parsed = sdk::parseLogLevel(level->value)) {
        config_.log_level = *parsed;
      } else {
        error("unable to use log level '" + level->value + "' " + fromSource(level->source) +
              ": not one of error, warning, notice, info, debug, trace");
      }
    }
    const auto target = sources_.find("log-target");
    config_.log_target = target ? target->value : config_.foreground ? "stderr" : "syslog";
    if (target && target->value != "stderr" && target->value != "syslog" && target->value.front() != '/') {
      error("unable to use log target '" + target->value + "' " + fromSource(target->source) +
            ": not stderr, syslog or an absolute file path");
    }
  }

  static std::string join(const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) text += i + 1 == names.size() ? " and " : ", ";
      text += names[i];
    }
    return text;
  }

  const Sources& sources_;
  const HostDefaults& host_;
  LoadedRemoteConfig& out_;
  RemoteConfig& config_;
};

}  // namespace

RemoteCommandLine parseRemoteCommandLine(const std::vector<std::string>& args) {
  RemoteCommandLine result;
  const Poco::Util::OptionSet options = optionSet();
  Poco::Util::OptionProcessor processor(options);
  processor.setUnixStyle(true);
  try {
    for (const auto& arg : args) {
      std::string name;
      std::string value;
      if (!processor.process(arg, name, value)) {
        result.error = "unexpected argument '" + arg + "'";
        return result;
      }
      if (!name.empty()) result.options[name] = spec(name).argument ? value : "true";
    }
    processor.checkRequired();
  } catch (const Poco::Exception& e) {
    result.error = e.displayText();
    return result;
  }
  result.action = result.options.count("help")      ? RemoteAction::ShowHelp
                  : result.options.count("version") ? RemoteAction::ShowVersion
                                                    : RemoteAction::Run;
  return result;
}

std::string remoteHelpText() {
  const Poco::Util::OptionSet options = optionSet();
  Poco::Util::HelpFormatter help(options);
  help.setCommand("lrm-remoted");
  help.setUsage("[OPTIONS]");
  help.setHeader("Serves Pacemaker Remote connections of a cluster and runs their operations through lrmd.");
  help.setFooter(
      "Each setting comes from its option, else its environment variable, else (PCMK_* only) "
      "the defaults file, else its default.");
  help.setUnixStyle(true);
  std::ostringstream text;
  help.format(text);
  return text.str();
}

LoadedRemoteConfig loadRemoteConfig(const std::vector<std::string>& args,
                                    const Environment& environment,
                                    const HostDefaults& host) {
  LoadedRemoteConfig out;
  const RemoteCommandLine command_line = parseRemoteCommandLine(args);
  out.action = command_line.action;
  if (!command_line.error.empty()) {
    out.errors.push_back("unable to parse the command line: " + command_line.error + " (see --help)");
    return out;
  }
  if (out.action == RemoteAction::ShowHelp) out.text = remoteHelpText();
  if (out.action == RemoteAction::ShowVersion) out.text = "lrm-remoted " LRM_VERSION "\n";
  if (out.action != RemoteAction::Run) return out;

  const auto given = command_line.options.find("pacemaker-defaults");
  const bool file_given = given != command_line.options.end() && !given->second.empty();
  const std::string file_path = file_given ? given->second : host.pacemaker_defaults_file;
  ShellVariables file;
  const FileContents contents = readRegularFile(file_path, kMaxDefaultsFileBytes, true);
  using Problem = FileContents::Problem;
  if (contents.problem == Problem::None) {
    file = parseShellVariables(contents.bytes);
  } else if (contents.problem == Problem::Other || (contents.problem == Problem::Missing && file_given)) {
    // An empty file is a file without settings; the default file is optional.
    out.errors.push_back("unable to read the defaults file '" + file_path + "' " +
                         fromSource(file_given ? "--pacemaker-defaults" : "") + ": " + contents.error);
  }
  for (const auto& skipped : file.skipped) {
    out.warnings.push_back("ignoring line " + std::to_string(skipped.line) + " of '" + file_path +
                           "': " + skipped.reason);
  }
  const Sources sources{command_line.options, environment, file, file_path};
  Loader(sources, host, out).load();
  return out;
}

}  // namespace lrm::pacemaker
