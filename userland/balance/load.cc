#include "balance/load.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace grappe {

void LoadModel::sample(double now, double busy_s, const std::map<std::string, JobSample>& jobs) {
  const double dt = last_ < 0 ? 0 : now - last_;
  const double job_keep = std::exp(-dt / 3.0), bg_keep = std::exp(-dt / 10.0);
  std::map<std::string, double> demand, cpu;
  double jobs_cpu = 0;
  for (const auto& [id, j] : jobs) {
    auto it = demand_.find(id);
    demand[id] = it == demand_.end() ? j.runnable : it->second * job_keep + j.runnable * (1 - job_keep);  // new: as seen
    cpu[id] = j.cpu_s;
    if (auto c = cpu_.find(id); c != cpu_.end()) jobs_cpu += std::max(0.0, j.cpu_s - c->second);
  }
  if (dt > 0 && dt < 30) {
    const double other = std::max(0.0, (busy_s - busy_ - jobs_cpu) / dt);  // CPUs' worth used by the rest
    background_ = background_ * bg_keep + other * (1 - bg_keep);
  }
  demand_ = std::move(demand);
  cpu_ = std::move(cpu);
  busy_ = busy_s;
  last_ = now;
}

double LoadModel::value() const {
  double v = background_;
  for (const auto& [id, d] : demand_) v += d;
  return v;
}

double LoadModel::demand(const std::string& id) const {
  auto it = demand_.find(id);
  return it == demand_.end() ? 1 : it->second;
}

SystemSample read_system(const std::string& proc) {
  SystemSample s;
  std::ifstream st(proc + "/stat");
  int cpus = 0;
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("cpu", 0) == 0 && line.size() > 3 && std::isdigit(static_cast<unsigned char>(line[3]))) ++cpus;
    if (line.rfind("cpu ", 0) == 0) {  // user nice system idle iowait irq softirq steal, in ticks
      std::istringstream f(line.substr(4));
      double v[8] = {};
      for (double& x : v) f >> x;
      s.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    if (line.rfind("procs_running ", 0) == 0) s.runnable = std::max(0.0, std::stod(line.substr(14)) - 1);
  }
  s.cpus = static_cast<uint16_t>(std::max(1, cpus));
  std::ifstream mi(proc + "/meminfo");
  for (std::string line; std::getline(mi, line);) {
    std::istringstream l(line);
    std::string key;
    uint64_t kb = 0;
    l >> key >> kb;
    if (key == "MemTotal:") s.mem_total_mb = static_cast<uint32_t>(kb / 1024);
    if (key == "MemAvailable:") s.mem_free_mb = static_cast<uint32_t>(kb / 1024);
  }
  return s;
}

}  // namespace grappe
