// lrm-remoted's server, end to end: the real binary with the real lrmd
// behind it, driven by a TLS peer that speaks as a Pacemaker cluster's
// controller. Sign-on, poke, check, unknown and early requests, broken
// streams, wrong keys, silent peers, the shutdown handshake, losing lrmd,
// and a bad configuration.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "daemon.hpp"
#include "pcmk_peer.hpp"

namespace lrm::test {
namespace {

using Status = PcmkPeer::Received::Status;

class RemotedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonOptions options;
    options.socket = socket_dir_.file("lrmd.sock");
    lrmd_ = std::make_unique<TestDaemon>(options);
    remoted_ = std::make_unique<RemotedProcess>(RemotedOptions{lrmd_->socket(), {}, {}});
    ASSERT_TRUE(remoted_->waitForLog("connected to lrmd")) << remoted_->log();
  }

  // A session signed on with protocol 1.1, its reply checked.
  std::unique_ptr<PcmkPeer> signedOn(const std::string& name = "pacemaker-remote-test") {
    auto peer = remoted_->connect();
    const wire::Message reply = peer->signOn(1, "1.1", name);
    EXPECT_EQ(reply.get("lrmd_rc"), "0") << wire::encode(reply);
    return peer;
  }

  // The reply to a poke sent now: proves the session is served and that
  // nothing was queued before it.
  void expectPokeAnswered(PcmkPeer& peer, std::uint64_t id) {
    peer.send(PcmkPeer::command("lrmd_rsc_poke", id));
    const wire::Message reply = peer.expectMessage();
    EXPECT_EQ(reply.kind, "lrmd_reply") << wire::encode(reply);
    EXPECT_EQ(reply.get("lrmd_remote_msg_id"), std::to_string(id)) << wire::encode(reply);
    EXPECT_EQ(reply.get("lrmd_rc"), "0");
    const wire::Message notify = peer.expectMessage();
    EXPECT_EQ(notify.get("lrmd_op"), "lrmd_rsc_poke") << wire::encode(notify);
  }

  TempDir socket_dir_;
  std::unique_ptr<TestDaemon> lrmd_;
  std::unique_ptr<RemotedProcess> remoted_;
};

TEST_F(RemotedTest, SignOnAnswersWithClientIdAndTheClientsProtocol) {
  auto old_client = remoted_->connect();
  const wire::Message reply = old_client->signOn(38, "1.1", "pacemaker-remote-10.0.0.2:3121");
  EXPECT_EQ(reply.kind, "lrmd_reply");
  EXPECT_EQ(reply.get("lrmd_remote_msg_type"), "reply");
  EXPECT_EQ(reply.get("lrmd_remote_msg_id"), "38");
  EXPECT_EQ(reply.get("lrmd_op"), "register");
  EXPECT_EQ(reply.get("lrmd_rc"), "0");
  EXPECT_EQ(reply.get("lrmd_protocol_version"), "1.1");
  EXPECT_EQ(reply.get("lrmd_clientid").size(), 36u) << wire::encode(reply);  // a UUID
  EXPECT_TRUE(reply.getUnsigned("uptime").has_value()) << wire::encode(reply);
  EXPECT_EQ(reply.get("node_start_state"), "default");
  EXPECT_TRUE(remoted_->waitForLog("signed on as pacemaker-remote-10.0.0.2:3121 with protocol 1.1 over (TLS"))
      << remoted_->log();

  auto new_client = remoted_->connect();
  const wire::Message newer = new_client->signOn(1, "1.2");
  EXPECT_EQ(newer.get("lrmd_rc"), "0");
  EXPECT_EQ(newer.get("lrmd_protocol_version"), "1.2");
  EXPECT_NE(newer.get("lrmd_clientid"), reply.get("lrmd_clientid"));
}

