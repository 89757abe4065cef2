// CsrIdentityProvider (see csr_provider.h).
#include "identity/csr_provider.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <unistd.h>

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

std::string chainRootFingerprint(const std::string& chain_pem) {
  auto certs = parseCertificates(chain_pem);
  if (certs.empty()) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(certs.back().get(), EVP_sha256(), md, &len) != 1) return {};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

CsrIdentityProvider::CsrIdentityProvider(CsrProviderOptions options)
    : options_(std::move(options)) {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) wake_pipe_[0] = wake_pipe_[1] = -1;
}

CsrIdentityProvider::~CsrIdentityProvider() {
  stop();
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void CsrIdentityProvider::updateTrustBundle(std::string roots_pem, std::string signing_root) {
  {
    std::lock_guard lock(bundle_mutex_);
    pending_bundle_.emplace(std::move(roots_pem), std::move(signing_root));
  }
  if (wake_pipe_[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &byte, 1);
  }
}

bool CsrIdentityProvider::applyTrustBundle(const std::string& roots_pem,
                                           const std::string& signing_root) {
  IdentityPtr cur = current();
  if (!cur || roots_pem.empty()) return false;
  if (roots_pem != cur->roots_pem) {
    std::string error;
    auto id = buildIdentity(cur->cert_chain_pem, cur->private_key_pem, roots_pem, error);
    if (!id) {
      logLine(LogLevel::kInfo, "identity " + cur->spiffe_id +
                                   ": the certificate does not verify against the new trust "
                                   "bundle (" +
                                   error + "); requesting a new one");
      return true;
    }
    logLine(LogLevel::kInfo, "identity " + cur->spiffe_id + ": new trust bundle");
    publish(std::move(*id));
  }
  if (!signing_root.empty() && chainRootFingerprint(cur->cert_chain_pem) != signing_root) {
    logLine(LogLevel::kInfo, "identity " + cur->spiffe_id +
                                 ": the control plane signs with a new root; requesting a new "
                                 "certificate now");
    return true;
  }
  return false;
}

bool CsrIdentityProvider::waitFor(uint64_t ms, bool* woken) {
  *woken = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stop_.fired()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return true;
    pollfd p[2] = {{stop_.fd(), POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int n =
        ::poll(p, wake_pipe_[0] >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (n > 0 && wake_pipe_[0] >= 0 && (p[1].revents & POLLIN)) {
      char buf[64];
      while (::read(wake_pipe_[0], buf, sizeof(buf)) > 0) {
      }
      *woken = true;
      return !stop_.fired();
    }
  }
  return false;
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
  call.headers = {{"accept", "application/json"}, {"content-type", "application/json"}};
  if (!options_.auth) call.headers.emplace_back("authorization", "Bearer " + options_.token);
  call.body = &body;
  call.connect_timeout_ms = options_.connect_timeout_ms;
  call.timeout_ms = options_.request_timeout_ms;
  // The current certificate, once there is one, authenticates the renewal (auth).
  discovery::HttpAnswer answer = options_.auth ? options_.auth->perform(call, stop_.fd())
                                               : discovery::performHttp(call, stop_.fd());
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
  uint64_t delay_ms = 0;  // the first certificate at once
  while (true) {
    bool woken = false;
    const auto waited_from = std::chrono::steady_clock::now();
    if (delay_ms > 0 && !waitFor(delay_ms, &woken)) break;
    if (woken) {
      std::optional<std::pair<std::string, std::string>> bundle;
      {
        std::lock_guard lock(bundle_mutex_);
        bundle.swap(pending_bundle_);
      }
      const uint64_t waited =
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - waited_from)
                                    .count());
      delay_ms = delay_ms > waited ? delay_ms - waited : 0;
      // A new root: renew soon, spread over a few seconds so a whole mesh does not ask at once.
      if (bundle && applyTrustBundle(bundle->first, bundle->second)) {
        delay_ms = std::min<uint64_t>(
            delay_ms, static_cast<uint64_t>((jitter(rng_) + 0.1) * 10'000.0));  // 0 .. 2 s
      }
      if (delay_ms > 0) continue;
    }
    if (stop_.fired()) break;
    std::string error;
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
  }
}

}  // namespace weft::identity
