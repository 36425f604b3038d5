// Tests of the Pacemaker Remote endpoint's TLS transport and listener
// (adapters/pacemaker/src/{tls_transport,tcp_listener}): a real GnuTLS client
// in the test, both sides non-blocking and driven by poll() on one thread;
// certificates for the X.509 mode are made here at run time with GnuTLS.
#include "tcp_listener.hpp"
#include "tls_transport.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gnutls/x509.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace lrm::pacemaker {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using Progress = TlsSession::Progress;
using ReadStatus = TlsSession::ReadResult::Status;

// Generous: the machine is loaded; a failure never waits this long.
constexpr std::chrono::seconds kPatience{30};
constexpr std::size_t kHeaderBytes = 40;  // Pacemaker's message header

void writeFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Wait until one of @p fds is readable or @p timeout passes: the test loop's
// only way of waiting (events, not sleeps).
void waitReadable(const std::vector<int>& fds, std::chrono::milliseconds timeout) {
  std::vector<pollfd> polled;
  for (int fd : fds) polled.push_back({fd, POLLIN, 0});
  ::poll(polled.data(), polled.size(), static_cast<int>(timeout.count()));
}

bool readable(int fd) {
  pollfd polled{fd, POLLIN, 0};
  return ::poll(&polled, 1, 0) == 1;
}

// --- certificates, made with GnuTLS's own API -------------------------------

struct Pem {
  std::string cert;
  std::string key;
};

