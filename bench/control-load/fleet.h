// Fleet: the simulated sidecars of weft-control-load and what they share (server address,
// request encoding, the registration throttle, counters, the events file, shutdown).
//
// Everything runs on one libuv loop: a node is a small state machine (sim_node.h) holding at
// most one Exchange at a time, so 1,000 nodes cost 1,000 sockets and no thread.
//
// Shutdown (stop(): a signal or --duration): every node drops what it is doing (which closes
// its held poll), then every node that may be registered is deregistered (DELETE), up to
// kMaxDeregistrationsInFlight at once; the events are flushed and onFinished() runs. A second
// stop(), or kShutdownTimeoutMs, cuts the deregistrations short.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/timer.h"

namespace weft::bench {

class SimNode;

struct LoadOptions {
  sockaddr_storage server{};
  std::string host_header;  // "127.0.0.1:15010"
  std::string token;        // empty: no Authorization header
  size_t nodes = 1000;
  std::string prefix = "sim";
  std::string namespace_name = "default";
  size_t services = 1000;
  std::string service_prefix = "svc-";
  uint64_t wait_ms = 30'000;  // the long-poll's wait parameter
  std::string events_path;    // empty: no events file
  size_t max_inflight_registrations = 64;
  double duration_s = 0;  // 0: until SIGINT/SIGTERM
};

// Appends JSON lines to the events file; written out by flush() (every 100 ms and at exit),
// so the file is readable while it grows.
class EventLog {
 public:
  ~EventLog();
  bool open(const std::string& path, std::string& error);
  bool enabled() const { return fd_ >= 0; }
  void add(std::string line) {
    buffer_ += line;
    buffer_ += '\n';
  }
  void flush();

 private:
  int fd_ = -1;
  std::string buffer_;
  bool failed_ = false;
};

// Counters shown in the progress line.
struct FleetCounters {
  size_t registered = 0;  // nodes the server knows, as far as the tool knows
  size_t polls_held = 0;  // nodes with a long-poll in flight
  size_t synced = 0;      // nodes that have acknowledged at least one version
  uint64_t received = 0;  // config answers (200) received
  uint64_t acked = 0;     // acks answered 2xx
  uint64_t not_modified = 0;
  uint64_t reregistered = 0;  // 404 answers that sent a node back to registration
  uint64_t errors = 0;        // transport errors, timeouts and unexpected statuses
  uint64_t bytes = 0;         // config body bytes received
};

class Fleet {
 public:
  static constexpr uint64_t kProgressIntervalMs = 5'000;
  static constexpr uint64_t kFlushIntervalMs = 100;
  // A busy control plane answers late (it builds every group's set on the loop after each
  // burst of changes, and every DELETE is a change): wait up to the default node TTL, after
  // which the server would drop the nodes anyway.
  static constexpr uint64_t kShutdownTimeoutMs = 30'000;
  // Unlike registrations, deregistrations cost the server no work per request (the push that
  // follows is debounced), so many go at once; still under the server's listen backlog (1024).
  static constexpr size_t kMaxDeregistrationsInFlight = 512;
  static constexpr uint64_t kRequestTimeoutMs = 10'000;  // everything but the long-poll

  Fleet(uv_loop_t* loop, LoadOptions options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Opens the events file, creates the nodes and starts registering them.
  bool start(std::string& error);
  // Deregisters every node, then calls `on_finished` (see the file comment).
  void stop();
  void setOnFinished(std::function<void()> fn) { on_finished_ = std::move(fn); }

  // === For the nodes ===
  uv_loop_t* loop() const { return loop_; }
  const LoadOptions& options() const { return options_; }
  bool stopping() const { return stopping_; }
  FleetCounters& counters() { return counters_; }
  // A whole request (head and body) as the sidecar's client sends it.
  std::string encodeRequest(std::string_view method, const std::string& path,
                            const std::string* body) const;
  // Registration slots (--max-inflight-registrations): the node's startRegistration() is
  // called when one is free; it gives the slot back with registrationFinished().
  void queueRegistration(SimNode& node);
  void registrationFinished();
  // A node became registered / acknowledged its first version (logs when all have).
  void nodeRegistered();
  void nodeSynced();
  // `gone`: the server answered 2xx or 404 (else the DELETE failed or timed out).
  void deregistrationFinished(bool gone);
  // A version received and acknowledged: one events line.
  void recordEvent(const SimNode& node, uint64_t version, uint64_t bytes, double received,
                   double acked);
  // Logs an error line (at most a few per progress interval; the rest are only counted).
  void logError(const std::string& message);

 private:
  void pumpRegistrations();
  void pumpDeregistrations();
  void progress();
  void finish();
  void log(const std::string& line);

  uv_loop_t* loop_;
  LoadOptions options_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::deque<SimNode*> registration_queue_;
  size_t registrations_in_flight_ = 0;
  std::deque<SimNode*> deregistration_queue_;
  size_t deregistrations_in_flight_ = 0;
  size_t deregistrations_failed_ = 0;
  FleetCounters counters_;
  FleetCounters last_counters_;
  EventLog events_;
  net::Timer progress_timer_;
  net::Timer flush_timer_;
  net::Timer duration_timer_;
  net::Timer shutdown_timer_;
  std::function<void()> on_finished_;
  uint64_t started_ms_ = 0;
  bool all_registered_logged_ = false;
  bool all_synced_logged_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  int errors_logged_this_interval_ = 0;
};

}  // namespace weft::bench
