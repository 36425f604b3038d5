// Local users against the daemon: peers that never say hello, hold many
// connections, send huge frames or never read cannot lock out root or
// exhaust memory, and unprivileged users read no secrets. Tests that connect
// as another user (fork + setuid) run as root only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <sstream>
#include <vector>

#include "daemon.hpp"
#include "raw_peer.hpp"
#include "wire/wire.hpp"

namespace lrm::test {
namespace {

using wire::Message;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr uid_t kStranger = 60001;  // a uid with no account: the kernel does not care

// A child process that runs @p body as another user (fork, then setgid and
// setuid): body's result (0: as expected) reaches the parent through a pipe,
// and the child then keeps what it opened until the parent releases it.
class AsUser {
 public:
  AsUser(uid_t uid, gid_t gid, const std::function<int()>& body) {
    int result[2];
    int hold[2];
    if (::pipe2(result, O_CLOEXEC) != 0 || ::pipe2(hold, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(result[0]);
      ::close(hold[1]);
      unsigned char code = 100;  // could not become the user
      if (::setgroups(0, nullptr) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0) {
        try {
          code = static_cast<unsigned char>(body());
        } catch (...) {
          code = 101;
        }
      }
      (void)!::write(result[1], &code, 1);
      char byte;
      (void)!::read(hold[0], &byte, 1);  // until the parent releases it
      ::_exit(0);
    }
    ::close(result[1]);
    ::close(hold[0]);
    result_fd_ = result[0];
    hold_fd_ = hold[1];
  }
  ~AsUser() { release(); }

  /** body's return value; -1 if the child died first. */
  int result() {
    unsigned char code = 0;
    return ::read(result_fd_, &code, 1) == 1 ? code : -1;
  }
  /** Let the child exit (closing what it holds) and reap it. */
  void release() {
    if (pid_ <= 0) return;
    ::close(hold_fd_);
    ::close(result_fd_);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int result_fd_ = -1;
  int hold_fd_ = -1;
};

DaemonOptions withArgs(std::vector<std::string> args) {
  DaemonOptions options;
  options.extra_args = std::move(args);
  return options;
}

// The daemon's log lines that contain every one of @p parts.
std::vector<std::string> logLines(const TestDaemon& daemon, std::initializer_list<std::string> parts) {
  std::vector<std::string> lines;
  std::istringstream log(daemon.log());
  for (std::string line; std::getline(log, line);) {
    if (std::all_of(parts.begin(), parts.end(), [&](const std::string& part) { return line.find(part) != line.npos; })) {
      lines.push_back(line);
    }
  }
  return lines;
}

bool logged(const TestDaemon& daemon, std::initializer_list<std::string> parts) {
  return waitUntil([&] { return !logLines(daemon, parts).empty(); });
}

bool rootPings(const TestDaemon& daemon) {
  return runCommand({binary("lrmctl"), "--socket", daemon.socket(), "ping"}).exit_code == 0;
}

// A frame whose length prefix announces @p size bytes (only the prefix).
std::string lengthPrefix(std::uint32_t size) {
  return {static_cast<char>(size >> 24), static_cast<char>(size >> 16), static_cast<char>(size >> 8),
          static_cast<char>(size)};
}

// An AsUser body: open @p count connections and say nothing.
std::function<int()> hoard(const TestDaemon& daemon, int count) {
  return [&daemon, count] {
    for (int i = 0; i < count; ++i) new RawPeer(daemon.socket());  // held until the process exits
    return 0;
  };
}

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as other users";
  }
};

TEST(ConnectionLimits, SilentConnectionIsClosedAtTheHelloDeadline) {
  TestDaemon daemon(withArgs({"--hello-timeout", "1s"}));
  RawPeer silent(daemon.socket());
  auto greeted = daemon.connect("greeted");
  silent.expectGoodbye("no hello within 1000 ms");
  EXPECT_NO_THROW(greeted->ping()) << "a client that said hello is not timed out";
  const auto lines = logLines(daemon, {"no hello within 1000 ms"});
  ASSERT_EQ(lines.size(), 1u) << daemon.log();
  EXPECT_NE(lines[0].find("Notice"), std::string::npos) << lines[0];
}

TEST(ConnectionLimits, FrameBeforeHelloIsLimitedTo64KiB) {
  TestDaemon daemon;
  RawPeer peer(daemon.socket());
  peer.sendBytes(lengthPrefix(60 * 1024 * 1024) + std::string(1000, 'x'));
  peer.expectGoodbye("exceeds the limit of 65536 bytes");
  EXPECT_TRUE(rootPings(daemon));
}

TEST(ConnectionLimits, UnknownRequestNameIsClippedAndLoggedOnce) {
  TestDaemon daemon;
  RawPeer peer(daemon.socket());
  peer.hello();
  const std::string name(1024 * 1024, 'x');
  Message request(name);
  request.set("id", "1");
  peer.sendMessage(request);
  const auto reply = peer.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->get("code"), "unknown-request");
  EXPECT_LT(reply->get("message").size(), 256u) << reply->get("message").substr(0, 256);
  const std::string clipped = std::string(64, 'x') + "...[";
  EXPECT_NE(reply->get("message").find(clipped), std::string::npos);
  const auto lines = logLines(daemon, {"unknown request type"});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), 512u) << "a long log line for a long request name";
  EXPECT_EQ(lines[0].find(clipped), lines[0].rfind(clipped)) << "the name is logged twice: " << lines[0];
}

