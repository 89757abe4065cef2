// gunzip on arbitrary bytes: a sidecar inflates what the control plane answers. Must never
// crash, hang, leak or produce more than its limit; a round trip of the input must hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "compress/gzip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto out = weft::compress::gunzip(input, 1 << 20, error);
  if (out && out->size() > (1u << 20)) __builtin_trap();
  // Whatever the bytes, compressing them gives something that inflates back to them.
  auto back = weft::compress::gunzip(weft::compress::gzip(input, 1), size, error);
  if (!back || *back != input) __builtin_trap();
  return 0;
}
