// PushedConfig's compressed resources (see snapshot.h).
#include "compress/gzip.h"
#include "mesh/snapshot.h"

namespace weft::mesh {

void PushedConfig::setResources(std::string_view yaml) {
  resources_gz_ = compress::gzip(yaml, 1);  // the fastest level: ~20 to 1 on Istio YAML
  resources_size_ = yaml.size();
}

std::string PushedConfig::resources() const {
  if (resources_size_ == 0) return {};
  std::string error;
  // Made here from text that was given: it inflates.
  return compress::gunzip(resources_gz_, resources_size_, error).value_or(std::string());
}

}  // namespace weft::mesh
