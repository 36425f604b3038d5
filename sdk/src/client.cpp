// The client side of the lrm protocol: one connection, synchronous requests,
// queued events. Message shapes are documented in docs/protocol.md.
#include "lrm/client/client.hpp"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <deque>
#include <thread>

#include "protocol/codec.hpp"
#include "wire/wire.hpp"

namespace lrm::client {

using wire::Message;
using Clock = std::chrono::steady_clock;

namespace {

Millis remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return left.count() > 0 ? left : Millis(0);
}

std::uint64_t unsignedAttr(const Message& message, std::string_view name) {
  return message.getUnsigned(name).value_or(0);
}

Event eventFrom(const Message& message) { return protocol::fromMessage<Event>(message); }

// lrmd refuses a longer duration; refusing it here names the field and
// sends nothing.
void checkDuration(const char* field, std::uint64_t ms) {
  if (ms > sdk::kMaxDurationMs) {
    throw Error("invalid-argument", std::string(field) + " of " + std::to_string(ms) +
                                        " ms is more than the maximum of " + std::to_string(sdk::kMaxDurationMs) +
                                        " ms (about 49.7 days)");
  }
}

std::vector<std::string> itemsOf(const Message& reply) {
  std::vector<std::string> items;
  for (const auto& child : reply.children) {
    if (child.kind == "item") items.push_back(child.get("value"));
  }
  return items;
}

}  // namespace

std::string defaultSocketPath() {
  if (const char* env = std::getenv("LRM_SOCKET"); env && *env) return env;
  if (::geteuid() == 0) return "/run/lrm/lrmd.sock";
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) {
    return std::string(runtime) + "/lrm/lrmd.sock";
  }
  return "/tmp/lrm-" + std::to_string(::geteuid()) + "/lrmd.sock";
}

bool isFailure(const Event& event) {
  return event.type == "exec" && sdk::isFailure(event.action, event.interval_ms, event.status, event.rc);
}

namespace {

// A blocking connect: on a Unix socket whose backlog is full, a non-blocking
// connect fails with EAGAIN at once (Poco's timed connect then reports
// success on a socket that is not connected), while a blocking one waits for
// room, bounded by the send timeout.
Poco::Net::StreamSocket openSocket(const std::string& path, Millis timeout) {
  Poco::Net::StreamSocket socket(Poco::Net::SocketAddress::UNIX_LOCAL);
  try {
    socket.setSendTimeout(Poco::Timespan(timeout.count() * 1000));
    socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path));
  } catch (const Poco::Exception& e) {
    throw Error("unreachable", "unable to connect to lrmd at " + path + ": " + e.displayText());
  }
  ::fcntl(socket.impl()->sockfd(), F_SETFD, FD_CLOEXEC);
  return socket;
}

}  // namespace

// One socket, the frame reader, and the queue of events not yet handed out.
// When lrmd is upgraded in place (docs/operations.md) the connection closes,
// after a goodbye or, when lrmd could not write everything before its
// exec(), without one: the connection is opened again, hello resumes the
// session, and what the previous image had not delivered comes first (the
// events, and the reply to the pending request if it had been read); a
// request without a reply is sent again.
class Client::Impl {
 public:
  Impl(Poco::Net::StreamSocket socket, std::string path, std::string name)
      : socket_(std::move(socket)), path_(std::move(path)), name_(std::move(name)) {}

  // @return whether lrmd resumed the session (after an upgrade).
  bool hello(Clock::time_point deadline) {
    Message hello("hello");
    hello.set("protocol", wire::kProtocolVersion).set("client", name_);
    if (!session_.empty()) hello.set("resume", session_);
    // The request pending when the connection closed stays pending: its
    // reply may be among the kept messages, at this try or the next.
    const std::string pending = pending_id_;
    std::optional<Message> reply;
    try {
      reply = requestOnce(std::move(hello), deadline);
    } catch (const Error&) {
      pending_id_ = pending;
      throw;
    }
    pending_id_ = pending;
    session_ = reply->get("session");
    if (!reply->getBool("resumed")) return false;
    // What the previous image kept for this session follows the reply.
    for (auto kept = unsignedAttr(*reply, "kept"); kept > 0; --kept) {
      auto message = receive(deadline);
      if (!message) throw Error("timeout", "lrmd did not send the messages it kept for this session in time");
      take(std::move(*message));
    }
    return true;
  }

