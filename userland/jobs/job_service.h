// grapped's job commands over the local API: run (start a job in its own PID namespace and
// stream its output to the caller), stdin / eof / signal (from the attached caller), ps and kill.
// It owns the job table and the jobs' pipes; the daemon gives it the caller's credentials
// (SO_PEERCRED, never trusted from the request) and a way to send lines back to a client.
#pragma once
#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/fd_store.h"
#include "jobs/job_spawn.h"
#include "jobs/jobs.h"

namespace grappe {

struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  int client = -1;  // the connection's id: never reused while a reply or event may still be due to it
};

class JobService {
 public:
  JobService(Spawner& spawner, std::string init_path, std::string node_name, std::string proc = "/proc");
  void set_node_number(uint16_t n) { number_ = n; }
  void set_next_seq(uint64_t s) { jobs_ = JobTable(s); }
  uint64_t next_seq() const { return jobs_.next_seq(); }
  // Surviving a restart of grapped (job_restart.cc): exit statuses are written under `status_dir`,
  // pipes are handed to `store` as jobs start. Off until called (tests, tools).
  void set_persistence(std::string status_dir, FdStore* store);
  // What to write down so the next grapped can adopt the running jobs (job_record.h), and a key
  // that changes whenever that list does.
  nlohmann::json records() const;
  std::string records_key() const;
  // Takes over the jobs an earlier grapped wrote down: those still running (same pid and start
  // time) are adopted with the pipes `fds` holds under their names; those that ended meanwhile
  // end now with the status their init wrote. Taken descriptors are removed from `fds`.
  // Returns a line for the log.
  std::string adopt(const nlohmann::json& saved, std::multimap<std::string, int>& fds, double now);
  // Hands the job's pipes to the store (done by run(); the migrator calls it for a job back home).
  void keep_fds(const Job& j);
  // A restored job: its pipes to the store, and an empty exit-status file at the path its
  // grappe-job-init already holds (the same state directory on every node).
  void keep_restored(Job& j);
  // A guest that ended or left: the store lets its pipes go, its status file goes.
  void release(const Job& j);
  // The store lets one pipe go ("in", "out", "err"): before closing a job's stdin, or the job
  // never sees its end.
  void drop_fd(const Job& j, const char* stream);

  // The API's job commands, one per method (the router, daemon/api_commands.h, calls them). Each
  // checks every field it reads (common/json_fields.h) and answers a bad one with ok:false naming
  // it; none throws for client input. `attached`: the client stays open for the job's stream.
  nlohmann::json run(const nlohmann::json& req, const Caller& who, double now, bool& attached);
  nlohmann::json ps(const nlohmann::json& req, const Caller& who, double now);
  nlohmann::json kill(const nlohmann::json& req, const Caller& who);
  // A caller that lost its stream (grapped restarted) takes it up again: {"job", "off":[out,err]
  // bytes it already has}. A job that ended meanwhile answers with its status at once.
  nlohmann::json attach(const nlohmann::json& req, const Caller& who, bool& attached);
  // From the caller attached to a running job (its connection): stdin data (base64), end of its
  // input, a signal. Null when done (these have no reply), else the error.
  nlohmann::json stdin_data(const nlohmann::json& req, const Caller& who);
  nlohmann::json stdin_eof(const nlohmann::json& req, const Caller& who);
  nlohmann::json signal(const nlohmann::json& req, const Caller& who);
  // The client went away: its jobs keep running, their output is dropped from now on.
  void detach(int client);
  // Reads pipes, reaps exits, emits events; call after poll().
  void pump(double now);
  // The local jobs' output pipes, except those drained less than output_gap() ago (jobs.h).
  void add_pollfds(std::vector<pollfd>& fds, double now) const;
  // When the first of the pipes add_pollfds() left out may be read again (infinity if none).
  double quiet_until(double now) const;
  size_t running() const { return jobs_.running(); }
  // False while the job attached to `client` has a full stdin queue: stop reading the client.
  bool accepts_input(int client);

  // For the migrator (callers hold the daemon's lock).
  JobTable& table() { return jobs_; }
  const JobTable& table() const { return jobs_; }
  uint16_t node_number() const { return number_; }
  const std::string& node_name() const { return node_; }
  void deliver(Job& j, int stream, const std::string& data);  // output to the attached caller
  bool watcher_congested(const Job& j) const { return j.watcher >= 0 && congested && congested(j.watcher); }
  void end(Job& j, int status, double now);                    // the job ended: tell its caller
  nlohmann::json job_json(const Job& j, double now);

  std::function<void(int client, const nlohmann::json& event)> send;  // queue a line to a client
  std::function<bool(int client)> congested;                          // client's queue is full
  std::function<void(int client)> finish;                             // close after flushing
  std::function<void(const std::string&)> log;
  // A job that ran here ended (before its caller is told): the job history records it.
  std::function<void(const Job&)> on_ended;
  // run --node N: "" when node N can take jobs, else why not (unset: any node is refused).
  std::function<std::string(int node)> placeable;
  // Why the balancer leaves a movable job here ("" if unknown), for ps.
  std::function<std::string(const Job&)> stays;

 private:
  Job* attached_job(const Caller& who);  // the running job whose stream goes to this caller
  bool drain(Job& j, int& fd, int stream);  // true when it read something
  void close_job_fds(Job& j);
  std::string make_status_file(const std::string& id, uid_t uid);
  void reap(Job& j);
  void signal_job(Job& j, int sig);

  Spawner& spawner_;
  std::string init_path_, node_, proc_;
  uint16_t number_ = 0;
  JobTable jobs_;
  std::string status_dir_;
  FdStore* store_ = nullptr;
  std::string scope_error_;  // the last reason a job could not have its own scope (logged once)
};


}  // namespace grappe
