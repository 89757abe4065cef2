// StringMatch evaluation and LbPolicy names.
#include <re2/re2.h>

#include <algorithm>
#include <cctype>

#include "mesh/snapshot.h"

namespace weft::mesh {

namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool StringMatch::matches(std::string_view s) const {
  switch (kind) {
    case Kind::kExact:
      return ignore_case ? equalsIgnoreCase(s, value) : s == value;
    case Kind::kPrefix:
      if (s.size() < value.size()) return false;
      return ignore_case ? equalsIgnoreCase(s.substr(0, value.size()), value)
                         : s.substr(0, value.size()) == value;
    case Kind::kRegex:
      if (regex_bounded && (s < regex_min || s > regex_max)) return false;
      return regex != nullptr && RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *regex);
    case Kind::kPresent:
      return true;
  }
  return false;
}

void StringMatch::setRegex(std::shared_ptr<const re2::RE2> re) {
  regex = std::move(re);
  // 16 bytes of each bound are plenty to reject on a path's or header's first characters.
  regex_bounded = regex != nullptr && regex->PossibleMatchRange(&regex_min, &regex_max, 16);
  if (!regex_bounded) {
    regex_min.clear();
    regex_max.clear();
  }
}

const char* toString(LbPolicy p) {
  switch (p) {
    case LbPolicy::kRoundRobin:
      return "ROUND_ROBIN";
    case LbPolicy::kLeastRequest:
      return "LEAST_REQUEST";
    case LbPolicy::kRandom:
      return "RANDOM";
    case LbPolicy::kPassthrough:
      return "PASSTHROUGH";
  }
  return "UNKNOWN";
}

}  // namespace weft::mesh
