// SimNode: one simulated sidecar of weft-control-load. It follows the sidecar's control-plane
// client (proxy/discovery/client.cc) step for step, on the fleet's loop instead of a thread:
//
//   register (POST /v1/nodes) -> poll (GET .../config?version=V&wait=W) -> on 200, ack
//   (POST .../ack {"version": V}) -> poll again; 304 -> poll again; 404 -> register again and
//   poll from version 0; a transport error, timeout or unexpected status -> the same step again
//   after a jittered back-off (0.5 s doubling to 15 s).
//
// The config body is never parsed or kept: its version comes from the x-weft-version header,
// else from the `"version":N` at the end of the JSON (the server dumps keys sorted).
#pragma once

#include <cstdint>
#include <string>

#include "discovery/backoff.h"
#include "exchange.h"
#include "net/timer.h"

namespace weft::bench {

class Fleet;

class SimNode final : private Exchange::Owner {
 public:
  SimNode(Fleet& fleet, size_t index, uint64_t seed);
  ~SimNode() override;
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  const std::string& id() const { return id_; }
  // Queues the first registration.
  void begin();
  // Called by the fleet when a registration slot is free.
  void startRegistration();
  // Drops whatever is in flight (closing a held poll). Returns true when the server may know
  // the node (it has sent a registration), so it must be deregistered.
  bool stop();
  // DELETE /v1/nodes/{id}; the fleet hears of the end through deregistrationFinished(gone).
  void deregister();
  // Cuts a deregistration short (shutdown timeout).
  void abandon();

  bool synced() const { return acked_version_ != 0; }
  uint64_t ackedVersion() const { return acked_version_; }

 private:
  enum class State : uint8_t {
    kIdle,
    kQueued,       // waiting for a registration slot
    kRegistering,  // POST /v1/nodes in flight
    kPolling,      // GET .../config in flight (held by the server most of the time)
    kAcking,       // POST .../ack in flight
    kBackoff,      // waiting to retry `retry_`
    kDeregistering,
    kStopped,
  };
  enum class Step : uint8_t { kRegister, kPoll, kAck };

  void onExchangeDone(Exchange& exchange, ExchangeResult& result) override;
  static void onTimer(void* self);

  void send(State state, std::string_view method, const std::string& path, const std::string* body,
            uint64_t timeout_ms);
  void poll();
  void ack();
  void queueRegistration();
  void setState(State s);
  // One failed step: count and log it, and retry the step after a back-off.
  void failed(Step step, const char* what, const ExchangeResult& result);
  void retry(Step step);

  void registered(const ExchangeResult& r);
  // The control plane answered 404: it no longer knows this node.
  void forgotten();
  void polled(ExchangeResult& r);
  void acked(const ExchangeResult& r);

  Fleet& fleet_;
  std::string id_;
  std::string path_;       // /v1/nodes/<id>
  std::string node_json_;  // the registration body
  discovery::Backoff backoff_;
  net::Timer timer_;  // the request timeout, or the back-off
  Exchange* exchange_ = nullptr;
  State state_ = State::kIdle;
  Step retry_ = Step::kRegister;
  bool known_to_server_ = false;  // counted in FleetCounters::registered
  bool sent_registration_ = false;
  int not_found_in_a_row_ = 0;
  uint64_t version_ = 0;  // the last version received
  uint64_t acked_version_ = 0;
  // The version being acknowledged.
  uint64_t pending_bytes_ = 0;
  double pending_received_ = 0;
};

}  // namespace weft::bench
