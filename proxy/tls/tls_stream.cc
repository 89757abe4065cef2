// TlsStream (see tls_stream.h): the handshake and record layer over two memory BIOs.
#include "tls/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>

namespace weft::tls {

namespace {

constexpr size_t kReadStep = 16 * 1024;  // one TLS record of plaintext at most

// Decrypted records land here before they are appended to the caller's buffer: a fixed buffer
// per thread, so no read pays for zero-filling or growing a string it then shrinks.
thread_local char read_scratch[kReadStep];

// OpenSSL reads its thread's error queue to tell why a call failed, so it must be empty before
// each call. Every failure path here drains it; peeking (one load) is cheaper than clearing
// (a walk over every slot) on the per-record path.
inline void clearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

const char* sslErrorName(int err) {
  switch (err) {
    case SSL_ERROR_SSL:
      return "SSL_ERROR_SSL";
    case SSL_ERROR_SYSCALL:
      return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN:
      return "SSL_ERROR_ZERO_RETURN";
    case SSL_ERROR_WANT_WRITE:
      return "SSL_ERROR_WANT_WRITE";
    default:
      return "SSL error";
  }
}

}  // namespace

TlsStream::TlsStream(TlsContextPtr context, std::string_view session_key)
    : context_(std::move(context)), session_key_(session_key) {
  ERR_clear_error();
  ssl_.reset(context_ ? SSL_new(context_->get()) : nullptr);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (!ssl_ || !rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    state_ = State::kFailed;
    failure_ = drainOpensslErrors("TLS setup");
    return;
  }
  BIO_set_mem_eof_return(rbio, -1);  // empty means "wait for more", not EOF
  SSL_set_bio(ssl_.get(), rbio, wbio);
  rbio_ = rbio;
  wbio_ = wbio;
  if (context_->role() == TlsContext::Role::kServer) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
    SSL_set_ex_data(ssl_.get(), TlsContext::sessionKeyIndex(), &session_key_);
  }
}

TlsStream::~TlsStream() = default;

bool TlsStream::setServerName(const std::string& sni,
                              const std::vector<std::string>& verify_names) {
  if (!ssl_) return false;
  ERR_clear_error();
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl_.get(), sni.c_str()) != 1) {
    failure_ = drainOpensslErrors("SNI");
    return false;
  }
  for (size_t i = 0; i < verify_names.size(); ++i) {
    int rc = i == 0 ? SSL_set1_host(ssl_.get(), verify_names[i].c_str())
                    : SSL_add1_host(ssl_.get(), verify_names[i].c_str());
    if (rc != 1) {
      failure_ = drainOpensslErrors("server name " + verify_names[i]);
      return false;
    }
  }
  return true;
}

bool TlsStream::sentCloseNotify() const {
  return ssl_ && (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0;
}

void TlsStream::start(std::string& wire) {
  if (started_ || state_ == State::kFailed) return;
  started_ = true;
  if (context_->role() == TlsContext::Role::kServer) return;  // waits for the ClientHello
  if (context_->settings().session_resumption && !session_key_.empty()) {
    if (auto session = context_->findSession(session_key_)) {
      SSL_set_session(ssl_.get(), session.get());  // takes its own reference
    }
  }
  handshake(wire);
}

net::Transport::Status TlsStream::receive(const char* data, size_t len, std::string& plain,
                                          std::string& wire) {
  if (state_ == State::kFailed) return Status::kFailed;
  if (state_ == State::kPeerClosed) return Status::kPeerClosed;  // nothing follows close_notify
  if (!started_) start(wire);
  while (len > 0) {
    int step = static_cast<int>(std::min<size_t>(len, INT_MAX / 2));
    if (BIO_write(rbio_, data, step) != step) {
      return failWith(drainOpensslErrors("TLS input buffer"), wire);
    }
    data += step;
    len -= static_cast<size_t>(step);
  }
  if (state_ == State::kHandshaking) {
    Status s = handshake(wire);
    if (s != Status::kOk || state_ == State::kHandshaking) return s;
  }
  // Application data that came with (or after) the last handshake flight, tickets, alerts.
  return readPlain(plain, wire);
}

net::Transport::Status TlsStream::handshake(std::string& wire) {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    drainWire(wire);
    state_ = State::kEstablished;
    peer_identity_ = peerSpiffeId(ssl_.get());
    if (!expected_peers_.empty() && std::find(expected_peers_.begin(), expected_peers_.end(),
                                              peer_identity_) == expected_peers_.end()) {
      return failWith("peer identity \"" + peer_identity_ + "\" is not the one expected", wire);
    }
    return Status::kOk;
  }
  int err = SSL_get_error(ssl_.get(), rc);
  drainWire(wire);
  if (err == SSL_ERROR_WANT_READ) return Status::kOk;
  return failWith(sslFailure("handshake", err), wire);
}

