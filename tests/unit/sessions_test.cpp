// Sessions (kernel/src/sessions.{hpp,cpp}): the outbox carried over an
// upgrade is whole frames (the one written in part included, the goodbye
// not) and its frames are counted for the hello reply's `kept`; a waiting
// session is resumed by its own uid only, and ends when its window passes or
// too much is kept for it.
#include "sessions.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"

namespace lrm::kernel {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string framed(const std::string& kind) { return wire::frame(wire::encode(wire::Message(kind))); }

TEST(FrameCount, CountsWholeFramesBackToBack) {
  EXPECT_EQ(frameCount(""), 0u);
  EXPECT_EQ(frameCount(framed("event")), 1u);
  EXPECT_EQ(frameCount(framed("reply") + framed("event") + framed("event")), 3u);
  EXPECT_EQ(frameCount(std::string("\0\0\0\0", 4) + framed("event")), 2u);  // an empty frame counts
}

class CarriedSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    connection.client = 4;
    connection.session = "token";
    connection.peer.uid = 1000;
    connection.client_name = "crm";
    connection.out = first + second;
    connection.goodbye_at = connection.out.size();
    connection.out += framed("goodbye");
  }

  Connection connection;
  const std::string first = framed("reply");
  const std::string second = framed("event");
};

TEST_F(CarriedSessionTest, CarriesWhatWasNotWrittenButNotTheGoodbye) {
  const CarriedSession session = carriedSession(connection);
  EXPECT_EQ(session.client, 4u);
  EXPECT_EQ(session.token, "token");
  EXPECT_EQ(session.uid, 1000u);
  EXPECT_EQ(session.name, "crm");
  EXPECT_EQ(session.outbox, first + second);
  EXPECT_EQ(frameCount(session.outbox), 2u);
}

TEST_F(CarriedSessionTest, AFrameWrittenInPartGoesAgainWhole) {
  connection.out_offset = first.size() + 3;
  EXPECT_EQ(carriedSession(connection).outbox, second);
  connection.out_offset = first.size();
  EXPECT_EQ(carriedSession(connection).outbox, second);
  connection.out_offset = first.size() + second.size() + 2;  // into the goodbye
  EXPECT_THAT(carriedSession(connection).outbox, IsEmpty());
}

TEST_F(CarriedSessionTest, AConnectionClosingForAnotherReasonCarriesNothing) {
  connection.closing = true;
  EXPECT_THAT(carriedSession(connection).outbox, IsEmpty());
}

class SessionsTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kMaxOutbox = 64;

  CarriedSession waiting(ClientId client, const std::string& token, uid_t uid) {
    CarriedSession session;
    session.client = client;
    session.token = token;
    session.uid = uid;
    session.name = "crm";
    session.subscription.subscribed = true;
    return session;
  }
  wire::Message hello(const std::string& resume) {
    wire::Message message("hello");
    message.set("resume", resume);
    return message;
  }
  // Run the loop until @p done or a safety deadline.
  void runUntil(const std::function<bool()>& done) {
    const TimerId deadline = loop.addTimer(Millis(5000), [this] { loop.stop(); });
    std::function<void()> poll = [&] {
      if (done()) return loop.stop();
      loop.defer(poll);
    };
    loop.defer(poll);
    loop.run();
    loop.cancelTimer(deadline);
  }

  EventLoop loop;
  std::vector<ClientId> ended;
  Sessions sessions{loop, kMaxOutbox, [this](ClientId client) { ended.push_back(client); }};
};

TEST_F(SessionsTest, ResumedByItsOwnUidWithWhatWasKept) {
  sessions.takeOver({waiting(7, "abc", 1000)}, Millis(60000));
  sessions.keep(wire::Message("event"), [](ClientId client, const Subscription&) { return client == 7; });

  Connection stranger;
  stranger.peer.uid = 1001;
  wire::Message refused("reply");
  sessions.open(stranger, hello("abc"), refused);
  EXPECT_FALSE(refused.has("resumed"));
  EXPECT_EQ(refused.get("session").size(), 32u);  // a new token
  EXPECT_NE(refused.get("session"), "abc");

  Connection owner;
  owner.peer.uid = 1000;
  wire::Message reply("reply");
  sessions.open(owner, hello("abc"), reply);
  EXPECT_TRUE(reply.getBool("resumed"));
  EXPECT_EQ(reply.get("kept"), "1");
  EXPECT_EQ(reply.get("session"), "abc");
  EXPECT_EQ(owner.client, 7u);
  EXPECT_TRUE(owner.subscription.subscribed);
  EXPECT_EQ(owner.carried_out, framed("event"));

  std::vector<CarriedSession> left;
  sessions.handOver(left);
  EXPECT_THAT(left, IsEmpty());  // resumed: no longer waiting
}

TEST_F(SessionsTest, WaitingSessionsAreHandedOverWithTheirOutbox) {
  sessions.takeOver({waiting(7, "abc", 1000), waiting(8, "def", 1000)}, Millis(60000));
  sessions.keep(wire::Message("event"), [](ClientId client, const Subscription&) { return client == 8; });
  std::vector<CarriedSession> left;
  sessions.handOver(left);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_THAT(left[0].outbox, IsEmpty());
  EXPECT_EQ(left[1].outbox, framed("event"));
}

TEST_F(SessionsTest, ASessionNotResumedInTimeEnds) {
  sessions.takeOver({waiting(7, "abc", 1000)}, Millis(1));
  runUntil([this] { return !ended.empty(); });
  EXPECT_THAT(ended, ElementsAre(7u));
}

TEST_F(SessionsTest, ASessionKeptTooMuchForEnds) {
  sessions.takeOver({waiting(7, "abc", 1000)}, Millis(60000));
  wire::Message big("event");
  big.set("padding", std::string(kMaxOutbox, 'x'));
  sessions.keep(big, [](ClientId, const Subscription&) { return true; });
  EXPECT_THAT(ended, IsEmpty());  // told from the loop, not from inside keep()
  runUntil([this] { return !ended.empty(); });
  EXPECT_THAT(ended, ElementsAre(7u));
  std::vector<CarriedSession> left;
  sessions.handOver(left);
  EXPECT_THAT(left, IsEmpty());
}

}  // namespace
}  // namespace lrm::kernel
