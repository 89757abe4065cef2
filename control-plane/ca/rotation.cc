// CaManager (see rotation.h): opening the CAs, the rotation's phases and their persistence.
#include "ca/rotation.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "server/log.h"

namespace weft::control {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using server::LogLevel;
using server::logLine;

constexpr const char* kStateFile = "ca-state.json";

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  return ss.str();
}

// Writes through a temporary file and a rename: a reader (a restart) never sees half a file.
void writeText(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      logLine(LogLevel::kWarning, "cannot write " + tmp.string());
      return;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) logLine(LogLevel::kWarning, "cannot write " + path.string() + ": " + ec.message());
}

// The certificates of a PEM text, each with its fingerprint and description.
json describeRoots(const std::string& pem, const std::string& signing, const char* state) {
  json out = json::array();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (bio) {
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (!x) break;
    char subject[256] = {0};
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
    std::tm tm{};
    int64_t not_after = 0;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) not_after = timegm(&tm);
    const std::string fp = certificateFingerprint(x);
    out.push_back({{"fingerprint", fp},
                   {"subject", subject},
                   {"not_after", not_after},
                   {"signing", fp == signing},
                   {"state", state}});
    X509_free(x);
  }
  BIO_free(bio);
  ERR_clear_error();
  return out;
}

std::unique_ptr<CertificateAuthority> openPlugin(const std::string& dir, const CaOptions& o,
                                                 std::string& error) {
  return CertificateAuthority::loadPlugin(dir, o.trust_domain, error);
}

}  // namespace

const char* phaseName(RotationPhase phase) {
  switch (phase) {
    case RotationPhase::kDistributing:
      return "distributing";
    case RotationPhase::kSigning:
      return "signing";
    default:
      return "none";
  }
}

std::unique_ptr<CaManager> CaManager::open(const CaOptions& options, std::string& error) {
  std::unique_ptr<CaManager> m(new CaManager());
  m->options_ = options;
  json state = json::object();
  if (!options.data_dir.empty()) {
    const std::string text = readText(fs::path(options.data_dir) / kStateFile);
    if (!text.empty()) {
      state = json::parse(text, nullptr, false);
      if (state.is_discarded() || !state.is_object()) {
        error = (fs::path(options.data_dir) / kStateFile).string() + ": not a JSON object";
        return nullptr;
      }
    }
  }
  // A finished rotation to an operator's CA directory replaces --ca-dir.
  std::string ca_dir = options.ca_dir;
  if (state.contains("ca_dir") && state["ca_dir"].is_string()) {
    const std::string rotated = state["ca_dir"].get<std::string>();
    if (!rotated.empty() && rotated != ca_dir) {
      logLine(LogLevel::kWarning, "the CA was rotated to " + rotated +
                                      ": using it (set --ca-dir to it to silence this)");
      ca_dir = rotated;
    }
    m->rotated_ca_dir_ = rotated;
  }
  m->options_.ca_dir = ca_dir;
  const fs::path own_dir = fs::path(options.data_dir) / "ca";
  if (!ca_dir.empty()) {
    m->current_ = openPlugin(ca_dir, options, error);
  } else if (!options.data_dir.empty()) {
    // A switch interrupted between its two renames: the new key is in place, its certificate
    // still in next/ (rotation.cc finish()).
    std::error_code ec;
    if (fs::exists(own_dir / "next" / "root-cert.pem", ec) &&
        !fs::exists(own_dir / "next" / "root-key.pem", ec)) {
      fs::rename(own_dir / "next" / "root-cert.pem", own_dir / "root-cert.pem", ec);
      fs::remove_all(own_dir / "next", ec);
      state["phase"] = "none";
      logLine(LogLevel::kInfo, "root rotation: completed the switch to the new root");
    }
    m->current_ = CertificateAuthority::openOrCreate(own_dir.string(), options.trust_domain, error);
  } else {
    m->current_ = CertificateAuthority::createInMemory(options.trust_domain, error);
  }
  if (!m->current_) return nullptr;

  const std::string phase = state.value("phase", std::string("none"));
  if (phase == "distributing" || phase == "signing") {
    m->phase_ = phase == "signing" ? RotationPhase::kSigning : RotationPhase::kDistributing;
    m->next_ca_dir_ = state.value("next_ca_dir", std::string());
    m->next_ = m->next_ca_dir_.empty() ? CertificateAuthority::openOrCreate(
                                             (own_dir / "next").string(), options.trust_domain,
                                             error, "weft root CA (rotated)")
                                       : openPlugin(m->next_ca_dir_, options, error);
    if (!m->next_) {
      error = "the root rotation in progress cannot continue: " + error;
      return nullptr;
    }
    m->started_at_ = state.value("started_at", int64_t{0});
    m->switch_at_ = state.value("switch_at", int64_t{0});
    m->switched_at_ = state.value("switched_at", int64_t{0});
    m->drop_by_ = state.value("drop_by", int64_t{0});
    if (state.contains("outstanding") && state["outstanding"].is_object()) {
      for (const auto& [k, v] : state["outstanding"].items()) {
        if (v.is_number_integer()) m->outstanding_[k] = v.get<int64_t>();
      }
    }
    logLine(LogLevel::kInfo,
            std::string("root rotation in progress (") + phaseName(m->phase_) + "): continuing");
  }
  if (state.contains("issued") && state["issued"].is_object()) {
    for (const auto& [k, v] : state["issued"].items()) {
      if (v.is_number_integer()) m->issued_[k] = v.get<int64_t>();
    }
  }
  if (!m->arrange(error)) return nullptr;
  return m;
}

