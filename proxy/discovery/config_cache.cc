// The configuration cache (see config_cache.h).
#include "discovery/config_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace weft::discovery {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFormatKey = "weft_config_cache";
constexpr int kFormat = 1;
constexpr size_t kMaxCacheBytes = 64 * 1024 * 1024;

bool writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string configCacheJson(const mesh::PushedConfig& config) {
  Json j;
  j[kFormatKey] = kFormat;
  j["version"] = config.version;
  j["built_from"] = config.built_from;
  j["resources"] = config.resources();
  return j.dump(2) + "\n";
}

std::optional<mesh::PushedConfig> parseConfigCache(std::string_view text, std::string& error) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    error = "not JSON (truncated or not written by weft-proxy)";
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  auto f = j.find(kFormatKey);
  if (f == j.end() || !f->is_number_integer() || f->get<int64_t>() != kFormat) {
    error = std::string("no '") + kFormatKey + "': " + std::to_string(kFormat) +
            " (not a configuration cache of this weft-proxy version)";
    return std::nullopt;
  }
  mesh::PushedConfig c;
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_unsigned()) {
    error = "no unsigned integer 'version'";
    return std::nullopt;
  }
  c.version = v->get<uint64_t>();
  auto r = j.find("resources");
  if (r == j.end() || !r->is_string()) {
    error = "no string 'resources'";
    return std::nullopt;
  }
  c.setResources(r->get_ref<const std::string&>());
  if (auto bf = j.find("built_from"); bf != j.end() && !bf->is_null()) {
    if (!bf->is_array()) {
      error = "'built_from' is not a list";
      return std::nullopt;
    }
    for (const auto& item : *bf) {
      if (!item.is_string()) {
        error = "'built_from' holds a non-string";
        return std::nullopt;
      }
      c.built_from.push_back(item.get<std::string>());
    }
  }
  c.from_cache = true;
  return c;
}

bool writeConfigCache(const std::string& path, const mesh::PushedConfig& config,
                      std::string& error) {
  std::string text = configCacheJson(config);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, 0600);  // O_CREAT's mode is masked by the umask, and the file may have existed
  bool ok = writeAll(fd, text);
  int saved = errno;
  if (ok && ::fsync(fd) != 0) {
    ok = false;
    saved = errno;
  }
  ::close(fd);
  if (!ok) {
    error = "cannot write " + tmp + ": " + std::strerror(saved);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<mesh::PushedConfig> readConfigCache(const std::string& path, std::string& error) {
  error.clear();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    error = std::string("cannot be read: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "is not a regular file";
    return std::nullopt;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxCacheBytes) {
    error = "is larger than " + std::to_string(kMaxCacheBytes) + " bytes";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot be read";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseConfigCache(text.str(), error);
}

}  // namespace weft::discovery
