// Test support: a protocol peer that speaks raw frames over the daemon's
// socket, for what the client library won't send (broken frames, requests
// it does not know, clients that never read).
#pragma once

#include <optional>
#include <string>

#include "wire/wire.hpp"

namespace lrm::test {

class RawPeer {
 public:
  /** Connect to @p path; @throws std::runtime_error (with errno's text) when refused. */
  explicit RawPeer(const std::string& path);
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  int fd() const { return fd_; }
  void sendBytes(const std::string& bytes);
  void sendMessage(const wire::Message& message) { sendBytes(wire::frame(wire::encode(message))); }
  /** Say hello and expect it accepted. */
  void hello();
  /** Next message, or nullopt when the daemon closed the connection. */
  std::optional<wire::Message> receive();
  /** Expect a reply to @p request with error @p code. */
  void expectError(const wire::Message& request, const std::string& code);
  /** Expect a goodbye naming @p reason, then EOF. */
  void expectGoodbye(const std::string& reason);

 private:
  int fd_ = -1;
  wire::FrameReader reader_;
};

}  // namespace lrm::test
