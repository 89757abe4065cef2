// MirrorRequest: fire-and-forget request copies (see mirror_request.h).
#include "server/mirror_request.h"

namespace weft::server {

MirrorRequest* MirrorRequest::start(upstream::HostPool& pool, const std::string& method,
                                    std::string head_bytes, MirrorRequest** owner_slot) {
  auto* m = new MirrorRequest();
  m->pending_ = std::move(head_bytes);
  m->owner_slot_ = owner_slot;
  m->upstream_ = pool.acquire(m, method.c_str(), true);
  if (m->upstream_ == nullptr) {
    delete m;
    return nullptr;
  }
  if (m->upstream_->state() == upstream::UpstreamConnection::State::kBusy) {
    m->onUpstreamConnected();
  }
  return m;
}

void MirrorRequest::send(std::string_view bytes) {
  if (upstream_ == nullptr) return;
  if (!connected_) {
    if (pending_.size() + bytes.size() > kMaxQueuedBytes) {
      end();  // the mirror cannot keep up: drop it
      return;
    }
    pending_.append(bytes);
    return;
  }
  if (upstream_->queuedBytes() + bytes.size() > kMaxQueuedBytes) {
    end();
    return;
  }
  upstream_->out().append(bytes);
  upstream_->flush();
}

void MirrorRequest::onUpstreamConnected() {
  connected_ = true;
  upstream_->out().append(pending_);
  pending_.clear();
  pending_.shrink_to_fit();
  upstream_->flush();
}

void MirrorRequest::onUpstreamResponseComplete() {
  response_complete_ = true;
  // A mirror answered before its request body was all sent: the connection cannot be reused.
  upstream::UpstreamConnection* u = upstream_;
  upstream_ = nullptr;
  u->release(owner_slot_ == nullptr);
  end();
}

void MirrorRequest::onUpstreamFailure(upstream::FailureReason, bool) {
  upstream_ = nullptr;  // already gone
  end();
}

void MirrorRequest::end() {
  if (upstream_) {
    upstream::UpstreamConnection* u = upstream_;
    upstream_ = nullptr;
    u->abort();
  }
  if (owner_slot_) *owner_slot_ = nullptr;
  owner_slot_ = nullptr;
  delete this;
}

}  // namespace weft::server
