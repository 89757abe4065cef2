// IdentityProvider: where the sidecar's WorkloadIdentity comes from. Two implementations:
// FileIdentityProvider (static mode: certificate, key and CA files named by the bootstrap,
// reloaded when they change) and CsrIdentityProvider (dynamic mode: a key made in memory and a
// certificate signed by the control plane's CA, renewed at about half its lifetime).
//
// Threads: each provider works on a thread of its own. current() may be called from any
// thread. The callbacks run on the provider's thread: a receiver that lives on a libuv loop
// hands the news over itself (the server uses a uv_async_t). Set the callbacks before start().
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "identity/identity.h"

namespace weft::identity {

class IdentityProvider {
 public:
  // A new identity is current (the first one, or a renewal / reload).
  using ChangeCallback = std::function<void(const IdentityPtr&)>;
  // The outcome of one attempt to get a new identity: ok, or the reason it failed (the current
  // identity, if any, stays in place).
  using ResultCallback = std::function<void(bool ok, const std::string& error)>;

  virtual ~IdentityProvider() = default;
  IdentityProvider(const IdentityProvider&) = delete;
  IdentityProvider& operator=(const IdentityProvider&) = delete;

  // Starts the provider's thread. The first identity may already be current (file provider) or
  // arrive later (CSR provider).
  virtual void start() = 0;
  // Ends the thread (at once: a request in flight or a wait is interrupted). Idempotent.
  virtual void stop() = 0;
  // "files" or "control_plane": for logs and GET /certs.
  virtual const char* source() const = 0;

  // Any thread: the current identity, null until there is one.
  IdentityPtr current() const;
  void onChange(ChangeCallback callback) { on_change_ = std::move(callback); }
  void onResult(ResultCallback callback) { on_result_ = std::move(callback); }

 protected:
  IdentityProvider() = default;
  // Makes `identity` current (with a new generation) and calls the change callback.
  void publish(WorkloadIdentity identity);
  void report(bool ok, const std::string& error) const {
    if (on_result_) on_result_(ok, error);
  }

 private:
  mutable std::mutex mutex_;
  IdentityPtr current_;  // guarded by mutex_
  ChangeCallback on_change_;
  ResultCallback on_result_;
};

}  // namespace weft::identity
