// Correlation ids and trace context: x-request-id and W3C traceparent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace weft::observe {

// Per-thread fast random source (seeded from OpenSSL's RAND_bytes once per thread).
uint64_t random64();

// A random UUIDv4 in its 36-character text form, written to `out` (replacing its contents).
void newRequestId(std::string& out);

// The traceparent to send to the next hop. `incoming` is the request's traceparent, if any
// (empty otherwise). A valid incoming header keeps its trace id and flags and gets a new
// parent (span) id for this hop; a missing or invalid one starts a new sampled trace.
// Returns true if `incoming` was valid and continued.
bool nextTraceparent(std::string_view incoming, std::string& out);

}  // namespace weft::observe
