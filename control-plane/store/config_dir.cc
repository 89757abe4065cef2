// ConfigDir: loading and watching the config directory (see config_dir.h).
#include "store/config_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace weft::control {

namespace {

constexpr uint64_t kEventSettleMs = 30;  // let an editor finish writing before reading

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void closeFree(uv_handle_t* h) {
  if (h->type == UV_FS_EVENT) {
    delete reinterpret_cast<uv_fs_event_t*>(h);
  } else {
    delete reinterpret_cast<uv_timer_t*>(h);
  }
}

}  // namespace

bool isConfigFileName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '#' || name.back() == '~') return false;
  return endsWith(name, ".yaml") || endsWith(name, ".yml");
}

ConfigDir::ConfigDir(uv_loop_t* loop, Store& store, std::string dir, Report report)
    : loop_(loop), store_(store), dir_(std::move(dir)), report_(std::move(report)) {}

ConfigDir::~ConfigDir() {
  stop();
}

bool ConfigDir::scan() {
  std::error_code ec;
  std::map<std::string, std::string> texts;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!isConfigFileName(name) || !entry.is_regular_file(ec)) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    if (!in) continue;
    std::ostringstream ss;
    ss << in.rdbuf();
    texts[name] = ss.str();
  }
  if (ec) return false;
  // Files gone since the last scan.
  std::vector<std::string> gone;
  for (const auto& [name, text] : seen_) {
    if (!texts.count(name)) gone.push_back(name);
  }
  for (const auto& name : gone) {
    seen_.erase(name);
    rejected_.erase(name);
    store_.removeFile(name);
    if (report_) report_(name, {}, true);
  }
  std::map<std::string, std::string> changed;
  for (const auto& [name, text] : texts) {
    auto it = seen_.find(name);
    if (it != seen_.end() && it->second == text) continue;
    seen_[name] = text;
    changed[name] = text;
  }
  // One change for everything that changed together (a start, a `cp -r`), one revision.
  for (const auto& [name, r] : store_.setFiles(changed)) {
    if (r.ok) {
      rejected_.erase(name);
    } else {
      rejected_[name] = r.errors;
    }
    if (report_) report_(name, r.errors, r.ok);
  }
  return true;
}

int ConfigDir::watch(uint64_t rescan_interval_ms) {
  rescan_interval_ms_ = rescan_interval_ms;
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, timerCb, rescan_interval_ms_, 0);
  event_ = new uv_fs_event_t;
  uv_fs_event_init(loop_, event_);
  event_->data = this;
  int rc = uv_fs_event_start(event_, eventCb, dir_.c_str(), 0);
  if (rc != 0) {
    // The periodic rescan still runs.
    uv_close(reinterpret_cast<uv_handle_t*>(event_), closeFree);
    event_ = nullptr;
  }
  return rc;
}

void ConfigDir::stop() {
  if (event_) {
    uv_fs_event_stop(event_);
    uv_close(reinterpret_cast<uv_handle_t*>(event_), closeFree);
    event_ = nullptr;
  }
  if (timer_) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), closeFree);
    timer_ = nullptr;
  }
}

void ConfigDir::scheduleScan(uint64_t delay_ms) {
  if (timer_) uv_timer_start(timer_, timerCb, delay_ms, 0);
}

void ConfigDir::eventCb(uv_fs_event_t* handle, const char*, int, int) {
  static_cast<ConfigDir*>(handle->data)->scheduleScan(kEventSettleMs);
}

void ConfigDir::timerCb(uv_timer_t* timer) {
  auto* self = static_cast<ConfigDir*>(timer->data);
  self->scan();
  self->scheduleScan(self->rescan_interval_ms_);
}

}  // namespace weft::control