class Identity {
 public:
  Identity() {
    gnutls_x509_privkey_init(&key_);
    gnutls_x509_crt_init(&crt_);
    // ECDSA P-256: generated in microseconds, unlike RSA.
    EXPECT_EQ(gnutls_x509_privkey_generate(key_, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
              0);
  }
  ~Identity() {
    gnutls_x509_crt_deinit(crt_);
    gnutls_x509_privkey_deinit(key_);
  }
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  // A certificate for @p name, valid for @p lifetime_s, signed by @p issuer
  // (self-signed when null). @p role: "ca", "server" or "client".
  void certify(const std::string& name,
               const std::string& role,
               int serial,
               const Identity* issuer,
               std::time_t lifetime_s = 365 * 24 * 3600) {
    const std::time_t now = std::time(nullptr);
    gnutls_x509_crt_set_version(crt_, 3);
    const unsigned char serial_bytes[] = {static_cast<unsigned char>(serial)};
    gnutls_x509_crt_set_serial(crt_, serial_bytes, sizeof serial_bytes);
    gnutls_x509_crt_set_activation_time(crt_, now - 3600);
    gnutls_x509_crt_set_expiration_time(crt_, now + lifetime_s);
    gnutls_x509_crt_set_dn_by_oid(crt_, GNUTLS_OID_X520_COMMON_NAME, 0, name.data(), name.size());
    gnutls_x509_crt_set_key(crt_, key_);
    if (role == "ca") {
      gnutls_x509_crt_set_basic_constraints(crt_, 1, -1);
      gnutls_x509_crt_set_key_usage(crt_, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
    } else {
      gnutls_x509_crt_set_basic_constraints(crt_, 0, -1);
      gnutls_x509_crt_set_key_usage(crt_, GNUTLS_KEY_DIGITAL_SIGNATURE);
      gnutls_x509_crt_set_key_purpose_oid(crt_, role == "server" ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT,
                                          0);
    }
    const Identity& signer = issuer ? *issuer : *this;
    ASSERT_EQ(gnutls_x509_crt_sign2(crt_, signer.crt_, signer.key_, GNUTLS_DIG_SHA256, 0), 0);
  }

  Pem pem() const {
    gnutls_datum_t cert{}, key{};
    EXPECT_EQ(gnutls_x509_crt_export2(crt_, GNUTLS_X509_FMT_PEM, &cert), 0);
    EXPECT_EQ(gnutls_x509_privkey_export2(key_, GNUTLS_X509_FMT_PEM, &key), 0);
    Pem out{std::string(reinterpret_cast<char*>(cert.data), cert.size),
            std::string(reinterpret_cast<char*>(key.data), key.size)};
    gnutls_free(cert.data);
    gnutls_free(key.data);
    return out;
  }

  // A CRL signed by this CA, revoking @p revoked.
  std::string crlRevoking(const Identity& revoked) const {
    gnutls_x509_crl_t crl;
    gnutls_x509_crl_init(&crl);
    const std::time_t now = std::time(nullptr);
    gnutls_x509_crl_set_version(crl, 2);
    gnutls_x509_crl_set_this_update(crl, now - 60);
    gnutls_x509_crl_set_next_update(crl, now + 24 * 3600);
    EXPECT_EQ(gnutls_x509_crl_set_crt(crl, revoked.crt_, now - 60), 0);
    EXPECT_EQ(gnutls_x509_crl_sign2(crl, crt_, key_, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t out{};
    EXPECT_EQ(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &out), 0);
    std::string pem(reinterpret_cast<char*>(out.data), out.size);
    gnutls_free(out.data);
    gnutls_x509_crl_deinit(crl);
    return pem;
  }

 private:
  gnutls_x509_privkey_t key_ = nullptr;
  gnutls_x509_crt_t crt_ = nullptr;
};

// --- a real GnuTLS client, non-blocking -----------------------------------

class TestClient {
 public:
  // A PSK client as Pacemaker's: identity "lrmd", the whole key file as the key.
  static std::unique_ptr<TestClient> psk(std::uint16_t port,
                                         const std::string& key,
                                         const char* priorities = "NORMAL:+DHE-PSK:+PSK") {
    auto client = std::unique_ptr<TestClient>(new TestClient(port));
    gnutls_psk_allocate_client_credentials(&client->psk_);
    const gnutls_datum_t datum{reinterpret_cast<unsigned char*>(const_cast<char*>(key.data())),
                               static_cast<unsigned>(key.size())};
    EXPECT_EQ(gnutls_psk_set_client_credentials(client->psk_, kPskIdentity, &datum, GNUTLS_PSK_KEY_RAW), 0);
    client->start(priorities, GNUTLS_CRD_PSK, client->psk_);
    return client;
  }
  // A certificate client; an empty @p identity sends no certificate.
  static std::unique_ptr<TestClient> x509(std::uint16_t port, const Pem& identity) {
    auto client = std::unique_ptr<TestClient>(new TestClient(port));
    gnutls_certificate_allocate_credentials(&client->certificate_);
    if (!identity.cert.empty()) {
      const gnutls_datum_t cert{reinterpret_cast<unsigned char*>(const_cast<char*>(identity.cert.data())),
                                static_cast<unsigned>(identity.cert.size())};
      const gnutls_datum_t key{reinterpret_cast<unsigned char*>(const_cast<char*>(identity.key.data())),
                               static_cast<unsigned>(identity.key.size())};
      EXPECT_EQ(
          gnutls_certificate_set_x509_key_mem2(client->certificate_, &cert, &key, GNUTLS_X509_FMT_PEM, nullptr, 0), 0);
    }
    client->start("NORMAL", GNUTLS_CRD_CERTIFICATE, client->certificate_);
    return client;
  }
  ~TestClient() {
    gnutls_deinit(session_);
    if (psk_) gnutls_psk_free_client_credentials(psk_);
    if (certificate_) gnutls_certificate_free_credentials(certificate_);
    ::close(fd_);
  }

  int fd() const { return fd_; }
  gnutls_session_t session() const { return session_; }
  int rc() const { return rc_; }
  bool finished() const { return rc_ != GNUTLS_E_AGAIN; }
  std::string failure() const {
    std::string text = gnutls_strerror(rc_);
    if (rc_ == GNUTLS_E_FATAL_ALERT_RECEIVED)
      text += std::string(": ") + gnutls_alert_get_name(gnutls_alert_get(session_));
    return text;
  }
  void stepHandshake() {
    if (finished()) return;
    do rc_ = gnutls_handshake(session_);
    while (rc_ == GNUTLS_E_INTERRUPTED || (rc_ < 0 && rc_ != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc_)));
    // A client that gives up closes its connection, as Pacemaker's does.
    if (rc_ < 0 && rc_ != GNUTLS_E_AGAIN) ::shutdown(fd_, SHUT_RDWR);
  }
  // The first read's outcome: in TLS 1.3 a client's handshake completes
  // before the server has checked its certificate, so a refused client
  // learns of it here.
  int firstRead() {
    std::string record;
    ssize_t rc = GNUTLS_E_AGAIN;
    for (auto until = Clock::now() + kPatience; rc == GNUTLS_E_AGAIN && Clock::now() < until;) {
      rc = receive(record);
      if (rc == GNUTLS_E_AGAIN) waitReadable({fd_}, std::chrono::milliseconds(200));
    }
    return static_cast<int>(rc);
  }
  // One record's worth (gnutls_record_recv returns at most one record):
  // >0 bytes, 0 at close, GNUTLS_E_AGAIN when nothing is there yet.
  ssize_t receive(std::string& out) {
    char buffer[65536];
    ssize_t rc;
    do rc = gnutls_record_recv(session_, buffer, sizeof buffer);
    while (rc == GNUTLS_E_INTERRUPTED);
    if (rc > 0) out.assign(buffer, static_cast<std::size_t>(rc));
    return rc;
  }

 private:
  explicit TestClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to), 0) << std::strerror(errno);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  void start(const char* priorities, gnutls_credentials_type_t type, void* credentials) {
    gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    EXPECT_EQ(gnutls_priority_set_direct(session_, priorities, nullptr), 0);
    gnutls_credentials_set(session_, type, credentials);
    gnutls_transport_set_int(session_, fd_);
  }

