// ConfigError formatting.
#include "mesh/config_error.h"

#include <algorithm>

namespace weft::mesh {

std::string ConfigError::format() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) {
      out += ':' + std::to_string(line);
      if (column > 0) out += ':' + std::to_string(column);
    }
    out += ": ";
  }
  if (warning) out += "warning: ";
  out += message;
  return out;
}

bool hasErrors(const ConfigErrors& errors) {
  return std::any_of(errors.begin(), errors.end(), [](const ConfigError& e) { return !e.warning; });
}

}  // namespace weft::mesh
