// SimNode (see sim_node.h).
#include "sim_node.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "discovery/protocol.h"
#include "fleet.h"

namespace weft::bench {

namespace {

// The version of a config answer, from the end of its JSON body: `..."version":42}`. Inside
// the "resources" string a quote is escaped (`\"version\":`), so `"version":` only matches the
// key itself.
std::optional<uint64_t> versionFromTail(std::string_view tail) {
  static constexpr std::string_view kKey = "\"version\":";
  size_t at = tail.rfind(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = tail.data() + at + kKey.size();
  const char* end = tail.data() + tail.size();
  while (p < end && *p == ' ') ++p;
  uint64_t n = 0;
  auto [stop, ec] = std::from_chars(p, end, n);
  if (ec != std::errc() || stop == p) return std::nullopt;
  return n;
}

std::string describe(const ExchangeResult& r) {
  if (r.status == 0) return r.error;
  std::string text = "HTTP " + std::to_string(r.status);
  if (!r.tail.empty()) {
    std::string body = r.tail;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    text += ": " + body;
  }
  return text;
}

}  // namespace

SimNode::SimNode(Fleet& fleet, size_t index, uint64_t seed)
    : fleet_(fleet),
      backoff_(discovery::BackoffPolicy{}, seed),
      timer_(fleet.loop(), onTimer, this) {
  const LoadOptions& o = fleet.options();
  id_ = o.prefix + "-" + std::to_string(index);
  path_ = discovery::nodePath(id_);
  const std::string service = o.service_prefix + std::to_string(index % o.services);
  nlohmann::ordered_json j;
  j["id"] = id_;
  j["workload"] = service + "-" + o.prefix;
  j["namespace"] = o.namespace_name;
  j["service_account"] = service;
  j["service"] = service;
  j["labels"] = {{"app", service}, {"version", "v1"}};
  j["address"] = "127.0.0.1";
  j["ports"] = nlohmann::ordered_json::array(
      {{{"name", "http"}, {"port", 20000 + index % 40000}, {"app_port", 9080}}});
  j["admin"] = "127.0.0.1:1";
  j["scope"] = "full";
  node_json_ = j.dump();
}

SimNode::~SimNode() {
  if (exchange_) exchange_->abort();
}

void SimNode::setState(State s) {
  if (state_ == State::kPolling) --fleet_.counters().polls_held;
  if (s == State::kPolling) ++fleet_.counters().polls_held;
  state_ = s;
}

void SimNode::begin() {
  queueRegistration();
}

void SimNode::queueRegistration() {
  setState(State::kQueued);
  fleet_.queueRegistration(*this);
}

void SimNode::startRegistration() {
  sent_registration_ = true;
  send(State::kRegistering, "POST", "/v1/nodes", &node_json_, Fleet::kRequestTimeoutMs);
}

void SimNode::poll() {
  const uint64_t wait_ms = fleet_.options().wait_ms;
  const std::string wait =
      wait_ms % 1000 == 0 ? std::to_string(wait_ms / 1000) + "s" : std::to_string(wait_ms) + "ms";
  const std::string path = path_ + "/config?version=" + std::to_string(version_) + "&wait=" + wait;
  // As the sidecar: the server may hold the poll for `wait`; allow 15 s more before giving up.
  send(State::kPolling, "GET", path, nullptr, wait_ms + 15'000);
}

void SimNode::ack() {
  const std::string body = discovery::ackJson(version_, "");
  send(State::kAcking, "POST", path_ + "/ack", &body, Fleet::kRequestTimeoutMs);
}

void SimNode::deregister() {
  send(State::kDeregistering, "DELETE", path_, nullptr, Fleet::kRequestTimeoutMs);
}

void SimNode::send(State state, std::string_view method, const std::string& path,
                   const std::string* body, uint64_t timeout_ms) {
  setState(state);
  timer_.arm(timeout_ms);
  exchange_ = Exchange::start(fleet_.loop(), fleet_.options().server,
                              fleet_.encodeRequest(method, path, body), method, *this);
}

bool SimNode::stop() {
  if (exchange_) {
    exchange_->abort();
    exchange_ = nullptr;
  }
  timer_.cancel();
  if (state_ == State::kRegistering) fleet_.registrationFinished();
  setState(State::kStopped);
  return sent_registration_;
}

void SimNode::abandon() {
  if (state_ != State::kDeregistering) return;
  if (exchange_) {
    exchange_->abort();
    exchange_ = nullptr;
  }
  timer_.cancel();
  setState(State::kStopped);
}

void SimNode::onTimer(void* p) {
  auto* self = static_cast<SimNode*>(p);
  if (self->exchange_) {
    // The request timed out: drop the connection and handle it like a transport error.
    Exchange* e = self->exchange_;
    self->exchange_ = nullptr;
    e->abort();
    ExchangeResult r;
    r.error = "timed out";
    self->onExchangeDone(*e, r);
    return;
  }
  if (self->state_ != State::kBackoff) return;
  switch (self->retry_) {
    case Step::kRegister:
      self->queueRegistration();
      break;
    case Step::kPoll:
      self->poll();
      break;
    case Step::kAck:
      self->ack();
      break;
  }
}

void SimNode::onExchangeDone(Exchange&, ExchangeResult& result) {
  exchange_ = nullptr;
  timer_.cancel();
  switch (state_) {
    case State::kRegistering:
      fleet_.registrationFinished();
      registered(result);
      break;
    case State::kPolling:
      polled(result);
      break;
    case State::kAcking:
      acked(result);
      break;
    case State::kDeregistering: {
      // 404: the server did not know the node (a registration that never got through).
      const bool gone = (result.status >= 200 && result.status < 300) || result.status == 404;
      if (!gone) fleet_.logError(id_ + ": deregistration failed (" + describe(result) + ")");
      if (gone && known_to_server_) {
        known_to_server_ = false;
        --fleet_.counters().registered;
      }
      setState(State::kStopped);
      fleet_.deregistrationFinished(gone);
      break;
    }
    default:
      break;
  }
}

void SimNode::registered(const ExchangeResult& r) {
  if (r.status < 200 || r.status >= 300) {
    failed(Step::kRegister, "registration", r);
    return;
  }
  if (!known_to_server_) {
    known_to_server_ = true;
    ++fleet_.counters().registered;
    fleet_.nodeRegistered();
  }
  poll();
}

void SimNode::forgotten() {
  ++fleet_.counters().reregistered;
  if (known_to_server_) {
    known_to_server_ = false;
    --fleet_.counters().registered;
  }
  version_ = 0;
}

void SimNode::polled(ExchangeResult& r) {
  if (r.status == 404) {
    // The control plane forgot the node (restart without its registrations, TTL expiry).
    forgotten();
    // Answered 404 right after registering: do not spin.
    if (++not_found_in_a_row_ > 1) {
      failed(Step::kRegister, "config poll", r);
    } else {
      queueRegistration();
    }
    return;
  }
  not_found_in_a_row_ = 0;
  if (r.status == 304) {
    ++fleet_.counters().not_modified;
    backoff_.reset();
    poll();
    return;
  }
  if (r.status != 200) {
    failed(Step::kPoll, "config poll", r);
    return;
  }
  std::optional<uint64_t> version = r.version_header;
  if (!version) version = versionFromTail(r.tail);
  if (!version) {
    ExchangeResult bad;
    bad.error = "no version in the config answer (neither x-weft-version nor \"version\":N)";
    failed(Step::kPoll, "reading the config answer", bad);
    return;
  }
  backoff_.reset();
  ++fleet_.counters().received;
  fleet_.counters().bytes += r.body_bytes;
  version_ = *version;
  pending_bytes_ = r.body_bytes;
  pending_received_ = r.completed_at;
  ack();
}

void SimNode::acked(const ExchangeResult& r) {
  if (r.status == 404) {
    // The control plane forgot the node: the ack goes with it; register again.
    forgotten();
    queueRegistration();
    return;
  }
  if (r.status < 200 || r.status >= 300) {
    failed(Step::kAck, "ack", r);
    return;
  }
  ++fleet_.counters().acked;
  if (acked_version_ == 0) fleet_.nodeSynced();
  acked_version_ = version_;
  fleet_.recordEvent(*this, version_, pending_bytes_, pending_received_, r.completed_at);
  poll();
}

void SimNode::failed(Step step, const char* what, const ExchangeResult& r) {
  ++fleet_.counters().errors;
  const uint32_t delay = backoff_.next();
  fleet_.logError(id_ + ": " + what + " failed (" + describe(r) + "); retrying in " +
                  std::to_string(delay) + " ms");
  retry_ = step;
  setState(State::kBackoff);
  timer_.arm(delay);
}

}  // namespace weft::bench
