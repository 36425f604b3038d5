// lrm-remoted's event loop and cluster sessions. One thread: poll() waits on
// the listener, each session's socket, lrmd's client descriptor and a
// signalfd, with the nearest deadline (authentication timeouts, lrmd
// reconnection, the shutdown answer) as its timeout. A session is closed
// only for what concerns it alone (its handshake, its byte stream, its
// unread output); losing lrmd closes them all, as pacemaker-remoted dying
// would, and the server reconnects.
#include "remote_server.hpp"

#include <Poco/UUIDGenerator.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <list>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "executor_bridge.hpp"
#include "lrm/client/client.hpp"
#include "remote_frame.hpp"
#include "remote_log.hpp"
#include "remote_message.hpp"

namespace lrm::pacemaker {
namespace {

using Clock = std::chrono::steady_clock;
using sdk::LogLevel;

// The negative errno values Pacemaker's executor answers with.
constexpr int kRcOk = 0;
constexpr int kRcProtocolError = -EPROTO;      // -71: bad sign-on version, malformed request
constexpr int kRcNotSupported = -EOPNOTSUPP;   // -95: unknown request
constexpr int kRcNotConnected = -ENOTCONN;     // -107: request before sign-on
constexpr int kRcInternalError = -EIO;         // -5: a request we could not carry out
constexpr int kRcMessageTooLong = -EMSGSIZE;   // -90: a reply over the framing's cap

// The only protocol major version Pacemaker has defined (LRMD_COMPATIBLE_PROTOCOL).
constexpr int kProtocolMajor = 1;

// How much one read takes out of GnuTLS.
constexpr std::size_t kReadChunkBytes = 64 * 1024;

// How long accepting pauses after accept() failed (e.g. out of fds: the
// listener stays readable, so retrying at once would spin).
constexpr std::chrono::milliseconds kAcceptBackoff{1000};

// How often a long-running server looks again at its certificate's expiry
// (X.509 mode; the start-up check is among the credentials' warnings).
constexpr std::chrono::hours kCertificateCheckInterval{24};

// How long connecting to lrmd may take before the attempt counts as failed.
constexpr client::Millis kLrmdConnectTimeout{5000};

std::string seconds(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// "1.1" → (1, 1); nullopt when the major part is not a number.
std::optional<std::pair<int, int>> parseProtocolVersion(const std::string& text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  int major = 0;
  const auto [after_major, major_error] = std::from_chars(begin, end, major);
  if (major_error != std::errc() || (after_major != end && *after_major != '.')) return std::nullopt;
  int minor = 0;
  if (after_major != end) std::from_chars(after_major + 1, end, minor);
  return std::make_pair(major, minor);
}

}  // namespace

class RemoteServer::Impl {
 public:
  Impl(RemoteServerOptions options, std::shared_ptr<const TlsCredentials> credentials,
       std::unique_ptr<TcpListener> listener)
      : options_(std::move(options)),
        credentials_(std::move(credentials)),
        listener_(std::move(listener)),
        listen_port_(listener_->port()),
        started_at_(Clock::now()),
        certificate_check_at_(started_at_ + kCertificateCheckInterval) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    signal_fd_ = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) {
      throw std::runtime_error(std::string("unable to create a signalfd: ") + std::strerror(errno));
    }
  }

  ~Impl() {
    for (auto& session : sessions_) session->tls->close();
    sessions_.clear();
    bridge_.reset();
    lrmd_.reset();
    ::close(signal_fd_);
  }

