// The client subcommands (see commands.h).
#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "cli/format.h"
#include "mesh/config_error.h"
#include "store/document.h"
#include "store/store.h"

namespace weft::control::cli {

namespace {

using nlohmann::json;

constexpr int kFailed = 1;

// Flags every client command takes.
struct Common {
  std::string server;
  std::string token_file;
  std::string ca_certificate;
  std::string output;  // "", "text", "json" (get: "yaml" too)
  CLI::Option* server_option = nullptr;
  bool json() const { return output == "json"; }
};

void addCommon(CLI::App* cmd, Common& c, bool with_yaml = false) {
  c.server_option = cmd->add_option(
      "--server", c.server,
      "control plane API URL (default $WEFT_SERVER, else " + std::string(kDefaultServer) + ")");
  cmd->add_option("--token-file", c.token_file,
                  "file whose first line is the bearer token (default $WEFT_TOKEN_FILE)");
  cmd->add_option("--ca-certificate", c.ca_certificate,
                  "PEM roots that verify an https:// server, e.g. its <data-dir>/trust-bundle.pem "
                  "(default $WEFT_CA_CERTIFICATE)");
  std::vector<std::string> formats = {"text", "json"};
  if (with_yaml) formats.push_back("yaml");
  cmd->add_option("-o,--output", c.output,
                  "output format: text (default), json" + std::string(with_yaml ? ", yaml" : ""))
      ->check(CLI::IsMember(formats));
}

int fail(const std::string& message) {
  std::cerr << "weft-control: " << message << "\n";
  return kFailed;
}

// "--flag VALUE: why" becomes "VARIABLE=VALUE: why" when the value came from the environment.
std::string fromEnvironment(std::string error, const std::string& flag, const char* variable) {
  if (error.rfind(flag + " ", 0) == 0)
    error = std::string(variable) + "=" + error.substr(flag.size() + 1);
  return error;
}

std::optional<Client> makeClient(const Common& c) {
  std::string error;
  auto url = parseServerUrl(chooseServer(c.server, std::getenv("WEFT_SERVER")), error);
  if (!url) {
    fail(c.server.empty() ? fromEnvironment(error, "--server", "WEFT_SERVER") : error);
    return std::nullopt;
  }
  Client client;
  client.server = *url;
  if (url->tls) {
    std::string ca = c.ca_certificate;
    if (ca.empty()) {
      if (const char* env = std::getenv("WEFT_CA_CERTIFICATE")) ca = env;
    }
    if (ca.empty()) {
      fail(url->text +
           ": https needs the control plane's roots: --ca-certificate FILE or "
           "WEFT_CA_CERTIFICATE (its <data-dir>/trust-bundle.pem)");
      return std::nullopt;
    }
    client.tls = loadServerRoots(ca, error);
    if (!client.tls) {
      fail(c.ca_certificate.empty()
               ? fromEnvironment(error, "--ca-certificate", "WEFT_CA_CERTIFICATE")
               : error);
      return std::nullopt;
    }
  }
  std::string token_file = c.token_file;
  if (token_file.empty()) {
    if (const char* env = std::getenv("WEFT_TOKEN_FILE")) token_file = env;
  }
  if (!token_file.empty()) {
    client.token = readTokenFile(token_file, error);
    if (!client.token) {
      fail(c.token_file.empty() ? fromEnvironment(error, "--token-file", "WEFT_TOKEN_FILE")
                                : error);
      return std::nullopt;
    }
  }
  return client;
}

// Parses a 2xx answer's JSON; nullopt (with a message) if it is not JSON.
std::optional<json> answerJson(const Client& client, const Reply& reply) {
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) {
    fail("the control plane at " + client.server.text + " did not answer JSON (status " +
         std::to_string(reply.status) + ")");
    return std::nullopt;
  }
  return j;
}

void printJson(const json& j) {
  std::cout << j.dump(2) << "\n";
}

// === apply and delete =========================================================================

struct ChangeFlags {
  Common common;
  std::vector<std::string> files;
};

int runChange(const ChangeFlags& f, bool remove) {
  std::vector<InputFile> files;
  std::string error;
  if (!gatherFiles(f.files, files, error)) return fail(error);
  auto client = makeClient(f.common);
  if (!client) return kFailed;
  const Bundle bundle = makeBundle(files, bundleSource(f.files, files));
  Reply reply = client->call(remove ? "DELETE" : "POST", "/v1/resources", &bundle.text,
                             {{"x-weft-source", bundle.source}});
  if (reply.status == 0) return fail(describeFailure(*client, reply));
  if (!reply.ok()) {
    std::vector<std::string> errors = answerErrors(reply.body);
    json parsed = json::parse(reply.body, nullptr, false);
    const bool positioned = !parsed.is_discarded() && parsed.is_object() &&
                            parsed.contains("errors") && !errors.empty();
    if (!positioned) return fail(describeFailure(*client, reply));
    for (const auto& e : errors) std::cerr << mapPosition(bundle, e) << "\n";
    std::cerr << "weft-control: " << (remove ? "nothing deleted" : "nothing applied") << " ("
              << errors.size() << (errors.size() == 1 ? " error" : " errors") << ")\n";
    return kFailed;
  }
  auto j = answerJson(*client, reply);
  if (!j) return kFailed;
  json warnings = json::array();
  if (j->contains("warnings") && (*j)["warnings"].is_array()) {
    for (const auto& w : (*j)["warnings"]) {
      if (w.is_string()) warnings.push_back(mapPosition(bundle, w.get<std::string>()));
    }
  }
  if (f.common.json()) {
    if (j->contains("warnings")) (*j)["warnings"] = warnings;
    printJson(*j);
    return 0;
  }
  for (const auto& w : warnings) std::cerr << asWarning(w.get<std::string>()) << "\n";
  std::cout << (remove ? formatChanges(j->value("deleted", json::array()), "deleted")
                       : formatChanges(j->value("applied", json::array())));
  return 0;
}

// === get ======================================================================================

struct GetFlags {
  Common common;
  std::string kind;
  std::string name;
  std::string namespace_name;
};

int runGet(const GetFlags& f) {
  const std::string kind = expandKind(f.kind);
  std::string path = "/v1/resources";
  bool single = false;
  if (kind != "all") path += "/" + percentEncode(kind);
  if (!f.name.empty()) {
    if (kind == "all") return fail("get all takes no name");
    auto name = parseResourceName(f.name, f.namespace_name.empty() ? "default" : f.namespace_name);
    if (!name) return fail("expected NAME or NAMESPACE/NAME, not '" + f.name + "'");
    path += "/" + percentEncode(name->first) + "/" + percentEncode(name->second);
    single = true;
  }
  auto client = makeClient(f.common);
  if (!client) return kFailed;
  Reply reply = client->call("GET", path);
  if (!reply.ok()) return fail(describeFailure(*client, reply));
  auto j = answerJson(*client, reply);
  if (!j) return kFailed;
  if (!single && j->is_array() && !f.namespace_name.empty()) {
    json kept = json::array();
    for (const auto& item : *j) {
      if (item.value("namespace", "") == f.namespace_name) kept.push_back(item);
    }
    *j = std::move(kept);
  }
  if (f.common.json()) {
    printJson(*j);
    return 0;
  }
  if (f.common.output == "yaml") {
    const json items = j->is_array() ? *j : json::array({*j});
    bool first = true;
    for (const auto& item : items) {
      std::string text = item.value("yaml", "");
      if (!text.empty() && text.back() != '\n') text += '\n';
      std::cout << (first ? "" : "---\n") << text;
      first = false;
    }
    return 0;
  }
  if (j->is_array() && j->empty()) {
    std::cerr << "no resources found\n";
    return 0;
  }
  std::cout << formatResources(*j, kind == "all");
  return 0;
}

// === validate =================================================================================

struct ValidateFlags {
  Common common;
  std::vector<std::string> files;
};

void promoteReferences(mesh::ConfigErrors& errors) {
  for (auto& e : errors) {
    if (e.warning && isUnresolvedReference(e.message)) e.warning = false;
  }
}

int report(const std::vector<std::string>& errors, const std::vector<std::string>& warnings,
           const Common& common, size_t resources, size_t files) {
  if (common.json()) {
    printJson(json{{"errors", errors}, {"warnings", warnings}});
  } else {
    for (const auto& e : errors) std::cout << e << "\n";
    for (const auto& w : warnings) std::cout << asWarning(w) << "\n";
    if (errors.empty()) {
      std::cerr << "no errors";
      if (resources > 0) {
        std::cerr << " (" << resources << (resources == 1 ? " resource" : " resources") << " in "
                  << files << (files == 1 ? " file" : " files") << ")";
      }
      std::cerr << "\n";
    }
  }
  return errors.empty() ? 0 : kFailed;
}

int runValidate(const ValidateFlags& f) {
  std::vector<InputFile> files;
  std::string error;
  if (!gatherFiles(f.files, files, error)) return fail(error);
  if (f.common.server_option && f.common.server_option->count() > 0) {
    // Against the server: the files as if applied over everything it holds.
    auto client = makeClient(f.common);
    if (!client) return kFailed;
    const Bundle bundle = makeBundle(files, bundleSource(f.files, files));
    Reply reply =
        client->call("POST", "/v1/validate", &bundle.text, {{"x-weft-source", bundle.source}});
    if (!reply.ok()) return fail(describeFailure(*client, reply));
    auto j = answerJson(*client, reply);
    if (!j) return kFailed;
    std::vector<std::string> errors, warnings;
    for (const char* list : {"errors", "warnings"}) {
      if (!j->contains(list) || !(*j)[list].is_array()) continue;
      for (const auto& e : (*j)[list]) {
        if (!e.is_string()) continue;
        std::string m = mapPosition(bundle, e.get<std::string>());
        bool is_error = std::string(list) == "errors" || isUnresolvedReference(m);
        (is_error ? errors : warnings).push_back(m);
      }
    }
    return report(errors, warnings, f.common, 0, files.size());
  }
  // Offline: the mesh library's parser and compiler, as the control plane runs them.
  mesh::ConfigErrors all;
  std::vector<DocumentPtr> docs;
  std::map<std::string, std::string> seen;  // key -> "file:line"
  for (const InputFile& file : files) {
    ReadResult read = readDocuments(file.text, file.path);
    for (auto& e : read.errors) all.push_back(std::move(e));
    for (Document& d : read.documents) {
      const std::string where = file.path + ":" + std::to_string(d.first_line + 1);
      auto [it, inserted] = seen.emplace(d.key(), where);
      if (!inserted) {
        all.push_back({file.path, d.first_line + 1, 1,
                       "duplicate " + d.displayName() + " (first at " + it->second + ")", false});
        continue;
      }
      docs.push_back(std::make_shared<Document>(std::move(d)));
    }
  }
  if (!mesh::hasErrors(all)) {
    for (auto& e : validateDocuments(docs)) all.push_back(std::move(e));
  }
  promoteReferences(all);
  std::vector<std::string> errors, warnings;
  for (mesh::ConfigError e : all) {
    const bool warning = e.warning;
    e.warning = false;
    (warning ? warnings : errors).push_back(e.format());
  }
  return report(errors, warnings, f.common, docs.size(), files.size());
}

// === ca status / ca rotate =====================================================================

struct CaFlags {
  Common common;
  std::string ca_dir;  // rotate: an operator's new plug-in CA directory (on the server's host)
};

int runCa(const CaFlags& f, bool rotate) {
  auto client = makeClient(f.common);
  if (!client) return kFailed;
  std::string body;
  if (rotate) body = f.ca_dir.empty() ? "{}" : json{{"ca_dir", f.ca_dir}}.dump();
  Reply reply =
      rotate ? client->call("POST", "/v1/ca/rotate", &body) : client->call("GET", "/v1/ca");
  if (!reply.ok()) return fail(describeFailure(*client, reply));
  auto j = answerJson(*client, reply);
  if (!j) return kFailed;
  if (f.common.json()) {
    printJson(*j);
    return 0;
  }
  if (rotate) std::cout << "root rotation started\n";
  std::cout << formatCaStatus(*j);
  return 0;
}

// === status ===================================================================================

int runStatus(const Common& c) {
  auto client = makeClient(c);
  if (!client) return kFailed;
  Reply reply = client->call("GET", "/v1/nodes");
  if (!reply.ok()) return fail(describeFailure(*client, reply));
  auto j = answerJson(*client, reply);
  if (!j) return kFailed;
  if (c.json()) {
    printJson(*j);
    return 0;
  }
  if (!j->is_array() || j->empty()) {
    std::cerr << "no sidecars are registered\n";
    return 0;
  }
  std::cout << formatStatus(*j);
  return 0;
}

// === explain ==================================================================================

struct ExplainFlags {
  Common common;
  std::string from;
  std::string url;
  std::string method;
  std::vector<std::string> headers;
};

// A VirtualService applied from a directory is named by the directory, its lines counted in
// the combined text: when that directory is here and still holds the same text, the position
// in the user's file.
std::optional<std::string> localRouteSource(const Client& client, const std::string& route_name,
                                            const std::string& source) {
  // source: "DIR:LINE[:COL]"
  std::string dir = source;
  for (int i = 0; i < 2; ++i) {
    size_t colon = dir.rfind(':');
    if (colon == std::string::npos || colon + 1 == dir.size() ||
        dir.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
      break;
    }
    dir.resize(colon);
  }
  std::error_code ec;
  if (dir.empty() || dir == source || !std::filesystem::is_directory(dir, ec)) return std::nullopt;
  std::vector<InputFile> files;
  std::string error;
  if (!gatherFiles({dir}, files, error) || files.size() < 2) return std::nullopt;
  const Bundle bundle = makeBundle(files, dir);
  std::string mapped = mapPosition(bundle, source + ": x");
  if (mapped.size() < 3 || mapped == source + ": x") return std::nullopt;
  mapped.resize(mapped.size() - 3);
  // The route name is "<vs>.<namespace>[.<rule>]": check the stored document is in that file.
  size_t dot = route_name.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string vs = route_name.substr(0, dot);
  const std::string ns = route_name.substr(dot + 1, route_name.find('.', dot + 1) - dot - 1);
  Reply reply = client.call(
      "GET", "/v1/resources/VirtualService/" + percentEncode(ns) + "/" + percentEncode(vs));
  if (!reply.ok()) return std::nullopt;
  json doc = json::parse(reply.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("yaml")) return std::nullopt;
  const std::string text = doc.value("yaml", "");
  for (const auto& file : files) {
    if (mapped.rfind(file.path + ":", 0) == 0) {
      if (!text.empty() && file.text.find(text) != std::string::npos) return mapped;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

int runExplain(const ExplainFlags& f) {
  std::string path = "/v1/explain?from=" + percentEncode(f.from) + "&url=" + percentEncode(f.url);
  if (!f.method.empty()) path += "&method=" + percentEncode(f.method);
  for (const auto& h : f.headers) {
    if (h.find(':') == std::string::npos) return fail("-H expects 'name: value', not '" + h + "'");
    path += "&header=" + percentEncode(h);
  }
  auto client = makeClient(f.common);
  if (!client) return kFailed;
  Reply reply = client->call("GET", path);
  if (!reply.ok()) return fail(describeFailure(*client, reply));
  auto j = answerJson(*client, reply);
  if (!j) return kFailed;
  if (j->contains("route") && (*j)["route"].is_object()) {
    json& route = (*j)["route"];
    if (auto local =
            localRouteSource(*client, route.value("name", ""), route.value("source", ""))) {
      route["local_source"] = *local;
    }
  }
  if (f.common.json()) {
    printJson(*j);
  } else {
    std::cout << formatExplain(*j);
  }
  return 0;
}

}  // namespace

void registerClientCommands(CLI::App& app, std::function<int()>& run) {
  for (bool remove : {false, true}) {
    auto flags = std::make_shared<ChangeFlags>();
    CLI::App* cmd =
        app.add_subcommand(remove ? "delete" : "apply",
                           remove ? "delete the resources named in YAML files (all or nothing)"
                                  : "create or update resources from YAML files (all or nothing)");
    cmd->add_option("-f,--filename", flags->files,
                    "a YAML file, or a directory of *.yaml / *.yml files (repeatable)")
        ->required();
    addCommon(cmd, flags->common);
    cmd->callback(
        [&run, flags, remove] { run = [flags, remove] { return runChange(*flags, remove); }; });
  }
  {
    auto flags = std::make_shared<GetFlags>();
    CLI::App* cmd = app.add_subcommand("get", "list resources, or show one");
    cmd->add_option("kind", flags->kind,
                    "kind (VirtualService, vs, destinationrules, dr, se, we, ..., or all)")
        ->required();
    cmd->add_option("name", flags->name, "NAME (namespace default) or NAMESPACE/NAME");
    cmd->add_option("-n,--namespace", flags->namespace_name,
                    "only this namespace (and the namespace of a NAME without one)");
    addCommon(cmd, flags->common, /*with_yaml=*/true);
    cmd->callback([&run, flags] { run = [flags] { return runGet(*flags); }; });
  }
  {
    auto flags = std::make_shared<ValidateFlags>();
    CLI::App* cmd = app.add_subcommand(
        "validate",
        "check YAML files: offline with the mesh library, or against --server when given");
    cmd->add_option("files", flags->files, "YAML files or directories")->required();
    addCommon(cmd, flags->common);
    cmd->callback([&run, flags] { run = [flags] { return runValidate(*flags); }; });
  }
  {
    auto flags = std::make_shared<Common>();
    CLI::App* cmd =
        app.add_subcommand("status", "one line per registered sidecar: version, sync state");
    addCommon(cmd, *flags);
    cmd->callback([&run, flags] { run = [flags] { return runStatus(*flags); }; });
  }
  {
    CLI::App* ca = app.add_subcommand("ca", "the certificate authority: its roots and rotation");
    ca->require_subcommand(1);
    for (bool rotate : {false, true}) {
      auto flags = std::make_shared<CaFlags>();
      CLI::App* cmd = ca->add_subcommand(
          rotate ? "rotate" : "status",
          rotate ? "start a root rotation: a new root (or --ca-dir's CA) is trusted, then signs"
                 : "the trust bundle's roots and the rotation phase");
      if (rotate) {
        cmd->add_option("--ca-dir", flags->ca_dir,
                        "a new plug-in CA directory on the server's host (default: a new root "
                        "made by the control plane)");
      }
      addCommon(cmd, flags->common);
      cmd->callback(
          [&run, flags, rotate] { run = [flags, rotate] { return runCa(*flags, rotate); }; });
    }
  }
  {
    auto flags = std::make_shared<ExplainFlags>();
    CLI::App* cmd = app.add_subcommand(
        "explain", "show how a workload's sidecar routes a request (route, destinations, policy)");
    cmd->add_option("--from", flags->from, "the calling workload (or node id)")->required();
    cmd->add_option("url", flags->url, "http://HOST[:PORT]/PATH")->required();
    cmd->add_option("-H,--header", flags->headers, "a request header 'name: value' (repeatable)");
    cmd->add_option("-X,--method", flags->method, "request method (default GET)");
    addCommon(cmd, flags->common);
    cmd->callback([&run, flags] { run = [flags] { return runExplain(*flags); }; });
  }
}

}  // namespace weft::control::cli
