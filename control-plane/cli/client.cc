// The command-line client's plumbing (see client.h).
#include "cli/client.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "discovery/http_call.h"
#include "discovery/tls_client.h"

namespace weft::control::cli {

namespace {

bool isNumericAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::optional<int> parseInt(std::string_view s) {
  int v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool readWhole(const std::filesystem::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  out = ss.str();
  return true;
}

std::string reasonPhrase(int status) {
  static const std::map<int, std::string> kReasons = {
      {400, "Bad Request"}, {401, "Unauthorized"},        {403, "Forbidden"},
      {404, "Not Found"},   {405, "Method Not Allowed"},  {408, "Request Timeout"},
      {409, "Conflict"},    {413, "Content Too Large"},   {500, "Internal Server Error"},
      {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"}};
  auto it = kReasons.find(status);
  return it == kReasons.end() ? std::string() : it->second;
}

}  // namespace

std::optional<ServerUrl> parseServerUrl(const std::string& url, std::string& error) {
  ServerUrl out;
  out.text = url;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    out.tls = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    error = "--server " + url + ": expected https://HOST[:PORT]";
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#@") != std::string::npos) {
    error = "--server " + url + ": expected https://HOST[:PORT] without a path";
    return std::nullopt;
  }
  std::string host = rest;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      error = "--server " + url + ": unclosed '['";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        error = "--server " + url + ": expected a port after ']'";
        return std::nullopt;
      }
      port = after.substr(1);
      if (port.empty()) port = "-";
    }
    if (host.find(':') == std::string::npos) {
      error = "--server " + url + ": brackets are for IPv6 addresses";
      return std::nullopt;
    }
  } else if (size_t colon = rest.find(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) port = "-";
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty() || !isNumericAddress(host)) {
    error = "--server " + url + ": the host must be a numeric address or localhost";
    return std::nullopt;
  }
  if (host.find(':') != std::string::npos) {
    // The HTTP call writes its Host header without brackets, which servers reject.
    error = "--server " + url + ": IPv6 addresses are not supported yet; use an IPv4 address";
    return std::nullopt;
  }
  out.host = host;
  if (!port.empty()) {
    auto p = parseInt(port);
    if (!p || *p < 1 || *p > 65535) {
      error = "--server " + url + ": the port must be 1 to 65535";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(*p);
  }
  return out;
}

std::shared_ptr<const discovery::ClientTls> loadServerRoots(const std::string& ca_file,
                                                            std::string& error) {
  std::ifstream in(ca_file, std::ios::binary);
  if (!in) {
    error = "--ca-certificate " + ca_file + ": cannot read the file";
    return nullptr;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string why;
  auto tls = discovery::ClientTls::make(text.str(), "", "", "", why);
  if (!tls) error = "--ca-certificate " + ca_file + ": " + why;
  return tls;
}

std::string chooseServer(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  if (env && *env) return env;
  return kDefaultServer;
}

std::optional<std::string> readTokenFile(const std::string& file, std::string& error) {
  std::string text;
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec) || !readWhole(file, text)) {
    error = "--token-file " + file + ": cannot read the file";
    return std::nullopt;
  }
  std::string line = text.substr(0, text.find('\n'));
  const char* ws = " \t\r";
  size_t b = line.find_first_not_of(ws);
  if (b == std::string::npos) {
    error = "--token-file " + file + ": the first line holds no token";
    return std::nullopt;
  }
  size_t e = line.find_last_not_of(ws);
  return line.substr(b, e - b + 1);
}

