// RawPeer (see raw_peer.hpp).
#include "raw_peer.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "daemon.hpp"

namespace lrm::test {

RawPeer::RawPeer(const std::string& path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const std::string why = std::strerror(errno);
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("connect failed: " + why);
  }
}

RawPeer::~RawPeer() { ::close(fd_); }

void RawPeer::sendBytes(const std::string& bytes) {
  ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

void RawPeer::hello() {
  wire::Message hello("hello");
  hello.set("id", "h").set("protocol", 1).set("client", "raw");
  sendMessage(hello);
  auto reply = receive();
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->getBool("ok")) << reply->get("message");
}

std::optional<wire::Message> RawPeer::receive() {
  std::string payload;
  while (true) {
    if (reader_.next(payload) == wire::FrameReader::Status::Frame) {
      std::string error;
      return wire::decode(payload, error);
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(kPatience.count())) <= 0) {
      ADD_FAILURE() << "no answer from lrmd";
      return std::nullopt;
    }
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return std::nullopt;
    reader_.feed(buffer, static_cast<std::size_t>(n));
  }
}

void RawPeer::expectError(const wire::Message& request, const std::string& code) {
  sendMessage(request);
  auto reply = receive();
  ASSERT_TRUE(reply) << "connection closed instead of an error reply";
  EXPECT_EQ(reply->kind, "reply");
  EXPECT_EQ(reply->get("id"), request.get("id"));
  EXPECT_FALSE(reply->getBool("ok", true));
  EXPECT_EQ(reply->get("code"), code) << reply->get("message");
  EXPECT_FALSE(reply->get("message").empty());
}

void RawPeer::expectGoodbye(const std::string& reason) {
  auto goodbye = receive();
  ASSERT_TRUE(goodbye) << "closed without a goodbye";
  EXPECT_EQ(goodbye->kind, "goodbye");
  EXPECT_NE(goodbye->get("reason").find(reason), std::string::npos) << goodbye->get("reason");
  EXPECT_FALSE(receive()) << "connection still open after goodbye";
}

}  // namespace lrm::test
