// Encoders: heads and chunked framing written into a caller-owned buffer (appended, so a
// connection can reuse one output string without allocating once it has grown).
#include <charconv>

#include "http/codec.h"

namespace weft::http {

namespace {

void appendFields(const HeaderMap& headers, std::string& out) {
  headers.forEach([&out](std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  });
}

void appendNumber(uint64_t n, int base, std::string& out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n, base);
  out.append(buf, r.ptr);
}

}  // namespace

void encodeRequestHead(const RequestHead& head, std::string& out) {
  out.append(head.method);
  out.push_back(' ');
  if (!head.path.empty()) {
    out.append(head.path);
  } else if (head.method == "CONNECT") {
    out.append(head.authority);  // authority-form
  } else {
    out.push_back('/');
  }
  out.append(" HTTP/1.1\r\n");
  appendFields(head.headers, out);
  out.append("\r\n");
}

void encodeResponseHead(const ResponseHead& head, std::string& out) {
  out.append("HTTP/1.1 ");
  appendNumber(head.status, 10, out);
  out.push_back(' ');
  out.append(head.reason.empty() ? std::string_view(reasonPhrase(head.status))
                                 : std::string_view(head.reason));
  out.append("\r\n");
  appendFields(head.headers, out);
  out.append("\r\n");
}

void encodeChunk(std::string_view data, std::string& out) {
  if (data.empty()) return;
  appendNumber(data.size(), 16, out);
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void encodeLastChunk(const HeaderMap* trailers, std::string& out) {
  out.append("0\r\n");
  if (trailers != nullptr) appendFields(*trailers, out);
  out.append("\r\n");
}

}  // namespace weft::http
