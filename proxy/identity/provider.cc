// IdentityProvider (see provider.h).
#include "identity/provider.h"

#include <atomic>

namespace weft::identity {

namespace {

// One sequence for the process: an identity's generation says which one is newer, across
// providers too.
std::atomic<uint64_t> g_generation{0};

}  // namespace

IdentityPtr IdentityProvider::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void IdentityProvider::publish(WorkloadIdentity identity) {
  identity.generation = g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
  auto ptr = std::make_shared<const WorkloadIdentity>(std::move(identity));
  {
    std::lock_guard lock(mutex_);
    current_ = ptr;
  }
  if (on_change_) on_change_(ptr);
}

}  // namespace weft::identity
