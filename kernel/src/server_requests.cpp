// The server's request handlers, one per request kind of docs/protocol.md,
// reached only through Server::kHandlers. Each checks its request, asks the
// Engine and fills the reply (Answer::Now), or, when an agent must be asked
// first (metadata, validate, agents describe="true"), sends it later.
#include <set>

#include "log.hpp"
#include "metadata_parser.hpp"
#include "protocol/codec.hpp"
#include "request_codec.hpp"
#include "server.hpp"

namespace lrm::kernel {

using wire::Message;

namespace {

// The reply to `metadata` once the agent said: format xml, parsed or check.
Message metadataReply(const std::string& id, const std::string& format, const sdk::Result& result,
                      const std::string& xml) {
  if (result.status != sdk::ExecStatus::Done) return metadataFailure(id, result);
  Message reply("reply");
  reply.set("id", id).set("ok", true);
  if (format == "check") {
    for (const auto& warning : checkMetadata(xml)) reply.add(Message("warning")).set("message", warning);
  } else if (format == "parsed") {
    std::string error;
    const auto parsed = parseMetadata(xml, error);
    if (!parsed) return errorReply(id, "failed", error);
    reply.add(parsedMetadata(*parsed));
  } else {
    reply.add(Message("xml")).text = xml;
  }
  return reply;
}

// The reply to `validate` once the agent said: what is wrong with @p params.
Message validateReply(const std::string& id, const sdk::Params& params, const sdk::Result& result,
                      const std::string& xml) {
  if (result.status != sdk::ExecStatus::Done) return metadataFailure(id, result);
  std::string error;
  const auto parsed = parseMetadata(xml, error);
  if (!parsed) return errorReply(id, "failed", error);
  Message reply("reply");
  reply.set("id", id).set("ok", true);
  for (const auto& problem : checkParameters(*parsed, params)) reply.add(Message("problem")).set("message", problem);
  return reply;
}

void checkComponent(const std::string& value, const char* what) {
  if (!value.empty() && !sdk::isValidAgentComponent(value)) {
    throw RequestError("invalid-argument", std::string("invalid ") + what + " name '" + wire::sanitize(value) + "'");
  }
}

}  // namespace

Server::Answer Server::onHello(Connection& connection, const Message& request, Message& reply) {
  if (connection.greeted) throw RequestError("bad-request", "hello was already exchanged");
  const std::uint64_t protocol = unsignedAttr(request, "protocol", 0);
  if (protocol != static_cast<std::uint64_t>(wire::kProtocolVersion)) {
    throw RequestError("version-mismatch", "client speaks protocol " + request.get("protocol", "?") +
                                               ", lrmd speaks " + std::to_string(wire::kProtocolVersion));
  }
  connections_.greet(connection);
  connection.client_name = wire::sanitize(request.get("client").substr(0, 64));
  reply.set("protocol", wire::kProtocolVersion).set("version", options_.version).set("boot_id", options_.boot_id);
  sessions_.open(connection, request, reply);
  log(sdk::LogLevel::Debug, "hello from " + connection.who());
  return Answer::Now;
}

Server::Answer Server::onPing(Connection&, const Message&, Message& reply) {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
  const protocol::PingInfo info{options_.version,
                                wire::kProtocolVersion,
                                static_cast<std::uint64_t>(uptime),
                                options_.boot_id,
                                static_cast<std::uint64_t>(options_.restored),
                                static_cast<std::uint64_t>(engine_->instanceCount()),
                                static_cast<std::uint64_t>(engine_->inFlight())};
  protocol::xml::encodeFields(info, reply, protocol::kLocal);
  return Answer::Now;
}

Server::Answer Server::onClasses(Connection&, const Message&, Message& reply) {
  addItems(reply, engine_->classNames());
  return Answer::Now;
}

Server::Answer Server::onProviders(Connection&, const Message& request, Message& reply) {
  const std::string type = request.get("type");
  checkComponent(type, "type");
  // The kernel knows no class by name: providers of every class that has them.
  std::set<std::string> providers;
  for (const auto& name : engine_->classNames()) {
    auto& cls = engine_->resourceClass(name);
    if (!cls.requiresProvider()) continue;
    for (auto& provider : cls.providers(type)) providers.insert(std::move(provider));
  }
  addItems(reply, {providers.begin(), providers.end()});
  return Answer::Now;
}

Server::Answer Server::onAgents(Connection& connection, const Message& request, Message& reply) {
  const std::string cls = requireAttr(request, "class");
  const std::string provider = request.get("provider");
  checkComponent(provider, "provider");
  if (!request.getBool("describe")) {
    addItems(reply, engine_->resourceClass(cls).types(provider));
    return Answer::Now;
  }
  describeAgents(connection.id, request.get("id"), cls, provider);
  return Answer::Later;
}

// Each item also carries its agent's shortdesc, from the metadata cache
// (fetched now for agents not seen before).
void Server::describeAgents(ClientId id, const std::string& request_id, const std::string& cls,
                            const std::string& provider) {
  auto& resource_class = engine_->resourceClass(cls);
  if (resource_class.requiresProvider() && provider.empty()) {
    throw RequestError("bad-request", "describing agents of class '" + cls + "' needs a provider");
  }
  struct Pending {
    std::vector<std::string> types;
    std::map<std::string, std::string> shortdesc;
    std::size_t remaining = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->types = resource_class.types(provider);
  pending->remaining = pending->types.size();
  auto finish = [this, id, request_id, pending] {
    answer(id, [&] {
      Message reply("reply");
      reply.set("id", request_id).set("ok", true);
      for (const auto& type : pending->types) {
        reply.add(Message("item")).set("value", type).set("shortdesc", pending->shortdesc[type]);
      }
      return reply;
    });
  };
  if (pending->types.empty()) return finish();
  for (const auto& type : pending->types) {
    engine_->metadata({cls, provider, type}, [pending, type, finish](const sdk::Result& result, const std::string& xml) {
      std::string error;
      const auto parsed = result.status == sdk::ExecStatus::Done ? parseMetadata(xml, error) : std::nullopt;
      if (parsed) pending->shortdesc[type] = parsed->shortdesc;
      if (--pending->remaining == 0) finish();
    });
  }
}

Server::Answer Server::onMetadata(Connection& connection, const Message& request, Message&) {
  const std::string id = request.get("id");
  const sdk::AgentSpec spec = engine_->resolveSpec(requireAttr(request, "agent"));
  const std::string format = request.get("format", "xml");
  if (format != "xml" && format != "parsed" && format != "check") {
    throw RequestError("bad-request",
                       "format must be 'xml', 'parsed' or 'check', not '" + wire::sanitize(format) + "'");
  }
  engine_->metadata(spec, [this, client = connection.id, id, format](const sdk::Result& result,
                                                                      const std::string& xml) {
    answer(client, [&] { return metadataReply(id, format, result, xml); });
  });
  return Answer::Later;
}

Server::Answer Server::onValidate(Connection& connection, const Message& request, Message&) {
  const std::string id = request.get("id");
  const InstanceView instance = engine_->info(requireAttr(request, "instance"));
  engine_->metadata(instance.agent, [this, client = connection.id, id, params = instance.params](
                                        const sdk::Result& result, const std::string& xml) {
    answer(client, [&] { return validateReply(id, params, result, xml); });
  });
  return Answer::Later;
}

Server::Answer Server::onRegister(Connection& connection, const Message& request, Message& reply) {
  RegisterParams params;
  params.id = requireAttr(request, "instance");
  params.name = request.get("name");
  params.agent = requireAttr(request, "agent");
  params.params = paramsOf(request);
  params.drop_recurring = request.getBool("drop_recurring");
  params.origin = connection.client;
  reply.add(instanceEvent("register", engine_->registerInstance(params)));
  return Answer::Now;
}

Server::Answer Server::onUnregister(Connection&, const Message& request, Message& reply) {
  const std::string id = requireAttr(request, "instance");
  const auto removed = engine_->unregisterInstance(id);
  if (removed) {
    reply.add(instanceEvent("unregister", *removed));
  } else {
    reply.set("unknown", true);
    reply.add(Message("event")).set("type", "unregister").set("id", id).set("name", id);
  }
  return Answer::Now;
}

Server::Answer Server::onList(Connection& connection, const Message&, Message& reply) {
  for (const auto& instance : engine_->list()) reply.add(instanceMessage(instance, connection.peer.privileged));
  return Answer::Now;
}

Server::Answer Server::onInfo(Connection& connection, const Message& request, Message& reply) {
  reply.add(instanceMessage(engine_->info(requireAttr(request, "instance")), connection.peer.privileged));
  return Answer::Now;
}

Server::Answer Server::onExec(Connection& connection, const Message& request, Message& reply) {
  ExecParams params;
  params.id = requireAttr(request, "instance");
  params.action = requireAttr(request, "action");
  params.interval_ms = unsignedAttr(request, "interval_ms", 0, sdk::kMaxDurationMs);
  params.timeout_ms = unsignedAttr(request, "timeout_ms", params.timeout_ms, sdk::kMaxDurationMs);
  params.start_delay_ms = unsignedAttr(request, "start_delay_ms", 0, sdk::kMaxDurationMs);
  params.params = paramsOf(request);
  const std::string notify = request.get("notify", "all");
  if (!protocol::parseNotify(notify, params)) {
    throw RequestError("bad-request", "notify must be 'all' or a list of 'changes' and 'originator', not '" +
                                          wire::sanitize(notify) + "'");
  }
  params.origin = connection.client;
  reply.set("call_id", engine_->exec(params));
  return Answer::Now;
}

Server::Answer Server::onCancel(Connection&, const Message& request, Message&) {
  engine_->cancel(requireAttr(request, "instance"), requireAttr(request, "action"),
                  unsignedAttr(request, "interval_ms", 0, sdk::kMaxDurationMs));
  return Answer::Now;
}

Server::Answer Server::onFlush(Connection&, const Message& request, Message& reply) {
  reply.set("cancelled", static_cast<std::uint64_t>(engine_->flush(requireAttr(request, "instance"))));
  return Answer::Now;
}

Server::Answer Server::onSubscribe(Connection& connection, const Message& request, Message&) {
  Subscription& subscription = connection.subscription;
  subscription.subscribed = true;
  subscription.failures_only = request.getBool("failures_only");
  subscription.instances.clear();
  for (const auto& child : request.children) {
    if (child.kind == "instance") subscription.instances.insert(child.get("id"));
  }
  return Answer::Now;
}

Server::Answer Server::onUpgrade(Connection&, const Message& request, Message& reply) {
  if (!upgrade_handler_) throw RequestError("failed", "this lrmd cannot upgrade");
  const std::string refusal = upgrade_handler_(request.get("binary"));
  if (!refusal.empty()) throw RequestError("failed", refusal);
  reply.set("upgrading", true);
  return Answer::Now;
}

}  // namespace lrm::kernel
