// The TLS transport of the Pacemaker Remote endpoint, on GnuTLS: the server's
// credentials (a pre-shared key as Pacemaker uses it, or Pacemaker 3.0's
// X.509 mode) and one server session per accepted TCP connection, driven by
// fd readiness so that an event loop never blocks on a handshake or a peer.
#pragma once

#include <gnutls/gnutls.h>

#include <chrono>
#include <cstddef>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lrm::pacemaker {

/** The PSK identity every Pacemaker client sends. */
inline constexpr const char* kPskIdentity = "lrmd";
/** A server certificate expiring within this many seconds is warned about. */
inline constexpr std::time_t kCertificateExpiryWarning_s = 30 * 24 * 60 * 60;

/** What the cluster's configuration says about TLS (PCMK_* variables), unresolved. */
struct TlsConfig {
  std::string psk_key;       // the whole PCMK_authkey_location file, as loadRemoteConfig read it
  std::string priorities;    // PCMK_tls_priorities; empty = "NORMAL"
  std::string ca_file;       // PCMK_ca_file
  std::string cert_file;     // PCMK_cert_file
  std::string key_file;      // PCMK_key_file
  std::string crl_file;      // PCMK_crl_file (optional, X.509 mode only)
};

/**
 * The server's credentials and priorities, shared by every session (each
 * session holds a reference, so they outlive it). X.509 mode is on when the
 * CA, certificate and key files are all configured: the server then requires
 * a client certificate signed by that CA (and not revoked by the CRL) and
 * offers no PSK. Otherwise the whole key file is the pre-shared key.
 */
class TlsCredentials {
 public:
  enum class Mode { Invalid = 0, Psk, X509 };

  /**
   * Load the key or the certificates and compile the priorities.
   * @throws std::runtime_error saying which file or setting is wrong and why.
   */
  static std::shared_ptr<const TlsCredentials> load(const TlsConfig& config);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  Mode mode() const { return mode_; }
  /** The priority string in force, e.g. "NORMAL:+DHE-PSK:+PSK". */
  const std::string& priorities() const { return priorities_; }
  /** Things the caller should log as warnings (a partial X.509 setup, a certificate near expiry). */
  const std::vector<std::string>& warnings() const { return warnings_; }
  /**
   * In X.509 mode, a warning when the server certificate expires within
   * kCertificateExpiryWarning_s of @p now (or has expired); the daemon may
   * call it again later, as a long-running server's certificate ages.
   */
  std::optional<std::string> certificateExpiryWarning(std::time_t now) const;

 private:
  friend class TlsSession;
  TlsCredentials() = default;
  void loadPsk(const TlsConfig& config);
  void loadX509(const TlsConfig& config);
  static int pskKeyOf(gnutls_session_t session, const char* identity, gnutls_datum_t* key);

  Mode mode_ = Mode::Invalid;
  std::string priorities_;
  std::vector<std::string> warnings_;
  std::string psk_key_;  // the raw bytes of the whole key file
  gnutls_psk_server_credentials_t psk_ = nullptr;
  gnutls_certificate_credentials_t certificate_ = nullptr;
  gnutls_priority_t priority_cache_ = nullptr;
};

/**
 * One server-side TLS session over an accepted, non-blocking TCP socket,
 * which it owns (closed on destruction). Nothing here blocks: every call does
 * what the socket allows now and says what it waits for.
 *
 * Not thread safe; use it from the event loop's thread only.
 */
class TlsSession {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Progress { Invalid = 0, Done, WantRead, WantWrite, Failed };
  struct ReadResult {
    enum class Status { Invalid = 0, Data, WantRead, Closed, Failed };
    Status status = Status::Invalid;
    std::size_t bytes = 0;  // with Data
  };

  /**
   * @param fd an accepted, non-blocking TCP socket; the session owns it.
   * @param peer the peer's address for messages ("10.0.0.1:40212").
   * @throws std::runtime_error when GnuTLS cannot set the session up (@p fd is closed).
   */
  TlsSession(std::shared_ptr<const TlsCredentials> credentials, int fd, std::string peer);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  int fd() const { return fd_; }
  const std::string& peer() const { return peer_; }
  /** When the session was created: the caller drops it if not authenticated in time (10 s). */
  Clock::time_point startedAt() const { return started_at_; }
  /** Why the last call failed, as clear text ("TLS handshake with 10.0.0.1:40212 failed: ..."). */
  const std::string& error() const { return error_; }

  /**
   * Advance the handshake as far as the socket allows. Call it again when the
   * socket is ready for what it returned (WantRead / WantWrite). On Done,
   * read() at once: the client's first message may have arrived with its
   * last handshake record and already be inside GnuTLS. Failed stays Failed.
   */
  Progress handshake();
  bool handshakeDone() const { return handshake_done_; }
  /** After the handshake: "TLS1.3 ... PSK identity 'lrmd'" or the client certificate's DN. */
  std::string describe() const;

  /**
   * Decrypt up to @p size bytes into @p buffer. Loop until WantRead before
   * waiting for the fd again: GnuTLS decrypts a whole record at once and
   * keeps what did not fit in @p buffer, which the fd will never announce
   * (see pendingBytes()). Closed: the peer sent close_notify or went away.
   */
  ReadResult read(char* buffer, std::size_t size);
  /** Bytes already decrypted inside GnuTLS, readable without the fd becoming readable. */
  std::size_t pendingBytes() const;

  /**
   * Send one message as two records, the header and then the payload (each
   * its own gnutls_record_send, never coalesced: Pacemaker's client reads the
   * header alone and then waits on the socket). What the socket does not take
   * now is queued: Done = all sent, WantWrite = call flush() when writable.
   */
  Progress send(std::string header, std::string payload);
  /** Send what is queued, as far as the socket allows. */
  Progress flush();
  bool hasQueuedOutput() const { return !queue_.empty(); }
  std::size_t queuedBytes() const { return queued_bytes_; }

  /**
   * Best-effort graceful close: one non-blocking attempt to send close_notify
   * (a peer that does not read is not waited for). The caller then destroys
   * the session, which closes the socket.
   */
  void close();

 private:
  friend class TlsCredentials;  // its PSK callback finds the key through the session
  Progress fail(const std::string& doing, int rc);
  Progress direction() const;

  std::shared_ptr<const TlsCredentials> credentials_;
  int fd_ = -1;
  std::string peer_;
  Clock::time_point started_at_;
  gnutls_session_t session_ = nullptr;
  bool handshake_done_ = false;
  bool handshake_failed_ = false;
  bool psk_handed_out_ = false;  // the client picked a PSK suite and got our key
  bool closed_ = false;
  std::string error_;
  // Each entry is one record's data (a header or a payload) and how much of
  // it GnuTLS has taken; a payload over the maximum record size (16 KiB)
  // becomes several records, but never shares one with a header.
  struct Record {
    std::string data;
    std::size_t sent = 0;
  };
  std::deque<Record> queue_;
  std::size_t queued_bytes_ = 0;
};

}  // namespace lrm::pacemaker
