// lrm-remoted: command line and configuration (remote_config), logging, TLS
// credentials, the listener and daemonisation; the server does the rest.
// Exit status: 0 after a shutdown, 1 when it cannot listen, 2 for a bad
// configuration (the message says which setting and why).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "lrm/client/client.hpp"
#include "remote_config.hpp"
#include "remote_log.hpp"
#include "remote_server.hpp"
#include "tcp_listener.hpp"
#include "tls_transport.hpp"

extern char** environ;

namespace {

using lrm::pacemaker::remoteLog;
using lrm::sdk::LogLevel;

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;

lrm::pacemaker::Environment currentEnvironment() {
  lrm::pacemaker::Environment environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const auto equals = text.find('=');
    if (equals != std::string::npos) environment.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  return environment;
}

// Log a reason to stop, and show it on stderr too when the log goes elsewhere.
int fail(const lrm::pacemaker::RemoteConfig& config, int status, const std::string& message) {
  remoteLog(LogLevel::Error, message);
  if (config.log_target != "stderr") std::cerr << "lrm-remoted: " << message << "\n";
  return status;
}

// Detach like lrmd without --foreground. Everything that can fail at start
// (configuration, key, listening) is done by now, so the parent can report
// success at once; an unreachable lrmd is retried by the daemon itself.
bool detach() {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid > 0) std::_Exit(EXIT_SUCCESS);
  ::setsid();
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
    if (null_fd > 2) ::close(null_fd);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const lrm::pacemaker::Environment environment = currentEnvironment();
  lrm::pacemaker::HostDefaults host;
  host.socket_path = lrm::client::defaultSocketPath();
  const lrm::pacemaker::LoadedRemoteConfig loaded =
      lrm::pacemaker::loadRemoteConfig(std::vector<std::string>(argv + 1, argv + argc), environment, host);
  if (!loaded.errors.empty()) {
    for (const auto& error : loaded.errors) std::cerr << "lrm-remoted: " << error << "\n";
    return kExitConfig;
  }
  if (loaded.action == lrm::pacemaker::RemoteAction::ShowHelp ||
      loaded.action == lrm::pacemaker::RemoteAction::ShowVersion) {
    std::cout << loaded.text;
    return EXIT_SUCCESS;
  }
  const lrm::pacemaker::RemoteConfig& config = loaded.config;
  try {
    lrm::pacemaker::setupRemoteLogging("lrm-remoted", config.log_target, config.log_level);
  } catch (const std::exception& e) {
    std::cerr << "lrm-remoted: unable to set up logging: " << e.what() << "\n";
    return kExitConfig;
  }
  for (const auto& warning : loaded.warnings) remoteLog(LogLevel::Warning, warning);

  lrm::pacemaker::TlsConfig tls;
  tls.psk_key = config.authkey;
  tls.priorities = config.tls_priorities;
  if (config.x509) {
    tls.ca_file = config.x509->ca_file;
    tls.cert_file = config.x509->cert_file;
    tls.key_file = config.x509->key_file;
    tls.crl_file = config.x509->crl_file;
  }
  std::shared_ptr<const lrm::pacemaker::TlsCredentials> credentials;
  try {
    credentials = lrm::pacemaker::TlsCredentials::load(tls);
  } catch (const std::exception& e) {
    return fail(config, kExitConfig, e.what());
  }
  for (const auto& warning : credentials->warnings()) remoteLog(LogLevel::Warning, warning);

  // The server reads these from a signalfd; it starts no children, so no
  // child inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<lrm::pacemaker::TcpListener> listener;
  try {
    listener = std::make_unique<lrm::pacemaker::TcpListener>(config.address, config.port);
  } catch (const std::exception& e) {
    return fail(config, kExitFailure, e.what());
  }
  if (!config.foreground && !detach()) return fail(config, kExitFailure, "unable to detach: fork failed");

  lrm::pacemaker::RemoteServerOptions options;
  options.socket_path = config.socket_path;
  options.listen_address = config.address;
  if (const auto it = environment.find("PCMK_node_start_state"); it != environment.end() && !it->second.empty()) {
    options.node_start_state = it->second;
  }
  try {
    lrm::pacemaker::RemoteServer server(std::move(options), credentials, std::move(listener));
    return server.run();
  } catch (const std::exception& e) {
    return fail(config, kExitFailure, e.what());
  }
}
