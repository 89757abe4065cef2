// ControlPlaneClient: the sidecar's side of the control-plane protocol (dynamic mode), on a
// thread of its own with blocking sockets (http_call.h). It registers the node, long-polls for its
// configuration, hands each configuration to its owner (who applies it on the main thread and
// answers with reportResult()), acknowledges or rejects it, and deregisters when stopped.
//
//   register ──200──▶ poll ──200──▶ on_config ··· reportResult ──▶ ack/nack ──▶ poll ...
//      ▲               │ 304: poll again
//      └──── 404 ──────┘ (the control plane lost its registry)
//   transport error, 5xx (any step): jittered back-off 0.5 s .. 15 s, then that step again
//
// Every call carries "Authorization: Bearer <token>". beginStop() interrupts whatever is in
// flight at once (a byte on the stop pipe, which every wait also polls), so a 30 s poll never
// delays shutdown; the thread then sends DELETE /v1/nodes/{id}, bounded by a short timeout,
// and ends.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "discovery/backoff.h"
#include "discovery/control_plane_auth.h"
#include "discovery/http_call.h"
#include "discovery/protocol.h"
#include "mesh/snapshot.h"

namespace weft::discovery {

struct ClientOptions {
  std::string base_url;  // http://host:port (numeric host or localhost), for logs
  std::string host;      // numeric address to connect to
  uint16_t port = 0;
  std::string token;  // bearer token (used when `auth` is not set)
  // Credentials and TLS (https://); null: plain HTTP with `token`.
  std::shared_ptr<const ControlPlaneAuth> auth;
  std::string node_id;
  std::string node_json;  // registration body (protocol.h nodeJson)
  // The version already applied before the client starts (a cached configuration), 0 if none:
  // the first poll carries it, so a control plane still at that version holds the poll instead
  // of sending the same configuration again.
  uint64_t initial_version = 0;
  uint32_t poll_wait_s = 30;
  uint32_t connect_timeout_ms = 2'000;
  uint32_t request_timeout_ms = 10'000;  // register, ack
  uint32_t deregister_timeout_ms = 1'000;
  BackoffPolicy backoff;
};

struct ClientCallbacks {
  // Client thread: a configuration arrived. The receiver hands it to its own thread and answers
  // with reportResult(); the client waits for that answer (or beginStop()) before polling on.
  std::function<void(mesh::PushedConfig)> on_config;
  // Client thread: the control plane became reachable (last call answered) or not.
  std::function<void(bool connected)> on_connected;
  // Client thread: a push carried a trust bundle different from the last one seen (the first
  // one included).
  std::function<void(const TrustBundle&)> on_trust_bundle;
};

class ControlPlaneClient {
 public:
  ControlPlaneClient(ClientOptions options, ClientCallbacks callbacks);
  ~ControlPlaneClient();  // beginStop() + join()
  ControlPlaneClient(const ControlPlaneClient&) = delete;
  ControlPlaneClient& operator=(const ControlPlaneClient&) = delete;

  // Starts the thread.
  void start();
  // Any thread: the outcome of applying `version` ("" = applied, else the reason it was not).
  void reportResult(uint64_t version, std::string error);
  // Any thread (on-demand scope): ask the control plane for these hosts. A long poll in flight
  // is interrupted, POST /v1/nodes/{id}/interest is sent, and polling resumes; the resulting
  // configuration arrives through on_config as any other.
  void requestInterest(std::vector<std::string> hosts);
  // Any thread: interrupt what is in flight, deregister, and let the thread end.
  void beginStop();
  // Waits for the thread to end (after beginStop()).
  void join();

 private:
  using HttpResult = HttpAnswer;

  void run();
  HttpResult perform(const char* method, const std::string& path, const std::string* body,
                     uint32_t timeout_ms, bool during_stop = false, bool long_poll = false);
  // Sleeps `ms` unless beginStop() comes first; false if stopped.
  bool sleepFor(uint32_t ms);
  void setConnected(bool connected);
  void wake();        // a byte on the stop pipe: ends the current wait
  void drainWakes();  // empties the stop pipe (after a wake that was not a stop)
  // Sends the hosts asked for since the last call; false if stopped meanwhile.
  bool sendInterest(const std::string& node);
  // Hands `config` over and waits for reportResult(); nullopt if stopped meanwhile.
  std::optional<std::string> deliver(mesh::PushedConfig config);
  std::string describe(const HttpResult& r) const;

  ClientOptions options_;
  ClientCallbacks callbacks_;
  int stop_pipe_[2] = {-1, -1};  // beginStop() writes a byte; every wait polls the read end
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int connected_ = -1;  // client thread only: -1 unknown, 0, 1

  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t awaiting_version_ = 0;
  bool awaiting_ = false;
  std::optional<std::string> result_;
  std::vector<std::string> interest_;  // hosts not sent yet (guarded by mutex_)
  std::optional<TrustBundle> bundle_;  // client thread: the last trust bundle seen
};

// The local address the kernel would use to reach host:port (a connected UDP socket sends
// nothing); what a sidecar listening on a wildcard address advertises. "" if unknown.
std::string localAddressTowards(const std::string& host, uint16_t port);

}  // namespace weft::discovery