TEST_F(RemotedTest, SignOnWithAnotherMajorVersionIsRefused) {
  auto peer = remoted_->connect();
  const wire::Message reply = peer->signOn(1, "2.0");
  EXPECT_EQ(reply.get("lrmd_rc"), "-71") << wire::encode(reply);
  EXPECT_TRUE(remoted_->waitForLog("protocol version '2.0', not 1.x")) << remoted_->log();
  EXPECT_EQ(peer->signOn(5, "one").get("lrmd_rc"), "-71");
  EXPECT_EQ(peer->signOn(6, "").get("lrmd_rc"), "-71");
  // Not signed on: requests are still refused, and the connection stays.
  peer->send(PcmkPeer::command("lrmd_rsc_poke", 2));
  EXPECT_EQ(peer->expectMessage().get("lrmd_rc"), "-107");
  EXPECT_EQ(peer->signOn(3, "1.2").get("lrmd_rc"), "0");
}

TEST_F(RemotedTest, EarlierSessionsAreToldOfANewClient) {
  auto first = signedOn("first");
  auto second = signedOn("second");
  const wire::Message notify = first->expectMessage();
  EXPECT_EQ(notify.kind, "lrmd_notify");
  EXPECT_EQ(notify.get("lrmd_op"), "lrmd_rsc_new_client");
  EXPECT_EQ(notify.get("lrmd_remote_msg_type"), "notify");
  EXPECT_EQ(notify.get("lrmd_remote_msg_id"), "0");
  // The newcomer is not told of itself: its next message answers its poke.
  expectPokeAnswered(*second, 5);
}

TEST_F(RemotedTest, PokeIsAnsweredAndNotifiedToEverySession) {
  auto first = signedOn();
  auto second = signedOn();
  EXPECT_EQ(first->expectMessage().get("lrmd_op"), "lrmd_rsc_new_client");
  expectPokeAnswered(*first, 48);
  const wire::Message notify = second->expectMessage();
  EXPECT_EQ(notify.get("lrmd_op"), "lrmd_rsc_poke");
  EXPECT_EQ(notify.get("lrmd_rc"), "0");
}

TEST_F(RemotedTest, CheckHasNoReply) {
  auto peer = signedOn();
  wire::Message check = PcmkPeer::command("lrmd_check", 49);
  check.add(wire::Message("lrmd_calldata")).add(wire::Message("lrmd_op")).set("lrmd_origin", "test");
  peer->send(check);
  expectPokeAnswered(*peer, 50);
}

TEST_F(RemotedTest, UnknownRequestIsRefusedAndTheConnectionKept) {
  auto peer = signedOn();
  peer->send(PcmkPeer::command("lrmd_frobnicate", 7));
  const wire::Message reply = peer->expectMessage();
  EXPECT_EQ(reply.get("lrmd_remote_msg_id"), "7");
  EXPECT_EQ(reply.get("lrmd_rc"), "-95");
  EXPECT_TRUE(remoted_->waitForLog("unable to carry out 'lrmd_frobnicate' from 127.0.0.1:")) << remoted_->log();
  expectPokeAnswered(*peer, 8);
}

TEST_F(RemotedTest, RequestBeforeSignOnIsRefused) {
  auto peer = remoted_->connect();
  peer->send(PcmkPeer::command("lrmd_rsc_poke", 3));
  const wire::Message reply = peer->expectMessage();
  EXPECT_EQ(reply.get("lrmd_remote_msg_id"), "3");
  EXPECT_EQ(reply.get("lrmd_rc"), "-107");
  EXPECT_TRUE(remoted_->waitForLog("refusing 'lrmd_rsc_poke' from 127.0.0.1:")) << remoted_->log();
  EXPECT_EQ(peer->signOn(4).get("lrmd_rc"), "0");
}

TEST_F(RemotedTest, ExecutorRequestIsAnsweredThroughTheBridge) {
  auto peer = signedOn();
  wire::Message info = PcmkPeer::command("lrmd_rsc_info", 39);
  info.add(wire::Message("lrmd_calldata")).add(wire::Message("lrmd_rsc")).set("lrmd_rsc_id", "nothing");
  peer->send(info);
  const wire::Message reply = peer->expectMessage();
  EXPECT_EQ(reply.get("lrmd_remote_msg_id"), "39");
  EXPECT_EQ(reply.get("lrmd_rc"), "-19") << wire::encode(reply);  // ENODEV: no such resource
}

