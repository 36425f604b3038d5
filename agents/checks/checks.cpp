// Monitor-only health checks for services that have no agent of their own,
// on Poco Net. start and stop only validate the parameters (there is nothing
// to start); monitor checks the service:
//   native:lrm:TcpCheck   host (default 127.0.0.1), port (required),
//                         connect_timeout_ms (default 2000)
//   native:lrm:HttpCheck  url (http://..., required), expect_status (default
//                         200), body_contains (optional), timeout_ms (5000)
// monitor: 0 healthy; 7 nothing answers (connection refused or timed out);
// 1 it answers but wrongly (status, body); 6 a required parameter is missing.
#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sstream>

#include "../common.hpp"

namespace {

using lrm::agents::msLeft;
using lrm::agents::param;
using lrm::agents::result;
namespace rc = lrm::sdk::rc;

std::string checkMetadata(const char* name, const char* what, const char* params) {
  return std::string("<?xml version=\"1.0\"?>\n<resource-agent name=\"") + name +
         "\" version=\"1.0\">\n<version>1.1</version>\n<longdesc lang=\"en\">" + what +
         " Start and stop only validate the parameters; monitor performs the check.</longdesc>\n"
         "<shortdesc lang=\"en\">" + what + "</shortdesc>\n<parameters>\n" + params +
         "</parameters>\n<actions>\n<action name=\"start\" timeout=\"5s\"/>\n<action name=\"stop\" timeout=\"5s\"/>\n"
         "<action name=\"monitor\" timeout=\"10s\" interval=\"10s\"/>\n<action name=\"meta-data\" timeout=\"5s\"/>\n"
         "<action name=\"validate-all\" timeout=\"5s\"/>\n</actions>\n</resource-agent>\n";
}

// Shared shape of both checks: validate, then monitor only does the work.
class Check : public lrm::sdk::Agent {
 public:
  lrm::sdk::Result run(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) override {
    std::string problem;
    const int invalid = validate(op, problem);
    if (invalid != rc::kOk) return result(op.action == "stop" ? rc::kOk : invalid, problem);
    if (op.action == "start" || op.action == "stop" || op.action == "validate-all") return result(rc::kOk);
    if (op.action == "monitor" || op.action == "status") return check(op, context);
    return result(rc::kUnimplemented, "action '" + op.action + "' is not implemented");
  }

 protected:
  virtual int validate(const lrm::sdk::Operation& op, std::string& problem) const = 0;
  virtual lrm::sdk::Result check(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) const = 0;
};

class TcpCheck final : public Check {
 public:
  std::string metadata() const override {
    return checkMetadata("TcpCheck", "Checks that a TCP port accepts connections.",
                         "<parameter name=\"host\"><shortdesc lang=\"en\">Host</shortdesc><content type=\"string\" default=\"127.0.0.1\"/></parameter>\n"
                         "<parameter name=\"port\" required=\"1\"><shortdesc lang=\"en\">TCP port</shortdesc><content type=\"integer\"/></parameter>\n"
                         "<parameter name=\"connect_timeout_ms\"><shortdesc lang=\"en\">Connect timeout (ms)</shortdesc><content type=\"integer\" default=\"2000\"/></parameter>\n");
  }

 protected:
  int validate(const lrm::sdk::Operation& op, std::string& problem) const override {
    const std::string port = param(op, "port");
    if (port.empty()) {
      problem = "parameter 'port' is required";
      return rc::kNotConfigured;
    }
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) > 65535) {
      problem = "parameter 'port' must be a TCP port, not '" + port + "'";
      return rc::kInvalidParam;
    }
    return rc::kOk;
  }

  lrm::sdk::Result check(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) const override {
    const std::string target = param(op, "host", "127.0.0.1") + ":" + param(op, "port");
    const long timeout = msLeft(context, std::stol(param(op, "connect_timeout_ms", "2000")));
    try {
      Poco::Net::StreamSocket socket;
      socket.connect(Poco::Net::SocketAddress(target), Poco::Timespan(timeout * 1000));
      socket.close();
      return result(rc::kOk);
    } catch (const Poco::Exception& e) {
      return result(rc::kNotRunning, "no connection to " + target + ": " + e.displayText());
    }
  }
};

class HttpCheck final : public Check {
 public:
  std::string metadata() const override {
    return checkMetadata("HttpCheck", "Checks that a URL answers with the expected status and body.",
                         "<parameter name=\"url\" required=\"1\"><shortdesc lang=\"en\">http:// URL</shortdesc><content type=\"string\"/></parameter>\n"
                         "<parameter name=\"expect_status\"><shortdesc lang=\"en\">Expected HTTP status</shortdesc><content type=\"integer\" default=\"200\"/></parameter>\n"
                         "<parameter name=\"body_contains\"><shortdesc lang=\"en\">Text the body must contain</shortdesc><content type=\"string\"/></parameter>\n"
                         "<parameter name=\"timeout_ms\"><shortdesc lang=\"en\">Timeout (ms)</shortdesc><content type=\"integer\" default=\"5000\"/></parameter>\n");
  }

 protected:
  int validate(const lrm::sdk::Operation& op, std::string& problem) const override {
    const std::string url = param(op, "url");
    if (url.empty()) {
      problem = "parameter 'url' is required";
      return rc::kNotConfigured;
    }
    try {
      if (Poco::URI(url).getScheme() != "http") {
        problem = "only http:// URLs are supported, not '" + url + "'";
        return rc::kInvalidParam;
      }
    } catch (const Poco::Exception& e) {
      problem = "bad url '" + url + "': " + e.displayText();
      return rc::kInvalidParam;
    }
    return rc::kOk;
  }

  lrm::sdk::Result check(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) const override {
    const Poco::URI uri(param(op, "url"));
    const long timeout = msLeft(context, std::stol(param(op, "timeout_ms", "5000")));
    try {
      Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
      session.setTimeout(Poco::Timespan(timeout * 1000));
      Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, uri.getPathAndQuery().empty() ? "/" : uri.getPathAndQuery(),
                                     Poco::Net::HTTPMessage::HTTP_1_1);
      session.sendRequest(request);
      Poco::Net::HTTPResponse response;
      std::istream& body_stream = session.receiveResponse(response);
      std::ostringstream body;
      Poco::StreamCopier::copyStream(body_stream, body, 65536);
      const int expected = std::stoi(param(op, "expect_status", "200"));
      if (static_cast<int>(response.getStatus()) != expected) {
        return result(rc::kError, uri.toString() + " answered " + std::to_string(response.getStatus()) +
                                      ", expected " + std::to_string(expected));
      }
      const std::string needle = param(op, "body_contains");
      if (!needle.empty() && body.str().find(needle) == std::string::npos) {
        return result(rc::kError, uri.toString() + " body does not contain '" + needle + "'");
      }
      return result(rc::kOk);
    } catch (const Poco::Exception& e) {
      return result(rc::kNotRunning, "no answer from " + uri.toString() + ": " + e.displayText());
    }
  }
};

}  // namespace

// One library per agent: the loader reads one descriptor per file.
#if defined(LRM_CHECK_TCP)
LRM_AGENT(TcpCheck, "lrm", "TcpCheck", "1.0");
#else
LRM_AGENT(HttpCheck, "lrm", "HttpCheck", "1.0");
#endif
