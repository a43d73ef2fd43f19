// The cluster's network-boot service. `grappe boot-server enable` turns it on for the whole
// cluster (the setting travels in every node's load entry, newest generation wins); the founder
// (the live node with the lowest number, the one serving /home) runs it, so when the founder
// dies the next node takes it over within seconds. Serving means:
//   - probe the segment for a DHCP server: if one answers, dnsmasq runs proxy-DHCP only and
//     addresses stay with that server; if none does, dnsmasq runs a full DHCP server on a private
//     /24 that collides with no network this node sees, with its first address added here;
//   - TFTP (dnsmasq) hands plain PXE firmware iPXE (undionly.kpxe for BIOS, snponly.efi for
//     UEFI), and iPXE gets http://<this node>/grappe/node.ipxe;
//   - HTTP (boot_http.h) serves the running image's kernel, initrd and layers with their hashes.
// dnsmasq's configuration is rendered from a template (iso/dnsmasq-boot.conf.in, installed in
// the image) and run as grappe-boot-dhcp.service; commands go through the CommandRunner seam on
// the service's own thread.
#pragma once
#include <array>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boot/boot_admit.h"
#include "boot/boot_policy.h"
#include "boot/cluster_policy.h"
#include "boot/boot_http.h"
#include "boot/dhcp_probe.h"
#include "common/command_runner.h"
#include "common/periodic_worker.h"

namespace grappe {

struct NetIf {
  std::string name;
  uint32_t addr = 0, mask = 0;  // network order
  std::array<uint8_t, 6> mac{};
};

struct BootView {
  bool enabled = false;    // the cluster-wide setting
  bool server = false;     // this node is the founder
  std::string founder;     // who serves, for `grappe status` on the other nodes
  std::vector<NetIf> ifaces;  // this node's IPv4 interfaces (not loopback), cluster one first
  std::vector<uint32_t> used_nets;  // networks (addr & mask) seen on the segment: members' addresses
  std::vector<uint32_t> member_ips;  // live members' addresses (network order): never admitted again
  uint32_t admission_setting = 0;    // the cluster-wide policy (cluster_policy.h); 0: BootEnv's
};

struct BootFiles {
  std::map<std::string, std::string> files;  // served name -> path here
  std::string tftp_root;                      // the iPXE loaders
  std::string why;                            // why this node cannot serve ("" when it can)
};
// The image this node runs, as found under `run_dir` (the initramfs's /run/grappe).
BootFiles find_boot_files(const std::string& run_dir);

// A private /24 (10.71.x.0 onwards) overlapping none of `used` (network, mask pairs); 0 if none.
uint32_t choose_boot_subnet(const std::vector<std::pair<uint32_t, uint32_t>>& used);

// The dnsmasq template with lines "full:…" / "proxy:…" kept (prefix removed) for `mode` and
// dropped for the other, and @NAME@ replaced from `vars`. Throws naming an unknown @NAME@.
std::string render_dnsmasq(const std::string& tpl, const std::string& mode, const std::map<std::string, std::string>& vars);

// Sends `packet` to 255.255.255.255:kBootAnnouncePort out of `ifname` (SO_BINDTODEVICE).
bool broadcast_boot_announcement(const std::string& ifname, const std::string& packet);

struct BootEnv {
  CommandRunner* run = nullptr;
  std::string run_dir = "/run/grappe";
  std::string template_path = "/usr/share/grappe/dnsmasq-boot.conf.in";
  std::string conf_path = "/run/grappe/boot/dnsmasq.conf";
  std::string unit = "grappe-boot-dhcp.service";
  int http_port = 80;
  std::string http_bind = "0.0.0.0";
  std::string nodes_path = "/etc/grappe/boot-nodes.toml";  // per-PC settings (boot_nodes.h); optional
  // The announcement (boot_announce.h), signed with the cluster's boot key (from this seed,
  // credentials.h), sent every 2 s while serving.
  std::string cluster = "grappe";
  std::array<uint8_t, 32> boot_seed{};
  // What an admitted PC is given (credentials.h: the operating key of the moment, never the
  // invitation), and whether a MAC belongs to a node root forgot (`grappe node forget`): refused.
  std::function<Credentials()> member;
  std::function<bool(const std::string& mac)> forgotten;
  std::function<bool()> rekeying;  // a new key is on its way: a PC asks again in a few seconds
  // Who a network-booted PC asking for the key (boot_admit.h) is let in by until the cluster sets
  // a policy (BootView::admission_setting: `grappe boot-server admission`), and this node's name
  // for the journal's "admitted … by NODE" line (printed on stdout: console and journal).
  AdmitPolicy admit_policy = AdmitPolicy::Auto;
  bool loopback_is_a_pc = false;  // unit tests: a client on 127.0.0.1 stands for a PC on the segment
  std::string self_name = "this node";
  std::function<void(const std::string&)> say = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  std::function<bool(const std::string& ifname, const std::string& packet)> announce = broadcast_boot_announcement;
  std::function<std::unique_ptr<DhcpSocket>(const std::string& ifname, std::string& err)> open_probe = open_dhcp_socket;
};

class BootService {
 public:
  explicit BootService(BootEnv env);
  ~BootService();                   // stops the worker, then the HTTP server
  void observe(const BootView& v);  // from the daemon's loop: cheap
  void step(double now);            // one pass of the worker: start, check or stop serving
  void start();                     // the worker thread: step() every second until destroyed
  nlohmann::json status() const;
  // Policy ask: root's answer for the PC of `mac` (any case, ':' or '-'); "" or why it cannot be
  // taken (not a MAC, this node does not serve network boot). Kept until grapped stops.
  std::string answer(const std::string& mac, bool admit);
  bool serving() const {
    std::lock_guard<std::mutex> l(mu_);
    return serving_;
  }