TEST_F(RemotedTest, MessagesAreFoundWhateverTheRecordBoundaries) {
  auto peer = signedOn();
  pacemaker::FrameWriter writer;
  std::string error;
  const auto first = writer.encode(wire::encode(PcmkPeer::command("lrmd_rsc_poke", 30)), error);
  const auto second = writer.encode(wire::encode(PcmkPeer::command("lrmd_frobnicate", 31)), error);
  ASSERT_TRUE(first && second) << error;
  // Two whole messages and the start of a third in one record, the rest in another.
  const auto third = writer.encode(wire::encode(PcmkPeer::command("lrmd_rsc_poke", 32)), error);
  ASSERT_TRUE(third) << error;
  const std::string third_bytes = third->header + third->payload;
  peer->sendRaw(first->header + first->payload + second->header + second->payload + third_bytes.substr(0, 7));
  peer->sendRaw(third_bytes.substr(7));
  EXPECT_EQ(peer->expectMessage().get("lrmd_remote_msg_id"), "30");
  EXPECT_EQ(peer->expectMessage().get("lrmd_op"), "lrmd_rsc_poke");
  EXPECT_EQ(peer->expectMessage().get("lrmd_rc"), "-95");
  EXPECT_EQ(peer->expectMessage().get("lrmd_remote_msg_id"), "32");
}

TEST_F(RemotedTest, BrokenStreamClosesOnlyItsSession) {
  auto bystander = signedOn();
  auto broken = remoted_->connect();
  broken->sendRaw(std::string(40, 'x'));  // a header with neither byte order's marker
  EXPECT_TRUE(broken->waitClosed());
  EXPECT_TRUE(remoted_->waitForLog("unable to read a message: ")) << remoted_->log();
  expectPokeAnswered(*bystander, 9);
}

TEST_F(RemotedTest, MalformedMessagesAreAnsweredWhereTheyCanBe) {
  auto peer = signedOn();
  // Not XML: logged, nothing to answer, the stream goes on.
  pacemaker::FrameWriter writer;
  std::string error;
  const auto not_xml = writer.encode("<lrmd_command lrmd_op=", error);
  ASSERT_TRUE(not_xml) << error;
  peer->sendRaw(not_xml->header);
  peer->sendRaw(not_xml->payload);
  EXPECT_TRUE(remoted_->waitForLog("unable to parse a message from 127.0.0.1:")) << remoted_->log();
  // A readable request id gets an answer (EPROTO).
  wire::Message bad_type = PcmkPeer::command("lrmd_rsc_poke", 11);
  bad_type.set("lrmd_remote_msg_type", "gossip");
  peer->send(bad_type);
  const wire::Message reply = peer->expectMessage();
  EXPECT_EQ(reply.get("lrmd_remote_msg_id"), "11");
  EXPECT_EQ(reply.get("lrmd_rc"), "-71") << wire::encode(reply);
  EXPECT_TRUE(remoted_->waitForLog("unable to read a <lrmd_command> message from")) << remoted_->log();
  expectPokeAnswered(*peer, 12);
}

TEST_F(RemotedTest, WrongKeyFailsTheHandshakeAndIsLogged) {
  PcmkPeer peer(remoted_->port());
  std::string wrong = remoted_->key();
  wrong[100] = static_cast<char>(wrong[100] ^ 1);
  EXPECT_NE(peer.handshake(wrong), "");
  EXPECT_TRUE(remoted_->waitForLog("unable to complete the TLS handshake with 127.0.0.1:")) << remoted_->log();
  auto good = signedOn();
  expectPokeAnswered(*good, 2);
}

TEST_F(RemotedTest, PeerThatNeverAuthenticatesIsClosedAfterTenSeconds) {
  PcmkPeer silent(remoted_->port());
  auto good = signedOn();
  EXPECT_TRUE(silent.waitClosed(kPatience));
  EXPECT_TRUE(remoted_->waitForLog("not authenticated within 10 s")) << remoted_->log();
  expectPokeAnswered(*good, 2);
}

