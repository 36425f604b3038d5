// lrm-remoted's server: one thread and one poll() loop over the TCP
// listener, every cluster connection's TLS session, lrmd's client connection,
// a signalfd and the timers. It owns what pacemaker-remoted's TLS server owns
// (handshake, authentication timeout, framing, sign-on, poke, check, the
// shutdown handshake) and hands the executor requests to ExecutorBridge,
// which carries them out through lrmd.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tcp_listener.hpp"
#include "tls_transport.hpp"

namespace lrm::pacemaker {

/** Everything the server runs with besides its listener and credentials. */
struct RemoteServerOptions {
  /** lrmd's socket. */
  std::string socket_path;
  /** What the listener was made for (PCMK_remote_address), to listen again after lrmd was lost. */
  std::string listen_address;
  /** PCMK_node_start_state, sent to Pacemaker 3.x at sign-on. */
  std::string node_start_state = "default";
  /** A connection not through its TLS handshake by then is closed (pacemaker-remoted: 10 s). */
  std::chrono::milliseconds auth_timeout{10000};
  /** After SIGTERM, how long the cluster has to answer shutdown_req (pacemaker-remoted 2.1.6: 20 s). */
  std::chrono::milliseconds shutdown_ack_timeout{20000};
  /** Pause between attempts to reach lrmd. */
  std::chrono::milliseconds lrmd_retry_interval{1000};
  /** Output queued for one connection beyond which it is closed (its peer does not read). */
  std::size_t max_queued_bytes = 64 * 1024 * 1024;
};

/**
 * The server. SIGTERM and SIGINT must be blocked in the calling thread
 * before construction (the server reads them from a signalfd). It listens
 * only while it is connected to lrmd: without lrmd it closes the listener
 * (the cluster's connections are then refused, as by a node whose daemon is
 * down) and opens it again on the same address and port once lrmd is back.
 */
class RemoteServer {
 public:
  /** @throws std::runtime_error when the signalfd cannot be created. */
  RemoteServer(RemoteServerOptions options, std::shared_ptr<const TlsCredentials> credentials,
               std::unique_ptr<TcpListener> listener);
  ~RemoteServer();
  RemoteServer(const RemoteServer&) = delete;
  RemoteServer& operator=(const RemoteServer&) = delete;

  /** Serve until shut down; @return the exit status: 0, or 1 when poll() itself failed. */
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lrm::pacemaker
