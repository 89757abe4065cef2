// ControlPlaneClient (see client.h).
#include "discovery/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "discovery/protocol.h"
#include "server/log.h"

namespace weft::discovery {

namespace {

using server::LogLevel;
using server::logLine;

}  // namespace

ControlPlaneClient::ControlPlaneClient(ClientOptions options, ClientCallbacks callbacks)
    : options_(std::move(options)), callbacks_(std::move(callbacks)) {
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
}

ControlPlaneClient::~ControlPlaneClient() {
  beginStop();
  join();
  for (int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void ControlPlaneClient::start() {
  thread_ = std::thread([this] { run(); });
}

void ControlPlaneClient::reportResult(uint64_t version, std::string error) {
  {
    std::lock_guard lock(mutex_);
    if (!awaiting_ || awaiting_version_ != version) return;
    result_ = std::move(error);
  }
  cv_.notify_all();
}

void ControlPlaneClient::beginStop() {
  stop_.store(true);
  {
    std::lock_guard lock(mutex_);  // so a deliver() between its check and its wait sees it
  }
  cv_.notify_all();
  wake();
}

void ControlPlaneClient::wake() {
  if (stop_pipe_[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_pipe_[1], &byte, 1);  // full pipe: already woken
  }
}

void ControlPlaneClient::drainWakes() {
  char buf[64];
  while (stop_pipe_[0] >= 0 && ::read(stop_pipe_[0], buf, sizeof(buf)) > 0) {
  }
}

void ControlPlaneClient::requestInterest(std::vector<std::string> hosts) {
  {
    std::lock_guard lock(mutex_);
    for (auto& h : hosts) {
      if (std::find(interest_.begin(), interest_.end(), h) == interest_.end()) {
        interest_.push_back(std::move(h));
      }
    }
  }
  wake();
}

bool ControlPlaneClient::sendInterest(const std::string& node) {
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts.swap(interest_);
  }
  if (hosts.empty()) return true;
  std::string body = interestJson(hosts);
  HttpResult r = perform("POST", node + "/interest", &body, options_.request_timeout_ms);
  if (r.aborted) return false;  // stopped
  if (r.status < 200 || r.status >= 300) {
    logLine(LogLevel::kWarning, "control plane " + options_.base_url + ": interest in " +
                                    hosts.front() + " not registered (" + describe(r) + ")");
  }
  return true;
}

void ControlPlaneClient::join() {
  if (thread_.joinable()) thread_.join();
}

void ControlPlaneClient::setConnected(bool connected) {
  int c = connected ? 1 : 0;
  if (c == connected_) return;
  connected_ = c;
  if (callbacks_.on_connected) callbacks_.on_connected(connected);
}

std::string ControlPlaneClient::describe(const HttpResult& r) const {
  if (r.status == 0) return r.error;
  std::string text = "HTTP " + std::to_string(r.status);
  if (!r.body.empty()) {
    std::string body = r.body.substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    text += ": " + body;
  }
  return text;
}

ControlPlaneClient::HttpResult ControlPlaneClient::perform(const char* method,
                                                           const std::string& path,
                                                           const std::string* body,
                                                           uint32_t timeout_ms, bool during_stop,
                                                           bool long_poll) {
  if (!during_stop && stop_.load()) {
    HttpResult r;
    r.aborted = true;
    return r;
  }
  HttpCall call;
  call.method = method;
  call.host = options_.host;
  call.port = options_.port;
  call.path = path;
  call.headers = {{"accept", "application/json"}};
  if (!options_.auth) call.headers.emplace_back("authorization", "Bearer " + options_.token);
  if (body) call.headers.emplace_back("content-type", "application/json");
  call.body = body;
  call.connect_timeout_ms = options_.connect_timeout_ms;
  call.timeout_ms = timeout_ms;
  // Deregistering happens after beginStop(): the stop pipe must not cut that call short.
  while (true) {
    const int wake_fd = during_stop ? -1 : stop_pipe_[0];
    HttpResult r =
        options_.auth ? options_.auth->perform(call, wake_fd) : performHttp(call, wake_fd);
    // Only a stop, or an interest request during a long poll, ends a call early; the short
    // calls (register, ack, interest) are simply made again.
    if (!r.aborted || stop_.load() || long_poll) return r;
    drainWakes();
  }
}

bool ControlPlaneClient::sleepFor(uint32_t ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stop_.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return true;
    pollfd p{stop_pipe_[0], POLLIN, 0};
    // A wake that is not a stop (an interest request) is handled after the back-off.
    if (::poll(&p, stop_pipe_[0] >= 0 ? 1 : 0, static_cast<int>(left)) > 0 && !stop_.load()) {
      drainWakes();
    }
  }
  return false;
}

std::optional<std::string> ControlPlaneClient::deliver(mesh::PushedConfig config) {
  uint64_t version = config.version;
  {
    std::lock_guard lock(mutex_);
    awaiting_ = true;
    awaiting_version_ = version;
    result_.reset();
  }
  callbacks_.on_config(std::move(config));
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return stop_.load() || result_.has_value(); });
  awaiting_ = false;
  std::optional<std::string> out = std::move(result_);
  result_.reset();
  return out;
}

