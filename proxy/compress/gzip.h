// gzip (RFC 1952) through zlib: what a large configuration is kept and sent as. A mesh's
// Istio YAML compresses about 25 to 1, so a sidecar keeps its pushed resources compressed
// between the (rare) moments it reads them, and the control plane sends them compressed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace weft::compress {

// One gzip member holding `data`. Level 1 to 9 (zlib's); 1 is the fastest.
std::string gzip(std::string_view data, int level = 6);

// Everything in `data`: one gzip member or several one after another (RFC 1952 allows a
// series). nullopt with `error` set if it is not gzip, is truncated, or inflates beyond
// `max_bytes`.
std::optional<std::string> gunzip(std::string_view data, size_t max_bytes, std::string& error);

}  // namespace weft::compress
