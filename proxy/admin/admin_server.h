// AdminServer: the small HTTP/1.1 server behind the admin port (/metrics, /ready, ...), on the
// main thread's loop. It parses with the same strict codec as the data path and answers each
// request in full from a handler; bodies of admin requests are read and ignored.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>

#include "http/message.h"
#include "net/listener.h"
#include "net/tcp_stream.h"

namespace weft::admin {

struct AdminResponse {
  uint16_t status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  using Handler = std::function<void(const http::RequestHead& request, AdminResponse& response)>;

  AdminServer(uv_loop_t* loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}
  // Returns 0 or a libuv error.
  int listen(const std::string& host, uint16_t port);
  // Stops listening and closes every admin connection.
  void close();
  uint16_t port() const { return listener_.port(); }
  const Handler& handler() const { return handler_; }

 private:
  uv_loop_t* loop_;
  Handler handler_;
  net::Listener listener_{loop_};
  std::unordered_set<net::TcpStream*> connections_;
};

}  // namespace weft::admin
