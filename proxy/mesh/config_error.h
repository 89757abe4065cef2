// ConfigError: one problem in a configuration file, with its position.
#pragma once

#include <string>
#include <vector>

namespace weft::mesh {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  bool warning = false;  // a warning does not reject the config

  // "file:line:col: message" (or "file: message" without a position), prefixed "warning: "
  // for warnings: the form compilers use, so editors can jump to it.
  std::string format() const;
};

using ConfigErrors = std::vector<ConfigError>;

// True if any entry is an error (not a warning).
bool hasErrors(const ConfigErrors& errors);

}  // namespace weft::mesh
