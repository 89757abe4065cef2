// Grammar helpers: kept table-free and allocation-free because they run on every message.
#include "http/syntax.h"

namespace weft::http {

bool isTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTchar(c)) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

bool isRegNameChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    // unreserved, sub-delims and '%' of pct-encoded (RFC 3986 §3.2.2)
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case '%':
      return true;
    default:
      return false;
  }
}

bool isIpLiteralChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

}  // namespace

bool isValidAuthority(std::string_view a, bool require_port) {
  if (a.empty()) return false;
  size_t i = 0;
  if (a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (size_t j = 1; j < close; ++j) {
      if (!isIpLiteralChar(a[j])) return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      if (!isRegNameChar(a[i])) return false;
      ++i;
    }
    if (i == 0) return false;
  }
  if (i == a.size()) return !require_port;
  if (a[i] != ':') return false;
  const std::string_view port = a.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

TransferCodings classifyTransferEncoding(const HeaderMap& headers) {
  size_t fields = 0;
  size_t codings = 0;
  size_t chunked = 0;
  bool malformed = false;
  bool chunked_last = false;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (!equalsIgnoreCase(headers.name(i), "transfer-encoding")) continue;
    ++fields;
    forEachListElement(headers.value(i), [&](std::string_view coding) {
      if (!isToken(coding)) malformed = true;
      ++codings;
      chunked_last = equalsIgnoreCase(coding, "chunked");
      if (chunked_last) ++chunked;
    });
  }
  if (fields == 0) return TransferCodings::kNone;
  if (malformed || chunked > 1) return TransferCodings::kMalformed;
  if (chunked == 1 && !chunked_last) return TransferCodings::kChunkedNotLast;
  if (chunked == 0) return TransferCodings::kNotChunked;
  return fields == 1 && codings == 1 ? TransferCodings::kChunkedOnly
                                     : TransferCodings::kChunkedLast;
}

}  // namespace weft::http