const CertificateAuthority& CaManager::signer() const {
  return phase_ == RotationPhase::kSigning ? *next_ : *current_;
}

bool CaManager::arrange(std::string& error) {
  // Both CAs answer with the whole bundle: the old root first until the switch, the new one
  // first after it (the first root is the one whose expiry the metric reports).
  if (phase_ == RotationPhase::kNone) {
    current_->setExtraRoots("");
    return true;
  }
  const std::string old_roots = current_->ownRootsPem();
  const std::string new_roots = next_->ownRootsPem();
  if (!current_->setExtraRoots(new_roots, &error) || !next_->setExtraRoots(old_roots, &error)) {
    return false;
  }
  return true;
}

void CaManager::persist() const {
  if (options_.data_dir.empty()) return;
  json state = {{"phase", phaseName(phase_)}};
  if (!rotated_ca_dir_.empty()) state["ca_dir"] = rotated_ca_dir_;
  if (phase_ != RotationPhase::kNone) {
    state["next_ca_dir"] = next_ca_dir_;
    state["started_at"] = started_at_;
    state["switch_at"] = switch_at_;
    state["switched_at"] = switched_at_;
    state["drop_by"] = drop_by_;
    state["outstanding"] = outstanding_;
  }
  state["issued"] = issued_;
  std::error_code ec;
  fs::create_directories(options_.data_dir, ec);
  writeText(fs::path(options_.data_dir) / kStateFile, state.dump(1));
}

void CaManager::issued(const std::string& serial, int64_t not_after,
                       const std::string& replaced_serial) {
  issued_[serial] = not_after;  // expired ones are pruned by tick()
  if (phase_ == RotationPhase::kSigning && !replaced_serial.empty()) {
    if (outstanding_.erase(replaced_serial) > 0) {
      logLine(LogLevel::kDebug, "old-root certificate " + replaced_serial + " replaced; " +
                                    std::to_string(outstanding_.size()) + " left");
    }
  }
  persist();
}

bool CaManager::rotate(const std::string& ca_dir, int64_t now, std::string& error) {
  if (phase_ != RotationPhase::kNone) {
    error = std::string("a root rotation is in progress (") + phaseName(phase_) + ")";
    return false;
  }
  const fs::path next_dir = fs::path(options_.data_dir) / "ca" / "next";
  if (!ca_dir.empty()) {
    next_ = openPlugin(ca_dir, options_, error);
  } else if (!options_.data_dir.empty()) {
    std::error_code ec;
    fs::remove_all(next_dir, ec);  // a leftover of an earlier, abandoned attempt
    next_ = CertificateAuthority::openOrCreate(next_dir.string(), options_.trust_domain, error,
                                               "weft root CA (rotated)");
  } else {
    next_ = CertificateAuthority::createInMemory(options_.trust_domain, error);
  }
  if (!next_) return false;
  if (next_->signingRootFingerprint() == current_->signingRootFingerprint()) {
    error = "the new CA chains to the root in use: nothing to rotate";
    next_.reset();
    return false;
  }
  next_ca_dir_ = ca_dir;
  phase_ = RotationPhase::kDistributing;
  started_at_ = now;
  switch_at_ = now + static_cast<int64_t>(options_.grace_s);
  switched_at_ = drop_by_ = 0;
  outstanding_.clear();
  if (!arrange(error)) return false;
  persist();
  logLine(LogLevel::kInfo, "root rotation started: new root " +
                               next_->signingRootFingerprint().substr(0, 16) +
                               " in the trust bundle; signing with it in " +
                               std::to_string(options_.grace_s) + " s");
  return true;
}

