// Hostile and broken clients: each gets a precise error (or, for a broken
// frame, a goodbye and a closed connection), and the daemon keeps serving
// everyone else.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>

#include "daemon.hpp"
#include "raw_peer.hpp"
#include "wire/wire.hpp"

namespace lrm::test {
namespace {

using wire::Message;

Message request(const std::string& kind, const std::string& id,
                std::initializer_list<std::pair<std::string, std::string>> attrs = {}) {
  Message message(kind);
  message.set("id", id);
  for (const auto& [name, value] : attrs) message.set(name, value);
  return message;
}

class BadInput : public ::testing::Test {
 protected:
  // After each test: the daemon still serves a well-behaved client.
  void TearDown() override {
    EXPECT_NO_THROW(daemon_.connect("after")->ping());
    EXPECT_TRUE(daemon_.alive());
  }
  TestDaemon daemon_;
};

TEST_F(BadInput, MalformedXmlClosesOnlyThatConnection) {
  auto bystander = daemon_.connect("bystander");
  RawPeer peer(daemon_.socket());
  peer.hello();
  peer.sendBytes(wire::frame("<register id='1' <<<"));
  peer.expectGoodbye("malformed XML");
  EXPECT_NO_THROW(bystander->ping());
  EXPECT_NE(daemon_.log().find("malformed XML"), std::string::npos);
}

TEST_F(BadInput, OversizedFrameIsRefusedBeforeReadingIt) {
  RawPeer peer(daemon_.socket());
  peer.sendBytes(std::string("\x7f\xff\xff\xff", 4));
  peer.expectGoodbye("exceeds the limit");
}

TEST_F(BadInput, EmptyFrameIsRefused) {
  RawPeer peer(daemon_.socket());
  peer.sendBytes(std::string(4, '\0'));
  peer.expectGoodbye("empty frame");
}

TEST_F(BadInput, BinaryGarbageIsRefused) {
  RawPeer peer(daemon_.socket());
  peer.sendBytes(wire::frame(std::string("\x01\x02\xff\xfe garbage", 12)));
  peer.expectGoodbye("malformed XML");
}

// Decoding was quadratic in the attributes of one element and ran on the
// loop thread: 50,000 attributes (539 KB) stalled every client for seconds.
TEST_F(BadInput, FiftyThousandAttributesAreRefusedQuicklyWhileOthersAreServed) {
  auto bystander = daemon_.connect("bystander");
  RawPeer peer(daemon_.socket());
  peer.hello();
  std::string xml = "<ping id=\"1\"";
  for (int i = 0; i < 50000; ++i) xml += " a" + std::to_string(i) + "=\"\"";
  xml += "/>";
  const auto start = std::chrono::steady_clock::now();
  peer.sendBytes(wire::frame(xml));
  EXPECT_NO_THROW(bystander->ping());
  const auto pinged = std::chrono::steady_clock::now();
  peer.expectGoodbye("more than 64 attributes on element <ping>");
  const auto refused = std::chrono::steady_clock::now();
  EXPECT_LT(refused - start, kPatience);
  const auto ms = [&](auto end) { return std::chrono::duration_cast<Millis>(end - start).count(); };
  RecordProperty("bystander_ping_ms", std::to_string(ms(pinged)));
  RecordProperty("refusal_ms", std::to_string(ms(refused)));
  EXPECT_NE(daemon_.log().find("more than 64 attributes"), std::string::npos);
}

// A request may have 4,096 elements: a subscribe naming 4,095 instances fits;
// the client library refuses one more instead of being disconnected.
TEST_F(BadInput, SubscribeFitsTheRequestElementLimit) {
  auto client = daemon_.connect();
  client::SubscribeRequest subscription;
  for (std::size_t i = 1; i < wire::kRequestLimits.max_elements; ++i) {
    subscription.instances.push_back("instance-" + std::to_string(i));
  }
  EXPECT_NO_THROW(client->subscribe(subscription));
  subscription.instances.push_back("one-too-many");
  try {
    client->subscribe(subscription);
    ADD_FAILURE() << "a subscription beyond the element limit was sent";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "invalid-argument") << e.what();
    EXPECT_NE(std::string(e.what()).find("4095"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(client->ping());
  RawPeer peer(daemon_.socket());
  peer.hello();
  Message raw = request("subscribe", "s");
  for (const auto& id : subscription.instances) raw.add(Message("instance")).set("id", id);
  peer.sendMessage(raw);
  peer.expectGoodbye("more than 4096 elements in one message");
}

TEST_F(BadInput, FirstRequestMustBeHello) {
  RawPeer peer(daemon_.socket());
  peer.sendMessage(request("ping", "1"));
  auto reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->get("code"), "bad-request");
  peer.expectGoodbye("not 'hello'");
}

TEST_F(BadInput, WrongProtocolVersionIsRefused) {
  RawPeer peer(daemon_.socket());
  Message hello = request("hello", "1", {{"protocol", "99"}});
  peer.sendMessage(hello);
  auto reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->get("code"), "version-mismatch");
  peer.expectGoodbye("hello refused");
}

TEST_F(BadInput, UnknownRequestAndMissingIdGetErrors) {
  RawPeer peer(daemon_.socket());
  peer.hello();
  peer.expectError(request("launch-missiles", "7"), "unknown-request");
  Message no_id("ping");
  peer.sendMessage(no_id);
  auto reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->get("code"), "bad-request");
  // The connection still works.
  peer.sendMessage(request("ping", "8"));
  reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->getBool("ok"));
}

