// Test helper: reads samples back out of Prometheus text exposition output.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace weft::observe::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

inline std::vector<Sample> parseSamples(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find('=', i);
        std::string name = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;  // past ="
        while (line[j] != '"') {
          if (line[j] == '\\') ++j;
          value.push_back(line[j++]);
        }
        s.labels[name] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    s.value = std::strtod(line.c_str() + i + 1, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// The samples called `name` whose labels include every pair of `want`.
inline std::vector<Sample> find(const std::vector<Sample>& samples, const std::string& name,
                                const std::map<std::string, std::string>& want = {}) {
  std::vector<Sample> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(s);
  }
  return out;
}

// The value of the single matching sample; nullopt if there is none or more than one.
inline std::optional<double> value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& want = {}) {
  auto found = find(samples, name, want);
  if (found.size() != 1) return std::nullopt;
  return found[0].value;
}

}  // namespace weft::observe::testing
