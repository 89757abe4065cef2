// TlsStream: one TLS connection driven through memory BIOs, with no socket of its own. The
// connection code feeds it the ciphertext it read and gets plaintext out; gives it plaintext
// and gets ciphertext to write; asks for the handshake state and ends with close_notify.
//
// Design: it implements net::Transport, a filter that TcpStream runs between the socket and
// its subclass (TcpStream::setTransport):
//   socket read  -> TlsStream::receive -> plaintext -> onRead()   (the HTTP codec, unchanged)
//   out()/flush() -> TlsStream::send   -> ciphertext -> socket
// A filter object rather than a TlsTcpStream subclass, because:
// - DownstreamConnection and UpstreamConnection derive from TcpStream directly and are final;
//   a filter leaves their HTTP code and their class hierarchy untouched.
// - Whether a connection speaks TLS is decided per connection, after it exists (a PERMISSIVE
//   inbound port sniffs the first bytes; an upstream endpoint gets mTLS or not from policy).
//   A class would have to be chosen before accept/connect.
// - The engine has no libuv in it, so the fuzz target and tests can drive it alone.
//
// Buffers: two BIO_s_mem (rbio: ciphertext in, wbio: ciphertext out) owned by the SSL. Their
// memory is kept and reused; plaintext is written in chunks of at most kMaxChunk so the write
// BIO never grows past about one chunk. `plain` and `wire` are the caller's (reused) strings.
//
// Errors: ERR_clear_error() before every SSL call; a failure drains the queue into failure().
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <vector>

#include "net/transport.h"
#include "tls/context.h"

namespace weft::tls {

class TlsStream final : public net::Transport {
 public:
  enum class State : uint8_t {
    kHandshaking,
    kEstablished,
    kPeerClosed,  // the peer sent close_notify; we may still send
    kFailed,
  };
  static constexpr size_t kMaxChunk = 64 * 1024;

  // `context` decides the role (client or server). `session_key` (client only): the endpoint
  // this connection goes to ("ip:port"); its cached session is offered and the tickets the
  // server sends are stored under it. Empty: no resumption.
  explicit TlsStream(TlsContextPtr context, std::string_view session_key = {});
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Client only, before start(): the handshake fails unless the server's SPIFFE ID is one of
  // these (secure naming). Empty: any identity the roots verify.
  void expectPeerIdentities(std::vector<std::string> ids) { expected_peers_ = std::move(ids); }
  // Client only, before start(): the SNI to send (empty: none) and the DNS names of which the
  // server's certificate must carry one (empty: not checked). False if OpenSSL refuses them.
  bool setServerName(const std::string& sni, const std::vector<std::string>& verify_names);

  // --- net::Transport
  void start(std::string& wire) override;
  Status receive(const char* data, size_t len, std::string& plain, std::string& wire) override;
  bool established() const override {
    return state_ == State::kEstablished || state_ == State::kPeerClosed;
  }
  bool send(const char* data, size_t len, std::string& wire) override;
  void shutdown(std::string& wire) override;
  const std::string& failure() const override { return failure_; }

  State state() const { return state_; }
  bool handshakeDone() const { return state_ != State::kHandshaking && state_ != State::kFailed; }
  // The verified peer's SPIFFE ID (see peerSpiffeId), known once the handshake is done.
  const std::string& peerIdentity() const { return peer_identity_; }
  bool resumed() const { return ssl_ && SSL_session_reused(ssl_.get()) == 1; }
  bool sentCloseNotify() const;
  SSL* ssl() const { return ssl_.get(); }

 private:
  Status failWith(std::string reason, std::string& wire);
  Status handshake(std::string& wire);
  Status readPlain(std::string& plain, std::string& wire);
  void drainWire(std::string& wire);
  std::string sslFailure(const char* op, int rc);

  TlsContextPtr context_;
  OpensslPtr<SSL> ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::string session_key_;
  std::string peer_identity_;
  std::string failure_;
  std::vector<std::string> expected_peers_;
  State state_ = State::kHandshaking;
  bool started_ = false;
};

}  // namespace weft::tls