  int fd_ = -1;
  int rc_ = GNUTLS_E_AGAIN;
  gnutls_session_t session_ = nullptr;
  gnutls_psk_client_credentials_t psk_ = nullptr;
  gnutls_certificate_credentials_t certificate_ = nullptr;
};

// --- the fixture: a listener, credentials, one accepted server session ------

class PcmkTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { listener_ = std::make_unique<TcpListener>("127.0.0.1", 0); }

  std::uint16_t port() const { return listener_->port(); }

  // A key of @p bytes, as loadRemoteConfig would have read it from the key file.
  std::string makeKey(std::size_t bytes) {
    std::string key(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i) key[i] = static_cast<char>((i * 131 + 7) & 0xFF);
    key_ = key;
    return key;
  }

  TlsConfig pskConfig() const {
    TlsConfig config;
    config.psk_key = key_;
    return config;
  }

  // Accept the connection a client just made and wrap it in a server session.
  std::unique_ptr<TlsSession> acceptSession(std::shared_ptr<const TlsCredentials> credentials) {
    waitReadable({listener_->fd()}, kPatience);
    auto accepted = listener_->accept();
    EXPECT_EQ(accepted.status, TcpListener::Accepted::Status::Connection) << accepted.error;
    if (accepted.status != TcpListener::Accepted::Status::Connection) return nullptr;
    return std::make_unique<TlsSession>(std::move(credentials), accepted.fd, accepted.peer);
  }

  // Drive both handshakes until each has finished (done or failed); returns
  // the server's outcome.
  Progress handshakeBoth(TlsSession& server, TestClient& client) {
    Progress outcome = Progress::WantRead;
    const auto deadline = Clock::now() + kPatience;
    while (Clock::now() < deadline) {
      if (outcome == Progress::WantRead || outcome == Progress::WantWrite) outcome = server.handshake();
      client.stepHandshake();
      const bool server_finished = outcome == Progress::Done || outcome == Progress::Failed;
      if (server_finished && client.finished()) break;
      // A failed server has sent its alert; the client reads it next round.
      waitReadable({server.fd(), client.fd()}, std::chrono::milliseconds(50));
    }
    return outcome;
  }

  // Everything the server can read within kPatience until @p bytes arrived.
  std::string serverReceives(TlsSession& server, std::size_t bytes) {
    std::string received;
    const auto deadline = Clock::now() + kPatience;
    char buffer[4096];
    while (received.size() < bytes && Clock::now() < deadline) {
      const auto result = server.read(buffer, sizeof buffer);
      if (result.status == ReadStatus::Data) {
        received.append(buffer, result.bytes);
        continue;
      }
      if (result.status != ReadStatus::WantRead) break;
      waitReadable({server.fd()}, std::chrono::milliseconds(200));
    }
    return received;
  }

  test::TempDir dir_;
  std::unique_ptr<TcpListener> listener_;
  std::string key_;  // the pre-shared key makeKey() made
};

// --- PSK -------------------------------------------------------------------

