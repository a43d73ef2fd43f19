// JobService's side of surviving grapped: exit-status files, pipes handed to the keeper (fd_store.h),
// the written-down job list, adopting it on start, and callers reattaching to their stream.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/api_protocol.h"
#include "common/json_fields.h"
#include "jobs/job_pid.h"
#include "jobs/job_record.h"
#include "jobs/job_service.h"

namespace grappe {
namespace {

// The descriptor stored under `name`, taken out of `fds` (-1 if none).
int take_fd(std::multimap<std::string, int>& fds, const std::string& name) {
  auto it = fds.find(name);
  if (it == fds.end()) return -1;
  int fd = it->second;
  fds.erase(it);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

void JobService::set_persistence(std::string status_dir, FdStore* store) {
  status_dir_ = std::move(status_dir);
  store_ = store;
  if (status_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(status_dir_, ec);
  ::chmod(status_dir_.c_str(), 0711);  // jobs reach their own file by name; nobody lists or creates
}

// An empty file the job's user may write and nobody else may read: grappe-job-init opens it by
// name, without O_CREAT, when the job ends. "" when status files are off or it cannot be made.
std::string JobService::make_status_file(const std::string& id, uid_t uid) {
  if (status_dir_.empty()) return "";
  std::string path = status_dir_ + "/" + id;
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (log) log("job " + id + ": cannot create " + path + ": " + std::strerror(errno) + " (its status is lost if grapped restarts)");
    return "";
  }
  if (::fchown(fd, uid, static_cast<gid_t>(-1)) != 0 && log) log("job " + id + ": chown " + path + ": " + std::strerror(errno));
  ::close(fd);
  return path;
}

void JobService::keep_fds(const Job& j) {
  if (!store_ || !store_->enabled()) return;
  for (auto [fd, name] : {std::pair{j.in, "in"}, {j.out, "out"}, {j.err, "err"}}) {
    store_->drop(job_fd_name(j.id, name));  // a job back home: its first residence's pipes go
    if (fd >= 0 && !store_->keep(job_fd_name(j.id, name), fd) && log)
      log("job " + j.id + ": the service manager did not take its " + name + " pipe (output may be lost if grapped restarts)");
  }
}

void JobService::keep_restored(Job& j) {
  keep_fds(j);
  if (!status_dir_.empty()) j.status_file = make_status_file(j.id, j.uid);
}

void JobService::release(const Job& j) {
  for (const char* s : {"in", "out", "err"}) drop_fd(j, s);
  if (!j.status_file.empty()) ::unlink(j.status_file.c_str());
}

void JobService::drop_fd(const Job& j, const char* stream) {
  if (store_ && store_->enabled()) store_->drop(job_fd_name(j.id, stream));
}

nlohmann::json JobService::records() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, j] : jobs_.all())
    if (job_is_recorded(j)) list.push_back(job_record(j));
  return {{"v", 1}, {"jobs", list}};
}

std::string JobService::records_key() const {
  std::string key;
  for (const auto& [id, j] : jobs_.all())
    if (job_is_recorded(j))
      key += id + "/" + std::to_string(j.pid) + "/" + std::to_string(j.in >= 0) + std::to_string(j.watcher >= 0 || j.awaiting_caller) +
             "/" + j.node + "/" + std::to_string(j.migrations) + "." + std::to_string(j.out_epoch) + " ";
  return key;
}