TEST_F(RemotedTest, ClosedSessionsLeaveNoDescriptorsBehind) {
  const auto descriptors = [this] {
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(remoted_->pid()) + "/fd")) {
      (void)entry;
      ++count;
    }
    return count;
  };
  const std::size_t before = descriptors();
  for (int round = 0; round < 5; ++round) {
    auto served = signedOn();
    auto broken = remoted_->connect();
    broken->sendRaw(std::string(40, 'x'));
    EXPECT_TRUE(broken->waitClosed());
    PcmkPeer wrong_key(remoted_->port());
    EXPECT_NE(wrong_key.handshake(std::string(4096, 'k')), "");
    expectPokeAnswered(*served, 2);
  }
  EXPECT_TRUE(waitUntil([&] { return descriptors() == before; })) << descriptors() << " open, " << before
                                                                   << " before";
}

TEST_F(RemotedTest, SigtermWithoutSessionsExitsAtOnce) {
  remoted_->signal(SIGTERM);
  EXPECT_EQ(remoted_->waitExit(), 0) << remoted_->log();
  EXPECT_TRUE(remoted_->waitForLog("with no cluster connection: exiting")) << remoted_->log();
}

TEST_F(RemotedTest, ShutdownHandshakeNackKeepsServingAckExitsAfterDisconnect) {
  auto peer = signedOn();
  remoted_->signal(SIGTERM);
  wire::Message request = peer->expectMessage();
  EXPECT_EQ(request.kind, "lrmd_ipc_proxy");
  EXPECT_EQ(request.get("lrmd_ipc_op"), "shutdown_req");
  EXPECT_EQ(request.get("lrmd_ipc_session"), "0");
  EXPECT_EQ(request.get("lrmd_remote_msg_type"), "notify");

  wire::Message nack("lrmd_ipc_proxy");
  nack.set("lrmd_op", "ipc_fwd").set("lrmd_ipc_op", "shutdown_nack").set("lrmd_remote_msg_id", std::uint64_t{20});
  nack.set("lrmd_remote_msg_type", "request");
  peer->send(nack);
  EXPECT_EQ(peer->expectMessage().get("lrmd_rc"), "0");
  EXPECT_TRUE(remoted_->waitForLog("refused the shutdown request")) << remoted_->log();
  expectPokeAnswered(*peer, 21);
  EXPECT_TRUE(remoted_->alive());

  remoted_->signal(SIGTERM);
  EXPECT_EQ(peer->expectMessage().get("lrmd_ipc_op"), "shutdown_req");
  wire::Message ack = nack;
  ack.set("lrmd_ipc_op", "shutdown_ack").set("lrmd_remote_msg_id", std::uint64_t{22});
  peer->send(ack);
  EXPECT_EQ(peer->expectMessage().get("lrmd_rc"), "0");
  EXPECT_TRUE(remoted_->waitForLog("acknowledged the shutdown request")) << remoted_->log();
  // Still serving while the controller stops the resources.
  expectPokeAnswered(*peer, 23);
  EXPECT_TRUE(remoted_->alive());
  peer.reset();  // the controller disconnects
  EXPECT_EQ(remoted_->waitExit(), 0) << remoted_->log();
}

TEST_F(RemotedTest, ShutdownRequestWithoutAnswerExitsAfterTwentySeconds) {
  auto peer = signedOn();
  remoted_->signal(SIGTERM);
  EXPECT_EQ(peer->expectMessage().get("lrmd_ipc_op"), "shutdown_req");
  EXPECT_EQ(remoted_->waitExit(kPatience), 0) << remoted_->log();
  EXPECT_TRUE(remoted_->waitForLog("did not answer the shutdown request within 20 s")) << remoted_->log();
}

