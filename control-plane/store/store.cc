// Store: layers, validation, revision and persistence (see store.h).
#include "store/store.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "mesh/bootstrap.h"
#include "mesh/compiler.h"
#include "mesh/resources.h"

namespace weft::control {

namespace {

constexpr const char* kApiFile = "api-resources.yaml";
constexpr const char* kRevisionFile = "revision";

bool readFile(const std::filesystem::path& path, std::string& out) {
  return mesh::readWholeFile(path.string(), out);
}

// Writes through a temporary file and a rename, so a crash never leaves half a file.
bool writeFileAtomic(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << text;
    out.flush();
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

mesh::ConfigErrors validateDocuments(const std::vector<DocumentPtr>& docs) {
  std::set<std::string> selecting;  // "ServiceEntry ns/name" of those with a workloadSelector
  for (const DocumentPtr& d : docs) {
    if (d->kind == "ServiceEntry" && d->selector) selecting.insert(d->displayName());
  }
  // Each document is parsed once, when first validated; the set is compiled as a whole.
  mesh::ParseResult parsed = mergeParsed(docs);
  mesh::ConfigErrors errors = std::move(parsed.errors);
  if (!mesh::hasErrors(errors)) {
    mesh::Bootstrap bootstrap;
    bootstrap.node.id = "weft-control-validation";
    bootstrap.node.workload = "weft-control-validation";
    mesh::compileSnapshot(bootstrap, parsed.resources, errors);
  }
  // The control plane resolves workloadSelector itself (into endpoints): the parser's warnings
  // about it do not apply.
  mesh::ConfigErrors out;
  for (auto& e : errors) {
    if (e.warning && (e.message.find("'workloadSelector'") != std::string::npos ||
                      e.message.find("'exportTo'") != std::string::npos)) {
      continue;
    }
    if (e.warning && e.message.find(" has no endpoints") != std::string::npos) {
      bool skip = false;
      for (const auto& s : selecting) {
        if (e.message.rfind(s + " has no endpoints", 0) == 0) skip = true;
      }
      if (skip) continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string Store::describeOwner(const Entry& e) const {
  switch (e.layer) {
    case Layer::kFile:
      return "the config directory file " + e.file;
    case Layer::kApi:
      return "the API";
    case Layer::kRegistry:
      return "the registry (a registered node)";
  }
  return "?";
}

bool Store::prepare(const std::string& text, const std::string& source, Layer layer,
                    const std::string& file, std::vector<Document>& docs,
                    ChangeResult& result) const {
  ReadResult read = readDocuments(text, source);
  result.errors = std::move(read.errors);
  std::set<std::string> keys;
  for (Document& d : read.documents) {
    if (!keys.insert(d.key()).second) {
      result.errors.push_back(
          {source, d.first_line + 1, 1, "duplicate " + d.displayName() + " in this text", false});
      continue;
    }
    auto it = entries_.find(d.key());
    if (it != entries_.end() &&
        (it->second.layer != layer || (layer == Layer::kFile && it->second.file != file))) {
      result.errors.push_back({source, d.first_line + 1, 1,
                               d.displayName() + " is already defined by " +
                                   describeOwner(it->second) + "; change it there",
                               false});
      result.conflict = true;
      continue;
    }
  }
  docs = std::move(read.documents);
  return !mesh::hasErrors(result.errors);
}

Store::Entries Store::candidate(const std::vector<Document>& docs, Layer layer,
                                const std::string& file,
                                const std::vector<std::string>& drop) const {
  Entries next = entries_;
  for (const auto& k : drop) next.erase(k);
  for (const Document& d : docs) next[d.key()] = entryFor(d, layer, file);
  return next;
}

Store::Entry Store::entryFor(const Document& d, Layer layer, const std::string& file) const {
  auto old = entries_.find(d.key());
  if (old != entries_.end() && old->second.doc->text == d.text && old->second.layer == layer) {
    return old->second;  // unchanged: keeps its revision
  }
  auto doc = std::make_shared<Document>(d);
  doc->revision = revision_ + 1;
  return Entry{std::move(doc), layer, file};
}

std::vector<DocumentPtr> Store::documentsOf(const Entries& entries) {
  std::vector<DocumentPtr> out;
  out.reserve(entries.size());
  for (const auto& [k, e] : entries) out.push_back(e.doc);
  return out;
}

ChangeResult Store::validate(const std::string& text, const std::string& source) {
  ChangeResult result;
  std::vector<Document> docs;
  if (!prepare(text, source, Layer::kApi, {}, docs, result)) return result;
  mesh::ConfigErrors errs = validateDocuments(documentsOf(candidate(docs, Layer::kApi, {}, {})));
  for (auto& e : errs) result.errors.push_back(std::move(e));
  result.ok = !mesh::hasErrors(result.errors);
  return result;
}

ChangeResult Store::apply(const std::string& text, const std::string& source) {
  ChangeResult result;
  std::vector<Document> docs;
  if (!prepare(text, source, Layer::kApi, {}, docs, result)) return result;
  if (docs.empty()) {
    result.errors.push_back({source, 0, 0, "no resources in the request", false});
    return result;
  }
  Entries next = candidate(docs, Layer::kApi, {}, {});
  mesh::ConfigErrors errs = validateDocuments(documentsOf(next));
  for (auto& e : errs) result.errors.push_back(std::move(e));
  if (mesh::hasErrors(result.errors)) return result;
  bool changed = false;
  for (const Document& d : docs) {
    auto old = entries_.find(d.key());
    std::string action = old == entries_.end()                  ? "created"
                         : next[d.key()].doc == old->second.doc ? "unchanged"
                                                                : "updated";
    if (action != "unchanged") changed = true;
    result.items.push_back({d.kind, d.namespace_name, d.name, action});
  }
  result.ok = true;
  if (changed) commit(std::move(next));
  return result;
}

ChangeResult Store::remove(const std::string& text, const std::string& source) {
  ChangeResult result;
  ReadResult read = readDocuments(text, source, /*identity_only=*/true);
  result.errors = std::move(read.errors);
  if (mesh::hasErrors(result.errors)) return result;
  if (read.documents.empty()) {
    result.errors.push_back({source, 0, 0, "no resources in the request", false});
    return result;
  }
  Entries next = entries_;
  for (const Document& d : read.documents) {
    auto it = entries_.find(d.key());
    if (it == entries_.end()) {
      result.errors.push_back(
          {source, d.first_line + 1, 1, d.displayName() + " does not exist", false});
      result.not_found = true;
      continue;
    }
    if (it->second.layer != Layer::kApi) {
      result.errors.push_back(
          {source, d.first_line + 1, 1,
           d.displayName() + " is defined by " + describeOwner(it->second) + "; remove it there",
           false});
      result.conflict = true;
      continue;
    }
    if (next.erase(d.key()) == 0) continue;  // named twice
    result.items.push_back({d.kind, d.namespace_name, d.name, "deleted"});
  }
  if (mesh::hasErrors(result.errors)) {
    result.items.clear();
    return result;
  }
  result.ok = true;
  commit(std::move(next));
  return result;
}

ChangeResult Store::setFile(const std::string& file, const std::string& text) {
  ChangeResult result;
  std::vector<Document> docs;
  if (!prepare(text, file, Layer::kFile, file, docs, result)) return result;
  std::vector<std::string> drop;
  for (const auto& [k, e] : entries_) {
    if (e.layer == Layer::kFile && e.file == file) drop.push_back(k);
  }
  Entries next = candidate(docs, Layer::kFile, file, drop);
  mesh::ConfigErrors errs = validateDocuments(documentsOf(next));
  for (auto& e : errs) result.errors.push_back(std::move(e));
  if (mesh::hasErrors(result.errors)) return result;
  result.ok = true;
  bool changed = false;
  std::set<std::string> now;
  for (const Document& d : docs) {
    now.insert(d.key());
    auto old = entries_.find(d.key());
    std::string action = old == entries_.end()                  ? "created"
                         : next[d.key()].doc == old->second.doc ? "unchanged"
                                                                : "updated";
    if (action != "unchanged") changed = true;
    result.items.push_back({d.kind, d.namespace_name, d.name, action});
  }
  for (const auto& k : drop) {
    if (!now.count(k)) {
      changed = true;
      const Document& d = *entries_.at(k).doc;
      result.items.push_back({d.kind, d.namespace_name, d.name, "deleted"});
    }
  }
  if (changed) commit(std::move(next));
  return result;
}

std::map<std::string, ChangeResult> Store::setFiles(
    const std::map<std::string, std::string>& texts) {
  std::map<std::string, ChangeResult> results;
  if (texts.size() > 1) {
    Entries next = entries_;
    bool prepared = true;
    std::map<std::string, std::vector<Document>> docs_of;
    for (const auto& [file, text] : texts) {
      ChangeResult& r = results[file];
      std::vector<Document> docs;
      if (!prepare(text, file, Layer::kFile, file, docs, r)) {
        prepared = false;
        break;
      }
      for (auto it = next.begin(); it != next.end();) {
        const bool drop = it->second.layer == Layer::kFile && it->second.file == file;
        it = drop ? next.erase(it) : std::next(it);
      }
      docs_of[file] = std::move(docs);
    }
    // A key defined by two of the new files is a conflict the one-by-one path reports.
    std::set<std::string> keys;
    for (const auto& [file, docs] : docs_of) {
      for (const Document& d : docs) prepared = prepared && keys.insert(d.key()).second;
    }
    if (prepared) {
      for (const auto& [file, docs] : docs_of) {
        for (const Document& d : docs) next[d.key()] = entryFor(d, Layer::kFile, file);
      }
      mesh::ConfigErrors errs = validateDocuments(documentsOf(next));
      if (!mesh::hasErrors(errs)) {
        results.clear();
        for (const auto& [file, docs] : docs_of) {
          ChangeResult& r = results[file];
          r.ok = true;
          for (const Document& d : docs) {
            auto old = entries_.find(d.key());
            r.items.push_back({d.kind, d.namespace_name, d.name,
                               old == entries_.end()                  ? "created"
                               : next[d.key()].doc == old->second.doc ? "unchanged"
                                                                      : "updated"});
          }
          for (const auto& e : errs) {
            if (e.file == file) r.errors.push_back(e);
          }
        }
        commit(std::move(next));
        return results;
      }
    }
    results.clear();
  }
  for (const auto& [file, text] : texts) results[file] = setFile(file, text);
  return results;
}

void Store::removeFile(const std::string& file) {
  Entries next = entries_;
  bool changed = false;
  for (auto it = next.begin(); it != next.end();) {
    if (it->second.layer == Layer::kFile && it->second.file == file) {
      it = next.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed) commit(std::move(next));
}

std::vector<std::string> Store::files() const {
  std::set<std::string> out;
  for (const auto& [k, e] : entries_) {
    if (e.layer == Layer::kFile) out.insert(e.file);
  }
  return {out.begin(), out.end()};
}

bool Store::putRegistryDocument(Document doc) {
  auto it = entries_.find(doc.key());
  if (it != entries_.end()) {
    if (it->second.layer != Layer::kRegistry) return false;
    if (it->second.doc->text == doc.text) return false;
  }
  Entries next = entries_;
  doc.revision = revision_ + 1;
  doc.source = "registry";
  std::string key = doc.key();
  next[key] = Entry{std::make_shared<Document>(std::move(doc)), Layer::kRegistry, {}};
  commit(std::move(next));
  return true;
}

bool Store::removeRegistryDocument(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.layer != Layer::kRegistry) return false;
  Entries next = entries_;
  next.erase(key);
  commit(std::move(next));
  return true;
}

DocumentPtr Store::find(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.doc;
}

Store::Layer Store::layerOf(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? Layer::kApi : it->second.layer;
}

std::vector<DocumentPtr> Store::all() const {
  return documentsOf(entries_);
}

void Store::commit(Entries next) {
  bool api_changed = false;
  for (const auto& [k, e] : next) {
    auto it = entries_.find(k);
    if (e.layer == Layer::kApi && (it == entries_.end() || it->second.doc != e.doc)) {
      api_changed = true;
    }
  }
  for (const auto& [k, e] : entries_) {
    if (e.layer == Layer::kApi && !next.count(k)) api_changed = true;
  }
  entries_ = std::move(next);
  ++revision_;
  if (!data_dir_.empty()) {
    if (api_changed) persist();
    if (!writeFileAtomic(std::filesystem::path(data_dir_) / kRevisionFile,
                         std::to_string(revision_) + "\n")) {
      std::fprintf(stderr, "weft-control: cannot write %s/%s\n", data_dir_.c_str(), kRevisionFile);
    }
  }
  if (on_change_) on_change_();
}

void Store::persist() {
  std::string text = "# Resources applied through the weft-control API (rewritten on change).\n";
  for (const auto& [k, e] : entries_) {
    if (e.layer != Layer::kApi) continue;
    text += "---\n";
    text += e.doc->text;
    if (!e.doc->text.empty() && e.doc->text.back() != '\n') text += '\n';
  }
  if (!writeFileAtomic(std::filesystem::path(data_dir_) / kApiFile, text)) {
    std::fprintf(stderr, "weft-control: cannot write %s/%s\n", data_dir_.c_str(), kApiFile);
  }
}

bool Store::loadPersisted(mesh::ConfigErrors& errors) {
  if (data_dir_.empty()) return true;
  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  if (ec) {
    errors.push_back({data_dir_, 0, 0, "cannot create the data directory: " + ec.message(), false});
    return false;
  }
  std::string text;
  const auto rev_path = std::filesystem::path(data_dir_) / kRevisionFile;
  if (readFile(rev_path, text)) {
    try {
      revision_ = std::stoull(text);
    } catch (const std::exception&) {
      errors.push_back({rev_path.string(), 1, 1, "not a revision number", false});
      return false;
    }
  }
  const auto api_path = std::filesystem::path(data_dir_) / kApiFile;
  if (!readFile(api_path, text)) return true;
  ReadResult read = readDocuments(text, api_path.string());
  if (mesh::hasErrors(read.errors)) {
    for (auto& e : read.errors) errors.push_back(std::move(e));
    return false;
  }
  for (Document& d : read.documents) {
    d.source = "api";
    d.first_line = 0;
    d.revision = revision_;
    std::string key = d.key();
    entries_[key] = Entry{std::make_shared<Document>(std::move(d)), Layer::kApi, {}};
  }
  return true;
}

}  // namespace weft::control
