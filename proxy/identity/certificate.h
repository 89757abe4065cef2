// Certificate helpers for workload identities, on OpenSSL's API: RAII owners for the OpenSSL
// objects used here, the checks that turn three PEM texts (chain, key, trust bundle) into a
// WorkloadIdentity, CSR making for the dynamic provider, and the /certs admin view.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl.h"
#include "identity/identity.h"

namespace weft::identity {

// The shared OpenSSL owners and PEM readers (crypto/openssl.h).
using crypto::OpensslPtr;
using crypto::parseCertificates;
using crypto::parsePrivateKey;

// The URI subject alternative names of `cert`.
std::vector<std::string> uriSans(X509* cert);
// "cluster.local" from "spiffe://cluster.local/ns/x/sa/y"; nullopt if not a SPIFFE ID of the
// form spiffe://<trust domain>/<path>.
std::optional<std::string> trustDomainOf(std::string_view spiffe_id);

// notBefore/notAfter as unix seconds.
int64_t unixTime(const ASN1_TIME* t);
// Upper-case hex of the serial number ("1A2B...").
std::string serialHex(X509* cert);
// One-line subject, RFC 2253 order reversed as OpenSSL prints it ("O=cluster.local, CN=...").
std::string subjectText(X509* cert);
// "2026-11-22T06:30:00Z".
std::string isoTime(int64_t unix_seconds);

// Checks the three PEM texts and builds the identity:
//   - the chain holds at least one certificate, the key one private key, the bundle one root;
//   - the key is the leaf's (the public keys match);
//   - the leaf verifies up to a root of the bundle through the rest of the chain, at `now`
//     (unix seconds; 0 = the current time) - an expired or not-yet-valid leaf fails;
//   - the leaf has exactly one URI SAN and it is a spiffe:// ID.
// On failure returns nullopt and says why in `error`. `generation` is left 0.
std::optional<WorkloadIdentity> buildIdentity(const std::string& chain_pem,
                                              const std::string& key_pem,
                                              const std::string& roots_pem, std::string& error,
                                              int64_t now = 0);

// A new EC P-256 key, in memory.
OpensslPtr<EVP_PKEY> generateKey();
// The PEM (PKCS#8, unencrypted) of a private key; stays in memory.
std::string privateKeyPem(EVP_PKEY* key);
// A PEM certificate signing request for `spiffe_id`, signed by `key`: empty subject, one
// subjectAltName extension holding the URI, SHA-256. "" on an OpenSSL failure.
std::string makeCsr(EVP_PKEY* key, const std::string& spiffe_id);

// GET /certs (Envoy's /certs in spirit): {"certificates": [ ... ]}, empty without an identity.
// Never includes the private key. `now`: unix seconds, for days_until_expiration.
std::string certsJson(const WorkloadIdentity* identity, const std::string& source, int64_t now);

}  // namespace weft::identity
