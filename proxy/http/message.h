// Request and response heads as the codec decodes them and the encoder writes them.
//
// The strings are members (not views into the read buffer) so a head survives across reads;
// clear() keeps their capacity, so a reused head allocates nothing in steady state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "http/header_map.h"

namespace weft::http {

struct RequestHead {
  std::string method;     // e.g. "GET"
  std::string target;     // request-target as received (origin-form or absolute-form)
  std::string path;       // origin-form "/path?query" (taken out of an absolute-form target)
  std::string authority;  // host[:port] from an absolute-form target, else the Host header
  bool absolute_form = false;
  uint8_t version_minor = 1;  // HTTP/1.<minor>
  HeaderMap headers;

  // Framing and connection semantics, decided by the decoder from the headers.
  bool keep_alive = true;
  bool chunked = false;                    // Transfer-Encoding: chunked
  std::optional<uint64_t> content_length;  // Content-Length, when given
  bool upgrade = false;                    // Connection: upgrade + Upgrade (or CONNECT)
  bool expect_continue = false;            // Expect: 100-continue

  bool hasBody() const { return chunked || (content_length && *content_length > 0); }
  void clear();
};

struct ResponseHead {
  uint16_t status = 0;
  std::string reason;
  uint8_t version_minor = 1;
  HeaderMap headers;

  bool keep_alive = true;
  bool chunked = false;
  std::optional<uint64_t> content_length;
  // True when this response has no body by rule (1xx, 204, 304, answer to HEAD).
  bool no_body = false;
  // True when the body is delimited by the connection closing (no length, not chunked).
  bool until_close = false;
  void clear();
};

}  // namespace weft::http