  // A message read outside a request: an event is queued; the reply to the
  // request pending when the connection closed is kept for request().
  void take(Message message) {
    if (message.kind == "event") {
      events_.push_back(eventFrom(message));
    } else if (message.kind == "reply" && !pending_id_.empty() && message.get("id") == pending_id_) {
      answered_ = std::move(message);
    }
  }

  // The connection closed for an upgrade: wait for the new lrmd on the same
  // socket. @p lost: it closed without a goodbye, which an upgrade does only
  // when the goodbye could not be written; lrmd must then be there at once
  // (the upgrade keeps the listening socket) and resume the session, or it
  // went away and the call fails.
  void reconnect(Clock::time_point deadline, bool lost) {
    while (true) {
      bool resumed = false;
      try {
        socket_ = openSocket(path_, std::max(remaining(deadline), Millis(1)));
        reader_ = wire::FrameReader();  // a frame torn by the close comes again, whole
        said_goodbye_ = false;
        resumed = hello(deadline);
        // A resumed session keeps its subscription; otherwise subscribe again.
        if (!resumed && subscription_) requestOnce(*subscription_, deadline);
      } catch (const Error& e) {
        if (lost && (e.code() == "unreachable" || said_goodbye_)) {
          throw Error("disconnected", std::string("lrmd closed the connection: ") + e.what());
        }
        if (Clock::now() >= deadline) {
          throw Error("disconnected", std::string("lrmd did not come back after an upgrade: ") + e.what());
        }
        std::this_thread::sleep_for(Millis(20));
        continue;
      }
      if (lost && !resumed) {
        throw Error("disconnected", "lrmd closed the connection without a goodbye and did not resume the session");
      }
      return;
    }
  }

  // Did @p e come from lrmd beginning an upgrade in place (its goodbye, read
  // now or still unread when a send failed)?
  bool upgrading(const Error& e) {
    return e.code() == "upgrading" || (e.code() == "disconnected" && saidUpgrading());
  }

  // A call failed with @p e: if lrmd is being upgraded, reconnect (resuming
  // the session) and @return true; else the error stands.
  bool rideOver(const Error& e, Clock::time_point deadline) {
    if (upgrading(e)) {
      reconnect(deadline, false);
      return true;
    }
    if (e.code() == "disconnected" && !said_goodbye_) {
      reconnect(deadline, true);
      return true;
    }
    return false;
  }

