// GnuTLS server credentials and non-blocking server sessions for the
// Pacemaker Remote endpoint. The choices follow what Pacemaker's own server
// does, so that an unchanged cluster configuration works against lrm.
#include "tls_transport.hpp"

#include <gnutls/x509.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace lrm::pacemaker {
namespace {

std::string gnutlsError(int rc) { return std::string(gnutls_strerror(rc)) + " (" + std::to_string(rc) + ")"; }

void check(int rc, const std::string& doing) {
  if (rc < 0) throw std::runtime_error("unable to " + doing + ": " + gnutlsError(rc));
}

std::string takeDatum(gnutls_datum_t& datum) {
  std::string text(reinterpret_cast<const char*>(datum.data), datum.size);
  gnutls_free(datum.data);
  datum.data = nullptr;
  return text;
}

}  // namespace

// --- TlsCredentials ---------------------------------------------------------

std::shared_ptr<const TlsCredentials> TlsCredentials::load(const TlsConfig& config) {
  std::shared_ptr<TlsCredentials> credentials(new TlsCredentials());
  const std::string base = config.priorities.empty() ? "NORMAL" : config.priorities;
  const bool x509 = !config.ca_file.empty() && !config.cert_file.empty() && !config.key_file.empty();
  if (x509) {
    credentials->loadX509(config);
    credentials->priorities_ = base;  // no PSK suites: a certificate is required
  } else {
    const bool partial =
        !config.ca_file.empty() || !config.cert_file.empty() || !config.key_file.empty() || !config.crl_file.empty();
    if (partial) {
      // Pacemaker 3.0 silently falls back to PSK here; say so, since the
      // administrator evidently meant certificates.
      credentials->warnings_.push_back(
          "X.509 mode is off: it needs PCMK_ca_file, PCMK_cert_file and PCMK_key_file all set (" +
          std::string(config.ca_file.empty() ? "PCMK_ca_file " : "") +
          (config.cert_file.empty() ? "PCMK_cert_file " : "") + (config.key_file.empty() ? "PCMK_key_file " : "") +
          "missing); using the pre-shared key");
    }
    credentials->loadPsk(config);
    credentials->priorities_ = base + ":+DHE-PSK:+PSK";
  }
  const char* error_at = nullptr;
  const int rc = gnutls_priority_init2(&credentials->priority_cache_, credentials->priorities_.c_str(), &error_at, 0);
  if (rc < 0) {
    throw std::runtime_error("unable to use TLS priorities \"" + credentials->priorities_ + "\": " + gnutlsError(rc) +
                             (error_at ? std::string(" at \"") + error_at + "\"" : ""));
  }
  return credentials;
}

TlsCredentials::~TlsCredentials() {
  if (priority_cache_) gnutls_priority_deinit(priority_cache_);
  if (psk_) gnutls_psk_free_server_credentials(psk_);
  if (certificate_) gnutls_certificate_free_credentials(certificate_);
}

void TlsCredentials::loadPsk(const TlsConfig& config) {
  mode_ = Mode::Psk;
  // loadRemoteConfig has read the file and refused an empty one; a caller
  // that did not is told so here.
  if (config.psk_key.empty()) throw std::runtime_error("unable to use the pre-shared key: it is empty");
  psk_key_ = config.psk_key;
  check(gnutls_psk_allocate_server_credentials(&psk_), "allocate PSK credentials");
  gnutls_psk_set_server_credentials_function(psk_, &TlsCredentials::pskKeyOf);
  // TLS 1.2 DHE-PSK needs DH parameters when the client offers no RFC 7919
  // group (GnuTLS 3.6+ clients offer them and get one negotiated). Pacemaker
  // generates its own prime at start-up (seconds of CPU); GnuTLS's known
  // parameters are the RFC 7919 groups, standard, vetted and free: at the
  // "medium" level, ffdhe2048.
  check(gnutls_psk_set_server_known_dh_params(psk_, GNUTLS_SEC_PARAM_MEDIUM), "set the DHE-PSK parameters");
}

