// ControlPlaneClient (see client.h).
#include "discovery/client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "discovery/protocol.h"
#include "server/log.h"

namespace weft::discovery {

namespace {

using server::LogLevel;
using server::logLine;

constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

std::once_flag curl_init_once;

size_t writeCb(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxBodyBytes) return 0;  // aborts the transfer
  out->append(data, size * n);
  return size * n;
}

CURLM* multiOf(void* p) {
  return static_cast<CURLM*>(p);
}

}  // namespace

ControlPlaneClient::ControlPlaneClient(ClientOptions options, ClientCallbacks callbacks)
    : options_(std::move(options)), callbacks_(std::move(callbacks)) {
  // Not thread-safe in this libcurl: done once, from the thread that builds the first client.
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi_ = curl_multi_init();
}

ControlPlaneClient::~ControlPlaneClient() {
  beginStop();
  join();
  curl_multi_cleanup(multiOf(multi_));
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
  curl_multi_wakeup(multiOf(multi_));
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
                                                           uint32_t timeout_ms, bool during_stop) {
  HttpResult r;
  if (!during_stop && stop_.load()) {
    r.aborted = true;
    return r;
  }
  CURL* h = curl_easy_init();
  if (!h) {
    r.error = "curl_easy_init failed";
    return r;
  }
  std::string url = options_.base_url + path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Authorization: Bearer " + options_.token).c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  // Never through a proxy from the environment (the app's http_proxy may well be this sidecar).
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, writeCb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  }
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "POST") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }

  CURLM* multi = multiOf(multi_);
  curl_multi_add_handle(multi, h);
  CURLcode code = CURLE_OK;
  bool done = false;
  while (true) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
        done = true;
        code = msg->data.result;
      }
    }
    if (done) break;
    if (!during_stop && stop_.load()) {
      r.aborted = true;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  if (done) {
    if (code == CURLE_OK) {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    } else {
      r.error = errbuf[0] ? errbuf : curl_easy_strerror(code);
    }
  }
  curl_multi_remove_handle(multi, h);
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);
  return r;
}

bool ControlPlaneClient::sleepFor(uint32_t ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stop_.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return true;
    // With no transfers, curl_multi_poll just waits: for the timeout or curl_multi_wakeup().
    curl_multi_poll(multiOf(multi_), nullptr, 0, static_cast<int>(left), nullptr);
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
  uint64_t version = 0;  // the last version received (acked or not)
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
    std::string path = node + "/config?version=" + std::to_string(version) +
                       "&wait=" + std::to_string(options_.poll_wait_s) + "s";
    HttpResult r = perform("GET", path, nullptr, options_.poll_wait_s * 1000 + 15'000);
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
    std::optional<mesh::PushedConfig> config = parseConfigResponse(r.body, error);
    if (!config) {
      HttpResult bad;
      bad.error = error;
      if (!failed("reading the config answer", bad)) break;
      continue;
    }
    uint64_t pushed = config->version;
    logLine(LogLevel::kDebug, "control plane: config version " + std::to_string(pushed) +
                                  " received (" + std::to_string(config->resources.size()) +
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
