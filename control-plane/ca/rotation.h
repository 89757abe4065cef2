// CaManager: the control plane's certificate authorities over time, with Istio's plug-in CA
// root rotation (docs/security.md, "Root rotation"). It owns the CA that signs today and,
// during a rotation, the one that replaces it:
//
//   none ──rotate──▶ distributing ──grace──▶ signing ──old certificates gone──▶ none
//                    bundle old+new          bundle old+new,                    bundle new
//                    sign with old           sign with new                      sign with new
//
// - distributing: the new root joins the trust bundle, which goes out with every push, so
//   every sidecar trusts it before any certificate chains to it.
// - signing: the CA signs with the new root and pushes name it as `signing_root`; sidecars
//   whose certificate chains to the old root renew at once. The old root stays trusted until
//   every certificate issued under it has expired or been replaced (a renewal authenticated
//   with it), or `max_s` after the switch at the latest.
// - then the old root is dropped from the bundle.
//
// State is kept under the data dir (ca-state.json: the phase, its times, the certificates
// issued under the signing root that are still valid; ca/next/ for a new own root), so a
// restart in the middle of a rotation continues where it was. Without a data dir everything
// lives in memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ca/ca.h"

namespace weft::control {

enum class RotationPhase { kNone = 0, kDistributing = 1, kSigning = 2 };
const char* phaseName(RotationPhase phase);

struct CaOptions {
  std::string trust_domain = "cluster.local";
  std::string data_dir;     // empty: in memory
  std::string ca_dir;       // plug-in CA; empty: own root (data_dir/ca, or in memory)
  uint64_t grace_s = 30;    // distributing -> signing
  uint64_t max_s = 86'400;  // signing -> old root dropped, at the latest
};

class CaManager {
 public:
  // Opens the CA (as --ca-dir / --data-dir say, or as a finished rotation left it) and any
  // rotation in progress. nullptr and the reason on failure.
  static std::unique_ptr<CaManager> open(const CaOptions& options, std::string& error);

  // The CA that signs now, its trust bundle being every root trusted now.
  const CertificateAuthority& signer() const;
  RotationPhase phase() const { return phase_; }
  // Certificates of the old root not yet expired nor replaced (signing phase).
  size_t outstanding() const { return outstanding_.size(); }

  // A certificate was issued (serial: upper-case hex); `replaced_serial`: the certificate the
  // caller authenticated with (its client certificate), empty if none.
  void issued(const std::string& serial, int64_t not_after, const std::string& replaced_serial);

  // Starts a rotation: a new own root (`ca_dir` empty) or an operator's new plug-in CA
  // directory. False and the reason (a rotation in progress, a bad directory).
  bool rotate(const std::string& ca_dir, int64_t now, std::string& error);
  // Moves the rotation on as time passes; true when the signer or the trust bundle changed.
  bool tick(int64_t now);

  // GET /v1/ca: phase, times, roots (fingerprint, subject, expiry, signing, state).
  nlohmann::json status(int64_t now) const;

 private:
  CaManager() = default;
  // Sets the trust bundles of both CAs for the current phase.
  bool arrange(std::string& error);
  void persist() const;
  bool finish(int64_t now, std::string& error);

  CaOptions options_;
  std::unique_ptr<CertificateAuthority> current_;  // signs until the switch
  std::unique_ptr<CertificateAuthority> next_;     // the rotation's new CA
  std::string next_ca_dir_;                        // plug-in dir of next_ ("" : own root)
  std::string rotated_ca_dir_;  // the plug-in dir a finished rotation moved to (replaces --ca-dir)
  RotationPhase phase_ = RotationPhase::kNone;
  int64_t started_at_ = 0;
  int64_t switch_at_ = 0;
  int64_t switched_at_ = 0;
  int64_t drop_by_ = 0;
  std::map<std::string, int64_t> issued_;       // serial -> notAfter, under the signing root
  std::map<std::string, int64_t> outstanding_;  // the old root's, during the signing phase
};

}  // namespace weft::control