TEST_F(PcmkTlsTest, PskHandshakeCompletesAndDataFlowsBothWaysAsSeparateRecords) {
  const std::string key = makeKey(32);
  auto credentials = TlsCredentials::load(pskConfig());
  EXPECT_EQ(credentials->mode(), TlsCredentials::Mode::Psk);
  EXPECT_EQ(credentials->priorities(), "NORMAL:+DHE-PSK:+PSK");
  EXPECT_THAT(credentials->warnings(), IsEmpty());
  auto client = TestClient::psk(port(), key);
  auto server = acceptSession(credentials);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->peer().rfind("127.0.0.1:", 0), 0u) << server->peer();

  ASSERT_EQ(handshakeBoth(*server, *client), Progress::Done) << server->error();
  ASSERT_EQ(client->rc(), 0) << client->failure();
  EXPECT_TRUE(server->handshakeDone());
  EXPECT_THAT(server->describe(), HasSubstr("PSK identity 'lrmd'"));

  // Client → server.
  const std::string request = "<lrmd_command lrmd_op=\"register\"/>";
  ASSERT_EQ(gnutls_record_send(client->session(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  EXPECT_EQ(serverReceives(*server, request.size()), request);

  // Server → client: one message, two records of exactly the two sizes.
  const std::string header(kHeaderBytes, 'H');
  const std::string payload(100, 'P');
  ASSERT_EQ(server->send(header, payload), Progress::Done);
  EXPECT_FALSE(server->hasQueuedOutput());
  std::vector<std::string> records;
  const auto deadline = Clock::now() + kPatience;
  while (records.size() < 2 && Clock::now() < deadline) {
    std::string record;
    const ssize_t rc = client->receive(record);
    if (rc > 0)
      records.push_back(record);
    else if (rc == GNUTLS_E_AGAIN)
      waitReadable({client->fd()}, std::chrono::milliseconds(200));
    else
      FAIL() << gnutls_strerror(static_cast<int>(rc));
  }
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], header);
  EXPECT_EQ(records[1], payload);

  // Graceful close: the client sees close_notify (a clean 0), not a reset.
  server->close();
  std::string rest;
  ssize_t rc = GNUTLS_E_AGAIN;
  for (auto until = Clock::now() + kPatience; rc == GNUTLS_E_AGAIN && Clock::now() < until;) {
    waitReadable({client->fd()}, std::chrono::milliseconds(200));
    rc = client->receive(rest);
  }
  EXPECT_EQ(rc, 0) << gnutls_strerror(static_cast<int>(rc));
}

TEST_F(PcmkTlsTest, A4096ByteKeyFileIsTheWholeKey) {
  const std::string key = makeKey(4096);
  auto client = TestClient::psk(port(), key);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  ASSERT_EQ(handshakeBoth(*server, *client), Progress::Done) << server->error();
  EXPECT_EQ(client->rc(), 0) << client->failure();

  // The same key cut to its first 512 bytes (all OpenSSL would take) is refused.
  auto truncated = TestClient::psk(port(), key.substr(0, 512));
  auto refused = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(refused);
  EXPECT_EQ(handshakeBoth(*refused, *truncated), Progress::Failed);
}

TEST_F(PcmkTlsTest, AWrongKeyFailsBothSidesWithAClearReason) {
  makeKey(256);
  auto client = TestClient::psk(port(), std::string(256, 'x'));
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  EXPECT_EQ(handshakeBoth(*server, *client), Progress::Failed);
  EXPECT_THAT(server->error(), HasSubstr("unable to complete the TLS handshake with 127.0.0.1:"));
  EXPECT_TRUE(client->finished());
  EXPECT_THAT(server->error(), HasSubstr("does it use the same key file?"));
  EXPECT_EQ(client->rc(), GNUTLS_E_FATAL_ALERT_RECEIVED) << client->failure();
  EXPECT_EQ(server->handshake(), Progress::Failed);  // and stays so
  std::cout << "server: " << server->error() << "\nclient: " << client->failure() << "\n";
}

