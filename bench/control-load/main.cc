// weft-control-load: simulates N sidecars against a real `weft-control serve`, in one process
// on one libuv loop. Each simulated sidecar registers, holds its config long-poll and
// acknowledges every version pushed to it exactly as weft-proxy's control-plane client does;
// with --events, one JSON line per version tells when each node received and acknowledged it
// (for measuring how long a change takes to reach the last sidecar).
#include <sys/resource.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <csignal>
#include <fstream>
#include <iostream>
#include <string>

#include "fleet.h"
#include "mesh/yaml_reader.h"

namespace {

using weft::bench::Fleet;
using weft::bench::LoadOptions;

// "127.0.0.1:15010", "http://127.0.0.1:15010", "[::1]:15010", "localhost:15010".
bool parseServer(std::string text, LoadOptions& o, std::string& error) {
  if (text.rfind("http://", 0) == 0) text = text.substr(7);
  while (!text.empty() && text.back() == '/') text.pop_back();
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "--server must be HOST:PORT";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "--server must be HOST:PORT";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  int p = 0;
  try {
    p = std::stoi(port);
  } catch (...) {
    p = 0;
  }
  if (p <= 0 || p > 65535) {
    error = "--server: bad port '" + port + "'";
    return false;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&o.server);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&o.server);
  if (uv_ip4_addr(host.c_str(), p, a4) == 0) {
    o.host_header = host + ":" + std::to_string(p);
  } else if (uv_ip6_addr(host.c_str(), p, a6) == 0) {
    o.host_header = "[" + host + "]:" + std::to_string(p);
  } else {
    error = "--server: '" + host + "' is not a numeric address";
    return false;
  }
  return true;
}

// "30s", "500ms", "1m", or a number of seconds.
bool parseWait(const std::string& text, uint64_t& ms) {
  bool digits = !text.empty();
  for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) {
    ms = std::stoull(text) * 1000;
    return true;
  }
  auto v = weft::mesh::parseDurationMs(text);
  if (!v) return false;
  ms = *v;
  return true;
}

// 1,000 held polls plus the acks and registrations in flight need more than the usual 1,024
// descriptors.
void raiseFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  getrlimit(RLIMIT_NOFILE, &files);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "weft-control-load: simulates N sidecars holding their config streams against a "
      "weft-control serve, acknowledging every pushed version"};
  LoadOptions o;
  std::string server;
  std::string token_file;
  std::string wait = "30s";
  // Plain HTTP only: the control plane under test runs with --plaintext (a lab set-up).
  app.add_option("--server", server,
                 "the control plane, HOST:PORT (weft-control serve --plaintext)")
      ->required();
  app.add_option("--token-file", token_file,
                 "file whose first line is the bearer token (none: no Authorization header)");
  app.add_option("--nodes", o.nodes, "simulated sidecars")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100'000}));
  app.add_option("--prefix", o.prefix, "node ids are PREFIX-<i>")->capture_default_str();
  app.add_option("--namespace", o.namespace_name, "namespace of every node")->capture_default_str();
  app.add_option("--services", o.services, "node i belongs to service <service-prefix><i % N>")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  app.add_option("--service-prefix", o.service_prefix, "service names are PREFIX<k>")
      ->capture_default_str();
  app.add_option("--wait", wait, "long-poll wait (30s, 500ms, 1m or seconds)")
      ->capture_default_str();
  app.add_option("--events", o.events_path,
                 "write one JSON line per version received and acknowledged");
  app.add_option("--max-inflight-registrations", o.max_inflight_registrations,
                 "registrations in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100'000}));
  app.add_option("--duration", o.duration_s, "stop after this many seconds (0: at SIGINT/SIGTERM)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  std::string error;
  if (!parseServer(server, o, error)) {
    std::cerr << "weft-control-load: " << error << "\n";
    return 2;
  }
  if (!parseWait(wait, o.wait_ms) || o.wait_ms == 0) {
    std::cerr << "weft-control-load: --wait must be a duration such as 30s\n";
    return 2;
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, o.token)) {
      std::cerr << "weft-control-load: cannot read the token file " << token_file << "\n";
      return 2;
    }
    while (!o.token.empty() && std::isspace(static_cast<unsigned char>(o.token.back()))) {
      o.token.pop_back();
    }
  }
  raiseFileLimit();
  std::signal(SIGPIPE, SIG_IGN);

  uv_loop_t* loop = uv_default_loop();
  int rc = 0;
  {
    Fleet fleet(loop, o);
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    sigint.data = sigterm.data = &fleet;
    auto onSignal = [](uv_signal_t* s, int) { static_cast<Fleet*>(s->data)->stop(); };
    uv_signal_start(&sigint, onSignal, SIGINT);
    uv_signal_start(&sigterm, onSignal, SIGTERM);
    fleet.setOnFinished([&] {
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
      uv_stop(loop);
    });
    if (!fleet.start(error)) {
      std::cerr << "weft-control-load: " << error << "\n";
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
      rc = 2;
    } else {
      uv_run(loop, UV_RUN_DEFAULT);
    }
  }
  // The fleet is gone: let libuv finish closing its timers and connections.
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return rc;
}
