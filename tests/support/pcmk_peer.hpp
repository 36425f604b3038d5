// Test support for lrm-remoted: a Pacemaker cluster's side of a Pacemaker
// Remote connection (a GnuTLS PSK client that does the handshake, writes
// header and payload as two records as Pacemaker does, and reads frames),
// and the real lrm-remoted binary started on a free port with a fresh key.
#pragma once

#include <gnutls/gnutls.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon.hpp"
#include "remote_frame.hpp"
#include "wire/wire.hpp"

namespace lrm::test {

/** One cluster connection to lrm-remoted. Blocking, with deadlines; test thread only. */
class PcmkPeer {
 public:
  /** TCP connection to 127.0.0.1:@p port (no TLS yet). @throws std::runtime_error when refused. */
  explicit PcmkPeer(std::uint16_t port);
  ~PcmkPeer();
  PcmkPeer(const PcmkPeer&) = delete;
  PcmkPeer& operator=(const PcmkPeer&) = delete;

  /** The PSK handshake with @p key (the key file's bytes); "" when done, else GnuTLS's reason. */
  std::string handshake(const std::string& key, Millis timeout = kPatience);

  /** Write @p bytes as they are (inside TLS once the handshake is done, else on the socket). */
  void sendRaw(const std::string& bytes);
  /** Frame @p message (header and payload as two TLS records) and send it. */
  void send(const wire::Message& message);

  struct Received {
    enum class Status { Message, Timeout, Closed };
    Status status = Status::Timeout;
    wire::Message message;
  };
  /** The next message; Closed when the server closed the connection (or broke the framing). */
  Received receive(Millis timeout = kPatience);
  /** The next message, which must come within @p timeout. @throws std::runtime_error otherwise. */
  wire::Message expectMessage(Millis timeout = kPatience);
  /** Does the server close the connection within @p timeout (messages before that are skipped)? */
  bool waitClosed(Millis timeout = kPatience);

  /** `<lrmd_command t="lrmd" lrmd_op=@p op lrmd_remote_msg_id=@p id lrmd_remote_msg_type="request">`. */
  static wire::Message command(const std::string& op, std::uint64_t id);
  /** Sign on as @p name with @p version and @return the reply. */
  wire::Message signOn(std::uint64_t id, const std::string& version = "1.1",
                       const std::string& name = "pacemaker-remote-test");

 private:
  int fd_ = -1;
  gnutls_session_t session_ = nullptr;
  gnutls_psk_client_credentials_t credentials_ = nullptr;
  bool handshake_done_ = false;
  pacemaker::FrameReader reader_;
  pacemaker::FrameWriter writer_;
};

struct RemotedOptions {
  std::string lrmd_socket;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;
};

/** The real lrm-remoted (--foreground, debug log in its directory) on 127.0.0.1 and a free port. */
class RemotedProcess {
 public:
  /** Start it and wait until it listens. @throws std::runtime_error with its log when it does not. */
  explicit RemotedProcess(RemotedOptions options);
  /** Stops it (SIGTERM, then SIGKILL after kPatience) if still running; expects exit 0. */
  ~RemotedProcess();
  RemotedProcess(const RemotedProcess&) = delete;
  RemotedProcess& operator=(const RemotedProcess&) = delete;

  std::uint16_t port() const { return port_; }
  /** The 4096 random bytes of its key file. */
  const std::string& key() const { return key_; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  /** Does its log contain @p text within @p timeout? */
  bool waitForLog(const std::string& text, Millis timeout = kPatience) const;
  /** A connection that has done the handshake. */
  std::unique_ptr<PcmkPeer> connect() const;

  void signal(int signal_number) const;
  /** Wait for it to exit; @return its exit status, or -1 (killed by a signal, or still running after @p timeout). */
  int waitExit(Millis timeout = kPatience);
  bool alive();

 private:
  TempDir dir_;
  std::string key_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/** The path of a 4096-byte random key written into @p dir; @p bytes receives its content. */
std::string writeAuthKey(const TempDir& dir, std::string& bytes);

}  // namespace lrm::test