TEST_F(PcmkTlsTest, APeerVanishingMidHandshakeIsNotBlamedOnTheKey) {
  const std::string key = makeKey(32);
  auto client = TestClient::psk(port(), key);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  client->stepHandshake();  // the ClientHello, with the PSK binder
  Progress outcome = Progress::WantRead;
  for (auto until = Clock::now() + kPatience; !readable(client->fd()) && Clock::now() < until;) {
    outcome = server->handshake();  // the key is handed out; the server answers
    ASSERT_NE(outcome, Progress::Failed) << server->error();
    waitReadable({server->fd(), client->fd()}, std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(readable(client->fd()));
  ::shutdown(client->fd(), SHUT_RDWR);
  for (auto until = Clock::now() + kPatience; outcome != Progress::Failed && Clock::now() < until;) {
    waitReadable({server->fd()}, std::chrono::milliseconds(200));
    outcome = server->handshake();
  }
  EXPECT_EQ(outcome, Progress::Failed);
  EXPECT_THAT(server->error(), HasSubstr("The TLS connection was non-properly terminated"));
  EXPECT_THAT(server->error(), Not(HasSubstr("key file")));
}

// TLS 1.2 DHE-PSK from a client that offers no RFC 7919 group (as older
// GnuTLS clients do): only the server's own DH parameters make it work.
TEST_F(PcmkTlsTest, Tls12DhePskWorksAndAWrongKeyIsStillNamed) {
  const char* tls12_dhe_psk = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+DHE-PSK:-GROUP-ALL:+GROUP-SECP256R1";
  const std::string key = makeKey(4096);
  auto client = TestClient::psk(port(), key, tls12_dhe_psk);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  ASSERT_EQ(handshakeBoth(*server, *client), Progress::Done) << server->error();
  EXPECT_EQ(client->rc(), 0) << client->failure();
  EXPECT_THAT(server->describe(), HasSubstr("(TLS1.2)-(DHE-"));

  auto wrong = TestClient::psk(port(), std::string(4096, 'x'), tls12_dhe_psk);
  auto refused = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(refused);
  EXPECT_EQ(handshakeBoth(*refused, *wrong), Progress::Failed);
  EXPECT_THAT(refused->error(), HasSubstr("does it use the same key file?"));
  EXPECT_LT(wrong->rc(), 0);
  std::cout << "TLS 1.2 server: " << refused->error() << "\nclient: " << wrong->failure() << "\n";
}

TEST_F(PcmkTlsTest, ASilentPeerStaysPendingUntilTheCallersDeadlineClosesIt) {
  makeKey(64);
  const int peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(peer, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);

  // The caller's authentication deadline, short for the test (10 s in the daemon).
  const auto deadline = server->startedAt() + std::chrono::milliseconds(300);
  int rounds = 0;
  while (Clock::now() < deadline) {
    ASSERT_EQ(server->handshake(), Progress::WantRead);
    ++rounds;
    waitReadable({server->fd()}, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) +
                                     std::chrono::milliseconds(1));
  }
  EXPECT_GE(rounds, 1);
  EXPECT_FALSE(server->handshakeDone());
  server->close();
  server.reset();

  // The peer sees the connection end.
  char buffer[256];
  ssize_t got = 1;
  for (auto until = Clock::now() + kPatience; got > 0 && Clock::now() < until;) {
    waitReadable({peer}, std::chrono::milliseconds(200));
    got = ::recv(peer, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got < 0 && errno == EAGAIN) got = 1;
  }
  EXPECT_EQ(got, 0);
  ::close(peer);
}

TEST_F(PcmkTlsTest, DataDecryptedInsideGnuTlsIsReadWithoutTheFd) {
  const std::string key = makeKey(32);
  auto client = TestClient::psk(port(), key);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  ASSERT_EQ(handshakeBoth(*server, *client), Progress::Done) << server->error();

  const std::string record(1000, 'r');
  ASSERT_EQ(gnutls_record_send(client->session(), record.data(), record.size()), 1000);
  char buffer[100];
  TlsSession::ReadResult result;
  for (auto until = Clock::now() + kPatience; Clock::now() < until;) {
    result = server->read(buffer, sizeof buffer);
    if (result.status != ReadStatus::WantRead) break;
    waitReadable({server->fd()}, std::chrono::milliseconds(200));
  }
  ASSERT_EQ(result.status, ReadStatus::Data);
  EXPECT_EQ(result.bytes, 100u);
  // The rest of the record is inside GnuTLS: the fd has nothing to announce,
  // so a caller waiting for it would wait forever.
  EXPECT_EQ(server->pendingBytes(), 900u);
  EXPECT_FALSE(readable(server->fd()));
  std::size_t total = result.bytes;
  while ((result = server->read(buffer, sizeof buffer)).status == ReadStatus::Data) total += result.bytes;
  EXPECT_EQ(result.status, ReadStatus::WantRead);
  EXPECT_EQ(total, 1000u);
  EXPECT_EQ(server->pendingBytes(), 0u);
}

TEST_F(PcmkTlsTest, AMessageTheSocketCannotTakeIsQueuedAndFlushedInOrder) {
  const std::string key = makeKey(32);
  auto client = TestClient::psk(port(), key);
  auto server = acceptSession(TlsCredentials::load(pskConfig()));
  ASSERT_TRUE(server);
  ASSERT_EQ(handshakeBoth(*server, *client), Progress::Done) << server->error();

  // 8 MiB: far beyond what the socket buffers hold while the client does not read.
  const std::string header(kHeaderBytes, 'H');
  std::string payload(8 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(server->send(header, payload), Progress::WantWrite) << server->error();
  EXPECT_TRUE(server->hasQueuedOutput());
  EXPECT_GT(server->queuedBytes(), 0u);
  // A second message queues behind the first.
  ASSERT_EQ(server->send(header, "second"), Progress::WantWrite);

  std::vector<std::size_t> sizes;
  std::string received;
  const std::size_t expected = 2 * kHeaderBytes + payload.size() + 6;
  for (auto until = Clock::now() + kPatience; received.size() < expected && Clock::now() < until;) {
    if (server->hasQueuedOutput()) {
      ASSERT_NE(server->flush(), Progress::Failed) << server->error();
    }
    std::string record;
    const ssize_t rc = client->receive(record);
    if (rc > 0) {
      sizes.push_back(record.size());
      received += record;
    } else if (rc == GNUTLS_E_AGAIN) {
      waitReadable({client->fd()}, std::chrono::milliseconds(50));
    } else {
      FAIL() << gnutls_strerror(static_cast<int>(rc));
    }
  }
  EXPECT_FALSE(server->hasQueuedOutput());
  EXPECT_EQ(server->queuedBytes(), 0u);
  ASSERT_EQ(received, header + payload + header + "second");
  // The header is its own record; the payload never shares one with it.
  ASSERT_GE(sizes.size(), 3u);
  EXPECT_EQ(sizes.front(), kHeaderBytes);
  EXPECT_EQ(sizes[sizes.size() - 2], kHeaderBytes);
  EXPECT_EQ(sizes.back(), 6u);
}

// --- credentials' errors and warnings ----------------------------------------

// Reading the key file, and its errors, are loadRemoteConfig's (pcmk_config_test).
TEST_F(PcmkTlsTest, AnEmptyKeyIsAClearError) {
  TlsConfig config = pskConfig();
  try {
    TlsCredentials::load(config);
    ADD_FAILURE() << "an empty key file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("it is empty"));
  }
}

TEST_F(PcmkTlsTest, ConfiguredPrioritiesAreExtendedAndBadOnesRefused) {
  makeKey(32);
  TlsConfig config = pskConfig();
  config.priorities = "SECURE256";
  EXPECT_EQ(TlsCredentials::load(config)->priorities(), "SECURE256:+DHE-PSK:+PSK");
  config.priorities = "NORMAL:+NO-SUCH-THING";
  try {
    TlsCredentials::load(config);
    ADD_FAILURE() << "bad priorities were accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to use TLS priorities \"NORMAL:+NO-SUCH-THING:+DHE-PSK:+PSK\""));
    EXPECT_THAT(e.what(), HasSubstr("at \"+NO-SUCH-THING"));
  }
}

