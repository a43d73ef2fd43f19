// grappe-balance-sim: the real balancer on a simulated cluster. Prints one JSON object: makespan
// against the ideal lower bound, migrations per job, ping-pongs, wall time.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "balance_scenarios.h"

using namespace grappe;

int main(int argc, char** argv) {
  CLI::App app{"grappe-balance-sim: the load balancer on a simulated cluster"};
  int nodes = 16, jobs = 64;
  std::string trace = "burst";
  bool hetero = false, off = false;
  double spread = 60, work = 120, join_at = 0;
  bool history = false;
  uint64_t seed = 1;
  app.add_option("-n,--nodes", nodes, "cluster size")->capture_default_str()->check(CLI::Range(2, 100000));
  app.add_option("-j,--jobs", jobs, "number of jobs")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--trace", trace, "burst (all on node 0 at t=0) or skewed (80% on 10% of nodes)")
      ->capture_default_str()->check(CLI::IsMember({"burst", "skewed"}));
  app.add_option("--spread", spread, "skewed: arrivals over this many seconds")->capture_default_str();
  app.add_flag("--hetero", hetero, "heterogeneous nodes (speed 500-2000, 1-4 CPUs, 2-8 GB)");
  app.add_flag("--no-balance", off, "never migrate (the pinned baseline)");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--work", work, "burst: each job's length on a reference CPU, seconds")->capture_default_str();
  app.add_option("--join-at", join_at, "the last node joins the cluster only at this time (s)")->capture_default_str();
  app.add_flag("--history", history, "burst: the command ran before (4 runs in the job history)");
  CLI11_PARSE(app, argc, argv);
  BalanceSimConfig cfg;
  cfg.balance = !off;
  cfg.seed = seed;
  if (history) cfg.history["encode"] = std::vector<double>(4, work);
  auto ns = make_nodes(nodes, hetero, seed);
  ns.back().join_at = join_at;
  auto r = simulate_balance(ns, make_jobs(trace, jobs, nodes, spread, seed, work), cfg);
  nlohmann::json j = {{"nodes", nodes}, {"jobs", jobs}, {"trace", trace}, {"hetero", hetero}, {"balance", !off},
                      {"makespan_s", r.makespan}, {"ideal_s", r.ideal}, {"ratio", r.ratio()},
                      {"migrations", r.migrations}, {"migrations_per_job", static_cast<double>(r.migrations) / jobs},
                      {"max_migrations_per_job", r.max_migrations_per_job}, {"pingpongs", r.pingpongs},
                      {"idle_s", r.idle_s}, {"work_s", work}, {"join_at", join_at}, {"history", history},
                      {"wall_s", r.wall_s}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