TEST(ConnectionLimits, PrivilegedClientThatDoesNotReadIsDroppedAtItsLimit) {
  TestDaemon daemon;
  // One info reply is about 6 MB: 30 of them unread are over the 128 MiB limit.
  client::RegisterRequest big = registration("big", "ocf:lrmtest:Fail");
  for (int i = 0; i < 100; ++i) big.params["p" + std::to_string(i)] = std::string(60000, 'v');
  daemon.connect()->registerInstance(big);
  RawPeer reader_of_nothing(daemon.socket());
  reader_of_nothing.hello();
  std::string requests;
  for (int i = 0; i < 30; ++i) {
    Message info("info");
    info.set("id", std::to_string(i)).set("instance", "big");
    requests += wire::frame(wire::encode(info));
  }
  reader_of_nothing.sendBytes(requests);
  ASSERT_TRUE(logged(daemon, {"dropping client", "(raw,", "more than 134217728 bytes unread"})) << daemon.log();
  EXPECT_NE(logLines(daemon, {"more than 134217728 bytes unread"})[0].find("Notice"), std::string::npos);
  EXPECT_TRUE(rootPings(daemon));
}

TEST_F(Security, ManyConnectionsOfUnprivilegedUsersDoNotLockOutRoot) {
  TestDaemon daemon(withArgs({"--hello-timeout", "10m", "--max-connections", "40"}));
  AsUser nobody(kNobody, kNogroup, hoard(daemon, 1100));
  ASSERT_EQ(nobody.result(), 0);
  AsUser stranger(kStranger, kNogroup, hoard(daemon, 100));
  ASSERT_EQ(stranger.result(), 0);
  EXPECT_TRUE(rootPings(daemon)) << daemon.log().substr(0, 4096);
  // Root is never limited.
  std::vector<std::unique_ptr<RawPeer>> mine;
  for (int i = 0; i < 50; ++i) {
    mine.push_back(std::make_unique<RawPeer>(daemon.socket()));
    mine.back()->hello();
  }
  // 32 for nobody (per uid), 8 for the stranger (40 in all); one line each.
  EXPECT_EQ(logLines(daemon, {"refusing", "uid 65534 already has 32 connections"}).size(), 1u);
  EXPECT_EQ(logLines(daemon, {"refusing", "uid 60001", "already hold 40 connections"}).size(), 1u);
}

