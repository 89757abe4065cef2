// Helpers shared by the mesh tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "mesh/bootstrap.h"
#include "mesh/compiler.h"
#include "mesh/config_error.h"

namespace weft::mesh::testing {

inline std::string formatAll(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

// The formatted entries containing `needle`.
inline std::vector<std::string> matching(const ConfigErrors& errors, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    std::string f = e.format();
    if (f.find(needle) != std::string::npos) out.push_back(f);
  }
  return out;
}

// True if one entry formats exactly as `formatted`.
inline bool hasEntry(const ConfigErrors& errors, const std::string& formatted) {
  for (const auto& e : errors) {
    if (e.format() == formatted) return true;
  }
  return false;
}

#define EXPECT_ENTRY(errors, formatted)                           \
  EXPECT_TRUE(::weft::mesh::testing::hasEntry(errors, formatted)) \
      << "missing: " << (formatted) << "\nhave:\n"                \
      << ::weft::mesh::testing::formatAll(errors)

// The repository root: $WEFT_SOURCE_DIR (set by ctest), else derived from this file's path.
inline std::string sourceDir() {
  if (const char* env = std::getenv("WEFT_SOURCE_DIR")) return env;
  std::string here = __FILE__;
  return here.substr(0, here.rfind("/tests/unit/mesh/"));
}

// A valid bootstrap for a node of `service` in `ns` with `labels_yaml` (a flow map).
inline Bootstrap testBootstrap(const std::string& service = "productpage",
                               const std::string& ns = "default",
                               const std::string& labels_yaml = "{app: productpage, version: v1}") {
  std::string text = "node: {id: " + service + "-0, service: " + service + ", namespace: " + ns +
                     ", labels: " + labels_yaml +
                     "}\n"
                     "inbound: {address: 127.0.0.1, port: 15006, app: 127.0.0.1:9080}\n";
  BootstrapResult r = parseBootstrap(text, "bootstrap.yaml");
  EXPECT_TRUE(r.bootstrap.has_value()) << formatAll(r.errors);
  return r.bootstrap.value_or(Bootstrap{});
}

// Parse + compile one resource file named "mesh.yaml" for `bootstrap`.
inline LoadResult compileText(const std::string& text,
                              const Bootstrap& bootstrap = testBootstrap()) {
  return buildSnapshot(bootstrap, {ResourceFile{"mesh.yaml", text}}, 1);
}

}  // namespace weft::mesh::testing
