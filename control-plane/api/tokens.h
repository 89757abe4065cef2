// Bearer tokens: who may call the API. An operator token (no namespace, no service account) may
// do everything; a token bound to a namespace and/or service account may only register nodes
// with that identity and use its own nodes' endpoints.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/config_error.h"

namespace weft::control {

struct Token {
  std::string token;
  std::string namespace_name;   // empty: any
  std::string service_account;  // empty: any

  bool isOperator() const { return namespace_name.empty() && service_account.empty(); }
  // True if this token may act for a node of (namespace, service account).
  bool allows(std::string_view ns, std::string_view sa) const {
    return (namespace_name.empty() || namespace_name == ns) &&
           (service_account.empty() || service_account == sa);
  }
};

class TokenSet {
 public:
  // Parses the tokens file (a YAML list of {token, namespace?, service_account?}); errors are
  // positioned as file:line:col.
  static std::optional<TokenSet> parse(const std::string& text, const std::string& name,
                                       mesh::ConfigErrors& errors);
  static std::optional<TokenSet> load(const std::string& path, mesh::ConfigErrors& errors);

  // The token of an "Authorization: Bearer <token>" header value, or nullptr.
  const Token* authenticate(std::string_view authorization) const;
  size_t size() const { return tokens_.size(); }

 private:
  std::vector<Token> tokens_;
};

}  // namespace weft::control