void TlsCredentials::loadX509(const TlsConfig& config) {
  mode_ = Mode::X509;
  check(gnutls_certificate_allocate_credentials(&certificate_), "allocate certificate credentials");
  // Only this CA is trusted for client certificates, not the system's store.
  const int cas = gnutls_certificate_set_x509_trust_file(certificate_, config.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
  if (cas < 0) throw std::runtime_error("unable to load the CA file " + config.ca_file + ": " + gnutlsError(cas));
  if (cas == 0) throw std::runtime_error("unable to load the CA file " + config.ca_file + ": it has no certificate");
  if (!config.crl_file.empty()) {
    const int crls = gnutls_certificate_set_x509_crl_file(certificate_, config.crl_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (crls < 0) throw std::runtime_error("unable to load the CRL file " + config.crl_file + ": " + gnutlsError(crls));
  }
  const int rc = gnutls_certificate_set_x509_key_file2(certificate_, config.cert_file.c_str(), config.key_file.c_str(),
                                                       GNUTLS_X509_FMT_PEM, nullptr, GNUTLS_PKCS_PLAIN);
  if (rc < 0) {
    throw std::runtime_error("unable to load the certificate " + config.cert_file + " with the key " + config.key_file +
                             ": " + gnutlsError(rc));
  }
  // Same choice as for DHE-PSK: the RFC 7919 groups, for TLS 1.2 DHE suites.
  check(gnutls_certificate_set_known_dh_params(certificate_, GNUTLS_SEC_PARAM_MEDIUM), "set the DHE parameters");
  if (auto warning = certificateExpiryWarning(std::time(nullptr))) warnings_.push_back(*warning);
}

std::optional<std::string> TlsCredentials::certificateExpiryWarning(std::time_t now) const {
  if (mode_ != Mode::X509) return std::nullopt;
  gnutls_datum_t raw{};
  if (gnutls_certificate_get_crt_raw(certificate_, 0, 0, &raw) < 0) return std::nullopt;
  gnutls_x509_crt_t crt = nullptr;
  std::optional<std::string> warning;
  if (gnutls_x509_crt_init(&crt) >= 0 && gnutls_x509_crt_import(crt, &raw, GNUTLS_X509_FMT_DER) >= 0) {
    const std::time_t expires = gnutls_x509_crt_get_expiration_time(crt);
    if (expires != static_cast<std::time_t>(-1) && expires - now <= kCertificateExpiryWarning_s) {
      char when[64] = "?";
      struct tm utc {};
      if (gmtime_r(&expires, &utc)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &utc);
      warning =
          std::string("the TLS server certificate ") + (expires <= now ? "expired on " : "will expire on ") + when;
    }
  }
  if (crt) gnutls_x509_crt_deinit(crt);
  return warning;
}

// Pacemaker's server hands out its key whatever identity the client names
// (its clients all say "lrmd"): the key, not the identity, authenticates.
int TlsCredentials::pskKeyOf(gnutls_session_t session, const char* /*identity*/, gnutls_datum_t* key) {
  auto* owner = static_cast<TlsSession*>(gnutls_session_get_ptr(session));
  if (owner == nullptr) return -1;
  owner->psk_handed_out_ = true;
  const std::string& bytes = owner->credentials_->psk_key_;
  key->data = static_cast<unsigned char*>(gnutls_malloc(bytes.size()));
  if (key->data == nullptr) return -1;
  std::memcpy(key->data, bytes.data(), bytes.size());
  key->size = static_cast<unsigned int>(bytes.size());
  return 0;
}

// --- TlsSession -------------------------------------------------------------

TlsSession::TlsSession(std::shared_ptr<const TlsCredentials> credentials, int fd, std::string peer)
    : credentials_(std::move(credentials)), fd_(fd), peer_(std::move(peer)), started_at_(Clock::now()) {
  try {
    // GNUTLS_NO_SIGNAL: a peer that vanished must be an error, not SIGPIPE.
    check(gnutls_init(&session_, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL),
          "start a TLS session for " + peer_);
    check(gnutls_priority_set(session_, credentials_->priority_cache_), "set the TLS priorities for " + peer_);
    if (credentials_->mode_ == TlsCredentials::Mode::X509) {
      check(gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, credentials_->certificate_),
            "set the certificate for " + peer_);
      gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUIRE);
      // Verify the chain against the CA (and CRL) during the handshake; no
      // host name: cluster nodes connect from wherever they run.
      gnutls_session_set_verify_cert(session_, nullptr, 0);
    } else {
      check(gnutls_credentials_set(session_, GNUTLS_CRD_PSK, credentials_->psk_), "set the PSK for " + peer_);
    }
    gnutls_session_set_ptr(session_, this);
    gnutls_transport_set_int(session_, fd_);
  } catch (...) {
    if (session_) gnutls_deinit(session_);
    ::close(fd_);
    throw;
  }
}

TlsSession::~TlsSession() {
  gnutls_deinit(session_);
  ::close(fd_);
}

TlsSession::Progress TlsSession::fail(const std::string& doing, int rc) {
  error_ = "unable to " + doing + " with " + peer_ + ": " + gnutlsError(rc);
  if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
    gnutls_datum_t text{};
    const unsigned status = gnutls_session_get_verify_cert_status(session_);
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0) {
      error_ += ": " + takeDatum(text);
    }
  }
  return Progress::Failed;
}

TlsSession::Progress TlsSession::direction() const {
  return gnutls_record_get_direction(session_) == 1 ? Progress::WantWrite : Progress::WantRead;
}

