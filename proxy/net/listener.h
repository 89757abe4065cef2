// Listener: a TCP accept socket on one worker's loop. Every worker binds its own socket to the
// same address with SO_REUSEPORT and the kernel spreads connections among them (libuv 1.44 has
// no UV_TCP_REUSEPORT, so the option is set by hand before bind).
#pragma once

#include <uv.h>

#include <functional>
#include <string>

namespace weft::net {

// Fills `out` from a numeric IPv4/IPv6 address and port. Returns 0 or a libuv error.
int parseSocketAddress(const std::string& host, uint16_t port, sockaddr_storage& out);

class Listener {
 public:
  // Called with the loop's listening handle; the callee accepts into its own uv_tcp_t.
  using AcceptFn = std::function<void(uv_stream_t* server)>;

  explicit Listener(uv_loop_t* loop) : loop_(loop) {}
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. Returns 0 or a libuv error (bind errors surface here, not at bind).
  int listen(const std::string& host, uint16_t port, bool reuse_port, AcceptFn on_accept);
  // Stops accepting; connections already accepted are unaffected.
  void close();
  bool listening() const { return open_ && !closing_; }
  // The bound port (useful when listening on port 0).
  uint16_t port() const;

 private:
  static void connectionCb(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  uv_tcp_t* handle_ = nullptr;  // heap: must outlive this object until libuv closes it
  AcceptFn on_accept_;
  bool open_ = false;
  bool closing_ = false;
};

}  // namespace weft::net
