// Codec helpers that are neither decoding nor framing: hop-by-hop field removal and the
// standard reason phrases.
#include "http/codec.h"

#include <array>

#include "http/syntax.h"

namespace weft::http {

namespace {

// The k-th Connection field value, if any.
std::optional<std::string_view> connectionValue(const HeaderMap& headers, size_t k) {
  for (size_t i = 0; i < headers.size(); ++i) {
    if (equalsIgnoreCase(headers.name(i), "connection") && k-- == 0) return headers.value(i);
  }
  return std::nullopt;
}

// True for the fields that are hop-by-hop whether or not Connection names them (RFC 9110
// §7.6.1, plus the non-standard Proxy-Connection and Keep-Alive that old clients still send),
// and Connection itself. Dispatches on length first:
// this runs over every header of every request and response.
bool isFixedHopByHop(std::string_view name, bool keep_upgrade) {
  switch (name.size()) {
    case 2:
      return equalsIgnoreCase(name, "te");
    case 7:
      return equalsIgnoreCase(name, "trailer") ||
             (!keep_upgrade && equalsIgnoreCase(name, "upgrade"));
    case 10:
      return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
    case 16:
      return equalsIgnoreCase(name, "proxy-connection");
    case 17:
      return equalsIgnoreCase(name, "transfer-encoding");
    case 19:
      return equalsIgnoreCase(name, "proxy-authorization");
    default:
      return false;
  }
}

}  // namespace

void removeHopByHopHeaders(HeaderMap& headers, bool keep_upgrade) {
  // Fields named by Connection. HeaderMap::remove() never moves bytes, so the view of the
  // Connection value stays valid while the fields it names are removed; Connection fields
  // themselves are removed only afterwards, so their order (and k) is stable meanwhile.
  for (size_t k = 0;; ++k) {
    const auto value = connectionValue(headers, k);
    if (!value) break;
    forEachListElement(*value, [&](std::string_view name) {
      if (name.empty() || isFixedHopByHop(name, keep_upgrade)) return;
      if (keep_upgrade && equalsIgnoreCase(name, "upgrade")) return;
      // A client must not be able to strip the routing identity of its own request.
      if (equalsIgnoreCase(name, "host")) return;
      headers.remove(name);
    });
  }
  headers.removeIf([&](std::string_view name) { return isFixedHopByHop(name, keep_upgrade); });
  if (keep_upgrade && headers.has("upgrade")) headers.add("Connection", "upgrade");
}

const char* reasonPhrase(uint16_t status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

}  // namespace weft::http
