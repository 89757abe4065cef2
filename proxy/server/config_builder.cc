// ConfigBuilder (see config_builder.h).
#include "server/config_builder.h"

namespace weft::server {

ConfigBuilder::ConfigBuilder() {
  for (Lane& lane : lanes_) lane.thread = std::thread([&lane] { serve(lane); });
}

ConfigBuilder::~ConfigBuilder() {
  for (Lane& lane : lanes_) {
    {
      std::lock_guard lock(lane.mutex);
      lane.stop = true;
    }
    lane.cv.notify_all();
    lane.thread.join();
  }
}

void ConfigBuilder::serve(Lane& lane) {
  std::unique_lock lock(lane.mutex);
  while (true) {
    lane.cv.wait(lock, [&] { return lane.stop || lane.job != nullptr; });
    if (lane.job == nullptr) return;  // stopping
    const auto* job = lane.job;
    lock.unlock();
    mesh::LoadResult result = (*job)();
    lock.lock();
    lane.result = std::move(result);
    lane.job = nullptr;
    lane.done = true;
    lane.cv.notify_all();
  }
}

mesh::LoadResult ConfigBuilder::run(const std::function<mesh::LoadResult()>& load) {
  Lane& lane = lanes_[next_];
  next_ = 1 - next_;
  std::unique_lock lock(lane.mutex);
  lane.job = &load;
  lane.done = false;
  lane.cv.notify_all();
  lane.cv.wait(lock, [&] { return lane.done; });
  lane.done = false;
  return std::move(lane.result);
}

}  // namespace weft::server
