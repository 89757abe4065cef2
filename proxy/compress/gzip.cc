// gzip through zlib (see gzip.h).
#include "compress/gzip.h"

#include <zlib.h>

namespace weft::compress {

namespace {

constexpr int kGzipWindow = 15 + 16;  // 32 KiB window, gzip header and trailer

}  // namespace

std::string gzip(std::string_view data, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);  // deflateBound makes one call enough
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  out.shrink_to_fit();
  return out;
}

std::optional<std::string> gunzip(std::string_view data, size_t max_bytes, std::string& error) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindow) != Z_OK) {
    error = "zlib cannot start";
    return std::nullopt;
  }
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buf[64 * 1024];
  bool member_done = false;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = sizeof(buf) - z.avail_out;
    if (out.size() + produced > max_bytes) {
      error = "inflates beyond " + std::to_string(max_bytes) + " bytes";
      inflateEnd(&z);
      return std::nullopt;
    }
    out.append(buf, produced);
    if (rc == Z_STREAM_END) {
      member_done = true;
      if (z.avail_in == 0) break;
      inflateReset(&z);  // the next member
      member_done = false;
      continue;
    }
    if (rc != Z_OK || (z.avail_in == 0 && produced == 0)) {
      error = rc == Z_OK || rc == Z_BUF_ERROR
                  ? "truncated gzip data"
                  : std::string("bad gzip data: ") + (z.msg ? z.msg : "inflate failed");
      inflateEnd(&z);
      return std::nullopt;
    }
  }
  inflateEnd(&z);
  if (!member_done) {
    error = "truncated gzip data";
    return std::nullopt;
  }
  return out;
}

}  // namespace weft::compress
