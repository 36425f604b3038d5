// Test support implementation (see pcmk_peer.hpp).
#include "pcmk_peer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

#include "remote_message.hpp"

namespace lrm::test {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(left, 0));
}

// A port nothing listens on now (the kernel's next ephemeral one).
std::uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("unable to find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

PcmkPeer::PcmkPeer(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error("unable to connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(error));
  }
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

PcmkPeer::~PcmkPeer() {
  if (session_) {
    if (handshake_done_) gnutls_bye(session_, GNUTLS_SHUT_WR);
    gnutls_deinit(session_);
  }
  if (credentials_) gnutls_psk_free_client_credentials(credentials_);
  ::close(fd_);
}

std::string PcmkPeer::handshake(const std::string& key, Millis timeout) {
  gnutls_psk_allocate_client_credentials(&credentials_);
  gnutls_datum_t datum{reinterpret_cast<unsigned char*>(const_cast<char*>(key.data())),
                       static_cast<unsigned>(key.size())};
  gnutls_psk_set_client_credentials(credentials_, "lrmd", &datum, GNUTLS_PSK_KEY_RAW);
  // GNUTLS_NO_SIGNAL: the server may be gone when this peer says goodbye.
  gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
  gnutls_priority_set_direct(session_, "NORMAL:+DHE-PSK:+PSK", nullptr);
  gnutls_credentials_set(session_, GNUTLS_CRD_PSK, credentials_);
  gnutls_transport_set_int(session_, fd_);
  gnutls_handshake_set_timeout(session_, static_cast<unsigned>(timeout.count()));
  int rc = 0;
  do {
    rc = gnutls_handshake(session_);
  } while (rc < 0 && !gnutls_error_is_fatal(rc));
  if (rc < 0) return gnutls_strerror(rc);
  handshake_done_ = true;
  return "";
}

void PcmkPeer::sendRaw(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t rc = handshake_done_ ? gnutls_record_send(session_, bytes.data() + sent, bytes.size() - sent)
                                       : ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || (rc < 0 && !handshake_done_ && errno == EINTR)) continue;
    if (rc < 0) throw std::runtime_error("unable to send to lrm-remoted: " + std::to_string(rc));
    sent += static_cast<std::size_t>(rc);
  }
}

void PcmkPeer::send(const wire::Message& message) {
  std::string error;
  const auto frame = writer_.encode(wire::encode(message), error);
  if (!frame) throw std::runtime_error("unable to frame a message: " + error);
  sendRaw(frame->header);
  sendRaw(frame->payload);
}

PcmkPeer::Received PcmkPeer::receive(Millis timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  char buffer[64 * 1024];
  for (;;) {
    pacemaker::Frame frame;
    switch (reader_.next(frame)) {
      case pacemaker::FrameReader::Status::Frame: {
        std::string error;
        auto message = pacemaker::parseMessage(frame.xml, error);
        if (!message) throw std::runtime_error("lrm-remoted sent a malformed message: " + error);
        return {Received::Status::Message, std::move(*message)};
      }
      case pacemaker::FrameReader::Status::Error:
        throw std::runtime_error("lrm-remoted broke the framing: " + reader_.error());
      case pacemaker::FrameReader::Status::NeedMore:
        break;
    }
    if (!handshake_done_) throw std::runtime_error("receive() before the handshake");
    gnutls_record_set_timeout(session_, static_cast<unsigned>(std::max(remainingMs(deadline), 1)));
    const ssize_t rc = gnutls_record_recv(session_, buffer, sizeof buffer);
    if (rc > 0) {
      reader_.feed(buffer, static_cast<std::size_t>(rc));
    } else if (rc == 0) {
      return {Received::Status::Closed, {}};
    } else if (rc == GNUTLS_E_TIMEDOUT || rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
      if (Clock::now() >= deadline) return {Received::Status::Timeout, {}};
    } else if (gnutls_error_is_fatal(static_cast<int>(rc))) {
      return {Received::Status::Closed, {}};  // e.g. no close_notify: the socket was closed
    }
  }
}

wire::Message PcmkPeer::expectMessage(Millis timeout) {
  Received received = receive(timeout);
  if (received.status == Received::Status::Closed) throw std::runtime_error("lrm-remoted closed the connection");
  if (received.status == Received::Status::Timeout) throw std::runtime_error("no message from lrm-remoted in time");
  return std::move(received.message);
}