TEST_F(Security, LrmdRaisesItsDescriptorLimitForItsConnections) {
  // lrmd inherits a soft limit of 512 descriptors (hard: ours): it needs 1024 + 256.
  rlimit ours{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &ours), 0);
  if (ours.rlim_max < 2048) GTEST_SKIP() << "the hard descriptor limit is below 2048";
  const rlimit low{512, ours.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto daemon = std::make_unique<TestDaemon>(withArgs({"--hello-timeout", "10m", "--max-connections-per-uid", "1000"}));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &ours), 0);
  AsUser nobody(kNobody, kNogroup, hoard(*daemon, 600));
  ASSERT_EQ(nobody.result(), 0);
  EXPECT_TRUE(rootPings(*daemon));
}

TEST_F(Security, UnprivilegedConnectionsLeaveDescriptorsForRoot) {
  // In a child process whose hard limit is 512 descriptors (lrmd inherits
  // it; this process could not raise its own again): lrmd keeps 256 of them
  // from unprivileged peers.
  AsUser scenario(0, 0, [] {
    const rlimit low{512, 512};
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return 1;
    TestDaemon daemon(withArgs({"--hello-timeout", "10m", "--max-connections-per-uid", "1000"}));
    if (!logged(daemon, {"only 512 file descriptors", "at most 256 connections"})) return 2;
    // Two users (each of them has only 512 descriptors, too).
    AsUser nobody(kNobody, kNogroup, hoard(daemon, 300));
    if (nobody.result() != 0) return 3;
    AsUser stranger(kStranger, kNogroup, hoard(daemon, 300));
    if (stranger.result() != 0) return 3;
    if (!rootPings(daemon)) return 4;
    return logLines(daemon, {"refusing", "already hold 256 connections"}).empty() ? 5 : 0;
  });
  EXPECT_EQ(scenario.result(), 0) << "1 setrlimit, 2 no warning, 3 users, 4 root locked out, 5 no refusal";
}

TEST_F(Security, GlobalBudgetDropsUnprivilegedPeersAndKeepsRoot) {
  TestDaemon daemon(withArgs({"--max-buffered", "1M"}));
  // Root holds 600 KB of a 700 KB request...
  RawPeer root(daemon.socket());
  root.hello();
  Message ping("ping");
  ping.set("id", "p").set("pad", std::string(700 * 1000, 'r'));
  const std::string frame = wire::frame(wire::encode(ping));
  root.sendBytes(frame.substr(0, 600 * 1000));
  // ...and nobody 32 times 60 KB of a 64 KB one: 2.5 MB, over the 1 MiB budget.
  AsUser nobody(kNobody, kNogroup, [&daemon] {
    for (int i = 0; i < 32; ++i) {
      auto* peer = new RawPeer(daemon.socket());  // held until the process exits
      peer->hello();
      const std::string partial = lengthPrefix(64000) + std::string(60000, 'n');
      (void)!::send(peer->fd(), partial.data(), partial.size(), MSG_NOSIGNAL);
    }
    return 0;
  });
  ASSERT_EQ(nobody.result(), 0);
  ASSERT_TRUE(logged(daemon, {"dropping client", "uid 65534", "more than max-buffered"})) << daemon.log();
  root.sendBytes(frame.substr(600 * 1000));
  const auto reply = root.receive();
  ASSERT_TRUE(reply) << "root was dropped";
  EXPECT_TRUE(reply->getBool("ok"));
  EXPECT_TRUE(logLines(daemon, {"dropping client", "uid 0)"}).empty()) << daemon.log();
  EXPECT_TRUE(rootPings(daemon));
}