  Message request(Message message, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      try {
        return requestOnce(message, deadline);
      } catch (const Error& e) {
        if (!rideOver(e, deadline)) throw;
      }
      pending_id_.clear();
      if (answered_) {  // the previous image had answered it
        Message reply = std::move(*answered_);
        answered_.reset();
        return checked(std::move(reply));
      }
    }
  }

  // A send failed: was the connection closed by an upgrade? Its goodbye may
  // still be unread; events before it are kept.
  bool saidUpgrading() {
    try {
      while (auto message = receive(Clock::now())) take(std::move(*message));
    } catch (const Error& e) {
      return e.code() == "upgrading";
    }
    return false;
  }

  void send(const Message& message) {
    const std::string bytes = wire::frame(wire::encode(message));
    sendBytes(bytes);
  }

  void sendBytes(const std::string& bytes) {
    std::size_t sent = 0;
    try {
      while (sent < bytes.size()) {
        const int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent),
                                       MSG_NOSIGNAL);
        if (n <= 0) throw Error("disconnected", "connection to lrmd closed while sending");
        sent += static_cast<std::size_t>(n);
      }
    } catch (const Poco::Exception& e) {
      throw Error("disconnected", "unable to send to lrmd: " + e.displayText());
    }
  }

  // Next message from the daemon, or nullopt when the deadline passes.
  std::optional<Message> receive(Clock::time_point deadline) {
    std::string payload;
    while (true) {
      switch (reader_.next(payload)) {
        case wire::FrameReader::Status::Frame: {
          std::string error;
          auto message = wire::decode(payload, error);
          if (!message) throw Error("protocol", "unreadable message from lrmd: " + error);
          if (message->kind == "goodbye") {
            const std::string reason = message->get("reason");
            // The reason's prefix is the one sign of an upgrade that lrmd of
            // every release gives (docs/protocol.md §4); an attribute added
            // now could not replace it while older lrmds are to be talked to.
            const bool upgrading = reason.rfind("upgrading", 0) == 0;
            said_goodbye_ = !upgrading;
            throw Error(upgrading ? "upgrading" : "disconnected", "lrmd closed the connection: " + reason);
          }
          return message;
        }
        case wire::FrameReader::Status::Error:
          throw Error("protocol", "bad frame from lrmd: " + reader_.error());
        case wire::FrameReader::Status::NeedMore:
          break;
      }
      try {
        if (!readable(deadline)) return std::nullopt;
        char buffer[65536];
        const int n = socket_.receiveBytes(buffer, sizeof buffer);
        if (n <= 0) throw Error("disconnected", "lrmd closed the connection");
        reader_.feed(buffer, static_cast<std::size_t>(n));
      } catch (const Poco::Exception& e) {
        throw Error("disconnected", "unable to read from lrmd: " + e.displayText());
      }
    }
  }

  // One poll(2): Poco's Socket::poll() makes, arms and closes an epoll
  // instance for each wait, four system calls where a request needs one.
  // @return false when @p deadline passes first.
  bool readable(Clock::time_point deadline) {
    while (true) {
      pollfd watched{socket_.impl()->sockfd(), POLLIN, 0};
      const auto wait_ms = std::min<Millis::rep>(remaining(deadline).count(), INT_MAX);
      const int n = ::poll(&watched, 1, static_cast<int>(wait_ms));
      if (n >= 0) return n > 0;
      if (errno != EINTR) throw Error("disconnected", std::string("unable to wait for lrmd: ") + std::strerror(errno));
    }
  }

  static Message checked(Message reply) {
    if (!reply.getBool("ok")) throw Error(reply.get("code", "error"), reply.get("message", "request failed"));
    return reply;
  }

  // Send a request and wait for its reply, queueing the events that arrive
  // meanwhile. Until the reply comes, its id is pending_id_.
  Message requestOnce(Message message, Clock::time_point deadline) {
    const std::string id = std::to_string(next_id_++);
    message.set("id", id);
    pending_id_ = id;
    send(message);
    const Millis timeout = remaining(deadline);
    while (true) {
      auto reply = receive(deadline);
      if (!reply) {
        pending_id_.clear();
        throw Error("timeout", "no reply from lrmd to '" + message.kind + "' within " +
                                   std::to_string(timeout.count()) + " ms");
      }
      if (reply->kind == "event") {
        events_.push_back(eventFrom(*reply));
        continue;
      }
      if (reply->kind != "reply" || reply->get("id") != id) {
        throw Error("protocol", "unexpected '" + reply->kind + "' message from lrmd");
      }
      pending_id_.clear();
      return checked(std::move(*reply));
    }
  }

  // Read one message into the event queue, riding over an upgrade (then the
  // events kept for the session are queued). @return false when @p deadline
  // passes first.
  bool receiveEvent(Clock::time_point deadline) {
    std::optional<Message> message;
    try {
      message = receive(deadline);
    } catch (const Error& e) {
      // Reconnecting is a request of its own: not bounded by a short wait for events.
      if (!rideOver(e, std::max(deadline, Clock::now() + request_timeout_))) throw;
      return true;
    }
    if (!message) return false;
    if (message->kind != "event") throw Error("protocol", "unexpected '" + message->kind + "' message from lrmd");
    events_.push_back(eventFrom(*message));
    return true;
  }

  Poco::Net::StreamSocket socket_;
  std::string path_;
  std::string name_;
  std::optional<Message> subscription_;
  std::string session_;  // hello reply's token, to resume after an upgrade
  wire::FrameReader reader_;
  std::deque<Event> events_;
  std::string pending_id_;           // the request awaiting its reply
  std::optional<Message> answered_;  // its reply, kept by the previous image for the resumed session
  bool said_goodbye_ = false;        // lrmd closed the connection for a reason other than an upgrade
  Millis request_timeout_{30000};
  std::uint64_t next_id_ = 1;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::connect(const std::string& socket_path,
                                        const std::string& client_name, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  auto impl = std::make_unique<Impl>(openSocket(socket_path, timeout), socket_path, client_name);
  try {
    impl->hello(deadline);
  } catch (const Error& e) {
    // The hello met the start of an upgrade in place: it was not read; say
    // it again to the new image.
    if (!impl->upgrading(e)) throw;
    impl->reconnect(deadline, false);
  }
  impl->request_timeout_ = timeout;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

void Client::setRequestTimeout(Millis timeout) { impl_->request_timeout_ = timeout; }

PingInfo Client::ping() {
  return protocol::fromMessage<PingInfo>(impl_->request(Message("ping"), impl_->request_timeout_));
}

std::vector<std::string> Client::classes() {
  return itemsOf(impl_->request(Message("classes"), impl_->request_timeout_));
}

std::vector<std::string> Client::providers(const std::string& type) {
  Message message("providers");
  if (!type.empty()) message.set("type", type);
  return itemsOf(impl_->request(std::move(message), impl_->request_timeout_));
}

std::vector<std::string> Client::agents(const std::string& cls, const std::string& provider) {
  Message message("agents");
  message.set("class", cls);
  if (!provider.empty()) message.set("provider", provider);
  return itemsOf(impl_->request(std::move(message), impl_->request_timeout_));
}

std::vector<std::pair<std::string, std::string>> Client::describeAgents(const std::string& cls,
                                                                        const std::string& provider) {
  Message message("agents");
  message.set("class", cls).set("describe", true);
  if (!provider.empty()) message.set("provider", provider);
  const Message reply = impl_->request(std::move(message), impl_->request_timeout_);
  std::vector<std::pair<std::string, std::string>> agents;
  for (const auto& child : reply.children) {
    if (child.kind == "item") agents.emplace_back(child.get("value"), child.get("shortdesc"));
  }
  return agents;
}

std::string Client::metadata(const std::string& agent) {
  Message message("metadata");
  message.set("agent", agent);
  const Message reply = impl_->request(std::move(message), impl_->request_timeout_);
  for (const auto& child : reply.children) {
    if (child.kind == "xml") return child.text;
  }
  return {};
}

namespace {

Event instanceEventOf(const Message& reply, const char* type) {
  for (const auto& child : reply.children) {
    if (child.kind == "event") return eventFrom(child);
  }
  throw Error("protocol", std::string(type) + " reply without an event");
}

}  // namespace

sdk::AgentMetadata Client::metadataParsed(const std::string& agent) {
  Message message("metadata");
  message.set("agent", agent).set("format", "parsed");
  const Message reply = impl_->request(std::move(message), impl_->request_timeout_);
  for (const auto& element : reply.children) {
    if (element.kind == "agent") return protocol::fromMessage<sdk::AgentMetadata>(element);
  }
  return {};
}

namespace {

std::vector<std::string> messagesOf(const Message& reply, const char* kind) {
  std::vector<std::string> messages;
  for (const auto& child : reply.children) {
    if (child.kind == kind) messages.push_back(child.get("message"));
  }
  return messages;
}

}  // namespace

std::vector<std::string> Client::checkMetadata(const std::string& agent) {
  Message message("metadata");
  message.set("agent", agent).set("format", "check");
  return messagesOf(impl_->request(std::move(message), impl_->request_timeout_), "warning");
}

std::vector<std::string> Client::validate(const std::string& id) {
  Message message("validate");
  message.set("instance", id);
  return messagesOf(impl_->request(std::move(message), impl_->request_timeout_), "problem");
}

Event Client::registerInstance(const RegisterRequest& request) {
  return instanceEventOf(impl_->request(protocol::toMessage(request), impl_->request_timeout_), "register");
}

Event Client::unregisterInstance(const std::string& id) {
  Message message("unregister");
  message.set("instance", id);
  return instanceEventOf(impl_->request(std::move(message), impl_->request_timeout_), "unregister");
}

std::vector<InstanceInfo> Client::list() {
  const Message reply = impl_->request(Message("list"), impl_->request_timeout_);
  std::vector<InstanceInfo> instances;
  for (const auto& child : reply.children) {
    if (child.kind == "instance") instances.push_back(protocol::fromMessage<InstanceInfo>(child));
  }
  return instances;
}

InstanceInfo Client::info(const std::string& id) {
  Message message("info");
  message.set("instance", id);
  const Message reply = impl_->request(std::move(message), impl_->request_timeout_);
  for (const auto& child : reply.children) {
    if (child.kind == "instance") return protocol::fromMessage<InstanceInfo>(child);
  }
  throw Error("protocol", "info reply without an instance");
}

sdk::CallId Client::exec(const ExecRequest& request) {
  checkDuration("interval_ms", request.interval_ms);
  checkDuration("timeout_ms", request.timeout_ms);
  checkDuration("start_delay_ms", request.start_delay_ms);
  const Message reply = impl_->request(protocol::toMessage(request), impl_->request_timeout_);
  const auto call_id = reply.getUnsigned("call_id");
  if (!call_id || *call_id == 0) throw Error("protocol", "exec reply without a call id");
  return *call_id;
}

void Client::cancel(const std::string& id, const std::string& action, std::uint64_t interval_ms) {
  checkDuration("interval_ms", interval_ms);
  Message message("cancel");
  message.set("instance", id).set("action", action).set("interval_ms", interval_ms);
  impl_->request(std::move(message), impl_->request_timeout_);
}

std::uint64_t Client::flush(const std::string& id) {
  Message message("flush");
  message.set("instance", id);
  return unsignedAttr(impl_->request(std::move(message), impl_->request_timeout_), "cancelled");
}

void Client::subscribe(const SubscribeRequest& request) {
  // One element per instance besides the request's own: lrmd would close
  // the connection on a larger request.
  if (request.instances.size() >= wire::kRequestLimits.max_elements) {
    throw Error("invalid-argument", "a subscription names at most " +
                                        std::to_string(wire::kRequestLimits.max_elements - 1) +
                                        " instances; subscribe to all instances instead");
  }
  Message message("subscribe");
  if (request.failures_only) message.set("failures_only", true);
  for (const auto& id : request.instances) message.add(Message("instance")).set("id", id);
  impl_->subscription_ = message;  // renewed after an upgrade
  impl_->request(std::move(message), impl_->request_timeout_);
}

void Client::upgrade(const std::string& binary) {
  Message message("upgrade");
  if (!binary.empty()) message.set("binary", binary);
  impl_->request(std::move(message), impl_->request_timeout_);
}

std::optional<Event> Client::nextEvent(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  auto& queue = impl_->events_;
  while (queue.empty()) {
    if (!impl_->receiveEvent(deadline)) return std::nullopt;
  }
  Event event = std::move(queue.front());
  queue.pop_front();
  return event;
}

Event Client::waitForResult(sdk::CallId call_id, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  auto& queue = impl_->events_;
  // Only appended to while waiting: each event is looked at once.
  std::size_t next = 0;
  while (true) {
    for (; next < queue.size(); ++next) {
      if (queue[next].type == "exec" && queue[next].call_id == call_id) {
        Event event = std::move(queue[next]);
        queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(next));
        return event;
      }
    }
    if (!impl_->receiveEvent(deadline)) {
      throw Error("timeout", "no result for call " + std::to_string(call_id) + " within " +
                                 std::to_string(timeout.count()) + " ms");
    }
  }
}

int Client::descriptor() const { return impl_->socket_.impl()->sockfd(); }

}  // namespace lrm::client
