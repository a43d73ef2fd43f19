// The dashboard's load history (#27, openMosixView's collector): per node, its load and memory
// once a second over the last hour, in RAM. Each node's samples sit in a fixed ring (kKeep of
// them); a node unseen for kKeep seconds is dropped, and at most kNodes are kept (the one heard
// from least recently goes first), so the whole history stays under a few megabytes whatever
// the membership does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grappe {

struct LoadSample {
  double t = 0;              // the wall clock, seconds (what a browser plots against)
  float load = 0;            // the node's published load (runnable jobs per CPU, speed-weighted)
  uint32_t mem_used_mb = 0;  // memory in use
};

class LoadHistory {
 public:
  static constexpr size_t kKeep = 3600, kNodes = 512;

  // One sample of node `name`. A sample older than (or as old as) that node's last one is
  // ignored (clock steps, duplicates): each series only goes forward.
  void add(const std::string& name, const LoadSample& s);
  // The samples of `name` taken after `since`, oldest first.
  std::vector<LoadSample> series(const std::string& name, double since) const;
  // Every node's series after `since`: {"nodes": {name: {"t": [...], "load": [...], "mem": [...]}}}
  // (columns, the smallest JSON for a plot).
  nlohmann::json to_json(double since) const;
  // Drops the nodes whose last sample is older than now - kKeep.
  void expire(double now);
  size_t nodes() const { return by_.size(); }

 private:
  struct Ring {
    std::vector<LoadSample> buf;  // grows to kKeep, then wraps
    size_t next = 0;              // where the next sample goes once full
    double last = -1;
  };
  std::map<std::string, Ring> by_;
};

}  // namespace grappe
