// MirrorRequest: a fire-and-forget copy of a request (VirtualService mirror / mirrors).
//
// The copy goes to the mirror cluster on its own upstream connection; its response is read and
// dropped. It owns itself: it ends (and deletes itself) when its response is complete or its
// connection fails, whatever the original request does. The original request feeds it the
// body as it arrives and never waits for it: a mirror that falls behind (more than
// kMaxQueuedBytes queued) or fails is simply dropped.
#pragma once

#include <string>
#include <string_view>

#include "upstream/host_pool.h"
#include "upstream/upstream_connection.h"

namespace weft::server {

class MirrorRequest final : private upstream::ResponseHandler {
 public:
  static constexpr size_t kMaxQueuedBytes = 1024 * 1024;

  // Starts the copy: `head_bytes` is the encoded request head. Returns nullptr if no
  // connection could even be started (the copy is then simply not made). `*owner_slot` is
  // cleared when the mirror ends, so the original request stops feeding it.
  static MirrorRequest* start(upstream::HostPool& pool, const std::string& method,
                              std::string head_bytes, MirrorRequest** owner_slot);

  // More request bytes (already framed); `last`: the request is complete.
  void send(std::string_view bytes);
  // The original request is complete: the mirror finishes on its own.
  void detach() { owner_slot_ = nullptr; }
  // The original request ended before its body was complete: the copy is dropped.
  void cancel() { end(); }

 private:
  MirrorRequest() = default;
  void end();

  void onUpstreamConnected() override;
  void onUpstreamInformational(http::ResponseHead&) override {}
  void onUpstreamResponseHead(http::ResponseHead&) override {}
  void onUpstreamResponseBody(std::string_view) override {}
  void onUpstreamResponseTrailers(http::HeaderMap&) override {}
  void onUpstreamResponseComplete() override;
  void onUpstreamTunnelData(const char*, size_t) override {}
  void onUpstreamTunnelEnd() override { end(); }
  void onUpstreamFailure(upstream::FailureReason, bool) override;
  void onUpstreamDrained() override {}
  void onUpstreamReadDone() override {}

  upstream::UpstreamConnection* upstream_ = nullptr;
  MirrorRequest** owner_slot_ = nullptr;
  std::string pending_;  // bytes waiting for the connection
  bool connected_ = false;
  bool response_complete_ = false;
};

}  // namespace weft::server