TlsSession::Progress TlsSession::handshake() {
  if (handshake_done_) return Progress::Done;
  if (handshake_failed_) return Progress::Failed;  // GnuTLS must not be driven on after a fatal error
  for (;;) {
    const int rc = gnutls_handshake(session_);
    if (rc == GNUTLS_E_SUCCESS) {
      handshake_done_ = true;
      return Progress::Done;
    }
    if (rc == GNUTLS_E_INTERRUPTED) continue;
    if (rc == GNUTLS_E_AGAIN) return direction();
    // Warning alerts (e.g. a client's unrecognized_name) do not end a handshake.
    if (!gnutls_error_is_fatal(rc)) continue;
    // Tell the client why (one non-blocking try): it then fails at once with
    // a reason instead of waiting for its own timeout.
    gnutls_alert_send_appropriate(session_, rc);
    handshake_failed_ = true;
    fail("complete the TLS handshake", rc);
    // GnuTLS names the symptom of a wrong key (TLS 1.3: the PSK binder is an
    // "illegal parameter"; TLS 1.2: the client's Finished does not decrypt),
    // not its usual cause.
    const bool key_mismatch = rc == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER || rc == GNUTLS_E_DECRYPTION_FAILED;
    if (psk_handed_out_ && key_mismatch) {
      error_ += " (after the client chose a pre-shared key: does it use the same key file?)";
    }
    return Progress::Failed;
  }
}

std::string TlsSession::describe() const {
  char* text = gnutls_session_get_desc(session_);
  std::string out = text ? text : "?";
  gnutls_free(text);
  if (credentials_->mode_ == TlsCredentials::Mode::Psk) {
    const char* identity = gnutls_psk_server_get_username(session_);
    out += std::string(" PSK identity '") + (identity ? identity : "") + "'";
    return out;
  }
  unsigned count = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session_, &count);
  gnutls_x509_crt_t crt = nullptr;
  if (chain && count > 0 && gnutls_x509_crt_init(&crt) >= 0) {
    gnutls_datum_t dn{};
    if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0 && gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
      out += " client certificate '" + takeDatum(dn) + "'";
    }
    gnutls_x509_crt_deinit(crt);
  }
  return out;
}

TlsSession::ReadResult TlsSession::read(char* buffer, std::size_t size) {
  for (;;) {
    const ssize_t rc = gnutls_record_recv(session_, buffer, size);
    if (rc > 0) return {ReadResult::Status::Data, static_cast<std::size_t>(rc)};
    if (rc == 0) return {ReadResult::Status::Closed, 0};  // close_notify
    if (rc == GNUTLS_E_INTERRUPTED) continue;
    if (rc == GNUTLS_E_AGAIN) return {ReadResult::Status::WantRead, 0};
    if (rc == GNUTLS_E_PREMATURE_TERMINATION) {
      // The socket closed without close_notify: a vanished peer, not an attack
      // on framing (our messages carry their own sizes).
      error_ = peer_ + " closed the connection without a TLS close_notify";
      return {ReadResult::Status::Closed, 0};
    }
    // A TLS 1.2 renegotiation request or a warning alert: ignored, as
    // Pacemaker's server does; the record layer carries on.
    if (!gnutls_error_is_fatal(static_cast<int>(rc))) continue;
    fail("read from the TLS session", static_cast<int>(rc));
    return {ReadResult::Status::Failed, 0};
  }
}

std::size_t TlsSession::pendingBytes() const { return gnutls_record_check_pending(session_); }

TlsSession::Progress TlsSession::send(std::string header, std::string payload) {
  for (std::string* part : {&header, &payload}) {
    if (part->empty()) continue;
    queued_bytes_ += part->size();
    queue_.push_back(Record{std::move(*part), 0});
  }
  return flush();
}

TlsSession::Progress TlsSession::flush() {
  while (!queue_.empty()) {
    Record& record = queue_.front();
    // After GNUTLS_E_AGAIN GnuTLS wants the same call again (it holds the
    // encrypted record): the front entry is unchanged until it is taken.
    const ssize_t rc = gnutls_record_send(session_, record.data.data() + record.sent, record.data.size() - record.sent);
    if (rc == GNUTLS_E_AGAIN) return Progress::WantWrite;
    if (rc == GNUTLS_E_INTERRUPTED) continue;
    if (rc < 0) return fail("write to the TLS session", static_cast<int>(rc));
    record.sent += static_cast<std::size_t>(rc);
    queued_bytes_ -= static_cast<std::size_t>(rc);
    if (record.sent == record.data.size()) queue_.pop_front();
  }
  return Progress::Done;
}

void TlsSession::close() {
  if (closed_) return;
  closed_ = true;
  // SHUT_WR: send our close_notify and do not wait for the peer's. A socket
  // that cannot take it now (GNUTLS_E_AGAIN) is not waited for either.
  gnutls_bye(session_, GNUTLS_SHUT_WR);
}

}  // namespace lrm::pacemaker