void ControlPlaneClient::run() {
  const std::string node = nodePath(options_.node_id);
  Backoff backoff(options_.backoff);
  bool registered = false;
  int not_found_in_a_row = 0;
  uint64_t version = options_.initial_version;  // the last version received (acked or not)
  std::optional<std::string> pending_ack;
  uint64_t pending_ack_version = 0;

  // One failed step: log it, mark the control plane unreachable, and wait before retrying.
  auto failed = [&](const char* what, const HttpResult& r) {
    setConnected(false);
    uint32_t delay = backoff.next();
    logLine(LogLevel::kWarning, std::string("control plane ") + options_.base_url + ": " + what +
                                    " failed (" + describe(r) + "); retrying in " +
                                    std::to_string(delay) + " ms");
    return sleepFor(delay);
  };

  while (!stop_.load()) {
    if (!registered) {
      HttpResult r = perform("POST", "/v1/nodes", &options_.node_json, options_.request_timeout_ms);
      if (r.aborted) break;
      if (r.status >= 200 && r.status < 300) {
        registered = true;
        setConnected(true);
        logLine(LogLevel::kInfo,
                "control plane " + options_.base_url + ": registered node " + options_.node_id);
        continue;
      }
      if (!failed("registration", r)) break;
      continue;
    }
    if (pending_ack) {
      std::string body = ackJson(pending_ack_version, *pending_ack);
      HttpResult r = perform("POST", node + "/ack", &body, options_.request_timeout_ms);
      if (r.aborted) break;
      if (r.status == 404) {
        // The control plane forgot the node: the ack goes with it; register again.
        pending_ack.reset();
        registered = false;
        continue;
      }
      if (r.status < 200 || r.status >= 300) {
        if (!failed("ack", r)) break;
        continue;
      }
      pending_ack.reset();
    }
    drainWakes();
    if (!sendInterest(node)) break;
    std::string path = node + "/config?version=" + std::to_string(version) +
                       "&wait=" + std::to_string(options_.poll_wait_s) + "s";
    HttpResult r = perform("GET", path, nullptr, options_.poll_wait_s * 1000 + 15'000,
                           /*during_stop=*/false, /*long_poll=*/true);
    if (r.aborted && !stop_.load()) continue;  // woken for an interest request: send it
    if (r.aborted) break;
    if (r.status == 404) {
      registered = false;
      logLine(LogLevel::kInfo, "control plane " + options_.base_url + " does not know node " +
                                   options_.node_id + ": registering again");
      // Answered 404 right after registering: do not spin.
      if (++not_found_in_a_row > 1 && !sleepFor(backoff.next())) break;
      continue;
    }
    not_found_in_a_row = 0;
    if (r.status == 304) {
      setConnected(true);
      backoff.reset();
      continue;
    }
    if (r.status != 200) {
      if (!failed("config poll", r)) break;
      continue;
    }
    setConnected(true);
    backoff.reset();
    std::string error;
    TrustBundle bundle;
    std::optional<mesh::PushedConfig> config = parseConfigResponse(r.body, error, &bundle);
    if (!config) {
      HttpResult bad;
      bad.error = error;
      if (!failed("reading the config answer", bad)) break;
      continue;
    }
    if (!bundle.roots_pem.empty() && (!bundle_ || *bundle_ != bundle)) {
      bundle_ = bundle;
      logLine(LogLevel::kInfo, "control plane: trust bundle of " +
                                   std::to_string(bundle.rootCount()) + " root(s) received" +
                                   (bundle.signing_root.empty()
                                        ? std::string()
                                        : ", signing root " + bundle.signing_root.substr(0, 16)));
      if (callbacks_.on_trust_bundle) callbacks_.on_trust_bundle(bundle);
    }
    uint64_t pushed = config->version;
    logLine(LogLevel::kDebug, "control plane: config version " + std::to_string(pushed) +
                                  " received (" + std::to_string(config->resourcesSize()) +
                                  " bytes)");
    std::optional<std::string> outcome = deliver(std::move(*config));
    if (!outcome) break;
    version = pushed;
    pending_ack = std::move(outcome);
    pending_ack_version = pushed;
  }

  if (registered) {
    HttpResult r =
        perform("DELETE", node, nullptr, options_.deregister_timeout_ms, /*during_stop=*/true);
    if (r.status >= 200 && r.status < 300) {
      logLine(LogLevel::kInfo,
              "control plane " + options_.base_url + ": deregistered node " + options_.node_id);
    } else {
      logLine(LogLevel::kWarning, "control plane " + options_.base_url +
                                      ": deregistration failed (" + describe(r) + ")");
    }
  }
  setConnected(false);
}

std::string localAddressTowards(const std::string& host, uint16_t port) {
  std::string target = host == "localhost" ? "127.0.0.1" : host;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (target.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, target.c_str(), &a6->sin6_addr) != 1) return {};
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    if (inet_pton(AF_INET, target.c_str(), &a4->sin_addr) != 1) return {};
    len = sizeof(sockaddr_in);
  }
  int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  std::string out;
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
    char buf[INET6_ADDRSTRLEN] = {0};
    const void* addr =
        family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
    if (inet_ntop(family, addr, buf, sizeof(buf))) out = buf;
  }
  ::close(fd);
  return out;
}

}  // namespace weft::discovery