bool PcmkPeer::waitClosed(Millis timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  if (!handshake_done_) {
    for (;;) {
      pollfd fd{fd_, POLLIN, 0};
      if (::poll(&fd, 1, remainingMs(deadline)) <= 0) return false;
      char byte = 0;
      const ssize_t rc = ::recv(fd_, &byte, 1, 0);
      // Anything the server says before closing (a TLS alert) is skipped.
      if (rc <= 0) return true;
    }
  }
  for (;;) {
    const Received received = receive(Millis(std::max(remainingMs(deadline), 1)));
    if (received.status == Received::Status::Closed) return true;
    if (received.status == Received::Status::Timeout) return false;
  }
}

wire::Message PcmkPeer::command(const std::string& op, std::uint64_t id) {
  wire::Message message("lrmd_command");
  message.set("t", "lrmd").set("lrmd_op", op).set("lrmd_remote_msg_id", id).set("lrmd_remote_msg_type", "request");
  return message;
}

wire::Message PcmkPeer::signOn(std::uint64_t id, const std::string& version, const std::string& name) {
  wire::Message request = command("register", id);
  request.set("lrmd_clientname", name).set("lrmd_protocol_version", version).set("lrmd_is_ipc_provider", "true");
  send(request);
  return expectMessage();
}

std::string writeAuthKey(const TempDir& dir, std::string& bytes) {
  std::random_device random;
  bytes.resize(4096);
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xff);
  const std::string path = dir.file("authkey");
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

RemotedProcess::RemotedProcess(RemotedOptions options) {
  const std::string key_path = writeAuthKey(dir_, key_);
  // An empty defaults file: the host's /etc/default/pacemaker is not read.
  const std::string defaults_path = dir_.file("pacemaker-defaults");
  std::ofstream{defaults_path};
  // The free port may be taken between finding and binding it: try again then.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = freePort();
    std::vector<std::string> argv = {binary("lrm-remoted"), "--foreground", "--socket", options.lrmd_socket,
                                     "--address", "127.0.0.1", "--port", std::to_string(port_),
                                     "--authkey", key_path, "--log-level", "debug",
                                     "--log-target", dir_.file("remoted.log"),
                                     "--pacemaker-defaults", defaults_path};
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    const int output = ::open(dir_.file("remoted.stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_ = spawnProcess(argv, options.env, output, output);
    ::close(output);
    bool exited = false;
    const bool listening = waitUntil([&] {
      if (!alive()) {
        exited = true;
        return true;
      }
      return log().find("serving Pacemaker Remote connections") != std::string::npos;
    });
    if (listening && !exited) return;
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      break;
    }
    if (log().find("Address already in use") == std::string::npos) break;
  }
  throw std::runtime_error("lrm-remoted did not start; its log:\n" + log());
}

RemotedProcess::~RemotedProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const int status = waitExit(kPatience);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  EXPECT_EQ(status, 0) << "lrm-remoted did not exit cleanly; its log:\n" << log();
}

std::string RemotedProcess::log() const {
  return readFile(dir_.file("remoted.log")) + readFile(dir_.file("remoted.stderr"));
}

bool RemotedProcess::waitForLog(const std::string& text, Millis timeout) const {
  return waitUntil([&] { return log().find(text) != std::string::npos; }, timeout);
}

std::unique_ptr<PcmkPeer> RemotedProcess::connect() const {
  auto peer = std::make_unique<PcmkPeer>(port_);
  const std::string error = peer->handshake(key_);
  if (!error.empty()) throw std::runtime_error("TLS handshake with lrm-remoted failed: " + error);
  return peer;
}

void RemotedProcess::signal(int signal_number) const {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

int RemotedProcess::waitExit(Millis timeout) {
  if (pid_ <= 0) return -1;
  int status = 0;
  pid_t done = 0;
  waitUntil([&] {
    done = ::waitpid(pid_, &status, WNOHANG);
    return done != 0;
  }, timeout);
  if (done == 0) return -1;
  pid_ = -1;
  return done > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool RemotedProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
  pid_ = -1;
  return false;
}

}  // namespace lrm::test
