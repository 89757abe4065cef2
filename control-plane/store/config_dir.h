// ConfigDir: loads every *.yaml / *.yml file of the config directory into the store and keeps
// watching it (inotify through uv_fs_event, plus a periodic rescan as a safety net). A file
// with errors is rejected and logged with positions; the last good version of that file keeps
// serving until it is fixed.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>

#include "mesh/config_error.h"
#include "store/store.h"

namespace weft::control {

class ConfigDir {
 public:
  // Called after each file accepted or rejected: (file, errors and warnings, accepted).
  using Report =
      std::function<void(const std::string& file, const mesh::ConfigErrors& errors, bool accepted)>;

  ConfigDir(uv_loop_t* loop, Store& store, std::string dir, Report report);
  ~ConfigDir();
  ConfigDir(const ConfigDir&) = delete;
  ConfigDir& operator=(const ConfigDir&) = delete;

  // Loads the directory now. Returns false if it cannot be read.
  bool scan();
  // Starts watching (returns 0 or a libuv error).
  int watch(uint64_t rescan_interval_ms = 2000);
  void stop();
  // Files rejected at their latest version: file -> errors.
  const std::map<std::string, mesh::ConfigErrors>& rejected() const { return rejected_; }

 private:
  static void eventCb(uv_fs_event_t* handle, const char* filename, int events, int status);
  static void timerCb(uv_timer_t* timer);
  void scheduleScan(uint64_t delay_ms);

  uv_loop_t* loop_;
  Store& store_;
  std::string dir_;
  Report report_;
  uv_fs_event_t* event_ = nullptr;  // heap: freed by libuv's close callback
  uv_timer_t* timer_ = nullptr;
  uint64_t rescan_interval_ms_ = 2000;
  std::map<std::string, std::string> seen_;  // file -> latest text read
  std::map<std::string, mesh::ConfigErrors> rejected_;
};

// True for the names ConfigDir loads: *.yaml or *.yml, not hidden, not an editor's temp file.
bool isConfigFileName(const std::string& name);

}  // namespace weft::control