TEST_F(Security, UnprivilegedPeerThatDoesNotReadIsDroppedAt1MiB) {
  TestDaemon daemon;
  AsUser nobody(kNobody, kNogroup, [&daemon] {
    auto* peer = new RawPeer(daemon.socket());  // held until the process exits
    peer->hello();
    std::string requests;
    for (int i = 0; i < 20000; ++i) {
      Message classes("classes");
      classes.set("id", std::to_string(i));
      requests += wire::frame(wire::encode(classes));
    }
    (void)!::send(peer->fd(), requests.data(), requests.size(), MSG_NOSIGNAL);
    return 0;
  });
  ASSERT_EQ(nobody.result(), 0);
  ASSERT_TRUE(logged(daemon, {"dropping client", "uid 65534", "more than 1048576 bytes unread"})) << daemon.log();
  EXPECT_TRUE(rootPings(daemon));
}

TEST_F(Security, UnprivilegedPeersReadNoSecrets) {
  TestDaemon daemon;
  auto root = daemon.connect();
  root->registerInstance(registration("db", "ocf:lrmtest:Fail", {{"password", "s3cret"}}));
  const auto result = root->waitForResult(root->exec(operation("db", "start")), kPatience);
  ASSERT_FALSE(result.output.empty());
  ASSERT_FALSE(result.exit_reason.empty());
  ASSERT_EQ(root->info("db").params.at("password"), "s3cret");
  AsUser nobody(kNobody, kNogroup, [&daemon] {
    auto client = client::Client::connect(daemon.socket(), "nobody");
    auto shows = [](const client::InstanceInfo& info) {
      if (!info.params.empty() || info.last.empty()) return true;
      for (const auto& event : info.last) {
        if (!event.output.empty() || !event.exit_reason.empty()) return true;
      }
      return false;
    };
    if (shows(client->info("db"))) return 1;
    if (shows(client->list().at(0))) return 2;
    for (const auto& refused : std::vector<std::function<void()>>{[&] { client->subscribe({}); },
                                                                  [&] { client->validate("db"); }}) {
      try {
        refused();
        return 3;
      } catch (const client::Error& e) {
        if (e.code() != "permission-denied") return 4;
      }
    }
    // Nor may it send large frames after hello.
    RawPeer peer(daemon.socket());
    peer.hello();
    peer.sendBytes(lengthPrefix(1024 * 1024) + "<");
    const auto goodbye = peer.receive();
    return goodbye && goodbye->get("reason").find("exceeds the limit of 65536") != std::string::npos ? 0 : 5;
  });
  EXPECT_EQ(nobody.result(), 0) << "1 info shows secrets, 2 list does, 3 accepted, 4 wrong code, 5 large frame";
}

TEST_F(Security, SocketModeAndGroupFollowTheAllowedGroup) {
  {
    TestDaemon daemon;
    struct stat status {};
    ASSERT_EQ(::stat(daemon.socket().c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0666u) << "without an allowed group anyone may connect";
  }
  {
    // nobody is not in group daemon: it may not even connect.
    TestDaemon daemon(withArgs({"--allowed-group", "daemon"}));
    struct stat status {};
    ASSERT_EQ(::stat(daemon.socket().c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0660u);
    EXPECT_EQ(status.st_gid, ::getgrnam("daemon")->gr_gid);
    AsUser nobody(kNobody, kNogroup, [&daemon] {
      try {
        RawPeer peer(daemon.socket());
        return 1;
      } catch (const std::runtime_error& e) {
        return std::string(e.what()).find("Permission denied") != std::string::npos ? 0 : 2;
      }
    });
    EXPECT_EQ(nobody.result(), 0) << "1 connected, 2 other error";
  }
  {
    // nogroup is nobody's group: it may change things.
    TestDaemon daemon(withArgs({"--allowed-group", "nogroup"}));
    AsUser nobody(kNobody, kNogroup, [&daemon] {
      client::Client::connect(daemon.socket(), "nobody")->registerInstance(registration("x", "ocf:lrmtest:Fail"));
      return 0;
    });
    EXPECT_EQ(nobody.result(), 0);
  }
}

}  // namespace
}  // namespace lrm::test
