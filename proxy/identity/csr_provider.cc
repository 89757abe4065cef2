// CsrIdentityProvider (see csr_provider.h).
#include "identity/csr_provider.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "discovery/http_call.h"
#include "identity/certificate.h"
#include "server/log.h"

namespace weft::identity {

namespace {

using server::LogLevel;
using server::logLine;

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string certificateRequestJson(const std::string& csr_pem, uint64_t ttl_seconds) {
  nlohmann::ordered_json body;
  body["csr"] = csr_pem;
  if (ttl_seconds > 0) body["ttl"] = std::to_string(ttl_seconds) + "s";
  return body.dump();
}

std::optional<WorkloadIdentity> parseCertificateResponse(std::string_view body,
                                                         const std::string& key_pem,
                                                         const std::string& expected_id,
                                                         std::string& error) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    error = "the answer is not a JSON object";
    return std::nullopt;
  }
  auto text = [&](const char* field) -> const std::string* {
    auto it = json.find(field);
    return it != json.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const std::string* chain = text("certificate_chain");
  const std::string* roots = text("root_certificates");
  if (!chain || !roots) {
    error = "the answer lacks certificate_chain or root_certificates";
    return std::nullopt;
  }
  auto id = buildIdentity(*chain, key_pem, *roots, error);
  if (!id) return std::nullopt;
  if (id->spiffe_id != expected_id) {
    error = "the certificate is for " + id->spiffe_id + ", not " + expected_id;
    return std::nullopt;
  }
  if (const std::string* claimed = text("identity"); claimed && *claimed != expected_id) {
    error = "the answer names identity " + *claimed + ", not " + expected_id;
    return std::nullopt;
  }
  return id;
}

uint64_t renewalDelayMs(int64_t received, int64_t not_after, int64_t now, double jitter) {
  constexpr uint64_t kMinMs = 1'000;
  jitter = std::clamp(jitter, -0.1, 0.1);
  if (not_after <= now) return kMinMs;
  double left_ms = static_cast<double>(not_after - std::min(received, now)) * 1000.0;
  double at_ms = left_ms * 0.5 * (1.0 + jitter);  // from `received`
  double delay = at_ms - static_cast<double>(now - std::min(received, now)) * 1000.0;
  if (delay < static_cast<double>(kMinMs)) return kMinMs;
  return static_cast<uint64_t>(delay);
}

CsrIdentityProvider::CsrIdentityProvider(CsrProviderOptions options)
    : options_(std::move(options)) {}

CsrIdentityProvider::~CsrIdentityProvider() {
  stop();
}

void CsrIdentityProvider::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void CsrIdentityProvider::stop() {
  stop_.fire();
  if (thread_.joinable()) thread_.join();
}

bool CsrIdentityProvider::renewOnce(std::string& error) {
  auto key = generateKey();
  if (!key) {
    error = "cannot make an EC P-256 key";
    return false;
  }
  std::string key_pem = privateKeyPem(key.get());
  std::string csr = makeCsr(key.get(), options_.spiffe_id);
  if (key_pem.empty() || csr.empty()) {
    error = "cannot make the certificate signing request";
    return false;
  }
  std::string body = certificateRequestJson(csr, options_.ttl_seconds);
  discovery::HttpCall call;
  call.method = "POST";
  call.host = options_.host;
  call.port = options_.port;
  call.path = "/v1/certificates";
  call.headers = {{"authorization", "Bearer " + options_.token},
                  {"accept", "application/json"},
                  {"content-type", "application/json"}};
  call.body = &body;
  call.connect_timeout_ms = options_.connect_timeout_ms;
  call.timeout_ms = options_.request_timeout_ms;
  discovery::HttpAnswer answer = discovery::performHttp(call, stop_.fd());
  if (answer.aborted) {
    error = "stopped";
    return false;
  }
  if (answer.status != 200) {
    if (answer.status == 0) {
      error = answer.error;
    } else {
      std::string text = answer.body.substr(0, 300);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      error = "HTTP " + std::to_string(answer.status) + (text.empty() ? "" : ": " + text);
    }
    return false;
  }
  auto id = parseCertificateResponse(answer.body, key_pem, options_.spiffe_id, error);
  if (!id) return false;
  report(true, "");  // counted before it shows, so a reader of both never sees it uncounted
  publish(std::move(*id));
  return true;
}

void CsrIdentityProvider::run() {
  discovery::Backoff backoff(options_.backoff);
  std::uniform_real_distribution<double> jitter(-0.1, 0.1);
  while (!stop_.fired()) {
    std::string error;
    uint64_t delay_ms = 0;
    const int64_t asked_at = unixNow();
    if (renewOnce(error)) {
      backoff.reset();
      IdentityPtr id = current();
      delay_ms = renewalDelayMs(asked_at, id->not_after, unixNow(), jitter(rng_));
      logLine(LogLevel::kDebug, "identity " + id->spiffe_id + ": next renewal in " +
                                    std::to_string(delay_ms / 1000) + " s");
    } else {
      if (stop_.fired()) break;
      report(false, error);
      delay_ms = backoff.next();
      IdentityPtr cur = current();
      logLine(LogLevel::kWarning,
              "certificate for " + options_.spiffe_id + " not obtained from " + options_.base_url +
                  " (" + error + "); retrying in " + std::to_string(delay_ms) + " ms" +
                  (cur ? "; keeping the current one, valid until " + isoTime(cur->not_after)
                       : std::string()));
    }
    if (!stop_.sleepFor(static_cast<uint32_t>(std::min<uint64_t>(delay_ms, UINT32_MAX)))) break;
  }
}

}  // namespace weft::identity
