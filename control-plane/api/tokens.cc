// Tokens file parsing and bearer authentication (see tokens.h).
#include "api/tokens.h"

#include <openssl/crypto.h>

#include <fstream>
#include <set>
#include <sstream>

#include "mesh/yaml_reader.h"

namespace weft::control {

std::optional<TokenSet> TokenSet::parse(const std::string& text, const std::string& name,
                                        mesh::ConfigErrors& errors) {
  mesh::YamlContext ctx(name, errors);
  auto docs = mesh::loadYamlDocuments(ctx, text);
  if (!docs) return std::nullopt;
  TokenSet set;
  std::set<std::string> seen;
  for (const auto& doc : *docs) {
    if (doc.IsNull()) continue;
    if (!doc.IsSequence()) {
      ctx.error(doc.Mark(), "the tokens file must be a list, not " + mesh::describeNode(doc));
      continue;
    }
    for (const auto& item : doc) {
      auto map =
          mesh::YamlMap::open(ctx, item, "a token", {"token", "namespace", "service_account"});
      if (!map) continue;
      Token t;
      if (const YAML::Node* n = map->require("token")) {
        if (auto v = mesh::readNonEmptyString(ctx, *n, "token")) {
          if (!seen.insert(*v).second) {
            ctx.error(n->Mark(), "duplicate token");
            continue;
          }
          t.token = *v;
        }
      }
      if (const YAML::Node* n = map->find("namespace")) {
        if (auto v = mesh::readNonEmptyString(ctx, *n, "namespace")) t.namespace_name = *v;
      }
      if (const YAML::Node* n = map->find("service_account")) {
        if (auto v = mesh::readNonEmptyString(ctx, *n, "service_account")) t.service_account = *v;
      }
      if (!t.token.empty()) set.tokens_.push_back(std::move(t));
    }
  }
  if (ctx.errorCount() > 0) return std::nullopt;
  return set;
}

std::optional<TokenSet> TokenSet::load(const std::string& path, mesh::ConfigErrors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back({path, 0, 0, "cannot read the tokens file", false});
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path, errors);
}

const Token* TokenSet::authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return nullptr;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return nullptr;
  }
  std::string_view presented = authorization.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  const Token* found = nullptr;
  for (const Token& t : tokens_) {
    // Constant time for tokens of the presented length.
    if (t.token.size() == presented.size() &&
        CRYPTO_memcmp(t.token.data(), presented.data(), presented.size()) == 0) {
      found = &t;
    }
  }
  return found;
}

}  // namespace weft::control
