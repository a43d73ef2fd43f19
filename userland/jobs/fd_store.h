// Descriptors that must outlive grapped: a job's pipes. systemd keeps them for a service that asks
// (sd_notify "FDSTORE=1" with FDNAME, FileDescriptorStoreMax= and FileDescriptorStorePreserve= in
// grapped.service) and hands them back to the next grapped through LISTEN_FDS/LISTEN_FDNAMES. A
// job whose daemon is away then blocks on a full pipe (backpressure) instead of losing its output
// or dying of SIGPIPE. FDPOLL=0: systemd would otherwise drop a pipe as soon as its far end closes,
// and with it the output of a job that ended while no grapped read it; grapped removes its own
// (FDSTOREREMOVE=1) once a job has ended. Without a service manager (no NOTIFY_SOCKET) nothing is kept.
#pragma once
#include <map>
#include <memory>
#include <string>

namespace grappe {

class FdStore {
 public:
  virtual ~FdStore() = default;
  virtual bool enabled() const = 0;
  // Hands a copy of `fd` to the keeper under `name` (printable ASCII, no ':'). False if it could not.
  virtual bool keep(const std::string& name, int fd) = 0;
  // The keeper forgets (and closes) its copies named `name`.
  virtual void drop(const std::string& name) = 0;
  // The descriptors handed to this process at start, by name (once: later calls return none).
  virtual std::multimap<std::string, int> take() = 0;
};

// Over $NOTIFY_SOCKET and $LISTEN_FDS (systemd's protocol; sd_notify(3), sd_listen_fds(3)).
std::unique_ptr<FdStore> notify_fd_store();

// A job's descriptor names: "job:<id>:<in|out|err>" is not allowed (':' separates names), so
// "job.<id>.<stream>".
std::string job_fd_name(const std::string& job_id, const char* stream);

}  // namespace grappe