TEST_F(PcmkTlsTest, APartialX509SetupWarnsAndUsesThePsk) {
  makeKey(32);
  TlsConfig config = pskConfig();
  config.cert_file = (dir_.path() / "server.pem").string();
  auto credentials = TlsCredentials::load(config);
  EXPECT_EQ(credentials->mode(), TlsCredentials::Mode::Psk);
  ASSERT_EQ(credentials->warnings().size(), 1u);
  EXPECT_THAT(credentials->warnings()[0], HasSubstr("X.509 mode is off"));
  EXPECT_THAT(credentials->warnings()[0], HasSubstr("PCMK_ca_file PCMK_key_file missing"));
}

// --- X.509 -----------------------------------------------------------------

class PcmkTlsX509Test : public PcmkTlsTest {
 protected:
  void SetUp() override {
    PcmkTlsTest::SetUp();
    ca_.certify("lrm test CA", "ca", 1, nullptr);
    server_.certify("remote1", "server", 2, &ca_);
    client_.certify("cluster-node1", "client", 3, &ca_);
    // An impostor CA with the same name: the client offers its certificate.
    other_ca_.certify("lrm test CA", "ca", 1, nullptr);
    stranger_.certify("cluster-node1", "client", 3, &other_ca_);
    writeFile(dir_.path() / "ca.pem", ca_.pem().cert);
    writeFile(dir_.path() / "server.pem", server_.pem().cert);
    writeFile(dir_.path() / "server-key.pem", server_.pem().key);
  }