 private:
  bool serve(double now, const BootView& v);  // false with error_ set
  // The generated node.ipxe for one PC: its settings from env_.nodes_path, if any.
  std::string node_script(const std::string& mac, const std::string& host);
  void stop_serving();
  // GET /grappe/admit from a PC: the policy's decision, then a sealed, signed key or a refusal.
  std::pair<int, std::string> admit(const std::string& mac, const std::string& pk, const std::string& remote);
  BootEnv env_;
  BootHttp http_;
  mutable std::mutex mu_;
  BootView view_;
  bool serving_ = false;
  std::string role_ = "off", mode_, why_, error_, url_, iface_, range_;
  std::string nodes_error_;  // the last error reading env_.nodes_path ("" = fine or absent)
  uint32_t added_addr_ = 0;  // the address added for full DHCP (removed when stopping)
  uint32_t served_addr_ = 0;  // the interface's address when serving started (proxy mode follows it)
  double next_try_ = 0, next_check_ = 0, next_announce_ = 0;
  std::string announcement_;  // the signed packet, made when serving starts
  int restarts_ = 0;
  uint64_t admitted_ = 0, refused_ = 0;
  struct Pending {
    std::string remote, pk;  // the address and one-time key of its latest request
    double since = 0, last = 0;
  };
  std::map<std::string, Pending> pending_;  // policy ask: PCs waiting, by MAC (at most 256, 60 s)
  struct Answer {
    bool admit = false;
    std::string pk;  // root answered for the PC holding this key; used once
  };
  std::map<std::string, Answer> answers_;  // policy ask: root's answers, by MAC
  uint32_t served_net_ = 0, served_mask_ = 0;  // admission only from the segment served
  std::string last_admission_;  // "admitted 52:54:00:…(10.71.0.50): policy auto…", for status
  BootSigningKeys signer_;      // derived from env_.key once
  PeriodicWorker worker_;  // last: destroyed first
};

}  // namespace grappe
