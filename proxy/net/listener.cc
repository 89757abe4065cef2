// Listener: SO_REUSEPORT accept sockets on libuv (see listener.h).
#include "net/listener.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace weft::net {

int parseSocketAddress(const std::string& host, uint16_t port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0) return 0;
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out));
}

Listener::~Listener() {
  close();
}

int Listener::listen(const std::string& host, uint16_t port, bool reuse_port, AcceptFn on_accept) {
  sockaddr_storage addr;
  if (int rc = parseSocketAddress(host, port, addr)) return rc;
  on_accept_ = std::move(on_accept);
  handle_ = new uv_tcp_t;
  handle_->data = this;
  if (int rc = uv_tcp_init_ex(loop_, handle_, addr.ss_family)) {
    delete handle_;
    handle_ = nullptr;
    return rc;
  }
  open_ = true;
  int rc = 0;
  if (reuse_port) {
    uv_os_fd_t fd;
    rc = uv_fileno(reinterpret_cast<uv_handle_t*>(handle_), &fd);
    int on = 1;
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      rc = uv_translate_sys_error(errno);
    }
  }
  if (rc == 0) rc = uv_tcp_bind(handle_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), 1024, connectionCb);
  if (rc != 0) {
    // Not listening: release the socket so the object can be used (or destroyed) cleanly.
    close();
    open_ = false;
    closing_ = false;
  }
  return rc;
}

void Listener::connectionCb(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (status < 0 || self == nullptr || self->closing_) return;
  self->on_accept_(server);
}

void Listener::close() {
  if (!open_ || closing_) return;
  closing_ = true;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  handle_ = nullptr;
}

uint16_t Listener::port() const {
  if (!handle_) return 0;
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getsockname(handle_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace weft::net
