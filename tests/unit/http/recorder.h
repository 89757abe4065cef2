// Test helpers: decoder callbacks that log every event as text, and a driver that feeds a
// byte string in reads of a given size, resuming after each complete message like the
// connection manager does. Comparing logs makes "same events whatever the split" checkable.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include "http/codec.h"

namespace weft::http::test {

inline void logHeaders(const HeaderMap& h, std::string& log) {
  h.forEach([&log](std::string_view n, std::string_view v) {
    log.append(n).append("=").append(v).append(";");
  });
}

struct RequestRecorder : RequestDecoder::Callbacks {
  void onRequestHead(RequestHead& h) override {
    head_seen = true;
    log += "H[" + h.method + " " + h.target + " path=" + h.path + " auth=" + h.authority +
           " abs=" + std::to_string(h.absolute_form) + " v=1." + std::to_string(h.version_minor) +
           " ka=" + std::to_string(h.keep_alive) + " chunked=" + std::to_string(h.chunked) +
           " cl=" + (h.content_length ? std::to_string(*h.content_length) : "-") +
           " up=" + std::to_string(h.upgrade) + "100=" + std::to_string(h.expect_continue) + " ";
    logHeaders(h.headers, log);
    log += "]";
    last = &h;
  }
  void onRequestBody(std::string_view d) override {
    // Adjacent body pieces are merged so that splitting a read does not change the log.
    if (log.size() < 1 || log.back() != '}')
      log += "B{";
    else
      log.pop_back();
    log.append(d);
    log += "}";
  }
  void onRequestTrailers(HeaderMap& t) override {
    log += "T[";
    logHeaders(t, log);
    log += "]";
  }
  void onRequestComplete() override { log += "C"; }

  std::string log;
  bool head_seen = false;
  RequestHead* last = nullptr;
};

struct ResponseRecorder : ResponseDecoder::Callbacks {
  void onInformational(ResponseHead& h) override {
    log += "I[" + std::to_string(h.status) + " " + h.reason + "]";
  }
  void onResponseHead(ResponseHead& h) override {
    log += "H[" + std::to_string(h.status) + " " + h.reason + " v=1." +
           std::to_string(h.version_minor) + " ka=" + std::to_string(h.keep_alive) +
           " chunked=" + std::to_string(h.chunked) +
           " cl=" + (h.content_length ? std::to_string(*h.content_length) : "-") +
           " nobody=" + std::to_string(h.no_body) + " eof=" + std::to_string(h.until_close) + " ";
    logHeaders(h.headers, log);
    log += "]";
  }
  void onResponseBody(std::string_view d) override {
    if (log.size() < 1 || log.back() != '}')
      log += "B{";
    else
      log.pop_back();
    log.append(d);
    log += "}";
  }
  void onResponseTrailers(HeaderMap& t) override {
    log += "T[";
    logHeaders(t, log);
    log += "]";
  }
  void onResponseComplete() override { log += "C"; }

  std::string log;
};

// Feeds `input` in reads of `step` bytes (0 = all at once). After kMessageComplete it logs
// "@<absolute offset>", resumes and passes the rest of the read again; kUpgrade logs
// "U@<offset>" and stops; kError logs "E<status>" and stops. `log` receives the driver's
// marks interleaved with the recorder's events.
template <class Decoder>
DecodeResult drive(Decoder& d, std::string_view input, size_t step, std::string& log) {
  if (step == 0) step = input.size() == 0 ? 1 : input.size();
  size_t base = 0;
  DecodeResult r;
  while (base < input.size()) {
    size_t len = std::min(step, input.size() - base);
    size_t off = 0;
    while (off < len) {
      r = d.decode(input.data() + base + off, len - off);
      off += r.consumed;
      if (r.status == DecodeStatus::kMessageComplete) {
        log += "@" + std::to_string(base + off);
        d.resume();
      } else if (r.status == DecodeStatus::kUpgrade) {
        log += "U@" + std::to_string(base + off);
        return r;
      } else if (r.status == DecodeStatus::kError) {
        log += "E" + std::to_string(r.http_status);
        return r;
      } else {
        break;  // kNeedMore: everything consumed
      }
    }
    base += len;
  }
  return r;
}

// The whole event log for `input` decoded with reads of `step` bytes.
inline std::string requestLog(std::string_view input, size_t step, DecoderLimits limits = {}) {
  RequestRecorder rec;
  RequestDecoder d(rec, limits);
  drive(d, input, step, rec.log);
  return rec.log;
}

// Same for responses; `methods` gives the request method for each response in turn.
inline std::string responseLog(std::string_view input, size_t step,
                               std::initializer_list<std::string_view> methods = {"GET"},
                               bool eof = false) {
  ResponseRecorder rec;
  ResponseDecoder d(rec, DecoderLimits{});
  auto it = methods.begin();
  d.expectResponseTo(*it);
  // The expected method is re-armed after each complete response.
  size_t base = 0;
  if (step == 0) step = input.empty() ? 1 : input.size();
  while (base < input.size()) {
    const size_t len = std::min(step, input.size() - base);
    size_t off = 0;
    while (off < len) {
      const DecodeResult r = d.decode(input.data() + base + off, len - off);
      off += r.consumed;
      if (r.status == DecodeStatus::kMessageComplete) {
        rec.log += "@" + std::to_string(base + off);
        d.resume();
        if (it + 1 != methods.end()) ++it;
        d.expectResponseTo(*it);
      } else if (r.status == DecodeStatus::kUpgrade) {
        return rec.log + "U@" + std::to_string(base + off);
      } else if (r.status == DecodeStatus::kError) {
        return rec.log + "E" + std::to_string(r.http_status);
      } else {
        break;
      }
    }
    base += len;
  }
  if (eof) {
    const DecodeResult r = d.finish();
    rec.log += r.status == DecodeStatus::kMessageComplete ? "EOF-complete"
               : r.status == DecodeStatus::kError         ? "EOF-error"
                                                          : "EOF-idle";
  }
  return rec.log;
}

}  // namespace weft::http::test
