// The configuration cache (bootstrap `control_plane.cache_file`): in dynamic mode the sidecar
// keeps the last configuration it applied on disk, so that a restart while the control plane is
// unreachable serves it at once instead of nothing. The file is JSON:
//
//   {"weft_config_cache": 1, "version": 42, "built_from": ["..."], "resources": "<YAML>"}
//
// It is written atomically (a temporary file in the same directory, mode 0600, fsync, rename),
// so a reader sees the old file or the new one, never a torn one.
#pragma once

#include <optional>
#include <string>

#include "mesh/snapshot.h"

namespace weft::discovery {

// The file's text for `config`.
std::string configCacheJson(const mesh::PushedConfig& config);
// Parses a cache file's text; nullopt (and the reason in `error`) if it is not one.
std::optional<mesh::PushedConfig> parseConfigCache(std::string_view text, std::string& error);

// Writes `config` to `path` atomically. False (and the reason in `error`) on failure; the old
// file, if any, is then left as it was.
bool writeConfigCache(const std::string& path, const mesh::PushedConfig& config,
                      std::string& error);
// Reads `path`. nullopt with `error` empty: there is no such file; with `error` set: the file
// cannot be read or is not a cache file. The result has from_cache set.
std::optional<mesh::PushedConfig> readConfigCache(const std::string& path, std::string& error);

}  // namespace weft::discovery