std::string JobService::adopt(const nlohmann::json& saved, std::multimap<std::string, int>& fds, double now) {
  Fields top(saved, "jobs.json");
  nlohmann::json list = top.array("jobs");
  int adopted = 0, ended = 0, bad = 0, remote = 0;
  for (const auto& rec : list.is_array() ? list : nlohmann::json::array()) {
    std::string why;
    auto got = job_from_record(rec, why);
    if (!got || jobs_.find(got->id)) {
      ++bad;
      if (log) log("jobs.json: skipped a record: " + (got ? "job " + got->id + " twice" : why));
      continue;
    }
    Job j = std::move(*got);
    j.reattach_until = now + 60;  // its caller may come back for a minute
    if (j.remote) {  // runs elsewhere: its relay reconnects (relay.h); the migrator's tick watches its node
      ++remote;
      if (log) log("job " + j.id + " runs on " + j.node + ": waiting for its relay to reconnect");
      jobs_.add(std::move(j));
      continue;
    }
    if (j.guest) j.node = node_;
    j.in = take_fd(fds, job_fd_name(j.id, "in"));
    j.out = take_fd(fds, job_fd_name(j.id, "out"));
    j.err = take_fd(fds, job_fd_name(j.id, "err"));
    if (j.in < 0) j.in_eof = true;
    // Still the same process? Open the pidfd, then check the start time: a pid reused in between
    // shows another start time, and the pidfd then names the wrong process, so it is dropped.
    j.pidfd = pidfd_of(j.pid);
    if (j.pidfd >= 0 && process_start_ticks(proc_, j.pid) != j.start_ticks) ::close(j.pidfd), j.pidfd = -1;
    if (j.pidfd < 0) ++ended;  // it ended while no grapped watched: pump() drains and reports it
    else ++adopted;
    Job& added = jobs_.add(std::move(j));
    if (log)
      log("job " + added.id + (added.pidfd >= 0 ? " adopted" : " ended while grapped was away") + " (pid " +
          std::to_string(added.pid) + ", pipes " + (added.out >= 0 ? "kept" : "lost") + ")");
  }
  return "adopted " + std::to_string(adopted) + " running job(s) and " + std::to_string(remote) + " running elsewhere; " +
         std::to_string(ended) + " ended while grapped was away" +
         (bad ? "; " + std::to_string(bad) + " record(s) unreadable" : "");
}

nlohmann::json JobService::attach(const nlohmann::json& req, const Caller& who, bool& attached) {
  attached = false;
  Fields f(req, "attach");
  const std::string id = f.str("job", "", Need::Required, 64);
  nlohmann::json off = f.array("off");
  uint64_t have[3] = {0, 0, 0};
  if (f.ok() && off.is_array()) {
    if (off.size() != 2) f.fail("\"off\" must be [stdout bytes, stderr bytes]");
    for (size_t i = 0; f.ok() && i < off.size(); ++i) {
      if (!off[i].is_number_integer() || off[i].get<int64_t>() < 0) f.fail("\"off\" must hold two non-negative integers");
      else have[i + 1] = off[i].get<uint64_t>();
    }
  }
  const bool tty_out = f.boolean("tty_out", false), tty_err = f.boolean("tty_err", false);
  const bool stdin_open = f.boolean("stdin", false);  // the caller still forwards its input
  if (!f.ok()) return api_error(f.error());
  Job* j = jobs_.find(id);
  if (!j) return api_error("attach: no job " + id + " on this node (grappe ps --all lists them)");
  if (!JobTable::may_act(*j, who.uid)) return api_error("attach: job " + id + " belongs to " + j->user);
  if (j->state == JobState::Exited) return {{"v", 1}, {"ok", true}, {"job", id}, {"exited", true}, {"status", j->exit_code}};
  if (j->watcher >= 0 && j->watcher != who.client) return api_error("attach: job " + id + " already streams to another client");
  j->watcher = who.client;
  j->awaiting_caller = false;
  if (!stdin_open) j->in_eof = true;  // its end of input may have been lost with the last grapped
  j->tty[1] = tty_out;
  j->tty[2] = tty_err;
  for (int s : {1, 2}) j->sent[s] = have[s];  // this grapped did not see what the last one sent
  j->sent_known = true;
  wake_relay(*j);  // a moved job's relay waits for this to resume its stream
  attached = true;
  return {{"v", 1}, {"ok", true}, {"job", id}, {"exited", false}};
}

}  // namespace grappe
