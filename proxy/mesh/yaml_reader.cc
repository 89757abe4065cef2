// Position-aware YAML reading (see yaml_reader.h).
#include "mesh/yaml_reader.h"

#include <arpa/inet.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace weft::mesh {

namespace {

int oneBased(int v) {
  return v >= 0 ? v + 1 : 0;
}

bool isPlain(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() == "?";
}

std::string quoted(std::string_view field) {
  return "'" + std::string(field) + "'";
}

bool isMarkerLine(std::string_view line, std::string_view marker) {
  if (line.substr(0, marker.size()) != marker) return false;
  return line.size() == marker.size() || line[marker.size()] == ' ' ||
         line[marker.size()] == '\t' || line[marker.size()] == '\r';
}

bool blankOrComment(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    size_t i = line.find_first_not_of(" \t\r");
    if (i != std::string_view::npos && line[i] != '#') return false;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return true;
}

}  // namespace

SourcePos YamlContext::pos(const YAML::Mark& mark) const {
  return SourcePos{file_, mark.line >= 0 ? mark.line + 1 + first_line_ : 0, oneBased(mark.column)};
}

void addError(ConfigErrors& errors, const SourcePos& pos, std::string message, bool warning) {
  ConfigError e;
  e.file = pos.file;
  e.line = pos.line;
  e.column = pos.column;
  e.message = std::move(message);
  e.warning = warning;
  errors.push_back(std::move(e));
}

void YamlContext::error(const YAML::Mark& mark, std::string message) {
  error(pos(mark), std::move(message));
}

void YamlContext::warning(const YAML::Mark& mark, std::string message) {
  warning(pos(mark), std::move(message));
}

void YamlContext::error(const SourcePos& p, std::string message) {
  addError(*errors_, p, std::move(message), false);
  ++error_count_;
}

void YamlContext::warning(const SourcePos& p, std::string message) {
  addError(*errors_, p, std::move(message), true);
}

void YamlContext::unsupported(const YAML::Mark& mark, std::string_view field) {
  warning(mark, "field " + quoted(field) + " is not supported yet and is ignored");
}

// === Documents ===

namespace {

// Records where each document starts, and nothing else.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { last = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  YAML::Mark last = YAML::Mark::null_mark();
};

}  // namespace

std::optional<std::vector<YAML::Node>> loadYamlDocuments(YamlContext& ctx,
                                                         const std::string& text) {
  try {
    // yaml-cpp 0.7 never returns from LoadAll on some inputs (a stray ',' at the top level
    // yields endless empty documents without consuming it). Walk the documents first and stop
    // when one starts where the previous one did.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    int previous = -1;
    while (parser.HandleNextDocument(starts)) {
      if (starts.last.pos == previous) {
        std::string what = static_cast<size_t>(previous) < text.size()
                               ? "'" + std::string(1, text[static_cast<size_t>(previous)]) + "'"
                               : "end of input";
        ctx.error(starts.last, "unexpected " + what + ": the YAML parser cannot continue here");
        return std::nullopt;
      }
      previous = starts.last.pos;
    }
    return YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, e.msg);
    return std::nullopt;
  }
}

std::string describeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// === YamlMap ===

std::optional<YamlMap> YamlMap::openAny(YamlContext& ctx, const YAML::Node& node,
                                        std::string_view what) {
  if (!node.IsMap()) {
    ctx.error(node.Mark(), std::string(what) + " must be a map, not " + describeNode(node));
    return std::nullopt;
  }
  YamlMap map(ctx, node.Mark(), std::string(what));
  std::set<std::string, std::less<>> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: `it->first` is a member of a temporary proxy.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      ctx.error(key.Mark(),
                "keys of " + std::string(what) + " must be strings, not " + describeNode(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!seen.insert(name).second) {
      ctx.error(key.Mark(), "duplicate key " + quoted(name) + " in " + std::string(what));
      continue;
    }
    map.entries_.push_back(Entry{name, key, value});
  }
  return map;
}

