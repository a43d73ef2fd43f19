#include "jobs/job_scope.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <unistd.h>

#include "common/text_file.h"

#ifdef GRAPPE_HAVE_SYSTEMD
#include <systemd/sd-bus.h>
#endif

namespace grappe {

std::string job_scope_unit(const std::string& job_id) {
  std::string safe;
  for (char c : job_id) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return "grappe-job-" + safe + ".scope";
}

#ifdef GRAPPE_HAVE_SYSTEMD
namespace {

sd_bus* connect_systemd(std::string& why);

class SystemdScope final : public JobScope {
 public:
  explicit SystemdScope(sd_bus* bus) : bus_(bus) {}
  ~SystemdScope() override { sd_bus_flush_close_unref(bus_); }

  std::string place(const std::string& scope_id, const std::vector<pid_t>& pids) override {
    std::lock_guard<std::mutex> l(mu_);  // one sd-bus connection: one caller at a time
    std::string why = call(scope_id, pids);
    if (why.empty() || (bus_ && sd_bus_is_open(bus_) > 0)) return why;
    // The connection broke (systemd re-executed, say): connect again, once.
    sd_bus_flush_close_unref(bus_);
    std::string again;
    bus_ = connect_systemd(again);
    return bus_ ? call(scope_id, pids) : why + "; reconnecting: " + again;
  }

 private:
  // StartTransientUnit(name, mode, properties a(sv), auxiliary units a(sa(sv))). The scope lives
  // as long as a process is in it; systemd removes it by itself once the job has ended.
  std::string call(const std::string& scope_id, const std::vector<pid_t>& pids) {
    if (!bus_) return "no connection to systemd";
    const std::string unit = job_scope_unit(scope_id), desc = "Grappe job " + scope_id;
    std::vector<uint32_t> ids(pids.begin(), pids.end());
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *m = nullptr, *reply = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StartTransientUnit");
    if (r >= 0) r = sd_bus_message_append(m, "ss", unit.c_str(), "fail");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sv)");
    if (r >= 0) r = sd_bus_message_append(m, "(sv)(sv)(sv)", "Slice", "s", "grappe-jobs.slice", "Description", "s",
                                          desc.c_str(), "CollectMode", "s", "inactive-or-failed");
    if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sv");
    if (r >= 0) r = sd_bus_message_append(m, "s", "PIDs");
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', "au");
    if (r >= 0) r = sd_bus_message_append_array(m, 'u', ids.data(), ids.size() * sizeof(uint32_t));
    for (int k = 0; k < 3 && r >= 0; ++k) r = sd_bus_message_close_container(m);  // v, r, a
    if (r >= 0) r = sd_bus_message_append(m, "a(sa(sv))", 0);
    if (r >= 0) r = sd_bus_call(bus_, m, 5'000'000, &err, &reply);  // µs: the loop waits for this
    std::string why;
    if (r < 0) why = std::string("StartTransientUnit ") + unit + ": " + (err.message ? err.message : std::strerror(-r));
    sd_bus_error_free(&err);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    if (why.empty() && !pids.empty()) why = wait_moved(pids.front(), unit);
    return why;
  }

  // systemd answers once the start job is queued and moves the processes when it runs: the job
  // may not run a single instruction before then, or what it forks stays in grapped's cgroup.
  static std::string wait_moved(pid_t pid, const std::string& unit) {
    const std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
    for (int i = 0; i < 400; ++i) {  // 2 s
      if (read_text(path).find("/" + unit) != std::string::npos) return "";
      ::usleep(5000);
    }
    return "systemd did not move pid " + std::to_string(pid) + " into " + unit + " within 2 s";
  }

  std::mutex mu_;
  sd_bus* bus_;
};

// systemd's own socket first (root only; a node has no D-Bus daemon), as systemctl does; then the
// system bus, where there is one.
sd_bus* connect_systemd(std::string& why) {
  sd_bus* bus = nullptr;
  int r = sd_bus_new(&bus);
  if (r >= 0) r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
  if (r >= 0) r = sd_bus_start(bus);
  if (r >= 0) return bus;
  sd_bus_unref(bus);
  bus = nullptr;
  const int private_error = -r;
  if (r = sd_bus_open_system(&bus); r < 0) {
    why = std::string("systemd does not answer (/run/systemd/private: ") + std::strerror(private_error) +
          "; system bus: " + std::strerror(-r) + ")";
    return nullptr;
  }
  return bus;
}

}  // namespace

std::unique_ptr<JobScope> systemd_job_scope(std::string& why) {
  sd_bus* bus = connect_systemd(why);
  if (!bus) return nullptr;
  return std::make_unique<SystemdScope>(bus);
}
#else
std::unique_ptr<JobScope> systemd_job_scope(std::string& why) {
  why = "grapped was built without libsystemd";
  return nullptr;
}
#endif

}  // namespace grappe
