// Fleet (see fleet.h).
#include "fleet.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <random>

#include "http/codec.h"
#include "http/message.h"
#include "sim_node.h"

namespace weft::bench {

namespace {

constexpr int kErrorLinesPerInterval = 10;

}  // namespace

// === EventLog ===

EventLog::~EventLog() {
  flush();
  if (fd_ >= 0) ::close(fd_);
}

bool EventLog::open(const std::string& path, std::string& error) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void EventLog::flush() {
  if (fd_ < 0 || buffer_.empty()) return;
  // A regular file: write() takes everything unless the disk is full.
  size_t off = 0;
  while (off < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failed_)
        std::cerr << "weft-control-load: writing the events file: " << std::strerror(errno) << "\n";
      failed_ = true;
      break;
    }
    off += static_cast<size_t>(n);
  }
  buffer_.clear();
}

// === Fleet ===

Fleet::Fleet(uv_loop_t* loop, LoadOptions options)
    : loop_(loop),
      options_(std::move(options)),
      progress_timer_(
          loop, [](void* f) { static_cast<Fleet*>(f)->progress(); }, this),
      flush_timer_(
          loop,
          [](void* p) {
            auto* f = static_cast<Fleet*>(p);
            f->events_.flush();
            if (!f->finished_) f->flush_timer_.arm(kFlushIntervalMs);
          },
          this),
      duration_timer_(
          loop, [](void* f) { static_cast<Fleet*>(f)->stop(); }, this),
      shutdown_timer_(
          loop,
          [](void* p) {
            auto* f = static_cast<Fleet*>(p);
            f->log("deregistration still running after " +
                   std::to_string(kShutdownTimeoutMs / 1000) + " s: giving up");
            f->finish();
          },
          this) {}

Fleet::~Fleet() = default;

void Fleet::log(const std::string& line) {
  std::cerr << "weft-control-load: " << line << "\n";
}

bool Fleet::start(std::string& error) {
  if (!options_.events_path.empty() && !events_.open(options_.events_path, error)) return false;
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  nodes_.reserve(options_.nodes);
  for (size_t i = 0; i < options_.nodes; ++i) {
    nodes_.push_back(std::make_unique<SimNode>(*this, i, seed + i));
  }
  started_ms_ = uv_now(loop_);
  for (auto& n : nodes_) n->begin();
  progress_timer_.arm(kProgressIntervalMs);
  flush_timer_.arm(kFlushIntervalMs);
  if (options_.duration_s > 0) {
    duration_timer_.arm(static_cast<uint64_t>(std::llround(options_.duration_s * 1000)));
  }
  return true;
}

std::string Fleet::encodeRequest(std::string_view method, const std::string& path,
                                 const std::string* body) const {
  http::RequestHead head;
  head.method = method;
  head.path = path;
  head.headers.add("host", options_.host_header);
  if (!options_.token.empty()) head.headers.add("authorization", "Bearer " + options_.token);
  head.headers.add("accept", "application/json");
  // As the sidecar does; the body is counted, not inflated (the version is in a header).
  head.headers.add("accept-encoding", "gzip");
  if (body) head.headers.add("content-type", "application/json");
  head.headers.add("connection", "close");
  if (body) head.headers.add("content-length", std::to_string(body->size()));
  std::string out;
  http::encodeRequestHead(head, out);
  if (body) out += *body;
  return out;
}

void Fleet::queueRegistration(SimNode& node) {
  if (stopping_) return;
  registration_queue_.push_back(&node);
  pumpRegistrations();
}

void Fleet::registrationFinished() {
  if (registrations_in_flight_ > 0) --registrations_in_flight_;
  pumpRegistrations();
}

void Fleet::pumpRegistrations() {
  while (!stopping_ && registrations_in_flight_ < options_.max_inflight_registrations &&
         !registration_queue_.empty()) {
    SimNode* n = registration_queue_.front();
    registration_queue_.pop_front();
    ++registrations_in_flight_;
    n->startRegistration();
  }
}

void Fleet::recordEvent(const SimNode& node, uint64_t version, uint64_t bytes, double received,
                        double acked) {
  if (!events_.enabled()) return;
  nlohmann::ordered_json j;
  j["node"] = node.id();
  j["version"] = version;
  j["bytes"] = bytes;
  j["received"] = received;
  j["acked"] = acked;
  events_.add(j.dump());
}

