// StopSignal (see stop_signal.h).
#include "identity/stop_signal.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

namespace weft::identity {

StopSignal::StopSignal() {
  if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) pipe_[0] = pipe_[1] = -1;
}

StopSignal::~StopSignal() {
  for (int fd : pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void StopSignal::fire() {
  if (fired_.exchange(true)) return;
  if (pipe_[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(pipe_[1], &byte, 1);
  }
}

bool StopSignal::sleepFor(uint32_t ms) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!fired_.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return true;
    pollfd p{pipe_[0], POLLIN, 0};
    ::poll(&p, pipe_[0] >= 0 ? 1 : 0, static_cast<int>(left));
  }
  return false;
}

}  // namespace weft::identity