TEST_F(BadInput, BadAttributesGetPreciseErrors) {
  RawPeer peer(daemon_.socket());
  peer.hello();
  peer.expectError(request("exec", "1", {{"action", "start"}}), "bad-request");  // no instance
  peer.sendMessage(request("register", "2", {{"instance", "x"}, {"agent", "ocf:lrmtest:Fail"}}));
  auto registered = peer.receive();
  ASSERT_TRUE(registered && registered->getBool("ok"));
  peer.expectError(request("exec", "3", {{"instance", "x"}, {"action", "start"}, {"timeout_ms", "-5"}}),
                   "bad-request");
  peer.expectError(request("exec", "4", {{"instance", "x"}, {"action", "start"}, {"interval_ms", "soon"}}),
                   "bad-request");
  peer.expectError(request("exec", "5", {{"instance", "x"}, {"action", "../../bin/sh"}}), "invalid-argument");
  peer.expectError(request("exec", "6", {{"instance", "x"}, {"action", "start"}, {"notify", "sometimes"}}),
                   "bad-request");
}

// Durations beyond 2^32-1 ms overflowed the timer: from ~9.3e12 ms up a
// timer fired at once, so such a recurring op reran ~500 times a second.
TEST_F(BadInput, DurationsBeyondTheMaximumAreRefusedNamingTheAttributeAndTheMaximum) {
  RawPeer peer(daemon_.socket());
  peer.hello();
  peer.sendMessage(request("register", "r", {{"instance", "c"}, {"agent", "ocf:lrmtest:Counter"}}));
  auto registered = peer.receive();
  ASSERT_TRUE(registered && registered->getBool("ok"));
  const auto refused = [&](const Message& request, const std::string& attribute) {
    SCOPED_TRACE(wire::encode(request));
    peer.sendMessage(request);
    auto reply = peer.receive();
    ASSERT_TRUE(reply);
    EXPECT_FALSE(reply->getBool("ok", true));
    EXPECT_EQ(reply->get("code"), "bad-request");
    EXPECT_NE(reply->get("message").find("'" + attribute + "'"), std::string::npos) << reply->get("message");
    EXPECT_NE(reply->get("message").find("4294967295"), std::string::npos) << reply->get("message");
  };
  int id = 0;
  for (const char* attribute : {"interval_ms", "start_delay_ms", "timeout_ms"}) {
    for (const char* value : {"4294967296", "9223372036854775808", "18446744073709551615", "18446744073709551616"}) {
      refused(request("exec", std::to_string(++id), {{"instance", "c"}, {"action", "monitor"}, {attribute, value}}),
              attribute);
    }
  }
  refused(request("cancel", "cancel",
                  {{"instance", "c"}, {"action", "monitor"}, {"interval_ms", "9223372036854775808"}}),
          "interval_ms");
  // The maximum itself is accepted: a monitor delayed by 49.7 days waits.
  peer.sendMessage(request("exec", "max", {{"instance", "c"}, {"action", "monitor"}, {"interval_ms", "4294967295"},
                                           {"start_delay_ms", "4294967295"}, {"timeout_ms", "4294967295"}}));
  auto accepted = peer.receive();
  ASSERT_TRUE(accepted);
  EXPECT_TRUE(accepted->getBool("ok")) << accepted->get("message");
  const auto info = daemon_.connect()->info("c");
  ASSERT_EQ(info.pending.size(), 1u);
  EXPECT_EQ(info.pending[0].interval_ms, sdk::kMaxDurationMs);
  EXPECT_EQ(info.pending[0].timeout_ms, sdk::kMaxDurationMs);
}

