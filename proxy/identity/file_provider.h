// FileIdentityProvider (static mode): the identity from three PEM files named by the bootstrap's
// `identity` section (certificate chain, private key, CA certificates), loaded at start and
// reloaded when they change. The files are polled (modification time, size, inode: a rename
// over a file counts, as Kubernetes secret mounts do it); a change is loaded once the files
// have stayed unchanged for one poll interval, so a set caught half-written is usually never
// read. A set that does not load (unreadable, key not the certificate's, chain not verifying,
// not exactly one spiffe:// URI SAN) is rejected with a log line and the current identity
// stays; it is tried again at the next change.
//
// Polling runs on the caller's libuv loop when given one (runOnLoop: the sidecar's main loop,
// so that a static sidecar with one worker stays a single-threaded process), else on a
// thread of its own.
#pragma once

#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "identity/provider.h"
#include "identity/stop_signal.h"
#include "mesh/bootstrap.h"
#include "mesh/config_error.h"

namespace weft::identity {

struct IdentityFiles {
  std::string certificate;      // PEM: the leaf, then intermediates
  std::string private_key;      // PEM, unencrypted
  std::string ca_certificates;  // PEM: the trust bundle
};

// Reads and checks the three files (certificate.h buildIdentity); nullopt and the reason in
// `error` (naming the file when one cannot be read).
std::optional<WorkloadIdentity> loadIdentityFiles(const IdentityFiles& files, std::string& error);

// The bootstrap's `identity` files, checked as loadIdentityFiles() does (at start and by
// --validate): nullopt if they load, else an error positioned at the `identity` key
// ("bootstrap.yaml:12:1: identity: the private key is not the key of the certificate").
std::optional<mesh::ConfigError> checkIdentityFiles(const mesh::IdentityFilesConfig& config);
IdentityFiles identityFiles(const mesh::IdentityFilesConfig& config);

class FileIdentityProvider : public IdentityProvider {
 public:
  // Loads the files at once: `error` is set (and current() stays null) if they do not load.
  FileIdentityProvider(IdentityFiles files, std::string& error, uint32_t poll_interval_ms = 2'000);
  ~FileIdentityProvider() override;

  // Before start(): poll with a timer on `loop` (the thread that runs it) instead of a thread.
  void runOnLoop(uv_loop_t* loop) { loop_ = loop; }
  void start() override;
  void stop() override;
  const char* source() const override { return "files"; }

  // One poll step, on the caller's thread (tests): reloads if the files changed and have been
  // stable since the previous call. True if a new identity was taken.
  bool pollOnce();

 private:
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct Stamps {
    Stamp cert, key, ca;
    bool operator==(const Stamps&) const = default;
  };
  Stamps stamps() const;
  void run();

  IdentityFiles files_;
  uint32_t poll_interval_ms_;
  Stamps loaded_;               // the stamps of the set last tried (loaded or rejected)
  std::optional<Stamps> seen_;  // a change seen at the previous poll, waiting to settle
  StopSignal stop_;
  std::thread thread_;
  uv_loop_t* loop_ = nullptr;
  uv_timer_t* timer_ = nullptr;  // on loop_; freed by its close callback
};

}  // namespace weft::identity