net::Transport::Status TlsStream::readPlain(std::string& plain, std::string& wire) {
  for (;;) {
    size_t n = 0;
    clearErrors();
    int rc = SSL_read_ex(ssl_.get(), read_scratch, kReadStep, &n);
    if (rc == 1) {
      plain.append(read_scratch, n);
      // Nothing buffered, nothing left to decrypt: done without the extra call that would only
      // say "want read".
      if (SSL_pending(ssl_.get()) == 0 && BIO_ctrl_pending(rbio_) == 0) {
        drainWire(wire);  // a KeyUpdate answer, if one was due
        return Status::kOk;
      }
      continue;
    }
    int err = SSL_get_error(ssl_.get(), rc);
    drainWire(wire);  // a KeyUpdate answer, or an alert
    if (err == SSL_ERROR_WANT_READ) return Status::kOk;
    if (err == SSL_ERROR_ZERO_RETURN) {
      ERR_clear_error();
      state_ = State::kPeerClosed;
      return Status::kPeerClosed;
    }
    return failWith(sslFailure("read", err), wire);
  }
}

bool TlsStream::send(const char* data, size_t len, std::string& wire) {
  if (!established() || sentCloseNotify()) return false;
  while (len > 0) {
    size_t step = std::min(len, kMaxChunk);
    size_t written = 0;
    clearErrors();
    int rc = SSL_write_ex(ssl_.get(), data, step, &written);
    if (rc != 1) {
      int err = SSL_get_error(ssl_.get(), rc);
      failWith(sslFailure("write", err), wire);
      return false;
    }
    drainWire(wire);
    data += written;
    len -= written;
  }
  return true;
}

void TlsStream::shutdown(std::string& wire) {
  if (!established() || sentCloseNotify()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // 0: sent ours, the peer's not seen yet (we do not wait for it)
  drainWire(wire);
  ERR_clear_error();
}

net::Transport::Status TlsStream::failWith(std::string reason, std::string& wire) {
  drainWire(wire);  // the alert that tells the peer why
  ERR_clear_error();
  state_ = State::kFailed;
  failure_ = std::move(reason);
  // A session that led to a failure is not offered again.
  if (context_ && !session_key_.empty() && context_->role() == TlsContext::Role::kClient) {
    context_->forgetSession(session_key_);
  }
  return Status::kFailed;
}

std::string TlsStream::sslFailure(const char* op, int err) {
  std::string what = std::string("TLS ") + op + " failed (" + sslErrorName(err) + ")";
  long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK) {
    what += context_ && context_->role() == TlsContext::Role::kServer ? ": client certificate: "
                                                                      : ": server certificate: ";
    what += X509_verify_cert_error_string(verify);
  }
  return drainOpensslErrors(what);
}

void TlsStream::drainWire(std::string& wire) {
  for (size_t pending = BIO_ctrl_pending(wbio_); pending > 0; pending = BIO_ctrl_pending(wbio_)) {
    size_t old = wire.size();
    int want = static_cast<int>(std::min<size_t>(pending, INT_MAX / 2));
    wire.resize(old + static_cast<size_t>(want));
    int n = BIO_read(wbio_, wire.data() + old, want);
    if (n <= 0) {
      wire.resize(old);
      return;
    }
    wire.resize(old + static_cast<size_t>(n));
  }
}

}  // namespace weft::tls