TEST_F(BadInput, ClientLibraryRefusesDurationsBeyondTheMaximumBeforeSending) {
  TempDir scratch;
  auto client = daemon_.connect();
  client->registerInstance(registration("c", "ocf:lrmtest:Counter", {{"count", scratch.file("count")}}));
  const auto refused = [](const std::function<void()>& call, const std::string& field) {
    try {
      call();
      ADD_FAILURE() << field << " beyond the maximum accepted";
    } catch (const client::Error& e) {
      EXPECT_EQ(e.code(), "invalid-argument") << e.what();  // lrmd would say bad-request
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("4294967295"), std::string::npos) << e.what();
    }
  };
  const std::vector<std::pair<std::string, std::uint64_t client::ExecRequest::*>> durations = {
      {"interval_ms", &client::ExecRequest::interval_ms},
      {"start_delay_ms", &client::ExecRequest::start_delay_ms},
      {"timeout_ms", &client::ExecRequest::timeout_ms}};
  for (const std::uint64_t value : {sdk::kMaxDurationMs + 1, std::uint64_t{1} << 63, UINT64_MAX}) {
    for (const auto& [name, field] : durations) {
      client::ExecRequest exec = operation("c", "monitor");
      exec.*field = value;
      refused([&] { client->exec(exec); }, name);
    }
    refused([&] { client->cancel("c", "monitor", value); }, "interval_ms");
  }
  // The maximum is accepted: the monitor runs once now, the next run is due in 49.7 days.
  client::ExecRequest monitor = operation("c", "monitor");
  monitor.interval_ms = sdk::kMaxDurationMs;
  monitor.timeout_ms = sdk::kMaxDurationMs;
  const auto call = client->exec(monitor);
  EXPECT_EQ(client->waitForResult(call, kPatience).status, sdk::ExecStatus::Done);
  const auto info = client->info("c");
  ASSERT_EQ(info.recurring.size(), 1u);
  EXPECT_EQ(info.recurring[0].interval_ms, sdk::kMaxDurationMs);
  EXPECT_EQ(readFile(scratch.file("count")), "1\n");
  EXPECT_NO_THROW(client->cancel("c", "monitor", sdk::kMaxDurationMs));
}

TEST_F(BadInput, UnknownInstanceIsRejected) {
  auto client = daemon_.connect();
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { client->exec(operation("ghost", "start")); }, [&] { client->info("ghost"); },
           [&] { client->cancel("ghost", "start"); }, [&] { client->flush("ghost"); }}) {
    try {
      call();
      ADD_FAILURE() << "accepted an unknown instance";
    } catch (const client::Error& e) {
      EXPECT_EQ(e.code(), "unknown-instance");
      EXPECT_NE(std::string(e.what()).find("ghost"), std::string::npos);
    }
  }
}

