// The listener's admission of connections (kernel/src/listener.{hpp,cpp}):
// unprivileged peers share max-connections and get max-connections-per-uid
// each, a closed connection gives its place back, privileged peers are never
// counted; and the socket file is replaced only when it is stale.
#include "listener.hpp"

#include <Poco/Net/SocketAddress.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "temp_dir.hpp"

namespace lrm::kernel {
namespace {

Peer unprivileged(uid_t uid) {
  Peer peer;
  peer.uid = uid;
  peer.gid = uid;
  return peer;
}

class ListenerTest : public ::testing::Test {
 protected:
  Listener make(std::size_t total, std::size_t per_uid, const std::string& name = "lrmd.sock") {
    ListenerOptions options;
    options.socket_path = dir.str() + "/" + name;
    options.max_connections = total;
    options.max_connections_per_uid = per_uid;
    return Listener(loop, options, [](Poco::Net::StreamSocket, int, const Peer&) {});
  }

  test::TempDir dir;
  EventLoop loop;
};

TEST_F(ListenerTest, UnprivilegedPeersAreLimitedPerUidAndInAll) {
  Listener listener = make(3, 2);
  EXPECT_EQ(listener.admit(unprivileged(1000), "a"), "");
  EXPECT_EQ(listener.admit(unprivileged(1000), "b"), "");
  EXPECT_NE(listener.admit(unprivileged(1000), "c").find("uid 1000 already has 2 connections"), std::string::npos);
  EXPECT_EQ(listener.admit(unprivileged(1001), "d"), "");
  EXPECT_NE(listener.admit(unprivileged(1002), "e").find("already hold 3 connections"), std::string::npos);
  listener.release(unprivileged(1000));
  EXPECT_EQ(listener.admit(unprivileged(1002), "f"), "");
}

TEST_F(ListenerTest, PrivilegedPeersAreNeitherLimitedNorCounted) {
  Listener listener = make(1, 1);
  Peer root = unprivileged(0);
  root.privileged = true;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(listener.admit(root, "root"), "");
  EXPECT_EQ(listener.admit(unprivileged(1000), "a"), "");
  for (int i = 0; i < 5; ++i) listener.release(root);
  EXPECT_NE(listener.admit(unprivileged(1001), "b"), "");
}

TEST_F(ListenerTest, BindsForAnyoneRefusesToReplaceALiveOneAndRemovesItsFileWhenStopped) {
  Listener first = make(8, 8);
  first.listen();
  const std::string path = dir.str() + "/lrmd.sock";
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0666u);  // anyone may connect; requests are checked per peer
  Listener second = make(8, 8);
  EXPECT_THROW(second.listen(), std::runtime_error);  // a live one answers there
  first.pause();
  first.stop();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ListenerTest, ReplacesASocketFileNobodyServes) {
  const std::string path = dir.str() + "/lrmd.sock";
  {
    // Bound and closed: the file stays behind, as after a crash.
    Poco::Net::ServerSocket stale(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path));
    stale.close();
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  Listener listener = make(8, 8);
  EXPECT_NO_THROW(listener.listen());
  Poco::Net::StreamSocket client;
  EXPECT_NO_THROW(client.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path)));
}

TEST_F(ListenerTest, RefusesToReplaceAFileThatIsNotASocket) {
  std::ofstream(dir.str() + "/lrmd.sock") << "not a socket";
  Listener listener = make(8, 8);
  EXPECT_THROW(listener.listen(), std::runtime_error);
  EXPECT_TRUE(std::filesystem::exists(dir.str() + "/lrmd.sock"));
}

TEST_F(ListenerTest, CreatesTheSocketsDirectoryReachableByEveryone) {
  Listener listener = make(8, 8, "run/lrm/lrmd.sock");
  listener.listen();
  struct stat info {};
  ASSERT_EQ(::stat((dir.str() + "/run/lrm").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);
}

TEST_F(ListenerTest, AnInheritedDescriptorThatCannotBeSetUpIsAnErrorNamingIt) {
  Listener listener = make(8, 8);
  const int closed = ::dup(0);
  ASSERT_GE(closed, 0);
  ::close(closed);
  try {
    listener.listen(closed);
    FAIL() << "listen() accepted a closed descriptor";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unable to set close-on-exec on the inherited listening socket (fd " +
                                         std::to_string(closed) + "): Bad file descriptor"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lrm::kernel