TEST_F(RemotedTest, SecondSigtermExitsAtOnce) {
  auto peer = signedOn();
  remoted_->signal(SIGTERM);
  EXPECT_EQ(peer->expectMessage().get("lrmd_ipc_op"), "shutdown_req");
  remoted_->signal(SIGTERM);
  EXPECT_EQ(remoted_->waitExit(), 0) << remoted_->log();
  EXPECT_TRUE(peer->waitClosed());
}

TEST_F(RemotedTest, LosingLrmdClosesSessionsStopsListeningAndReconnectsWhenItIsBack) {
  auto peer = signedOn();
  lrmd_->crash();
  EXPECT_TRUE(peer->waitClosed());
  EXPECT_TRUE(remoted_->waitForLog("lost the connection to lrmd at " + lrmd_->socket())) << remoted_->log();

  // Meanwhile it does not listen: the cluster's connections are refused (a
  // TLS session closed at once would look like a wrong key to liblrmd).
  EXPECT_TRUE(remoted_->waitForLog("until lrmd at " + lrmd_->socket() + " is reachable")) << remoted_->log();
  EXPECT_THROW(PcmkPeer refused(remoted_->port()), std::runtime_error);

  DaemonOptions options;
  options.socket = socket_dir_.file("lrmd.sock");
  lrmd_ = std::make_unique<TestDaemon>(options);
  EXPECT_TRUE(remoted_->waitForLog("reconnected to lrmd at")) << remoted_->log();
  auto again = signedOn();
  expectPokeAnswered(*again, 2);
}

TEST(RemotedStartTest, LrmdUnreachableAtStartIsRetriedWithoutListening) {
  TempDir socket_dir;
  const std::string socket = socket_dir.file("lrmd.sock");
  RemotedProcess remoted(RemotedOptions{socket, {}, {}});
  EXPECT_TRUE(remoted.waitForLog("unable to connect to lrmd at " + socket)) << remoted.log();
  EXPECT_TRUE(remoted.waitForLog("until lrmd at " + socket + " is reachable")) << remoted.log();
  EXPECT_THROW(PcmkPeer refused(remoted.port()), std::runtime_error);
  DaemonOptions options;
  options.socket = socket;
  TestDaemon lrmd(options);
  EXPECT_TRUE(remoted.waitForLog("reconnected to lrmd at " + socket)) << remoted.log();
  auto peer = remoted.connect();
  EXPECT_EQ(peer->signOn(1).get("lrmd_rc"), "0");
}

TEST(RemotedConfigTest, BadConfigurationExitsTwoWithTheReason) {
  TempDir dir;
  const CommandResult bad_port =
      runCommand({binary("lrm-remoted"), "--foreground", "--port", "99999", "--socket", dir.file("lrmd.sock"),
                  "--pacemaker-defaults", dir.file("none")});
  EXPECT_EQ(bad_port.exit_code, 2);
  EXPECT_NE(bad_port.err.find("port '99999'"), std::string::npos) << bad_port.err;

  const CommandResult no_key =
      runCommand({binary("lrm-remoted"), "--foreground", "--authkey", dir.file("missing"), "--socket",
                  dir.file("lrmd.sock"), "--pacemaker-defaults", dir.file("none")});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find(dir.file("missing")), std::string::npos) << no_key.err;
}

TEST(RemotedConfigTest, PortInUseExitsOneNamingAddressAndPort) {
  TempDir dir;
  std::string key;
  const std::string key_path = writeAuthKey(dir, key);
  const std::string defaults_path = dir.file("pacemaker-defaults");
  std::ofstream{defaults_path};
  TestDaemon lrmd;
  RemotedProcess first(RemotedOptions{lrmd.socket(), {}, {}});
  const CommandResult second = runCommand(
      {binary("lrm-remoted"), "--foreground", "--address", "127.0.0.1", "--port", std::to_string(first.port()),
       "--authkey", key_path, "--socket", lrmd.socket(), "--log-target", "stderr", "--pacemaker-defaults",
       defaults_path});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("127.0.0.1"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find(std::to_string(first.port())), std::string::npos) << second.err;
}

}  // namespace
}  // namespace lrm::test