std::optional<YamlMap> YamlMap::open(YamlContext& ctx, const YAML::Node& node,
                                     std::string_view what,
                                     std::initializer_list<std::string_view> known,
                                     std::initializer_list<std::string_view> unsupported) {
  auto map = openAny(ctx, node, what);
  if (!map) return map;
  std::vector<Entry> kept;
  for (auto& e : map->entries_) {
    if (std::find(known.begin(), known.end(), e.key) != known.end()) {
      kept.push_back(std::move(e));
    } else if (std::find(unsupported.begin(), unsupported.end(), e.key) != unsupported.end()) {
      ctx.unsupported(e.key_node.Mark(), e.key);
    } else {
      ctx.error(e.key_node.Mark(), "unknown field " + quoted(e.key) + " in " + std::string(what));
    }
  }
  map->entries_ = std::move(kept);
  return map;
}

const YAML::Node* YamlMap::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.value.IsNull() ? nullptr : &e.value;
  }
  return nullptr;
}

const YAML::Node* YamlMap::require(std::string_view key) const {
  const YAML::Node* n = find(key);
  if (!n) ctx_->error(mark_, "missing required field " + quoted(key) + " in " + what_);
  return n;
}

// === Scalars ===

std::optional<std::string> readString(YamlContext& ctx, const YAML::Node& node,
                                      std::string_view field) {
  if (!node.IsScalar()) {
    ctx.error(node.Mark(), quoted(field) + " must be a string, not " + describeNode(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> readNonEmptyString(YamlContext& ctx, const YAML::Node& node,
                                              std::string_view field) {
  auto s = readString(ctx, node, field);
  if (s && s->empty()) {
    ctx.error(node.Mark(), quoted(field) + " must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> readUint(YamlContext& ctx, const YAML::Node& node, std::string_view field,
                                 uint64_t min, uint64_t max) {
  if (!node.IsScalar()) {
    ctx.error(node.Mark(), quoted(field) + " must be an integer, not " + describeNode(node));
    return std::nullopt;
  }
  const std::string& s = node.Scalar();
  if (!isPlain(node)) {
    ctx.error(node.Mark(),
              quoted(field) + " must be an unquoted decimal integer, not \"" + s + "\"");
    return std::nullopt;
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    ctx.error(node.Mark(), quoted(field) + " must be a decimal integer, not '" + s + "'");
    return std::nullopt;
  }
  if (s.size() > 1 && s[0] == '0') {
    ctx.error(node.Mark(), quoted(field) + " '" + s +
                               "' has a leading zero (YAML 1.1 would read it as octal); "
                               "write it in decimal");
    return std::nullopt;
  }
  uint64_t v = 0;
  bool overflow = s.size() > 19;
  for (char c : s) {
    if (overflow) break;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (overflow || v < min || v > max) {
    ctx.error(node.Mark(), quoted(field) + " must be between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", not " + s);
    return std::nullopt;
  }
  return v;
}

std::optional<uint16_t> readPort(YamlContext& ctx, const YAML::Node& node, std::string_view field) {
  auto v = readUint(ctx, node, field, 1, 65535);
  if (!v) return std::nullopt;
  return static_cast<uint16_t>(*v);
}

std::optional<bool> readBool(YamlContext& ctx, const YAML::Node& node, std::string_view field) {
  if (isPlain(node)) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  std::string got = node.IsScalar() ? "'" + node.Scalar() + "'" : describeNode(node);
  ctx.error(node.Mark(), quoted(field) + " must be true or false, not " + got);
  return std::nullopt;
}

std::optional<uint64_t> readDurationMs(YamlContext& ctx, const YAML::Node& node,
                                       std::string_view field, uint64_t min_ms, uint64_t max_ms) {
  auto s = readString(ctx, node, field);
  if (!s) return std::nullopt;
  auto v = parseDurationMs(*s);
  if (!v) {
    ctx.error(node.Mark(), quoted(field) + " must be a duration such as \"10s\", \"250ms\", " +
                               "\"1.5s\" or \"1m\" (whole milliseconds), not '" + *s + "'");
    return std::nullopt;
  }
  if (*v < min_ms || *v > max_ms) {
    ctx.error(node.Mark(), quoted(field) + " must be between " + std::to_string(min_ms) +
                               "ms and " + std::to_string(max_ms) + "ms, not " + *s);
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> readStringList(YamlContext& ctx, const YAML::Node& node,
                                                       std::string_view field) {
  if (node.IsNull()) return std::vector<std::string>{};
  if (!node.IsSequence()) {
    ctx.error(node.Mark(), quoted(field) + " must be a list, not " + describeNode(node));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : node) {
    auto s = readString(ctx, item, field);
    if (s) {
      out.push_back(*s);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> readStringMap(YamlContext& ctx,
                                                                const YAML::Node& node,
                                                                std::string_view field) {
  auto map = YamlMap::openAny(ctx, node, quoted(field));
  if (!map) return std::nullopt;
  std::map<std::string, std::string> out;
  bool ok = true;
  for (const auto& e : map->entries()) {
    auto v = readString(ctx, e.value, e.key);
    if (v) {
      out[e.key] = *v;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

// === Pure helpers ===

std::optional<uint64_t> parseDurationMs(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr uint64_t kMaxNs = uint64_t{1} << 62;
  uint64_t total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    uint64_t whole = 0;
    size_t digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (++digits > 12) return std::nullopt;
      whole = whole * 10 + static_cast<uint64_t>(text[i++] - '0');
    }
    uint64_t frac = 0;
    uint64_t frac_scale = 1;
    size_t frac_digits = 0;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        if (++frac_digits > 9) return std::nullopt;
        frac = frac * 10 + static_cast<uint64_t>(text[i++] - '0');
        frac_scale *= 10;
      }
      if (frac_digits == 0) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    uint64_t unit_ns = 0;
    if (text.substr(i, 2) == "ms") {
      unit_ns = 1'000'000;
      i += 2;
    } else if (text.substr(i, 2) == "us") {
      unit_ns = 1'000;
      i += 2;
    } else if (text.substr(i, 2) == "ns") {
      unit_ns = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 'h') {
      unit_ns = 3'600'000'000'000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit_ns = 60'000'000'000;
      ++i;
    } else if (i < text.size() && text[i] == 's') {
      unit_ns = 1'000'000'000;
      ++i;
    } else {
      return std::nullopt;
    }
    // whole < 10^12 and unit <= 3.6e12: check before multiplying.
    if (whole > kMaxNs / unit_ns) return std::nullopt;
    uint64_t ns = whole * unit_ns;
    // frac < 10^9, unit_ns / frac_scale keeps it exact for every unit but sub-ns fractions.
    if (frac_digits > 0) {
      if (unit_ns % frac_scale == 0) {
        ns += frac * (unit_ns / frac_scale);
      } else {
        return std::nullopt;
      }
    }
    total_ns += ns;
    if (total_ns > kMaxNs) return std::nullopt;
  }
  if (total_ns % 1'000'000 != 0) return std::nullopt;
  return total_ns / 1'000'000;
}

bool isIpAddress(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool isDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!isDnsLabel(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool isHttpToken(std::string_view s) {
  if (s.empty()) return false;
  static constexpr std::string_view kSpecial = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSpecial.find(c) != kSpecial.npos;
  });
}

std::string toLower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<YamlDocumentText> splitYamlDocuments(const std::string& text) {
  std::vector<YamlDocumentText> out;
  YamlDocumentText cur;
  int line_no = 0;
  bool in_doc = false;
  auto finish = [&]() {
    if (in_doc && !blankOrComment(cur.text)) out.push_back(std::move(cur));
    cur = YamlDocumentText{};
    in_doc = false;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    bool last = end == std::string::npos;
    std::string_view line(text.data() + pos, (last ? text.size() : end) - pos);
    if (last && line.empty()) break;
    if (isMarkerLine(line, "---")) {
      finish();
      // Content after the marker on the same line ("--- {a: 1}") is not supported: keep it
      // as part of the next document so the parser reports it.
      std::string_view rest = line.substr(3);
      if (rest.find_first_not_of(" \t\r") != std::string_view::npos &&
          rest.find_first_not_of(" \t\r") != rest.find('#')) {
        cur.first_line = line_no;
        cur.text.append(std::string(3, ' ')).append(rest).append("\n");
        in_doc = true;
      }
    } else if (isMarkerLine(line, "...")) {
      finish();
    } else {
      if (!in_doc) {
        cur.first_line = line_no;
        in_doc = true;
      }
      cur.text.append(line).append("\n");
    }
    ++line_no;
    if (last) break;
    pos = end + 1;
  }
  finish();
  return out;
}

}  // namespace weft::mesh