bool gatherFiles(const std::vector<std::string>& paths, std::vector<InputFile>& out,
                 std::string& error) {
  namespace fs = std::filesystem;
  for (const std::string& p : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      error = p + ": no such file or directory";
      return false;
    }
    if (fs::is_directory(st)) {
      std::vector<std::string> names;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        const std::string ext = entry.path().extension().string();
        if (ext != ".yaml" && ext != ".yml") continue;
        std::error_code ec2;
        if (!entry.is_regular_file(ec2)) continue;
        names.push_back(name);
      }
      if (ec) {
        error = p + ": cannot list the directory: " + ec.message();
        return false;
      }
      if (names.empty()) {
        error = p + ": no *.yaml or *.yml file in the directory";
        return false;
      }
      std::sort(names.begin(), names.end());
      std::string dir = p;
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      for (const auto& name : names) {
        InputFile f;
        f.path = dir == "/" ? "/" + name : dir + "/" + name;
        if (!readWhole(f.path, f.text)) {
          error = f.path + ": cannot read the file";
          return false;
        }
        out.push_back(std::move(f));
      }
      continue;
    }
    InputFile f;
    f.path = p;
    if (!readWhole(p, f.text)) {
      error = p + ": cannot read the file";
      return false;
    }
    out.push_back(std::move(f));
  }
  return true;
}

Bundle makeBundle(const std::vector<InputFile>& files, const std::string& source) {
  Bundle b;
  b.source = source;
  int line = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (i > 0) {
      b.text += "---\n";
      ++line;
    }
    Bundle::Part part;
    part.path = files[i].path;
    part.first_line = line;
    std::string text = files[i].text;
    if (!text.empty() && text.back() != '\n') text += '\n';
    part.lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    line += part.lines;
    b.text += text;
    b.parts.push_back(std::move(part));
  }
  return b;
}

std::string bundleSource(const std::vector<std::string>& paths,
                         const std::vector<InputFile>& files) {
  if (files.size() == 1) return files[0].path;
  if (paths.size() == 1) {
    std::string dir = paths[0];
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir;
  }
  return "apply";
}

std::optional<Positioned> splitPosition(const std::string& message, const std::string& file) {
  if (message.size() <= file.size() + 1 || message.compare(0, file.size(), file) != 0 ||
      message[file.size()] != ':') {
    return std::nullopt;
  }
  Positioned p;
  p.file = file;
  std::string_view rest = std::string_view(message).substr(file.size() + 1);
  auto number = [&](int& out) {
    size_t n = 0;
    while (n < rest.size() && std::isdigit(static_cast<unsigned char>(rest[n]))) ++n;
    if (n == 0 || n > 9 || n >= rest.size() || rest[n] != ':') return false;
    out = *parseInt(rest.substr(0, n));
    rest.remove_prefix(n + 1);
    return true;
  };
  if (number(p.line)) number(p.column);
  if (rest.empty() || rest[0] != ' ') return std::nullopt;
  p.message = std::string(rest.substr(1));
  return p;
}

std::string mapPosition(const Bundle& bundle, const std::string& message) {
  auto p = splitPosition(message, bundle.source);
  if (!p) return message;
  if (p->line <= 0 || bundle.parts.empty()) {
    return (bundle.parts.size() == 1 ? bundle.parts[0].path : p->file) + ": " + p->message;
  }
  const Bundle::Part* part = &bundle.parts[0];
  for (const auto& candidate : bundle.parts) {
    if (candidate.first_line <= p->line - 1) part = &candidate;
  }
  std::string out = part->path + ":" + std::to_string(p->line - part->first_line);
  if (p->column > 0) out += ":" + std::to_string(p->column);
  return out + ": " + p->message;
}

std::string asWarning(const std::string& message) {
  // After "file:line:col: " (the file may hold ':'; the position is the last numbers before
  // the first ": ").
  size_t sep = message.find(": ");
  if (sep == std::string::npos) return "warning: " + message;
  return message.substr(0, sep + 2) + "warning: " + message.substr(sep + 2);
}

