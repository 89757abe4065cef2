// RequestHead / ResponseHead reset: back to defaults while keeping string and header capacity,
// so a decoder reusing one head allocates nothing per message once warmed up.
#include "http/message.h"

namespace weft::http {

void RequestHead::clear() {
  method.clear();
  target.clear();
  path.clear();
  authority.clear();
  absolute_form = false;
  version_minor = 1;
  headers.clear();
  keep_alive = true;
  chunked = false;
  content_length.reset();
  upgrade = false;
  expect_continue = false;
}

void ResponseHead::clear() {
  status = 0;
  reason.clear();
  version_minor = 1;
  headers.clear();
  keep_alive = true;
  chunked = false;
  content_length.reset();
  no_body = false;
  until_close = false;
}

}  // namespace weft::http
