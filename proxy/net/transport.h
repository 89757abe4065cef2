// Transport: a byte transform between a TcpStream's socket and the protocol code above it
// (TLS today). The stream hands it the bytes it reads and the bytes it is asked to send; the
// transport gives back plaintext for onRead() and the bytes that really go on the wire.
//
// Kept as a small interface in net/ so that TcpStream depends on nothing above it: the TLS
// implementation lives in tls/ (tls::TlsStream) and is attached to a stream at run time, after
// accept or connect, which is also what lets one listener serve plain text and TLS side by side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace weft::net {

class Transport {
 public:
  enum class Status : uint8_t {
    kOk,          // more may come
    kPeerClosed,  // the peer ended its side cleanly (TLS close_notify): no more plaintext
    kFailed,      // handshake or record failure: see failure(); bytes already in `wire` (an
                  // alert) should still be sent before closing
  };

  virtual ~Transport() = default;

  // Begins the handshake: a client appends its first flight (ClientHello) to `wire`.
  virtual void start(std::string& wire) = 0;
  // Bytes read from the socket. Plaintext is appended to `plain`, bytes the transport must
  // send (handshake flights, alerts, tickets) to `wire`.
  virtual Status receive(const char* data, size_t len, std::string& plain, std::string& wire) = 0;
  // True once application data may be sent (handshake complete, not failed).
  virtual bool established() const = 0;
  // Plaintext to send: the protected bytes are appended to `wire`. False on failure.
  virtual bool send(const char* data, size_t len, std::string& wire) = 0;
  // Ends our side cleanly (close_notify appended to `wire`). Safe to call more than once.
  virtual void shutdown(std::string& wire) = 0;
  // Why the transport failed (empty while it has not).
  virtual const std::string& failure() const = 0;
};

}  // namespace weft::net