bool CaManager::tick(int64_t now) {
  for (auto it = issued_.begin(); it != issued_.end();) {
    it = it->second <= now ? issued_.erase(it) : std::next(it);
  }
  if (phase_ == RotationPhase::kDistributing && now >= switch_at_) {
    phase_ = RotationPhase::kSigning;
    switched_at_ = now;
    drop_by_ = now + static_cast<int64_t>(options_.max_s);
    // Everything the old root issued that is still valid must go before the old root may.
    outstanding_.clear();
    for (const auto& [serial, not_after] : issued_) {
      if (not_after > now) outstanding_[serial] = not_after;
    }
    issued_.clear();
    persist();
    logLine(LogLevel::kInfo, "root rotation: signing with the new root " +
                                 next_->signingRootFingerprint().substr(0, 16) + "; " +
                                 std::to_string(outstanding_.size()) +
                                 " certificate(s) of the old root to be replaced");
    return true;
  }
  if (phase_ != RotationPhase::kSigning) return false;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    it = it->second <= now ? outstanding_.erase(it) : std::next(it);
  }
  if (!outstanding_.empty() && now < drop_by_) return false;
  std::string error;
  if (!finish(now, error)) {
    logLine(LogLevel::kError, "root rotation: cannot drop the old root: " + error);
    return false;
  }
  return true;
}

bool CaManager::finish(int64_t now, std::string& error) {
  const bool timed_out = !outstanding_.empty();
  if (next_ca_dir_.empty() && !options_.data_dir.empty()) {
    // The new own root becomes the root: its files move over the old ones (the key first; an
    // interruption between the two renames is completed at the next start, see open()).
    const fs::path dir = fs::path(options_.data_dir) / "ca";
    std::error_code ec;
    fs::rename(dir / "next" / "root-key.pem", dir / "root-key.pem", ec);
    if (!ec) fs::rename(dir / "next" / "root-cert.pem", dir / "root-cert.pem", ec);
    if (ec) {
      error = "cannot move " + (dir / "next").string() + " into place: " + ec.message();
      return false;
    }
    fs::remove_all(dir / "next", ec);
    rotated_ca_dir_.clear();  // a new own root replaces an operator's CA, if there was one
    options_.ca_dir.clear();
  } else if (!next_ca_dir_.empty()) {
    options_.ca_dir = rotated_ca_dir_ = next_ca_dir_;
  } else {
    rotated_ca_dir_.clear();  // a new own root replaces an operator's CA
  }
  current_ = std::move(next_);
  next_ca_dir_.clear();
  phase_ = RotationPhase::kNone;
  outstanding_.clear();
  if (!arrange(error)) return false;
  persist();
  logLine(
      LogLevel::kInfo,
      std::string("root rotation finished: the old root is dropped from the trust bundle") +
          (timed_out ? " (its last certificates did not all renew before the maximum time)" : "") +
          " after " + std::to_string(now - started_at_) + " s");
  return true;
}

json CaManager::status(int64_t now) const {
  const std::string signing = signer().signingRootFingerprint();
  json roots = describeRoots(current_->ownRootsPem(), signing,
                             phase_ == RotationPhase::kNone
                                 ? "active"
                                 : (phase_ == RotationPhase::kSigning ? "retiring" : "active"));
  if (next_) {
    for (auto& r : describeRoots(next_->ownRootsPem(), signing,
                                 phase_ == RotationPhase::kSigning ? "active" : "new")) {
      roots.push_back(std::move(r));
    }
  }
  json j = {{"phase", phaseName(phase_)},
            {"signing_root", signing},
            {"roots", roots},
            {"source", signer().source()},
            {"grace_seconds", options_.grace_s},
            {"max_seconds", options_.max_s},
            {"now", now}};
  if (phase_ != RotationPhase::kNone) {
    j["started_at"] = started_at_;
    j["switch_at"] = switch_at_;
    if (phase_ == RotationPhase::kSigning) {
      j["switched_at"] = switched_at_;
      j["drop_by"] = drop_by_;
      j["outstanding_certificates"] = outstanding_.size();
    }
  }
  return j;
}

}  // namespace weft::control
