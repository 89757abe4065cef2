// formatResponseFlags: Envoy's %RESPONSE_FLAGS% short names, in Envoy's order, so access logs
// and the response_flags metric label read the same as Istio's.
#include <array>
#include <string>

#include "observe/request_info.h"

namespace weft::observe {
namespace {

struct FlagName {
  uint32_t flag;
  const char* name;
};

// Envoy's ResponseFlagUtils order (not bit order): tools that compare flag strings depend on it.
constexpr std::array<FlagName, 19> kFlagNames = {{
    {kNoHealthyUpstream, "UH"},
    {kUpstreamRequestTimeout, "UT"},
    {kLocalReset, "LR"},
    {kUpstreamRemoteReset, "UR"},
    {kUpstreamConnectionFailure, "UF"},
    {kUpstreamConnectionTermination, "UC"},
    {kUpstreamOverflow, "UO"},
    {kNoRoute, "NR"},
    {kDelayInjected, "DI"},
    {kFaultInjected, "FI"},
    {kRateLimited, "RL"},
    {kRbacAccessDenied, "RBAC"},
    {kDownstreamConnectionTermination, "DC"},
    {kUpstreamRetryLimitExceeded, "URX"},
    {kStreamIdleTimeout, "SI"},
    {kInvalidHeader, "IH"},
    {kDownstreamProtocolError, "DPE"},
    {kUpstreamProtocolError, "UPE"},
    {kNoClusterFound, "NC"},
}};

}  // namespace

std::string formatResponseFlags(uint32_t flags) {
  if (flags == 0) return "-";
  std::string out;
  for (const auto& f : kFlagNames) {
    if ((flags & f.flag) == 0) continue;
    if (!out.empty()) out.push_back(',');
    out.append(f.name);
  }
  // Bits Weft does not define yet are not shown; a value made only of those reads as none.
  return out.empty() ? "-" : out;
}

}  // namespace weft::observe
