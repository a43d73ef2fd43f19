// Jobs across restarts of grapped: the written-down list (jobs.json in the state directory), the
// pipes systemd kept for us, and a scope per job so that stopping grapped stops no job.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/mono_clock.h"
#include "common/text_file.h"
#include "daemon/daemon.h"

namespace grappe {

void Daemon::adopt_jobs() {
  fd_store_ = notify_fd_store();
  std::string why;
  scope_ = systemd_job_scope(why);
  spawner_.scope = scope_.get();
  if (!scope_) mb_.on_event("jobs run in grapped's cgroup: " + why);
  jobs_.set_persistence(cfg_.state_dir + "/exit", fd_store_.get());
  auto fds = fd_store_->take();
  auto saved = nlohmann::json::parse(read_text(cfg_.state_dir + "/jobs.json"), nullptr, false);
  if (saved.is_object()) mb_.on_event(jobs_.adopt(saved, fds, now_s()));
  for (auto& [name, fd] : fds) {  // pipes of jobs no longer listed: nobody will read them
    ::close(fd);
    fd_store_->drop(name);
  }
  jobs_key_ = "\x01never written";  // so the first save_jobs() writes the file
  save_jobs();
}

void Daemon::save_jobs() {
  std::string key = jobs_.records_key();
  if (key == jobs_key_) return;  // every loop turn: no I/O unless the list changed
  std::error_code ec;
  std::filesystem::create_directories(cfg_.state_dir, ec);
  const std::string path = cfg_.state_dir + "/jobs.json", tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    o << jobs_.records().dump() << "\n";
    if (!o.flush()) {
      mb_.on_event("cannot write " + tmp + ": running jobs would not be adopted after a restart of grapped");
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) mb_.on_event("cannot write " + path + ": " + ec.message());
  else jobs_key_ = key;
}

}  // namespace grappe
