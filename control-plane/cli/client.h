// The client side of weft-control's HTTP API for the command-line subcommands (apply, delete,
// get, validate, status, explain): the server URL and token, the files a command reads, one
// request per call (over the sidecar's small blocking HTTP/1.1 client), and the mapping of
// error positions in a combined request body back to the user's files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::discovery {
class ClientTls;
}

namespace weft::control::cli {

inline constexpr const char* kDefaultServer = "https://127.0.0.1:15010";

// Where the API is: https:// (or http:// for a control plane run with --plaintext), a numeric
// IPv4 address or localhost, an optional port (443 or 80 without one), no path. (IPv6 is
// refused: the HTTP call's Host header has no brackets.)
struct ServerUrl {
  std::string host;  // numeric IPv4 address (localhost becomes 127.0.0.1)
  uint16_t port = 443;
  bool tls = true;
  std::string text;  // as given, for messages
};

std::optional<ServerUrl> parseServerUrl(const std::string& url, std::string& error);

// The server: the --server flag, else `env` (WEFT_SERVER), else the default.
std::string chooseServer(const std::string& flag, const char* env);

// The TLS context for an https:// server: the roots of `ca_file` (PEM), the server's
// certificate checked to carry the control plane's SPIFFE ID (any trust domain). nullptr and
// `error` if the file is missing or holds no certificate.
std::shared_ptr<const discovery::ClientTls> loadServerRoots(const std::string& ca_file,
                                                            std::string& error);

// The bearer token: the first line of `file`, trimmed. nullopt with `error` on a missing,
// unreadable or empty file.
std::optional<std::string> readTokenFile(const std::string& file, std::string& error);

// One input file of apply, delete or validate.
struct InputFile {
  std::string path;  // as the user named it (a directory's files: dir/name)
  std::string text;
};

// Files named by -f: a file as it is, a directory's *.yaml and *.yml files (directly in it,
// hidden files skipped), sorted by name. False with `error` if one is missing or unreadable,
// or a directory holds no YAML file.
bool gatherFiles(const std::vector<std::string>& paths, std::vector<InputFile>& out,
                 std::string& error);

// Several files as one multi-document YAML text (one request, all or nothing), remembering
// where each file starts so that positions in the text map back to the files.
struct Bundle {
  struct Part {
    std::string path;
    int first_line = 0;  // 0-based line of the file's first line in `text`
    int lines = 0;
  };
  std::string source;  // the name the server gives the text in its positions
  std::string text;
  std::vector<Part> parts;
};

// `source`: the name to send (X-Weft-Source). One file: its own path.
Bundle makeBundle(const std::vector<InputFile>& files, const std::string& source);

// The name a bundle of `files`, gathered from the -f `paths`, is sent under: the file's path
// for one file, the directory for one directory, else "apply".
std::string bundleSource(const std::vector<std::string>& paths,
                         const std::vector<InputFile>& files);

// A positioned message "file:line[:col]: text" (what the server and the mesh library print).
struct Positioned {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
};
std::optional<Positioned> splitPosition(const std::string& message, const std::string& file);

// Rewrites "<bundle.source>:LINE[:COL]: ..." into "<file>:<line in file>[:COL]: ...";
// other messages (positions in other sources) are returned as they are.
std::string mapPosition(const Bundle& bundle, const std::string& message);

// "file:line:col: warning: text" from the server's warning "file:line:col: text".
std::string asWarning(const std::string& message);

// True for the mesh compiler's warnings about references that point nowhere (a route's
// destination host, port or subset, a mirror's host, the host of a VirtualService or
// DestinationRule): `validate` reports them as errors, as istioctl analyze does.
bool isUnresolvedReference(const std::string& message);

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string percentEncode(std::string_view text);

// The API's kind for a user's kind: short forms (vs, dr, se, we, gw, ...) expanded; others
// returned as they are (the server matches case-insensitively, plurals too). "all" stays.
std::string expandKind(const std::string& kind);

// "ns/name" or "name" (namespace `default_ns`). nullopt if malformed.
std::optional<std::pair<std::string, std::string>> parseResourceName(const std::string& text,
                                                                     const std::string& default_ns);

// A call's result.
struct Reply {
  int status = 0;     // 0: no answer (see error)
  std::string body;   // the answer's body
  std::string error;  // transport error
  bool ok() const { return status >= 200 && status < 300; }
};

struct Client {
  ServerUrl server;
  std::optional<std::string> token;
  std::shared_ptr<const discovery::ClientTls> tls;  // set for https://
  uint32_t timeout_ms = 30'000;

  Reply call(const char* method, const std::string& path, const std::string* body = nullptr,
             const std::vector<std::pair<std::string, std::string>>& headers = {}) const;
};

// A one-line description of a failed call: transport error or the server's answer
// ("401 Unauthorized: missing or unknown bearer token").
std::string describeFailure(const Client& client, const Reply& reply);

// The server's error messages in a failed answer: {"errors": [...]} or {"error": "..."}.
std::vector<std::string> answerErrors(const std::string& body);

}  // namespace weft::control::cli