  int run() {
    remoteLog(LogLevel::Notice, "serving Pacemaker Remote connections on " + listener_->boundAddress() +
                                    " with lrmd at " + options_.socket_path);
    connectLrmd();
    int status = 0;
    std::vector<pollfd> fds;
    std::vector<Session*> polled;  // polled[i] is fds[i + 3]: after the signalfd, listener and lrmd
    while (!exit_) {
      fds.clear();
      polled.clear();
      const Clock::time_point now = Clock::now();
      fds.push_back({signal_fd_, POLLIN, 0});
      fds.push_back({listener_ && now >= accept_resume_at_ ? listener_->fd() : -1, POLLIN, 0});
      fds.push_back({lrmd_ ? lrmd_->descriptor() : -1, POLLIN, 0});
      for (auto& session : sessions_) {
        short events = POLLIN;
        if (session->tls->hasQueuedOutput() || (!session->tls->handshakeDone() && session->handshake_wants_write)) {
          events |= POLLOUT;
        }
        fds.push_back({session->tls->fd(), events, 0});
        polled.push_back(session.get());
      }
      const int ready = ::poll(fds.data(), fds.size(), pollTimeout(now));
      if (ready < 0 && errno != EINTR) {
        remoteLog(LogLevel::Error, std::string("unable to wait for events: ") + std::strerror(errno));
        status = 1;
        break;
      }
      if (ready > 0) {
        if (fds[0].revents != 0) handleSignals();
        if (fds[2].revents != 0 && bridge_) pumpLrmd();
        if (fds[1].revents != 0) acceptConnections();
        for (std::size_t i = 0; i < polled.size(); ++i) {
          if (fds[i + 3].revents != 0 && !polled[i]->closed) service(*polled[i], fds[i + 3].revents);
        }
      }
      checkTimers(Clock::now());
      reapClosed();
      if (shutdown_ != Shutdown::Serving && !exit_ && signedOnCount() == 0) {
        remoteLog(LogLevel::Notice, "no cluster connection left: exiting");
        exit_ = true;
      }
    }
    remoteLog(LogLevel::Notice, "exiting with " + std::to_string(sessions_.size()) + " cluster connection(s) open");
    for (auto& session : sessions_) session->tls->close();
    sessions_.clear();
    return status;
  }

 private:
  struct Session {
    std::unique_ptr<TlsSession> tls;
    FrameReader reader;
    FrameWriter writer;
    bool handshake_wants_write = false;
    bool signed_on = false;
    bool closed = false;  // closed and reaped at the end of the loop's turn
    std::string client_name;
    std::string client_id;

    // "10.0.0.1:40212" or, once signed on, "10.0.0.1:40212 (pacemaker-remote-...)".
    std::string who() const { return signed_on ? tls->peer() + " (" + client_name + ")" : tls->peer(); }
  };

  enum class Shutdown { Invalid = 0, Serving, Requested, Acknowledged };

  // ---- lrmd ----

  void connectLrmd() {
    try {
      lrmd_ = client::Client::connect(options_.socket_path, "lrm-remoted", kLrmdConnectTimeout);
      bridge_ = std::make_unique<ExecutorBridge>(*lrmd_, [this](const wire::Message& notify) { broadcast(notify); });
      startListening();
      remoteLog(LogLevel::Notice, std::string(lrmd_failures_ > 0 ? "reconnected" : "connected") + " to lrmd at " +
                                      options_.socket_path);
      lrmd_failures_ = 0;
    } catch (const client::Error& e) {
      bridge_.reset();
      lrmd_.reset();
      stopListening();
      // The first failure in a row is an error; repeating it every second is noise.
      remoteLog(lrmd_failures_ == 0 ? LogLevel::Error : LogLevel::Debug,
                "unable to connect to lrmd at " + options_.socket_path + ": " + e.what() + "; retrying every " +
                    seconds(options_.lrmd_retry_interval) + ", not listening for the cluster meanwhile");
      ++lrmd_failures_;
      lrmd_retry_at_ = Clock::now() + options_.lrmd_retry_interval;
    }
  }

  // lrmd went away: every cluster session goes too, so that the cluster sees
  // this node's connection fail instead of requests that hang.
  void lrmdLost(const client::Error& error) {
    remoteLog(LogLevel::Error, "lost the connection to lrmd at " + options_.socket_path + " (" + error.code() +
                                   "): " + error.what() + "; closing " + std::to_string(liveSessionCount()) +
                                   " cluster connection(s) and reconnecting every " +
                                   seconds(options_.lrmd_retry_interval));
    bridge_.reset();
    lrmd_.reset();
    stopListening();
    ++lrmd_failures_;
    lrmd_retry_at_ = Clock::now() + options_.lrmd_retry_interval;
    for (auto& session : sessions_) {
      if (!session->closed) closeSession(*session, LogLevel::Warning, "lrmd is unreachable");
    }
  }

