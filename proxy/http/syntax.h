// Small RFC 9110/9112 grammar helpers shared by the decoders and encoders: tokens, OWS,
// comma-separated lists, authorities and Transfer-Encoding classification.
#pragma once

#include <string_view>

#include "http/header_map.h"

namespace weft::http {

// tchar (RFC 9110 §5.6.2).
bool isTchar(char c);
bool isToken(std::string_view s);
// Strips leading and trailing SP/HTAB.
std::string_view trimOws(std::string_view s);

// Calls f(element) for each comma-separated element of a list field value, OWS-trimmed.
// Empty elements are passed too; callers decide whether they are an error.
template <class F>
void forEachListElement(std::string_view v, F&& f) {
  for (;;) {
    const size_t comma = v.find(',');
    f(trimOws(v.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// host [ ":" port ] with host a reg-name or an IP-literal; no userinfo. `require_port` is for
// CONNECT's authority-form.
bool isValidAuthority(std::string_view a, bool require_port);

// Every Transfer-Encoding field of a message, read as one coding list.
enum class TransferCodings : uint8_t {
  kNone,            // no Transfer-Encoding field
  kChunkedOnly,     // exactly one field whose value is exactly "chunked"
  kChunkedLast,     // chunked is the final coding, after others ("gzip, chunked")
  kNotChunked,      // only other codings ("gzip", "xchunked")
  kChunkedNotLast,  // "chunked, gzip"
  kMalformed,       // empty element, parameters, non-token bytes, chunked twice
};
TransferCodings classifyTransferEncoding(const HeaderMap& headers);

}  // namespace weft::http
