// ConfigBuilder: runs configuration loads (parse + compile) on two long-lived threads, in
// turn, and waits for each.
//
// Why: glibc gives each thread its own malloc arena, so consecutive snapshots are built in
// different arenas. A new snapshot is built while the old one still serves; when the old one
// is released, the arena that held it is left empty and malloc_trim gives it back to the
// system whole. Built on one thread, each snapshot would instead fill the holes of the last,
// and a sidecar with a large mesh would keep about twice its snapshot resident after a few
// configuration changes (measured with 1,000 services: see bench/ANALYSIS.md).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "mesh/snapshot.h"

namespace weft::server {

class ConfigBuilder {
 public:
  ConfigBuilder();
  ~ConfigBuilder();
  ConfigBuilder(const ConfigBuilder&) = delete;
  ConfigBuilder& operator=(const ConfigBuilder&) = delete;

  // Runs `load` on the next lane and returns its result (the caller's thread waits).
  mesh::LoadResult run(const std::function<mesh::LoadResult()>& load);

 private:
  struct Lane {
    std::thread thread;
    std::mutex mutex;
    std::condition_variable cv;
    const std::function<mesh::LoadResult()>* job = nullptr;
    mesh::LoadResult result;
    bool done = false;
    bool stop = false;
  };
  static void serve(Lane& lane);

  Lane lanes_[2];
  int next_ = 0;
};

}  // namespace weft::server
