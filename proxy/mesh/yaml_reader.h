// Position-aware YAML reading on top of yaml-cpp 0.7: strict maps (duplicate, unknown and
// not-yet-supported keys are reported), strict scalars (decimal integers without leading zeros,
// true/false booleans, Istio durations) and errors collected with 1-based file:line:col.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "mesh/config_error.h"

namespace weft::mesh {

// A position in a configuration file (1-based; 0 when unknown).
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
};

// Collects errors and warnings for one file.
class YamlContext {
 public:
  // `first_line`: 0-based line where the parsed text starts in `file` (a document cut out of a
  // larger text); it is added to every position.
  YamlContext(std::string file, ConfigErrors& errors, int first_line = 0)
      : file_(std::move(file)), errors_(&errors), first_line_(first_line) {}

  const std::string& file() const { return file_; }
  SourcePos pos(const YAML::Mark& mark) const;

  void error(const YAML::Mark& mark, std::string message);
  void warning(const YAML::Mark& mark, std::string message);
  void error(const SourcePos& pos, std::string message);
  void warning(const SourcePos& pos, std::string message);
  // "field 'name' is not supported yet and is ignored" (a warning).
  void unsupported(const YAML::Mark& mark, std::string_view field);
  size_t errorCount() const { return error_count_; }

 private:
  std::string file_;
  ConfigErrors* errors_;
  int first_line_ = 0;
  size_t error_count_ = 0;
};

// Parses every document of `text`; reports syntax errors (and inputs the YAML library cannot
// parse) with their position and returns nullopt. Empty documents come back as null nodes.
std::optional<std::vector<YAML::Node>> loadYamlDocuments(YamlContext& ctx, const std::string& text);

// One document of a multi-document YAML text: its text and first line (0-based).
struct YamlDocumentText {
  std::string text;
  int first_line = 0;
};

// Splits at "---" lines (and drops "..." end markers); documents with nothing but blanks and
// comments are dropped. A document marker at the start of a line ends any scalar in YAML, so
// the split needs no parse; each document can then be parsed (and freed) on its own.
std::vector<YamlDocumentText> splitYamlDocuments(const std::string& text);

// Appends a ConfigError with the position of `pos`.
void addError(ConfigErrors& errors, const SourcePos& pos, std::string message, bool warning);

// "a map", "a list", "a scalar", "null".
std::string describeNode(const YAML::Node& node);

// A YAML map read strictly. Keys must be scalars; a key present twice is an error (yaml-cpp
// would silently keep the first); keys outside `known` and `unsupported` are errors; keys in
// `unsupported` produce a warning. A key whose value is null counts as absent.
class YamlMap {
 public:
  // Returns nullopt (after reporting) if `node` is not a map.
  static std::optional<YamlMap> open(YamlContext& ctx, const YAML::Node& node,
                                     std::string_view what,
                                     std::initializer_list<std::string_view> known,
                                     std::initializer_list<std::string_view> unsupported = {});
  // Any keys accepted (only duplicates and non-scalar keys are reported).
  static std::optional<YamlMap> openAny(YamlContext& ctx, const YAML::Node& node,
                                        std::string_view what);

  // The value of `key`, or nullptr when absent or null.
  const YAML::Node* find(std::string_view key) const;
  // Like find; reports "missing required field" at the map's position when absent.
  const YAML::Node* require(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const YAML::Mark& mark() const { return mark_; }
  const std::string& what() const { return what_; }
  // All (key, key node, value) entries in file order (duplicates excluded).
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  YamlMap(YamlContext& ctx, YAML::Mark mark, std::string what)
      : ctx_(&ctx), mark_(mark), what_(std::move(what)) {}
  YamlContext* ctx_;
  YAML::Mark mark_;
  std::string what_;
  std::vector<Entry> entries_;
};

// Scalar readers: each reports a positioned error and returns nullopt on bad input.
std::optional<std::string> readString(YamlContext& ctx, const YAML::Node& node,
                                      std::string_view field);
// A non-empty string.
std::optional<std::string> readNonEmptyString(YamlContext& ctx, const YAML::Node& node,
                                              std::string_view field);
// A plain (unquoted) decimal integer without sign or leading zeros, within [min, max].
std::optional<uint64_t> readUint(YamlContext& ctx, const YAML::Node& node, std::string_view field,
                                 uint64_t min, uint64_t max);
std::optional<uint16_t> readPort(YamlContext& ctx, const YAML::Node& node, std::string_view field);
// true/false (also True/TRUE/False/FALSE); YAML 1.1 yes/no/on/off are rejected.
std::optional<bool> readBool(YamlContext& ctx, const YAML::Node& node, std::string_view field);
// An Istio duration ("10s", "250ms", "1m", "1.5s", "1h30m") in milliseconds, within [min, max].
std::optional<uint64_t> readDurationMs(YamlContext& ctx, const YAML::Node& node,
                                       std::string_view field, uint64_t min_ms, uint64_t max_ms);
// A list of strings (a null value is an empty list).
std::optional<std::vector<std::string>> readStringList(YamlContext& ctx, const YAML::Node& node,
                                                       std::string_view field);
// A map of string -> string.
std::optional<std::map<std::string, std::string>> readStringMap(YamlContext& ctx,
                                                                const YAML::Node& node,
                                                                std::string_view field);

// Pure helpers (also used by tests).
std::optional<uint64_t> parseDurationMs(std::string_view text);
bool isIpAddress(std::string_view text);
// RFC 1123 label: 1-63 of [a-z0-9-], starting and ending alphanumeric.
bool isDnsLabel(std::string_view text);
// Dot-separated RFC 1123 labels, at most 253 characters.
bool isDnsName(std::string_view text);
// HTTP token characters (RFC 9110), non-empty.
bool isHttpToken(std::string_view text);
std::string toLower(std::string_view text);

}  // namespace weft::mesh