  // Without lrmd nothing can be served. A TLS session accepted and then
  // closed looks to the cluster's client like a wrong key (liblrmd says
  // -129), which the controller takes as a hard error for the connection;
  // a refused connection is retried at its reconnect interval.
  void stopListening() {
    if (!listener_) return;
    remoteLog(LogLevel::Warning, "not listening on " + listener_->boundAddress() + " until lrmd at " +
                                     options_.socket_path + " is reachable: the cluster's connections are refused");
    listener_.reset();
  }

  void startListening() {
    if (listener_) return;
    try {
      listener_ = std::make_unique<TcpListener>(options_.listen_address, listen_port_);
      remoteLog(LogLevel::Notice, "listening on " + listener_->boundAddress() + " again");
    } catch (const std::exception& e) {
      remoteLog(LogLevel::Error, std::string(e.what()) + "; trying again in " + seconds(kAcceptBackoff));
      listen_retry_at_ = Clock::now() + kAcceptBackoff;
    }
  }

  void pumpLrmd() {
    try {
      bridge_->pump();
    } catch (const client::Error& e) {
      lrmdLost(e);
    }
  }

  // ---- connections ----

  void acceptConnections() {
    for (;;) {
      TcpListener::Accepted accepted = listener_->accept();
      if (accepted.status == TcpListener::Accepted::Status::None) return;
      if (accepted.status == TcpListener::Accepted::Status::Failed) {
        remoteLog(LogLevel::Error, "unable to accept a cluster connection: " + accepted.error + "; pausing for " +
                                       seconds(kAcceptBackoff));
        accept_resume_at_ = Clock::now() + kAcceptBackoff;
        return;
      }
      if (shutdown_ != Shutdown::Serving) {
        ::close(accepted.fd);
        remoteLog(LogLevel::Notice, "refusing cluster connection from " + accepted.peer + ": shutting down");
        continue;
      }
      auto session = std::make_unique<Session>();
      try {
        session->tls = std::make_unique<TlsSession>(credentials_, accepted.fd, accepted.peer);
      } catch (const std::exception& e) {
        remoteLog(LogLevel::Error, e.what());
        continue;
      }
      remoteLog(LogLevel::Info, "cluster connection from " + accepted.peer);
      sessions_.push_back(std::move(session));
    }
  }

  void service(Session& session, short revents) {
    if (!session.tls->handshakeDone()) {
      switch (session.tls->handshake()) {
        case TlsSession::Progress::Done:
          remoteLog(LogLevel::Info,
                    "TLS handshake with " + session.tls->peer() + " done: " + session.tls->describe());
          break;
        case TlsSession::Progress::WantRead:
          session.handshake_wants_write = false;
          return;
        case TlsSession::Progress::WantWrite:
          session.handshake_wants_write = true;
          return;
        case TlsSession::Progress::Failed:
        case TlsSession::Progress::Invalid:
          closeSession(session, LogLevel::Warning, session.tls->error());
          return;
      }
      // The client's first message may have come with the last handshake record.
      readFrom(session);
      return;
    }
    if ((revents & POLLOUT) != 0 && session.tls->hasQueuedOutput()) {
      if (session.tls->flush() == TlsSession::Progress::Failed) {
        closeSession(session, LogLevel::Warning, session.tls->error());
        return;
      }
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) readFrom(session);
  }

  // Read until GnuTLS wants the socket again: it decrypts whole records and
  // keeps what did not fit, which the socket will never announce.
  void readFrom(Session& session) {
    for (;;) {
      const TlsSession::ReadResult result = session.tls->read(buffer_, sizeof(buffer_));
      switch (result.status) {
        case TlsSession::ReadResult::Status::Data:
          session.reader.feed(buffer_, result.bytes);
          handleFrames(session);
          if (session.closed) return;
          continue;
        case TlsSession::ReadResult::Status::WantRead:
          quickAck(session);
          return;
        case TlsSession::ReadResult::Status::Closed:
          closeSession(session, LogLevel::Info,
                       session.tls->error().empty() ? "closed by the peer" : session.tls->error());
          return;
        case TlsSession::ReadResult::Status::Failed:
        case TlsSession::ReadResult::Status::Invalid:
          closeSession(session, LogLevel::Warning, session.tls->error());
          return;
      }
    }
  }

