// Loading a WorkloadIdentity from PEM files on disk, in the layout Istio mounts for its
// sidecars (/etc/certs): cert-chain.pem (leaf first), key.pem, root-cert.pem. For a sidecar
// whose certificates are provisioned as files rather than issued by the control plane.
#pragma once

#include <string>

#include "identity/identity.h"

namespace weft::tls {

inline constexpr const char* kCertChainFile = "cert-chain.pem";
inline constexpr const char* kKeyFile = "key.pem";
inline constexpr const char* kRootCertFile = "root-cert.pem";

// Reads the three files of `dir` into `out`; spiffe_id, trust_domain and the validity come from
// the leaf. False with the reason in *error (a missing file, no certificate, no SPIFFE ID).
bool loadIdentityFiles(const std::string& dir, identity::WorkloadIdentity& out, std::string* error);

}  // namespace weft::tls
