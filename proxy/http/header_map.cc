// HeaderMap: field storage in one contiguous buffer, plus ASCII case-insensitive comparison.
//
// Invariant relied on by removeHopByHopHeaders(): remove() never moves bytes in the buffer, so
// views of the remaining fields stay valid across it. Only add()/set() may move bytes (growth
// or compaction), and clear() keeps the capacity of both the buffer and the entry vector.
#include "http/header_map.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace weft::http {

namespace {

inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Compaction only pays off once the dead bytes are both many and most of the buffer.
constexpr size_t kCompactMinGarbage = 4096;

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view HeaderMap::name(size_t i) const {
  const Entry& e = entries_[i];
  return {buf_.data() + e.name_off, e.name_len};
}

std::string_view HeaderMap::value(size_t i) const {
  const Entry& e = entries_[i];
  return {buf_.data() + e.value_off, e.value_len};
}

bool HeaderMap::aliases(std::string_view s) const {
  if (s.empty() || buf_.empty()) return false;
  // Compare as integers: relational operators on unrelated pointers are unspecified.
  const auto p = reinterpret_cast<uintptr_t>(s.data());
  const auto b = reinterpret_cast<uintptr_t>(buf_.data());
  return p >= b && p < b + buf_.size();
}

uint32_t HeaderMap::append(std::string_view s) {
  if (buf_.size() + s.size() > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("HeaderMap buffer over 4 GiB");
  }
  const auto off = static_cast<uint32_t>(buf_.size());
  if (aliases(s)) {
    // The source lives in buf_ itself: copy by offset, growth may move it.
    const size_t src = static_cast<size_t>(s.data() - buf_.data());
    buf_.resize(buf_.size() + s.size());
    std::memmove(buf_.data() + off, buf_.data() + src, s.size());
  } else {
    buf_.append(s.data(), s.size());
  }
  return off;
}

void HeaderMap::maybeCompact(std::string_view name, std::string_view value) {
  const size_t garbage = buf_.size() - bytes_;
  if (garbage < kCompactMinGarbage || garbage < bytes_) return;
  // Compaction moves every field; the caller's arguments may point into the buffer.
  if (aliases(name) || aliases(value)) return;
  spare_.clear();
  spare_.reserve(bytes_);
  for (Entry& e : entries_) {
    const auto name_off = static_cast<uint32_t>(spare_.size());
    spare_.append(buf_, e.name_off, e.name_len);
    const auto value_off = static_cast<uint32_t>(spare_.size());
    spare_.append(buf_, e.value_off, e.value_len);
    e.name_off = name_off;
    e.value_off = value_off;
  }
  buf_.swap(spare_);
  spare_.clear();
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  maybeCompact(name, value);
  // Either argument may be a view of this map: note where it lives, then grow the buffer
  // once, so that neither copy can be invalidated by the other's reallocation.
  const bool name_inside = aliases(name);
  const bool value_inside = aliases(value);
  const size_t name_src = name_inside ? static_cast<size_t>(name.data() - buf_.data()) : 0;
  const size_t value_src = value_inside ? static_cast<size_t>(value.data() - buf_.data()) : 0;
  const size_t total = buf_.size() + name.size() + value.size();
  if (total > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("HeaderMap buffer over 4 GiB");
  }
  if (total > buf_.capacity()) buf_.reserve(std::max(total, 2 * buf_.capacity()));
  const auto name_off = static_cast<uint32_t>(buf_.size());
  buf_.append(name_inside ? buf_.data() + name_src : name.data(), name.size());
  const auto value_off = static_cast<uint32_t>(buf_.size());
  buf_.append(value_inside ? buf_.data() + value_src : value.data(), value.size());
  entries_.push_back(Entry{name_off, static_cast<uint32_t>(name.size()), value_off,
                           static_cast<uint32_t>(value.size())});
  bytes_ += name.size() + value.size();
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  size_t first = entries_.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (equalsIgnoreCase(this->name(i), name)) {
      first = i;
      break;
    }
  }
  if (first == entries_.size()) {
    add(name, value);
    return;
  }
  Entry& e = entries_[first];
  if (value.size() <= e.value_len) {
    // Fits in the old slot: overwrite in place (memmove: value may overlap it).
    std::memmove(buf_.data() + e.value_off, value.data(), value.size());
  } else {
    maybeCompact(name, value);
    const uint32_t off = append(value);
    entries_[first].value_off = off;  // re-index: compaction kept entries_ but not `e`'s bytes
  }
  bytes_ -= entries_[first].value_len;
  entries_[first].value_len = static_cast<uint32_t>(value.size());
  bytes_ += value.size();
  // Drop later duplicates; this never moves bytes.
  size_t out = first + 1;
  for (size_t i = first + 1; i < entries_.size(); ++i) {
    if (equalsIgnoreCase(this->name(i), this->name(first))) {
      bytes_ -= entries_[i].name_len + entries_[i].value_len;
    } else {
      entries_[out++] = entries_[i];
    }
  }
  entries_.resize(out);
}

size_t HeaderMap::remove(std::string_view name) {
  size_t out = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (equalsIgnoreCase(this->name(i), name)) {
      bytes_ -= entries_[i].name_len + entries_[i].value_len;
    } else {
      entries_[out++] = entries_[i];
    }
  }
  const size_t removed = entries_.size() - out;
  entries_.resize(out);
  return removed;
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (equalsIgnoreCase(this->name(i), name)) return value(i);
  }
  return std::nullopt;
}

size_t HeaderMap::count(std::string_view name) const {
  size_t n = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (equalsIgnoreCase(this->name(i), name)) ++n;
  }
  return n;
}

void HeaderMap::clear() {
  buf_.clear();
  entries_.clear();
  bytes_ = 0;
}

}  // namespace weft::http