  TlsConfig x509Config() const {
    TlsConfig config = pskConfig();  // a key file, unused in X.509 mode
    config.ca_file = (dir_.path() / "ca.pem").string();
    config.cert_file = (dir_.path() / "server.pem").string();
    config.key_file = (dir_.path() / "server-key.pem").string();
    return config;
  }

  // Connect with @p identity; the server's outcome.
  Progress connect(const TlsConfig& config, const Pem& identity, std::string* error = nullptr) {
    auto credentials = TlsCredentials::load(config);
    EXPECT_EQ(credentials->mode(), TlsCredentials::Mode::X509);
    auto client = TestClient::x509(port(), identity);
    auto server = acceptSession(credentials);
    if (!server) return Progress::Invalid;
    const Progress outcome = handshakeBoth(*server, *client);
    if (error) *error = server->error();
    if (outcome == Progress::Done) {
      EXPECT_EQ(client->rc(), 0) << client->failure();
      EXPECT_THAT(server->describe(), HasSubstr("CN=cluster-node1"));
    } else if (client->rc() == 0) {
      const int rc = client->firstRead();
      EXPECT_EQ(rc, GNUTLS_E_FATAL_ALERT_RECEIVED) << gnutls_strerror(rc);
    }
    return outcome;
  }

  Identity ca_, server_, client_, other_ca_, stranger_;
};

TEST_F(PcmkTlsX509Test, AClientWithACertificateFromTheCaConnects) {
  auto credentials = TlsCredentials::load(x509Config());
  EXPECT_EQ(credentials->priorities(), "NORMAL");
  EXPECT_THAT(credentials->warnings(), IsEmpty());
  std::string error;
  EXPECT_EQ(connect(x509Config(), client_.pem(), &error), Progress::Done) << error;
}

TEST_F(PcmkTlsX509Test, AClientWithoutACertificateIsRefused) {
  std::string error;
  EXPECT_EQ(connect(x509Config(), Pem{}, &error), Progress::Failed);
  EXPECT_THAT(error, HasSubstr("unable to complete the TLS handshake with 127.0.0.1:"));
  std::cout << "no certificate: " << error << "\n";
}

TEST_F(PcmkTlsX509Test, AClientCertificateFromAnotherCaIsRefused) {
  std::string error;
  EXPECT_EQ(connect(x509Config(), stranger_.pem(), &error), Progress::Failed);
  EXPECT_THAT(error, HasSubstr("The certificate is NOT trusted"));
  std::cout << "another CA: " << error << "\n";
}

TEST_F(PcmkTlsX509Test, ARevokedClientCertificateIsRefused) {
  TlsConfig config = x509Config();
  config.crl_file = (dir_.path() / "crl.pem").string();
  writeFile(config.crl_file, ca_.crlRevoking(client_));
  std::string error;
  EXPECT_EQ(connect(config, client_.pem(), &error), Progress::Failed);
  EXPECT_THAT(error, HasSubstr("revoked"));
  std::cout << "revoked: " << error << "\n";
}

TEST_F(PcmkTlsX509Test, APskClientGetsNoFallback) {
  auto credentials = TlsCredentials::load(x509Config());
  auto client = TestClient::psk(port(), makeKey(32));
  auto server = acceptSession(credentials);
  ASSERT_TRUE(server);
  EXPECT_EQ(handshakeBoth(*server, *client), Progress::Failed);
  EXPECT_LT(client->rc(), 0);
  std::cout << "PSK client: " << client->failure() << "; server: " << server->error() << "\n";
}

