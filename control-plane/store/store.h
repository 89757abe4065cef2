// Store: every Istio-format resource the control plane knows, in three layers: files of the
// config directory, resources applied through the API (persisted under the data directory),
// and WorkloadEntries of registered nodes. A key (kind/namespace/name) belongs to one layer.
//
// Every accepted change bumps a monotonic revision (persisted, so it keeps growing across
// restarts). A change is accepted only if the whole resulting set parses and compiles (errors
// positioned as source:line:col); a rejected change leaves the store as it was.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mesh/config_error.h"
#include "store/document.h"

namespace weft::control {

struct AppliedItem {
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string action;  // created, updated, unchanged, deleted
};

struct ChangeResult {
  bool ok = false;
  std::vector<AppliedItem> items;
  mesh::ConfigErrors errors;  // errors and warnings
  bool not_found = false;     // delete: a named resource does not exist
  bool conflict = false;      // the resource belongs to another layer
};

// Parses and compiles a set of documents as a sidecar would (WorkloadEntry and Sidecar
// documents are read by the control plane itself, see readDocuments). Errors and warnings.
mesh::ConfigErrors validateDocuments(const std::vector<DocumentPtr>& docs);

class Store {
 public:
  enum class Layer { kFile, kApi, kRegistry };

  // `data_dir` empty: API resources are kept in memory only.
  explicit Store(std::string data_dir = {}) : data_dir_(std::move(data_dir)) {}

  // Loads the persisted API resources and revision. Returns false (with errors) if the data
  // directory holds unreadable state.
  bool loadPersisted(mesh::ConfigErrors& errors);

  // === API layer ===
  ChangeResult apply(const std::string& text, const std::string& source);
  ChangeResult remove(const std::string& text, const std::string& source);
  // Checks `text` as if applied (nothing changes).
  ChangeResult validate(const std::string& text, const std::string& source);

  // === Config directory layer (file names relative to the directory) ===
  ChangeResult setFile(const std::string& file, const std::string& text);
  // Several files as one change when the result is valid (one revision, one compile); else
  // file by file, so that a bad file rejects only itself. Results by file name.
  std::map<std::string, ChangeResult> setFiles(const std::map<std::string, std::string>& texts);
  void removeFile(const std::string& file);
  std::vector<std::string> files() const;

  // === Registry layer (documents built by the control plane, not validated) ===
  // Returns true if the store changed.
  bool putRegistryDocument(Document doc);
  bool removeRegistryDocument(const std::string& key);

  // Bumps the revision without changing a document: for changes outside the store that
  // change what is pushed (a node's on-demand interest).
  void touch() { commit(entries_); }

  DocumentPtr find(const std::string& key) const;
  // The layer of `key` (kApi when absent: check find() first).
  Layer layerOf(const std::string& key) const;
  // Every document, sorted by key.
  std::vector<DocumentPtr> all() const;
  uint64_t revision() const { return revision_; }
  // Called after every accepted change (revision bumped).
  void setOnChange(std::function<void()> fn) { on_change_ = std::move(fn); }

 private:
  struct Entry {
    DocumentPtr doc;
    Layer layer;
    std::string file;  // kFile: the file
  };
  using Entries = std::map<std::string, Entry>;

  // Reads `text` and checks the documents against other layers. Returns false on errors.
  bool prepare(const std::string& text, const std::string& source, Layer layer,
               const std::string& file, std::vector<Document>& docs, ChangeResult& result) const;
  // The entries as they would be with `docs` put in (replacing `drop` first).
  Entries candidate(const std::vector<Document>& docs, Layer layer, const std::string& file,
                    const std::vector<std::string>& drop) const;
  // The entry `d` makes (the current one when unchanged, keeping its revision).
  Entry entryFor(const Document& d, Layer layer, const std::string& file) const;
  static std::vector<DocumentPtr> documentsOf(const Entries& entries);
  void commit(Entries next);
  void persist();
  std::string describeOwner(const Entry& e) const;

  std::string data_dir_;
  Entries entries_;
  uint64_t revision_ = 0;
  std::function<void()> on_change_;
};

}  // namespace weft::control
