// StopSignal: how a provider's thread is told to stop. A pipe, so that a blocking HTTP call
// (discovery/http_call.h polls it) and a timed wait both end at once.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::identity {

class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void fire();  // any thread; idempotent
  bool fired() const { return fired_.load(); }
  // Waits `ms` milliseconds; false if the signal fired first (or had fired).
  bool sleepFor(uint32_t ms) const;
  int fd() const { return pipe_[0]; }  // readable once fired

 private:
  int pipe_[2] = {-1, -1};
  std::atomic<bool> fired_{false};
};

}  // namespace weft::identity