void Fleet::logError(const std::string& message) {
  if (errors_logged_this_interval_ >= kErrorLinesPerInterval) return;
  if (++errors_logged_this_interval_ == kErrorLinesPerInterval) {
    log(message + " (further errors until the next progress line are only counted)");
  } else {
    log(message);
  }
}

void Fleet::progress() {
  errors_logged_this_interval_ = 0;
  const double elapsed = static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0;
  // Nodes per acknowledged version, newest first: shows a push spreading.
  std::map<uint64_t, size_t, std::greater<>> by_version;
  for (const auto& n : nodes_) {
    if (n->synced()) ++by_version[n->ackedVersion()];
  }
  const FleetCounters& c = counters_;
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "%.0fs: registered %zu/%zu, polls held %zu, versions acked %llu (+%llu), "
      "received %.1f MB (+%.1f), 304s +%llu, re-registered %llu, errors %llu (+%llu)",
      elapsed, c.registered, nodes_.size(), c.polls_held, static_cast<unsigned long long>(c.acked),
      static_cast<unsigned long long>(c.acked - last_counters_.acked),
      static_cast<double>(c.bytes) / 1e6, static_cast<double>(c.bytes - last_counters_.bytes) / 1e6,
      static_cast<unsigned long long>(c.not_modified - last_counters_.not_modified),
      static_cast<unsigned long long>(c.reregistered), static_cast<unsigned long long>(c.errors),
      static_cast<unsigned long long>(c.errors - last_counters_.errors));
  std::string text = line;
  if (!by_version.empty()) {
    text += "; newest acked version " + std::to_string(by_version.begin()->first) + " on " +
            std::to_string(by_version.begin()->second) + " nodes";
  }
  log(text);
  last_counters_ = counters_;
  if (!stopping_) progress_timer_.arm(kProgressIntervalMs);
}

void Fleet::nodeRegistered() {
  if (all_registered_logged_ || counters_.registered < nodes_.size()) return;
  all_registered_logged_ = true;
  char line[128];
  std::snprintf(line, sizeof(line), "all %zu nodes registered after %.2f s", nodes_.size(),
                static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0);
  log(line);
}

void Fleet::nodeSynced() {
  ++counters_.synced;
  if (all_synced_logged_ || counters_.synced < nodes_.size()) return;
  all_synced_logged_ = true;
  char line[128];
  std::snprintf(line, sizeof(line), "all %zu nodes acknowledged their first version after %.2f s",
                nodes_.size(), static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0);
  log(line);
}

void Fleet::stop() {
  if (finished_) return;
  if (stopping_) {
    log("stopping again: exiting without waiting for the deregistrations");
    finish();
    return;
  }
  stopping_ = true;
  registration_queue_.clear();
  duration_timer_.cancel();
  for (auto& n : nodes_) {
    if (n->stop()) deregistration_queue_.push_back(n.get());
  }
  log("stopping: deregistering " + std::to_string(deregistration_queue_.size()) + " nodes");
  shutdown_timer_.arm(kShutdownTimeoutMs);
  pumpDeregistrations();
}

void Fleet::deregistrationFinished(bool gone) {
  if (deregistrations_in_flight_ > 0) --deregistrations_in_flight_;
  if (!gone) ++deregistrations_failed_;
  pumpDeregistrations();
}

void Fleet::pumpDeregistrations() {
  while (!finished_ && deregistrations_in_flight_ < kMaxDeregistrationsInFlight &&
         !deregistration_queue_.empty()) {
    SimNode* n = deregistration_queue_.front();
    deregistration_queue_.pop_front();
    ++deregistrations_in_flight_;
    n->deregister();
  }
  if (!finished_ && deregistration_queue_.empty() && deregistrations_in_flight_ == 0) {
    if (deregistrations_failed_ == 0) {
      log("deregistered every node");
    } else {
      log(std::to_string(deregistrations_failed_) +
          " deregistrations failed (the server drops those nodes after its TTL)");
    }
    finish();
  }
}

void Fleet::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& n : nodes_) n->abandon();
  progress();
  events_.flush();
  progress_timer_.cancel();
  flush_timer_.cancel();
  duration_timer_.cancel();
  shutdown_timer_.cancel();
  if (on_finished_) on_finished_();
}

}  // namespace weft::bench