bool isUnresolvedReference(const std::string& message) {
  auto has = [&](const char* s) { return message.find(s) != std::string::npos; };
  if (has("destination host '") &&
      (has("' matches no ServiceEntry host: requests routed there get 503") ||
       (has("' has no HTTP port ") && has(": requests routed there get 503")))) {
    return true;
  }
  if (has("subset '") && has("' is not defined by a DestinationRule")) return true;
  // A VirtualService or DestinationRule for a host no ServiceEntry declares is ignored whole.
  if ((message.rfind("VirtualService ", 0) == 0 || message.rfind("DestinationRule ", 0) == 0) &&
      has(": host '") && has("' matches no ServiceEntry host") && has("ignored")) {
    return true;
  }
  return has("mirror host '") && has("' matches no ServiceEntry host");
}

std::string percentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string expandKind(const std::string& kind) {
  static const std::map<std::string, std::string> kShort = {{"vs", "VirtualService"},
                                                            {"dr", "DestinationRule"},
                                                            {"se", "ServiceEntry"},
                                                            {"we", "WorkloadEntry"},
                                                            {"gw", "Gateway"},
                                                            {"pa", "PeerAuthentication"},
                                                            {"ap", "AuthorizationPolicy"},
                                                            {"ra", "RequestAuthentication"},
                                                            {"sidecars", "Sidecar"},
                                                            {"sc", "Sidecar"}};
  std::string lower;
  for (char c : kind) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "all") return "all";
  auto it = kShort.find(lower);
  return it == kShort.end() ? kind : it->second;
}

std::optional<std::pair<std::string, std::string>> parseResourceName(
    const std::string& text, const std::string& default_ns) {
  size_t slash = text.find('/');
  std::string ns = default_ns;
  std::string name = text;
  if (slash != std::string::npos) {
    ns = text.substr(0, slash);
    name = text.substr(slash + 1);
  }
  if (ns.empty() || name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  return std::make_pair(ns, name);
}

Reply Client::call(const char* method, const std::string& path, const std::string* body,
                   const std::vector<std::pair<std::string, std::string>>& headers) const {
  discovery::HttpCall c;
  c.method = method;
  c.host = server.host;
  c.port = server.port;
  c.path = path;
  c.headers = headers;
  c.tls = tls;
  if (token) c.headers.emplace_back("authorization", "Bearer " + *token);
  if (body) c.headers.emplace_back("content-type", "application/yaml");
  c.headers.emplace_back("user-agent", "weft-control");
  c.body = body;
  c.connect_timeout_ms = 5'000;
  c.timeout_ms = timeout_ms;
  discovery::HttpAnswer a = discovery::performHttp(c, -1);
  Reply r;
  r.status = a.status;
  r.body = std::move(a.body);
  r.error = a.aborted ? "interrupted" : std::move(a.error);
  return r;
}

std::vector<std::string> answerErrors(const std::string& body) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return out;
  if (auto it = j.find("errors"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  if (auto it = j.find("error"); it != j.end() && it->is_string()) {
    out.push_back(it->get<std::string>());
  }
  return out;
}

std::string describeFailure(const Client& client, const Reply& reply) {
  if (reply.status == 0) {
    if (reply.error.rfind("connect", 0) == 0 || reply.error.rfind("socket", 0) == 0) {
      return "cannot reach the control plane at " + client.server.text + ": " + reply.error;
    }
    return "no valid answer from the control plane at " + client.server.text + ": " + reply.error;
  }
  std::string out = "the control plane answered " + std::to_string(reply.status);
  std::string reason = reasonPhrase(reply.status);
  if (!reason.empty()) out += " " + reason;
  std::vector<std::string> errors = answerErrors(reply.body);
  if (!errors.empty()) {
    out += ": " + errors[0];
    if (errors.size() > 1) out += " (and " + std::to_string(errors.size() - 1) + " more)";
  } else if (!reply.body.empty() && reply.body.size() < 200 &&
             reply.body.find('\n') == reply.body.size() - 1) {
    out += ": " + reply.body.substr(0, reply.body.size() - 1);
  }
  if (reply.status == 401) out += " (check --token-file or WEFT_TOKEN_FILE)";
  return out;
}

}  // namespace weft::control::cli
