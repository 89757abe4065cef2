// HeaderMap: the header fields of one HTTP message, in arrival order.
//
// All names and values live in one contiguous buffer, and clear() keeps its capacity, so a
// connection that reuses its HeaderMap allocates nothing per request once warmed up.
// Name comparisons are ASCII case-insensitive (RFC 9110 §5.1); values are kept byte-exact.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {

// ASCII case-insensitive equality (header names, hosts).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

class HeaderMap {
 public:
  // Appends a field (duplicates allowed, as on the wire).
  void add(std::string_view name, std::string_view value);
  // Replaces every field named `name` with one field (appended if absent).
  void set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t remove(std::string_view name);
  // The first field named `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  // How many fields are named `name`.
  size_t count(std::string_view name) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::string_view name(size_t i) const;
  std::string_view value(size_t i) const;
  // Bytes of names and values, as a rough wire size.
  size_t byteSize() const { return bytes_; }
  void clear();

  // Removes every field for whose name `pred(name)` is true, in one pass; returns how many.
  template <class Pred>
  size_t removeIf(Pred&& pred) {
    size_t out = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (pred(name(i))) {
        bytes_ -= entries_[i].name_len + entries_[i].value_len;
      } else {
        entries_[out++] = entries_[i];
      }
    }
    const size_t removed = entries_.size() - out;
    entries_.resize(out);
    return removed;
  }

  template <class F>
  void forEach(F&& f) const {
    for (size_t i = 0; i < entries_.size(); ++i) f(name(i), value(i));
  }

 private:
  struct Entry {
    uint32_t name_off, name_len, value_off, value_len;
  };
  // True when `s` points into buf_ (a view of one of our own fields).
  bool aliases(std::string_view s) const;
  // Copies `s` to the end of buf_ (safe when `s` aliases it); returns its offset.
  uint32_t append(std::string_view s);
  // Drops dead bytes left by remove()/set() once they dominate the buffer.
  void maybeCompact(std::string_view name, std::string_view value);

  std::string buf_;
  std::vector<Entry> entries_;
  size_t bytes_ = 0;
  std::string spare_;  // compaction target, kept to reuse its capacity
};

}  // namespace weft::http
