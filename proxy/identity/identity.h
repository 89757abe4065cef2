// WorkloadIdentity: the sidecar's mesh identity at one moment: its SPIFFE ID, certificate
// chain, private key and the trust bundle it verifies peers with. Immutable: a renewal or a
// root rotation makes a new one, and the TLS layer builds new contexts from it, so that
// connections already open keep the identity they started with.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace weft::identity {

struct WorkloadIdentity {
  std::string spiffe_id;        // spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
  std::string trust_domain;     // e.g. cluster.local
  std::string cert_chain_pem;   // leaf first, then intermediates
  std::string private_key_pem;  // never leaves the process (dynamic mode: made in memory)
  std::string roots_pem;        // trust bundle: every root accepted (several during rotation)
  int64_t not_before = 0;       // leaf validity, unix seconds
  int64_t not_after = 0;
  uint64_t generation = 0;  // bumped by each new identity of the process
};

using IdentityPtr = std::shared_ptr<const WorkloadIdentity>;

}  // namespace weft::identity
