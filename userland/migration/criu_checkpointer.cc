#include "migration/criu_checkpointer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/mono_clock.h"
#include "common/text_file.h"
#include "migration/image_dir.h"

#ifdef GRAPPE_HAVE_CRIU
extern "C" {
#include <criu.h>
}
#endif

namespace grappe {
namespace fs = std::filesystem;

nlohmann::json stdio_pipe_keys(const std::string& proc, pid_t pid) {
  nlohmann::json keys = nlohmann::json::object();
  for (int fd = 0; fd <= 2; ++fd) {
    char buf[64];
    std::string link = proc + "/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    std::string target(buf, static_cast<size_t>(n));
    if (target.rfind("pipe:[", 0) == 0) keys[std::to_string(fd)] = target;
  }
  return keys;
}

#ifdef GRAPPE_HAVE_CRIU
namespace {

// What a CRIU log says went wrong, for error messages: its first error lines (the cause; the
// last ones are only "Dumping FAILED"), else its last lines.
std::string log_excerpt(const fs::path& log, size_t lines = 6) {
  std::vector<std::string> all, errors;
  std::string text = read_text(log.string()), line;
  for (char c : text) {
    if (c != '\n') line += c;
    else all.push_back(line), line.clear();
  }
  if (!line.empty()) all.push_back(line);
  if (all.empty()) return "(no log at " + log.string() + ")";
  for (const auto& l : all)
    if (l.find("Error") != std::string::npos && errors.size() < lines) errors.push_back(l);
  if (errors.empty()) errors.assign(all.end() - static_cast<long>(std::min(lines, all.size())), all.end());
  std::string out;
  for (const auto& l : errors) out += l + "\n";
  return out + "(full log: " + log.string() + ")";
}

// CRIU's parasite mounts /proc at a fixed place in the task's mount namespace, so two dumps (or
// restores) at once on one node collide ("Can't create a directory (-17)"). They take turns up
// to their hold point (post-dump, post-restore), never across the wait for the other node.
std::mutex g_criu_turn;

struct RestoreHold {
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false, decided = false, go = false, finished = false;
  pid_t pid = -1;
  int rc = 0;
  std::thread th;
};

// libcriu's notification callback has no user pointer; the call runs on the calling thread.
struct NotifyCtx {
  std::unique_lock<std::mutex>* turn = nullptr;  // g_criu_turn, released at the hold point
  const std::function<bool()>* hold = nullptr;  // dump
  bool held = false, verdict = false;
  double frozen_at = 0;                         // dump: the "pre-dump" notification (tasks about to freeze)
  RestoreHold* restore = nullptr;               // restore
};

thread_local NotifyCtx* t_ctx = nullptr;

int on_notify(char* action, criu_notify_arg_t na) {
  NotifyCtx* c = t_ctx;
  if (!c || !action) return 0;
  std::string a = action;
  if (a == "pre-dump" && c->frozen_at == 0) c->frozen_at = now_s();
  if (c->turn && c->turn->owns_lock() && (a == "post-dump" || a == "post-restore")) c->turn->unlock();
  if (c->hold && a == "post-dump") {
    c->held = true;
    c->verdict = (*c->hold)();
    return c->verdict ? 0 : 1;  // non-zero: CRIU fails the dump and thaws the tasks
  }
  if (c->restore && a == "post-restore") {
    RestoreHold& h = *c->restore;
    std::unique_lock<std::mutex> l(h.mu);
    h.pid = criu_notify_pid(na);
    h.reached = true;
    h.cv.notify_all();
    h.cv.wait(l, [&] { return h.decided; });
    return h.go ? 0 : 1;  // non-zero: CRIU aborts the restore and kills the tasks
  }
  return 0;
}

int open_dir(const fs::path& p) { return ::open(p.c_str(), O_RDONLY | O_DIRECTORY); }

// One new pipe per distinct stdio key of the offer (stdio_pipe_keys on the source): the job's end
// goes to CRIU (inherit-fd), ours is kept. Returns why not ("" when done; nothing left open then).
std::string stdio_pipes(const nlohmann::json& job, std::map<std::string, std::pair<int, int>>& pipes,
                        std::map<int, std::string>& fd_key) {
  const auto it = job.is_object() ? job.find("stdio") : job.end();
  const nlohmann::json keys = job.is_object() && it != job.end() && it->is_object() ? *it : nlohmann::json::object();
  auto fail = [&](const std::string& why) {
    for (auto& [k, p] : pipes) ::close(p.first), ::close(p.second);
    pipes.clear();
    return why;
  };
  for (int fd = 0; fd <= 2; ++fd) {
    auto k = keys.find(std::to_string(fd));
    if (k == keys.end() || !k->is_string()) continue;
    const std::string key = k->get<std::string>();
    if (key.rfind("pipe:[", 0) != 0 || key.size() > 40) return fail("bad stdio key '" + key + "' in the offer");
    if (!pipes.count(key)) {
      int p[2];
      if (::pipe(p) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
      bool job_reads = fd == 0;
      int ours = job_reads ? p[1] : p[0], theirs = job_reads ? p[0] : p[1];
      ::fcntl(ours, F_SETFD, FD_CLOEXEC);
      ::fcntl(ours, F_SETFL, O_NONBLOCK);
      pipes[key] = {ours, theirs};
    }
    fd_key[fd] = key;
  }
  return "";
}

class CriuCheckpointer final : public Checkpointer {
 public:
  DumpResult dump(pid_t pid, const std::string& dir, const std::string& parent,
                  const std::function<bool()>& hold) override {
    return run_dump(pid, dir, parent, &hold);
  }

  DumpResult pre_dump(pid_t pid, const std::string& dir, const std::string& parent) override {
    return run_dump(pid, dir, parent, nullptr);
  }

  RestoreResult restore(const std::string& dir, const nlohmann::json& job) override {
    RestoreResult r;
    std::map<std::string, std::pair<int, int>> pipes;  // key -> {ours, theirs}
    std::map<int, std::string> fd_key;
    if (std::string why = stdio_pipes(job, pipes, fd_key); !why.empty()) return {-1, why};
    auto close_all = [&](bool ours_too) {
      for (auto& [k, p] : pipes) {
        if (ours_too) ::close(p.first);
        ::close(p.second);
      }
    };
    fs::path work = dir + ".work";
    std::error_code ec;
    make_private_dir(work.string(), ec);
    int dfd = open_dir(dir), wfd = open_dir(work);
    if (dfd < 0 || wfd < 0) {
      close_all(true);
      return {-1, "cannot open " + dir + ": " + std::strerror(errno)};
    }
    auto hold = std::make_unique<RestoreHold>();
    RestoreHold* h = hold.get();
    h->th = std::thread([h, dfd, wfd, pipes]() {
      criu_opts* o = nullptr;
      int rc = -1;
      if (criu_local_init_opts(&o) == 0) {
        criu_local_set_images_dir_fd(o, dfd);
        criu_local_set_work_dir_fd(o, wfd);
        criu_local_set_log_file(o, "restore.log");
        criu_local_set_log_level(o, 4);
        criu_local_set_shell_job(o, false);
        criu_local_set_manage_cgroups_mode(o, CRIU_CG_MODE_IGNORE);  // see run_dump
        for (const auto& [key, p] : pipes) criu_local_add_inherit_fd(o, p.second, key.c_str());
        criu_local_set_notify_cb(o, on_notify);
        std::unique_lock<std::mutex> turn(g_criu_turn);
        NotifyCtx ctx;
        ctx.turn = &turn;
        ctx.restore = h;
        t_ctx = &ctx;
        rc = criu_local_restore_child(o);
        t_ctx = nullptr;
        criu_local_free_opts(o);
      }
      std::lock_guard<std::mutex> l(h->mu);
      h->rc = rc;
      h->finished = true;
      h->cv.notify_all();
    });
    {
      std::unique_lock<std::mutex> l(h->mu);
      h->cv.wait(l, [&] { return h->reached || h->finished; });
    }
    ::close(dfd);
    ::close(wfd);
    close_all(false);  // CRIU holds the job's ends now (or failed)
    if (!h->reached || h->pid <= 0) {
      {
        std::lock_guard<std::mutex> l(h->mu);
        h->decided = true;
      }
      h->cv.notify_all();
      h->th.join();
      for (auto& [k, p] : pipes) ::close(p.first);
      return {-1, "criu restore failed (" + std::to_string(h->rc) + "): " + log_excerpt(work / "restore.log")};
    }
    r.pid = h->pid;
    auto ours = [&](int fd) { return fd_key.count(fd) ? pipes[fd_key[fd]].first : -1; };
    r.in = ours(0);
    r.out = ours(1);
    r.err = ours(2);
    if (r.err == r.out) r.err = -1;  // one pipe for both: read it once
    std::lock_guard<std::mutex> l(mu_);
    held_[r.pid] = std::move(hold);
    return r;
  }

  bool resume(pid_t pid) override { return release(pid, true); }
  void discard(pid_t pid) override { release(pid, false); }

 private:
  // A dump (with its hold) or, without one, a pre-dump that lets the tasks run on.
  DumpResult run_dump(pid_t pid, const std::string& dir, const std::string& parent, const std::function<bool()>* hold) {
    const char* what = hold ? "dump" : "pre-dump";
    std::error_code ec;
    fs::path work = dir + ".work";
    make_private_dir(dir, ec);  // a job's memory: 0700 (image_dir.h)
    make_private_dir(work.string(), ec);
    int dfd = open_dir(dir), wfd = open_dir(work);
    if (dfd < 0 || wfd < 0) {
      if (dfd >= 0) ::close(dfd);
      if (wfd >= 0) ::close(wfd);
      return {false, "cannot open " + dir + ": " + std::strerror(errno), 0};
    }
    criu_opts* o = nullptr;
    if (criu_local_init_opts(&o) != 0) return {false, "libcriu: cannot allocate options", 0};
    criu_local_set_pid(o, pid);
    criu_local_set_images_dir_fd(o, dfd);
    criu_local_set_work_dir_fd(o, wfd);
    criu_local_set_log_file(o, hold ? "dump.log" : "pre-dump.log");
    criu_local_set_log_level(o, 4);
    criu_local_set_leave_running(o, false);
    criu_local_set_shell_job(o, false);
    // Each job has a cgroup of its own (a systemd scope, jobs/job_scope.h) that the target lacks:
    // CRIU leaves cgroups alone, and the target puts the restored job in a scope of its own.
    criu_local_set_manage_cgroups_mode(o, CRIU_CG_MODE_IGNORE);
    if (!hold || !parent.empty()) criu_local_set_track_mem(o, true);
    if (!parent.empty()) criu_local_set_parent_images(o, parent.c_str());
    criu_local_set_notify_cb(o, on_notify);
    std::unique_lock<std::mutex> turn(g_criu_turn);
    NotifyCtx ctx;
    ctx.turn = hold ? &turn : nullptr;  // a pre-dump keeps the turn to its end
    ctx.hold = hold;
    t_ctx = &ctx;
    int rc = hold ? criu_local_dump(o) : criu_local_pre_dump(o);
    t_ctx = nullptr;
    criu_local_free_opts(o);
    ::close(dfd);
    ::close(wfd);
    if (!hold) {
      if (rc >= 0) fs::remove_all(work, ec);
      return {rc >= 0, rc >= 0 ? "" : "criu pre-dump failed (" + std::to_string(rc) + "): " + log_excerpt(work / "pre-dump.log"), ctx.frozen_at};
    }
    if (rc >= 0 && ctx.held && ctx.verdict) return {true, "", ctx.frozen_at};
    if (ctx.held && !ctx.verdict) return {false, "the handoff declined; the job was thawed", ctx.frozen_at};
    return {false, std::string("criu ") + what + " failed (" + std::to_string(rc) + "): " + log_excerpt(work / "dump.log"), 0};
  }

  bool release(pid_t pid, bool go) {
    std::unique_ptr<RestoreHold> h;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = held_.find(pid);
      if (it == held_.end()) return false;
      h = std::move(it->second);
      held_.erase(it);
    }
    {
      std::lock_guard<std::mutex> l(h->mu);
      h->decided = true;
      h->go = go;
    }
    h->cv.notify_all();
    h->th.join();
    if (go) return h->rc > 0;
    // CRIU killed the tree; the init was our child (restore-sibling): reap it.
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return true;
  }

  std::mutex mu_;
  std::map<pid_t, std::unique_ptr<RestoreHold>> held_;
};

}  // namespace

std::unique_ptr<Checkpointer> make_checkpointer(std::string& why) {
  // The RPC check (criu_check) crashes CRIU 4.1's swrk, so: the service answers its version, and
  // `criu check` (exit status only) vouches for the kernel features.
  int version = criu_init_opts() == 0 ? criu_get_version() : -1;
  criu_free_opts();
  if (version <= 0) {
    why = "cannot start 'criu swrk' (is the criu package installed?)";
    return std::make_unique<NoCheckpointer>("this node cannot checkpoint: " + why);
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execlp("criu", "criu", "check", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || ::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    why = "'criu check' fails on this node: run it to see which kernel feature is missing (it needs root)";
    return std::make_unique<NoCheckpointer>("this node cannot checkpoint: " + why);
  }
  why.clear();
  return std::make_unique<CriuCheckpointer>();
}
#else
std::unique_ptr<Checkpointer> make_checkpointer(std::string& why) {
  why = "grapped was built without libcriu (install libcriu-dev and rebuild)";
  return std::make_unique<NoCheckpointer>("this node cannot checkpoint: " + why);
}
#endif

}  // namespace grappe
