// weft-proxy wait-ready (see wait_ready.h).
#include "discovery/wait_ready.h"

#include <algorithm>
#include <chrono>
#include <ostream>
#include <thread>

#include "discovery/http_call.h"
#include "mesh/yaml_reader.h"

namespace weft::discovery {

mesh::SocketAddress adminTarget(const mesh::SocketAddress& listen) {
  mesh::SocketAddress out = listen;
  if (out.host == "0.0.0.0") out.host = "127.0.0.1";
  if (out.host == "::") out.host = "::1";
  return out;
}

std::optional<mesh::SocketAddress> parseAdminTarget(std::string_view text, std::string& why) {
  std::string s(text);
  constexpr std::string_view kLocalhost = "localhost:";
  if (s.rfind(kLocalhost, 0) == 0) s = "127.0.0.1:" + s.substr(kLocalhost.size());
  auto a = mesh::parseSocketAddress(s);
  if (!a) {
    why = "'" + std::string(text) +
          "' is not HOST:PORT (a numeric IPv4 address, [IPv6] or localhost, and a port 1-65535)";
    return std::nullopt;
  }
  return adminTarget(*a);
}

std::optional<uint64_t> parseWaitTimeout(std::string_view text) {
  auto ms = mesh::parseDurationMs(text);
  if (!ms || *ms == 0) return std::nullopt;
  return ms;
}

int waitReady(const WaitReadyOptions& options, std::ostream& err) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::milliseconds(options.timeout_ms);
  const std::string target = mesh::toString(options.admin);
  std::string last = "no answer yet";
  while (true) {
    const Clock::time_point attempt = Clock::now();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - attempt).count();
    if (left <= 0) break;
    HttpCall call;
    call.host = options.admin.host;
    call.port = options.admin.port;
    call.path = "/ready";
    const uint32_t budget = static_cast<uint32_t>(std::min<int64_t>(left, 1'000));
    call.connect_timeout_ms = budget;
    call.timeout_ms = budget;
    HttpAnswer answer = performHttp(call, -1);
    if (answer.status == 200) return 0;
    if (answer.status != 0) {
      std::string body = answer.body;
      while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
      last =
          "GET /ready answered " + std::to_string(answer.status) + (body.empty() ? "" : " " + body);
    } else {
      last = answer.error.empty() ? "no answer" : answer.error;
    }
    const Clock::time_point next = attempt + std::chrono::milliseconds(options.interval_ms);
    std::this_thread::sleep_until(std::min(next, deadline));
  }
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  err << "weft-proxy wait-ready: sidecar at " << target << " not ready after " << waited
      << " ms (last: " << last << ")\n";
  return 1;
}

}  // namespace weft::discovery