  // Acknowledge what arrives at once: Pacemaker's client writes a request
  // as two records without TCP_NODELAY, so Nagle holds the payload until the
  // header is acknowledged, and a delayed ACK (40 ms) would add that to
  // every request. Linux leaves quick-ACK mode by itself: set it after each
  // drained read, when the next request's header is what comes next.
  static void quickAck(const Session& session) {
    const int on = 1;
    ::setsockopt(session.tls->fd(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  }

  void handleFrames(Session& session) {
    Frame frame;
    for (;;) {
      switch (session.reader.next(frame)) {
        case FrameReader::Status::NeedMore:
          return;
        case FrameReader::Status::Error:
          // The stream cannot be resynchronised: only this session goes.
          closeSession(session, LogLevel::Warning, "unable to read a message: " + session.reader.error());
          return;
        case FrameReader::Status::Frame:
          handleMessage(session, frame.xml);
          if (session.closed) return;
          break;
      }
    }
  }

  void handleMessage(Session& session, const std::string& xml) {
    std::string error;
    const std::optional<wire::Message> message = parseMessage(xml, error);
    if (!message) {
      remoteLog(LogLevel::Warning, "unable to parse a message from " + session.who() + ": " + error);
      return;
    }
    const std::optional<Envelope> envelope = readEnvelope(*message, error);
    if (!envelope) {
      const auto id = message->getUnsigned("lrmd_remote_msg_id");
      const std::string type = message->get("lrmd_remote_msg_type");
      const bool answerable = id && type != "reply" && type != "notify";
      remoteLog(LogLevel::Warning, "unable to read a <" + message->kind + "> message from " + session.who() + ": " +
                                       error + (answerable ? "; answering " + std::to_string(kRcProtocolError) : ""));
      if (answerable) reply(session, *id, kRcProtocolError);
      return;
    }
    if (envelope->type != MessageType::Request) {
      remoteLog(LogLevel::Warning, "ignoring a <" + message->kind + "> " +
                                       (envelope->type == MessageType::Reply ? "reply" : "notify") + " from " +
                                       session.who() + ": a cluster sends only requests");
      return;
    }
    handleRequest(session, *message, *envelope);
  }

  void handleRequest(Session& session, const wire::Message& request, const Envelope& envelope) {
    // execd numbers every request with its call id counter; only an exec's
    // number (the op's call id, the bridge's) is read by its clients. Other
    // answers carry the cluster's number of the request, as the bridge's do.
    const std::uint64_t call_id = envelope.id;
    const std::string& op = envelope.op;
    if (remoteLogEnabled(LogLevel::Debug)) {
      remoteLog(LogLevel::Debug, "request " + std::to_string(envelope.id) + " '" + op + "' from " + session.who());
    }
    if (op == "register") {
      signOn(session, request, envelope.id);
      return;
    }
    if (!session.signed_on) {
      remoteLog(LogLevel::Warning, "refusing '" + op + "' from " + session.who() + ": not signed on (answering " +
                                       std::to_string(kRcNotConnected) + ")");
      reply(session, envelope.id, kRcNotConnected, call_id);
      return;
    }
    if (ExecutorBridge::handles(op)) {
      executorRequest(session, request, envelope);
    } else if (op == "lrmd_rsc_poke") {
      // The connection resource's monitor completes on the notify; execd
      // sends it to every client, after the reply.
      reply(session, envelope.id, kRcOk, call_id);
      wire::Message notify = makeNotify();
      notify.set("lrmd_rc", kRcOk).set("lrmd_callid", call_id).set("lrmd_op", "lrmd_rsc_poke");
      broadcast(notify);
    } else if (op == "lrmd_check") {
      // The controller checks its watchdog settings against ours; it expects no reply.
      remoteLog(LogLevel::Debug, "lrmd_check from " + session.who());
    } else if (op == "ipc_fwd") {
      ipcForward(session, request);
      reply(session, envelope.id, kRcOk, call_id);
    } else {
      remoteLog(LogLevel::Warning, "unable to carry out '" + op + "' from " + session.who() +
                                       ": not a request of Pacemaker's executor (answering " +
                                       std::to_string(kRcNotSupported) + ")");
      reply(session, envelope.id, kRcNotSupported, call_id);
    }
  }

  void signOn(Session& session, const wire::Message& request, std::uint64_t request_id) {
    const std::string version = request.get("lrmd_protocol_version");
    const std::string name = request.get("lrmd_clientname");
    const auto parsed = parseProtocolVersion(version);
    wire::Message answer = makeReply(request_id);
    answer.set("lrmd_op", "register").set("lrmd_callid", request_id);
    if (!parsed || parsed->first != kProtocolMajor) {
      remoteLog(LogLevel::Error, "refusing sign-on of " + session.tls->peer() + " as '" + name +
                                     "': protocol version '" + version + "', not 1.x (answering " +
                                     std::to_string(kRcProtocolError) + ")");
      answer.set("lrmd_rc", kRcProtocolError).set("lrmd_protocol_version", "1.2");
      send(session, answer);
      return;
    }
    // Speak the client's minor version back: 1.1 for 2.1.5's liblrmd (which
    // knows nothing of 1.2's schema requests), 1.2 for newer clients.
    const std::string spoken = parsed->second >= 2 ? "1.2" : "1.1";
    const bool first = !session.signed_on;
    if (first) {
      session.client_id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
      session.client_name = name;
    }
    const auto uptime_s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at_).count();
    answer.set("lrmd_rc", kRcOk)
        .set("lrmd_clientid", session.client_id)
        .set("lrmd_protocol_version", spoken)
        .set("uptime", static_cast<std::uint64_t>(uptime_s))
        .set("node_start_state", options_.node_start_state);
    send(session, answer);
    if (!first || session.closed) return;
    session.signed_on = true;
    remoteLog(LogLevel::Notice, "cluster node " + session.tls->peer() + " signed on as " + name +
                                    " with protocol " + version + " over " + session.tls->describe());
    // The controller reads this as another cluster node taking the connection over.
    wire::Message notify = makeNotify();
    notify.set("lrmd_op", "lrmd_rsc_new_client");
    broadcast(notify, &session);
  }

  void executorRequest(Session& session, const wire::Message& request, const Envelope& envelope) {
    if (!bridge_) return;  // lrmd was lost earlier in this turn; the session is closed
    try {
      wire::Message answer = bridge_->handle(request, envelope.id);
      send(session, answer);
      bridge_->pump();
    } catch (const client::Error& e) {
      lrmdLost(e);
    } catch (const std::exception& e) {
      remoteLog(LogLevel::Error, "unable to carry out '" + envelope.op + "' from " + session.who() + ": " +
                                     e.what() + " (answering " + std::to_string(kRcInternalError) + ")");
      reply(session, envelope.id, kRcInternalError);
    }
  }

  // The cluster's side of the IPC proxy. lrm serves no local IPC for the
  // cluster's tools, so the only messages that matter are the answers to
  // shutdown_req; everything else is acknowledged and dropped.
  void ipcForward(Session& session, const wire::Message& request) {
    const std::string ipc_op = request.get("lrmd_ipc_op");
    if (ipc_op == "shutdown_ack") {
      if (shutdown_ != Shutdown::Requested) {
        remoteLog(LogLevel::Debug, "ignoring an unexpected shutdown_ack from " + session.who());
        return;
      }
      shutdown_ = Shutdown::Acknowledged;
      remoteLog(LogLevel::Notice, "cluster node " + session.who() +
                                      " acknowledged the shutdown request: exiting once every cluster "
                                      "connection is closed");
    } else if (ipc_op == "shutdown_nack") {
      if (shutdown_ != Shutdown::Requested) {
        remoteLog(LogLevel::Debug, "ignoring an unexpected shutdown_nack from " + session.who());
        return;
      }
      shutdown_ = Shutdown::Serving;
      remoteLog(LogLevel::Notice, "cluster node " + session.who() +
                                      " refused the shutdown request (shutdown_nack: e.g. its connection "
                                      "resource is unmanaged): serving on; signal again to exit at once");
    } else {
      remoteLog(LogLevel::Debug, "ignoring IPC proxy message '" + ipc_op + "' from " + session.who() +
                                     ": lrm does not proxy the cluster's IPC");
    }
  }

  // ---- output ----

  void reply(Session& session, std::uint64_t request_id, int rc, std::uint64_t call_id = 0) {
    wire::Message answer = makeReply(request_id);
    answer.set("lrmd_rc", rc);
    if (call_id != 0) answer.set("lrmd_callid", call_id);
    send(session, answer);
  }

  void send(Session& session, const wire::Message& message) {
    if (session.closed) return;
    std::string error;
    std::optional<OutgoingFrame> frame = session.writer.encode(wire::encode(message), error);
    if (!frame) {
      // Only a reply beyond the 20 MiB cap can get here (wire::encode
      // replaces NUL bytes): the request still gets an answer, an error.
      // The substitute is a few bytes: it cannot fail the same way.
      const auto request_id = message.getUnsigned("lrmd_remote_msg_id");
      const bool substitute = message.kind == "lrmd_reply" && request_id;
      remoteLog(LogLevel::Error, "unable to send a <" + message.kind + "> to " + session.who() + ": " + error +
                                     (substitute ? " (answering " + std::to_string(kRcMessageTooLong) + " instead)"
                                                 : ""));
      if (substitute) reply(session, *request_id, kRcMessageTooLong);
      return;
    }
    const std::size_t size = frame->header.size() + frame->payload.size();
    if (session.tls->queuedBytes() + size > options_.max_queued_bytes) {
      closeSession(session, LogLevel::Warning,
                   "unable to send to it: " + std::to_string(session.tls->queuedBytes()) +
                       " bytes already queued, the bound is " + std::to_string(options_.max_queued_bytes) +
                       " (the peer does not read)");
      return;
    }
    if (session.tls->send(std::move(frame->header), std::move(frame->payload)) == TlsSession::Progress::Failed) {
      closeSession(session, LogLevel::Warning, session.tls->error());
    }
  }

  // To every signed-on session but @p except.
  void broadcast(const wire::Message& message, const Session* except = nullptr) {
    for (auto& session : sessions_) {
      if (session.get() != except && session->signed_on && !session->closed) send(*session, message);
    }
  }

  void closeSession(Session& session, LogLevel level, const std::string& why) {
    if (session.closed) return;
    remoteLog(level, "closing cluster connection from " + session.who() + ": " + why);
    session.tls->close();
    session.closed = true;
  }

  // Drop the closed sessions; when the last signed-on one went, tell the
  // bridge (execd cancels drop_recurring ops when its last client leaves).
  void reapClosed() {
    bool lost_signed_on = false;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if ((*it)->closed) {
        lost_signed_on = lost_signed_on || (*it)->signed_on;
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    if (!lost_signed_on || signedOnCount() != 0 || !bridge_) return;
    remoteLog(LogLevel::Info, "the last cluster connection is closed");
    try {
      bridge_->lastConnectionClosed();
    } catch (const client::Error& e) {
      lrmdLost(e);
      reapClosed();
    }
  }

  // ---- signals and timers ----

  void handleSignals() {
    signalfd_siginfo info{};
    while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      const std::string name = info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      if (exit_) return;
      if (shutdown_ != Shutdown::Serving) {
        remoteLog(LogLevel::Notice, "received " + name + " again while shutting down: exiting at once");
        exit_ = true;
      } else if (signedOnCount() == 0) {
        remoteLog(LogLevel::Notice, "received " + name + " with no cluster connection: exiting");
        exit_ = true;
      } else {
        requestShutdown(name);
      }
    }
  }

  // Pacemaker's shutdown handshake: the controller moves or stops this
  // node's resources, acknowledges, and disconnects; then we exit.
  void requestShutdown(const std::string& signal_name) {
    shutdown_ = Shutdown::Requested;
    shutdown_deadline_ = Clock::now() + options_.shutdown_ack_timeout;
    remoteLog(LogLevel::Notice, "received " + signal_name + ": asking the cluster (" +
                                    std::to_string(signedOnCount()) +
                                    " connection(s)) to stop this node's resources; exiting after its "
                                    "acknowledgement and disconnection, or in " +
                                    seconds(options_.shutdown_ack_timeout) + " without an answer");
    wire::Message request = makeNotify("lrmd_ipc_proxy");
    request.set("lrmd_ipc_op", "shutdown_req").set("lrmd_ipc_session", "0");
    broadcast(request);
  }

  void checkTimers(Clock::time_point now) {
    for (auto& session : sessions_) {
      if (!session->closed && !session->tls->handshakeDone() &&
          now >= session->tls->startedAt() + options_.auth_timeout) {
        closeSession(*session, LogLevel::Warning, "not authenticated within " + seconds(options_.auth_timeout));
      }
    }
    if (!lrmd_ && now >= lrmd_retry_at_) connectLrmd();
    if (lrmd_ && !listener_ && now >= listen_retry_at_) startListening();
    if (credentials_->mode() == TlsCredentials::Mode::X509 && now >= certificate_check_at_) {
      certificate_check_at_ = now + kCertificateCheckInterval;
      if (const auto warning = credentials_->certificateExpiryWarning(std::time(nullptr))) {
        remoteLog(LogLevel::Warning, *warning);
      }
    }
    if (shutdown_ == Shutdown::Requested && now >= shutdown_deadline_) {
      remoteLog(LogLevel::Warning, "the cluster did not answer the shutdown request within " +
                                       seconds(options_.shutdown_ack_timeout) + ": exiting");
      exit_ = true;
    }
  }

  int pollTimeout(Clock::time_point now) const {
    std::optional<Clock::time_point> nearest;
    const auto consider = [&nearest](Clock::time_point at) {
      if (!nearest || at < *nearest) nearest = at;
    };
    for (const auto& session : sessions_) {
      if (!session->tls->handshakeDone()) consider(session->tls->startedAt() + options_.auth_timeout);
    }
    if (!lrmd_) consider(lrmd_retry_at_);
    if (lrmd_ && !listener_) consider(listen_retry_at_);
    if (shutdown_ == Shutdown::Requested) consider(shutdown_deadline_);
    if (now < accept_resume_at_) consider(accept_resume_at_);
    if (credentials_->mode() == TlsCredentials::Mode::X509) consider(certificate_check_at_);
    if (!nearest) return -1;
    if (*nearest <= now) return 0;
    // Round up: waking a millisecond early would only loop once more.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*nearest - now).count();
    return static_cast<int>(std::min<long long>(wait, 60 * 60 * 1000));
  }

  std::size_t signedOnCount() const {
    return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& session) {
      return session->signed_on && !session->closed;
    }));
  }

  std::size_t liveSessionCount() const {
    return static_cast<std::size_t>(
        std::count_if(sessions_.begin(), sessions_.end(), [](const auto& session) { return !session->closed; }));
  }

  RemoteServerOptions options_;
  std::shared_ptr<const TlsCredentials> credentials_;
  std::unique_ptr<TcpListener> listener_;  // null while lrmd is unreachable
  const std::uint16_t listen_port_;
  Clock::time_point listen_retry_at_{};
  const Clock::time_point started_at_;
  Clock::time_point certificate_check_at_;
  int signal_fd_ = -1;
  // The bridge refers to the client: declared after it, destroyed before it.
  std::unique_ptr<client::Client> lrmd_;
  std::unique_ptr<ExecutorBridge> bridge_;
  unsigned lrmd_failures_ = 0;
  Clock::time_point lrmd_retry_at_{};
  Clock::time_point accept_resume_at_{};
  std::list<std::unique_ptr<Session>> sessions_;
  Shutdown shutdown_ = Shutdown::Serving;
  Clock::time_point shutdown_deadline_{};
  bool exit_ = false;
  char buffer_[kReadChunkBytes];
};

RemoteServer::RemoteServer(RemoteServerOptions options, std::shared_ptr<const TlsCredentials> credentials,
                           std::unique_ptr<TcpListener> listener)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(credentials), std::move(listener))) {}

RemoteServer::~RemoteServer() = default;

int RemoteServer::run() { return impl_->run(); }

}  // namespace lrm::pacemaker
