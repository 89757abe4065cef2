// FileIdentityProvider (see file_provider.h).
#include "identity/file_provider.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "identity/certificate.h"
#include "server/log.h"

namespace weft::identity {

namespace {

using server::LogLevel;
using server::logLine;

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return false;
  out = buf.str();
  return true;
}

}  // namespace

std::optional<WorkloadIdentity> loadIdentityFiles(const IdentityFiles& files, std::string& error) {
  std::string cert, key, ca;
  for (auto [path, out] :
       {std::pair{&files.certificate, &cert}, std::pair{&files.private_key, &key},
        std::pair{&files.ca_certificates, &ca}}) {
    if (!readFile(*path, *out)) {
      error = "cannot read '" + *path + "'";
      return std::nullopt;
    }
  }
  return buildIdentity(cert, key, ca, error);
}

IdentityFiles identityFiles(const mesh::IdentityFilesConfig& config) {
  return IdentityFiles{config.certificate, config.private_key, config.ca_certificates};
}

std::optional<mesh::ConfigError> checkIdentityFiles(const mesh::IdentityFilesConfig& config) {
  std::string error;
  if (loadIdentityFiles(identityFiles(config), error)) return std::nullopt;
  mesh::ConfigError e;
  e.file = config.file;
  e.line = config.line;
  e.column = config.column;
  e.message = "identity: " + error;
  return e;
}

FileIdentityProvider::FileIdentityProvider(IdentityFiles files, std::string& error,
                                           uint32_t poll_interval_ms)
    : files_(std::move(files)), poll_interval_ms_(poll_interval_ms) {
  loaded_ = stamps();
  if (auto id = loadIdentityFiles(files_, error)) {
    publish(std::move(*id));
    report(true, "");
  }
}

FileIdentityProvider::~FileIdentityProvider() {
  stop();
}

void FileIdentityProvider::start() {
  if (loop_) {
    if (timer_) return;
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    uv_timer_start(
        timer_, [](uv_timer_t* t) { static_cast<FileIdentityProvider*>(t->data)->pollOnce(); },
        poll_interval_ms_, poll_interval_ms_);
    return;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void FileIdentityProvider::stop() {
  if (timer_) {
    uv_timer_stop(timer_);
    // The handle outlives this object if the loop has not run its close callback yet.
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  stop_.fire();
  if (thread_.joinable()) thread_.join();
}

FileIdentityProvider::Stamps FileIdentityProvider::stamps() const {
  auto one = [](const std::string& path) {
    Stamp s;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      s.size = static_cast<int64_t>(st.st_size);
      s.inode = static_cast<uint64_t>(st.st_ino);
    }
    return s;
  };
  return Stamps{one(files_.certificate), one(files_.private_key), one(files_.ca_certificates)};
}

bool FileIdentityProvider::pollOnce() {
  Stamps now = stamps();
  if (now == loaded_) {
    seen_.reset();
    return false;
  }
  if (!seen_ || !(*seen_ == now)) {  // still changing: wait for one quiet interval
    seen_ = now;
    return false;
  }
  seen_.reset();
  loaded_ = now;
  std::string error;
  auto id = loadIdentityFiles(files_, error);
  if (!id) {
    IdentityPtr cur = current();
    logLine(LogLevel::kWarning,
            "identity files changed but were rejected (" + error + "); " +
                (cur ? "keeping " + cur->spiffe_id + " valid until " + isoTime(cur->not_after)
                     : std::string("still no identity")));
    report(false, error);
    return false;
  }
  report(true, "");  // counted before it shows (see CsrIdentityProvider::renewOnce)
  publish(std::move(*id));
  return true;
}

void FileIdentityProvider::run() {
  while (stop_.sleepFor(poll_interval_ms_)) pollOnce();
}

}  // namespace weft::identity
