// The native agents shipped in agents/: Stateful, TcpCheck, HttpCheck and
// Process, through the real daemon.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

class NativeAgents : public ::testing::Test {
 protected:
  void SetUp() override { client_ = daemon_.connect(); }

  Event run(const std::string& id, const std::string& action) {
    return client_->waitForResult(client_->exec(operation(id, action)), kPatience);
  }

  TestDaemon daemon_;
  TempDir scratch_;
  std::unique_ptr<client::Client> client_;
};

// Answers every HTTP request on a loopback port with a fixed response.
class TinyHttpServer {
 public:
  explicit TinyHttpServer(std::string response)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), response_(std::move(response)) {
    socket_.setReceiveTimeout(Poco::Timespan(0, 100000));
    thread_ = std::thread([this] {
      while (!stop_) {
        try {
          if (!socket_.poll(Poco::Timespan(0, 100000), Poco::Net::Socket::SELECT_READ)) continue;
          Poco::Net::StreamSocket peer = socket_.acceptConnection();
          char buffer[4096];
          peer.receiveBytes(buffer, sizeof buffer);
          peer.sendBytes(response_.data(), static_cast<int>(response_.size()));
          peer.shutdownSend();
        } catch (const Poco::Exception&) {
        }
      }
    });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + "/health"; }

 private:
  Poco::Net::ServerSocket socket_;
  std::string response_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(NativeAgents, StatefulPromotesAndDemotes) {
  client_->registerInstance(registration("s", "native:lrm:Stateful", {{"state", scratch_.file("s")}}));
  EXPECT_EQ(run("s", "promote").rc, sdk::rc::kNotRunning) << "cannot promote what is not started";
  EXPECT_EQ(run("s", "start").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "promote").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "monitor").rc, sdk::rc::kRunningPromoted);
  EXPECT_EQ(run("s", "demote").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "stop").rc, sdk::rc::kOk);
  EXPECT_EQ(run("s", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(NativeAgents, TcpCheckSeesAListeningPort) {
  std::string port;
  {
    Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
    port = std::to_string(listener.address().port());
    client_->registerInstance(registration("t", "native:lrm:TcpCheck", {{"port", port}}));
    EXPECT_EQ(run("t", "start").rc, sdk::rc::kOk);
    EXPECT_EQ(run("t", "monitor").rc, sdk::rc::kOk);
  }
  const Event closed = run("t", "monitor");
  EXPECT_EQ(closed.rc, sdk::rc::kNotRunning);
  EXPECT_NE(closed.exit_reason.find("127.0.0.1:" + port), std::string::npos) << closed.exit_reason;
  client_->registerInstance(registration("u", "native:lrm:TcpCheck"));
  const Event unconfigured = run("u", "start");
  EXPECT_EQ(unconfigured.rc, sdk::rc::kNotConfigured);
  EXPECT_EQ(unconfigured.exit_reason, "parameter 'port' is required");
}

TEST_F(NativeAgents, HttpCheckComparesStatusAndBody) {
  TinyHttpServer server("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhealthy: ok");
  client_->registerInstance(registration("h", "native:lrm:HttpCheck", {{"url", server.url()}, {"body_contains", "healthy"}}));
  EXPECT_EQ(run("h", "monitor").rc, sdk::rc::kOk);
  client_->registerInstance(registration("h404", "native:lrm:HttpCheck", {{"url", server.url()}, {"expect_status", "404"}}));
  const Event wrong_status = run("h404", "monitor");
  EXPECT_EQ(wrong_status.rc, sdk::rc::kError);
  EXPECT_NE(wrong_status.exit_reason.find("answered 200, expected 404"), std::string::npos) << wrong_status.exit_reason;
  client_->registerInstance(registration("hbody", "native:lrm:HttpCheck", {{"url", server.url()}, {"body_contains", "sick"}}));
  EXPECT_EQ(run("hbody", "monitor").rc, sdk::rc::kError);
  client_->registerInstance(registration("https", "native:lrm:HttpCheck", {{"url", "https://127.0.0.1/"}}));
  EXPECT_EQ(run("https", "start").rc, sdk::rc::kInvalidParam);
}

TEST_F(NativeAgents, ProcessSupervisesACommand) {
  const std::string pidfile = scratch_.file("p.pid");
  // A command that ignores SIGTERM: stop must fall back to SIGKILL after the grace.
  client_->registerInstance(registration(
      "p", "native:lrm:Process",
      {{"command", "sh -c 'trap \"\" TERM; while :; do sleep 1; done'"}, {"pidfile", pidfile}, {"stop_grace_ms", "300"}}));
  EXPECT_EQ(run("p", "monitor").rc, sdk::rc::kNotRunning);
  EXPECT_EQ(run("p", "start").rc, sdk::rc::kOk);
  const pid_t pid = static_cast<pid_t>(std::stol(readFile(pidfile)));
  EXPECT_TRUE(processAlive(pid));
  EXPECT_EQ(run("p", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("p", "start").rc, sdk::rc::kOk) << "start of a running process is a no-op";
  EXPECT_EQ(static_cast<pid_t>(std::stol(readFile(pidfile))), pid);
  const Event stopped = run("p", "stop");
  EXPECT_EQ(stopped.rc, sdk::rc::kOk) << stopped.exit_reason;
  EXPECT_TRUE(waitUntil([&] { return !processAlive(pid); }));
  EXPECT_EQ(run("p", "monitor").rc, sdk::rc::kNotRunning);
  EXPECT_NE(daemon_.log().find("ignored SIGTERM: SIGKILL"), std::string::npos);
}

}  // namespace
}  // namespace lrm::test