TEST_F(BadInput, BadSpecsIdsAndParameterNamesAreRejected) {
  auto client = daemon_.connect();
  auto expect = [&](client::RegisterRequest request, const std::string& code, const std::string& text) {
    try {
      client->registerInstance(request);
      ADD_FAILURE() << "accepted " << request.agent << " / " << request.id;
    } catch (const client::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect(registration("a", "ocf:Dummy"), "invalid-spec", "requires a provider");
  expect(registration("a", "ocf:heartbeat/../x:Dummy"), "invalid-spec", "provider");
  expect(registration("a", "ocf:heartbeat:.."), "invalid-spec", "type");
  expect(registration("a", "ocf:..:Dummy"), "invalid-spec", "provider");
  expect(registration("a", "nosuch:x:y"), "unknown-class", "nosuch");
  expect(registration("a", "Dummy"), "invalid-spec", "class[:provider]:type");
  expect(registration("bad id!", "ocf:lrmtest:Fail"), "invalid-argument", "instance id");
  expect(registration(std::string(129, 'x'), "ocf:lrmtest:Fail"), "invalid-argument", "instance id");
  expect(registration("a", "ocf:lrmtest:Fail", {{"bad-name", "1"}}), "invalid-argument", "bad-name");
  expect(registration("a", "ocf:lrmtest:Fail", {{"PATH=/evil;x", "1"}}), "invalid-argument", "parameter name");
  EXPECT_TRUE(client->list().empty()) << "a rejected registration left something behind";
  client->registerInstance(registration("ok", "ocf:lrmtest:Fail"));
  try {
    client->exec(operation("ok", "start", {{"evil name", "x"}}));
    ADD_FAILURE() << "accepted a bad per-op parameter name";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "invalid-argument");
  }
}

TEST_F(BadInput, HostileNamesCannotForgeLogLines) {
  auto client = daemon_.connect();
  client::RegisterRequest request = registration("n1", "ocf:lrmtest:Fail");
  // (XML cannot carry most control characters at all; a newline it can.)
  request.name = "web\nFORGED lrmd: everything is fine";
  client->registerInstance(request);
  EXPECT_EQ(client->info("n1").name, request.name) << "the name itself is kept as given";
  const std::string log = daemon_.log();
  EXPECT_EQ(log.find("\nFORGED"), std::string::npos);
  EXPECT_NE(log.find("[web\\x0aFORGED lrmd: everything is fine n1] registered"), std::string::npos) << log;
}

TEST_F(BadInput, UnprivilegedClientsMayReadButNotChange) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges";
  daemon_.connect()->registerInstance(registration("mine", "ocf:lrmtest:Fail"));
  const pid_t child = ::fork();
  if (child == 0) {
    // As nobody: listing works, changing is refused with permission-denied.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    try {
      auto client = client::Client::connect(daemon_.socket(), "nobody");
      if (client->list().size() != 1) ::_exit(11);
      try {
        client->exec(operation("mine", "start"));
        ::_exit(12);
      } catch (const client::Error& e) {
        ::_exit(e.code() == "permission-denied" ? 0 : 13);
      }
    } catch (...) {
      ::_exit(14);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 list, 12 exec accepted, 13 wrong code, 14 other";
}

TEST_F(BadInput, ManyConnectionsComingAndGoingLeakNothing) {
  for (int i = 0; i < 200; ++i) {
    RawPeer peer(daemon_.socket());
    if (i % 2) peer.sendBytes("\x00\x00");  // half a length prefix, then gone
  }
  auto client = daemon_.connect();
  EXPECT_NO_THROW(client->ping());
}

}  // namespace
}  // namespace lrm::test