TEST_F(PcmkTlsX509Test, AServerCertificateNearItsExpiryIsWarnedAbout) {
  Identity expiring;
  expiring.certify("remote1", "server", 4, &ca_, 10 * 24 * 3600);
  writeFile(dir_.path() / "server.pem", expiring.pem().cert);
  writeFile(dir_.path() / "server-key.pem", expiring.pem().key);
  auto credentials = TlsCredentials::load(x509Config());
  ASSERT_EQ(credentials->warnings().size(), 1u);
  EXPECT_THAT(credentials->warnings()[0], HasSubstr("the TLS server certificate will expire on "));
  // Checked again later by the daemon: after expiry it says so.
  auto later = credentials->certificateExpiryWarning(std::time(nullptr) + 11 * 24 * 3600);
  ASSERT_TRUE(later);
  EXPECT_THAT(*later, HasSubstr("expired on"));
}

TEST_F(PcmkTlsX509Test, UnreadableCertificateFilesAreClearErrors) {
  TlsConfig config = x509Config();
  config.ca_file = (dir_.path() / "missing.pem").string();
  try {
    TlsCredentials::load(config);
    ADD_FAILURE() << "a missing CA file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to load the CA file " + config.ca_file));
  }
  config = x509Config();
  writeFile(config.key_file, other_ca_.pem().key);  // not the certificate's key
  try {
    TlsCredentials::load(config);
    ADD_FAILURE() << "a key not matching the certificate was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to load the certificate " + config.cert_file + " with the key"));
  }
}

// --- the listener ------------------------------------------------------------

void expectReadyForTheLoop(int fd) {
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

TEST(PcmkTcpListenerTest, TheDefaultAddressServesIpv4AndIpv6) {
  TcpListener listener("", 0);
  EXPECT_EQ(listener.boundAddress(), "[::]:" + std::to_string(listener.port()));
  expectReadyForTheLoop(listener.fd());

  const int v4 = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(listener.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(v4, reinterpret_cast<sockaddr*>(&to), sizeof to), 0) << std::strerror(errno);
  waitReadable({listener.fd()}, kPatience);
  auto accepted = listener.accept();
  ASSERT_EQ(accepted.status, TcpListener::Accepted::Status::Connection) << accepted.error;
  EXPECT_EQ(accepted.peer.rfind("127.0.0.1:", 0), 0u) << accepted.peer;  // not ::ffff:127.0.0.1
  expectReadyForTheLoop(accepted.fd);
  int nodelay = 0;
  socklen_t length = sizeof nodelay;
  ASSERT_EQ(::getsockopt(accepted.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
  EXPECT_EQ(nodelay, 1);
  ::close(accepted.fd);
  ::close(v4);
  EXPECT_EQ(listener.accept().status, TcpListener::Accepted::Status::None);

  const int v6 = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 to6{};
  to6.sin6_family = AF_INET6;
  to6.sin6_port = htons(listener.port());
  to6.sin6_addr = in6addr_loopback;
  if (::connect(v6, reinterpret_cast<sockaddr*>(&to6), sizeof to6) == 0) {
    waitReadable({listener.fd()}, kPatience);
    accepted = listener.accept();
    ASSERT_EQ(accepted.status, TcpListener::Accepted::Status::Connection) << accepted.error;
    EXPECT_EQ(accepted.peer.rfind("[::1]:", 0), 0u) << accepted.peer;
    ::close(accepted.fd);
  }
  ::close(v6);
}

TEST(PcmkTcpListenerTest, BindErrorsNameTheAddressAndWhy) {
  TcpListener first("127.0.0.1", 0);
  EXPECT_EQ(first.boundAddress(), "127.0.0.1:" + std::to_string(first.port()));
  try {
    TcpListener second("127.0.0.1", first.port());
    ADD_FAILURE() << "bound a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to listen on 127.0.0.1 port " + std::to_string(first.port()) +
                                    ": 127.0.0.1:" + std::to_string(first.port()) + ": Address already in use"));
  }
  try {
    TcpListener bad("no-such-host.invalid", 0);
    ADD_FAILURE() << "resolved an invalid name";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unable to resolve no-such-host.invalid port 0: "));
  }
}

}  // namespace
}  // namespace lrm::pacemaker
