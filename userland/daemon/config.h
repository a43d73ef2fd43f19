// grapped's settings: /etc/grappe/grapped.toml (every key optional), then the command line.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "boot/boot_policy.h"

namespace grappe {

struct DaemonConfig {
  std::string group = "239.255.71.82";  // discovery multicast group
  uint16_t port = 7423;
  bool broadcast = true;                // also beacon by broadcast, where multicast is filtered
  std::vector<std::string> interfaces;  // empty: every IPv4 interface but loopback
  uint32_t speed = 0;                   // 0: calibrate at start-up
  std::string name;                     // default: the hostname
  std::string socket = "/run/grappe/grapped.sock";
  std::string state_dir = "/var/lib/grappe";
  std::string key_file = "/etc/grappe/cluster.key";
  std::string image_file = "/etc/grappe/image.json";
  std::string machine_id_file = "/etc/machine-id";
  std::string cluster;                  // default: from image.json, else "grappe"
  std::string job_init = "/usr/lib/grappe/grappe-job-init";
  std::string cmdline_path = "/proc/cmdline";  // grappe.flags= from the serving node (not in the file)
  // Share /home over NFS from the founder (home_share.h). Off by default so a grapped run by hand
  // or by the tests never mounts or exports anything; the image's grapped.toml turns it on.
  bool share_home = false;
  uint32_t home_size_mb = 0;  // a RAM-backed /home this node founds; 0: a quarter of its memory
  // Jobs with at least this RSS migrate with pre-copy (iterative pre-dumps while they run) unless
  // the request says otherwise; 0: only when asked (grappe migrate --precopy).
  uint32_t precopy_min_mb = 32;
  // Take part in the cluster's network-boot service (boot_service.h): when it is enabled
  // (grappe boot-server enable), the founder runs dnsmasq and the HTTP server. Off by default,
  // like [home] share; the image's grapped.toml turns it on.
  bool boot_serve = false;
  uint16_t boot_http_port = 80;
  // Who of the PCs booting from the cluster gets the cluster key (boot_policy.h).
  AdmitPolicy boot_admission = AdmitPolicy::Auto;
  // The web dashboard (dashboard/dashboard_http.h) on this TCP port, every address; 0: none. Off
  // by default like [home] share; the image's grapped.toml turns it on at 7480.
  uint16_t dashboard_port = 0;
  std::string dashboard_assets = "/usr/share/grappe/dashboard";
};

// Throws std::runtime_error naming file, line, key and what is valid.
DaemonConfig load_daemon_config(const std::string& path, bool must_exist);
DaemonConfig parse_daemon_config(const std::string& text, const std::string& path);

}  // namespace grappe
