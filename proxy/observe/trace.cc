// Correlation and trace ids: the per-thread random source, x-request-id (UUIDv4) and W3C
// Trace Context traceparent handling.
#include "observe/trace.h"

#include <openssl/rand.h>

#include <chrono>
#include <functional>
#include <thread>

namespace weft::observe {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// xoshiro256**: ids must be unpredictable enough not to collide across sidecars, not secret,
// so a CSPRNG call per id would be wasted work; the seed comes from the CSPRNG once per thread.
struct Xoshiro {
  uint64_t s[4];

  Xoshiro() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s), sizeof s) != 1) {
      // No entropy source: still differ between threads and runs.
      uint64_t x =
          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
          reinterpret_cast<uintptr_t>(this);
      for (auto& w : s) w = splitmix64(x);
    }
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;  // the all-zero state is a fixed point
  }

  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

constexpr char kHex[] = "0123456789abcdef";

void appendHex(std::string& out, uint64_t v, int digits) {
  // Formatted on the stack and appended once: this runs several times per request.
  char buf[16];
  for (int i = digits - 1; i >= 0; --i, v >>= 4) buf[i] = kHex[v & 0xf];
  out.append(buf, static_cast<size_t>(digits));
}

// W3C Trace Context allows lower-case hex only (HEXDIGLC).
bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool allZero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

uint64_t nonZeroRandom() {
  uint64_t v;
  do {
    v = random64();
  } while (v == 0);
  return v;
}

constexpr size_t kV0Length = 55;  // "00-" + 32 + "-" + 16 + "-" + 2

// Parses `h` as a traceparent; on success returns its trace id and flags. Future versions are
// read as their version-00 prefix, as the spec asks of a version-00 implementation.
bool parseTraceparent(std::string_view h, std::string_view& trace_id, std::string_view& flags) {
  if (h.size() < kV0Length) return false;
  const std::string_view version = h.substr(0, 2);
  if (!isLowerHex(version) || version == "ff") return false;
  if (version == "00") {
    if (h.size() != kV0Length) return false;
  } else if (h.size() > kV0Length && h[kV0Length] != '-') {
    return false;
  }
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  trace_id = h.substr(3, 32);
  const std::string_view parent_id = h.substr(36, 16);
  flags = h.substr(53, 2);
  if (!isLowerHex(trace_id) || !isLowerHex(parent_id) || !isLowerHex(flags)) return false;
  if (allZero(trace_id) || allZero(parent_id)) return false;
  if (version != "00") {
    // A later version may give the other flag bits another meaning; only "sampled" is
    // defined for every version.
    const char low = flags[1];
    const int nibble = low <= '9' ? low - '0' : low - 'a' + 10;
    flags = (nibble & 1) != 0 ? "01" : "00";
  }
  return true;
}

}  // namespace

uint64_t random64() {
  thread_local Xoshiro rng;
  return rng.next();
}

void newRequestId(std::string& out) {
  uint64_t hi = random64();
  uint64_t lo = random64();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;                         // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10xx
  out.clear();
  out.reserve(36);
  appendHex(out, hi >> 32, 8);
  out.push_back('-');
  appendHex(out, (hi >> 16) & 0xffff, 4);
  out.push_back('-');
  appendHex(out, hi & 0xffff, 4);
  out.push_back('-');
  appendHex(out, lo >> 48, 4);
  out.push_back('-');
  appendHex(out, lo & 0xffffffffffffULL, 12);
}

bool nextTraceparent(std::string_view incoming, std::string& out) {
  std::string_view trace_id, flags;
  const bool valid = !incoming.empty() && parseTraceparent(incoming, trace_id, flags);
  out.clear();
  out.reserve(kV0Length);
  out.append("00-");
  if (valid) {
    out.append(trace_id);
  } else {
    // A trace id must not be all zero; one non-zero half is enough.
    appendHex(out, random64(), 16);
    appendHex(out, nonZeroRandom(), 16);
  }
  out.push_back('-');
  appendHex(out, nonZeroRandom(), 16);
  out.push_back('-');
  out.append(valid ? flags : std::string_view("01"));
  return valid;
}

}  // namespace weft::observe
