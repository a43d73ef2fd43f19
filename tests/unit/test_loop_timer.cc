// loop_timer.h: grapped's loops wake on a shared grid, and their periodic work is fixed-rate, so
// a wake-up that comes a little late never stretches a period by a whole grid step.
#include <doctest/doctest.h>

#include "../sim/sim_network.h"
#include "common/loop_timer.h"

using namespace grappe;

TEST_CASE("loop timer: the next grid point is the first multiple of the step after now") {
  CHECK(next_grid_point(10.1, 0.25) == doctest::Approx(10.25));
  CHECK(next_grid_point(10.25, 0.25) == doctest::Approx(10.5));  // on a point: the next one
  CHECK(next_grid_point(0, 0.25) == doctest::Approx(0.25));
  CHECK(next_grid_point(10.249999, 0.25) > 10.249999);
}

TEST_CASE("loop timer: a deadline met late keeps its phase; one a whole period late starts again from now") {
  CHECK(next_due(10.0, 10.02, 0.5) == doctest::Approx(10.5));  // not 10.52
  CHECK(next_due(10.0, 10.49, 0.5) == doctest::Approx(10.5));
  CHECK(next_due(10.0, 10.5, 0.5) == doctest::Approx(11.0));   // a whole period late: no burst
  CHECK(next_due(10.0, 13.7, 0.5) == doctest::Approx(14.2));
  CHECK(next_due(0, 100, 1) == doctest::Approx(101));          // never run before
}

TEST_CASE("loop timer: a 0.5 s period checked only on a 0.25 s grid, with wake-ups up to 30 ms late, runs every 0.5 s") {
  double due = 0.1, count = 0;
  for (int k = 1; k <= 400; ++k) {  // 100 s of grid points, each woken a little late
    const double now = k * kLoopGrid + 0.03 * ((k * 7) % 5) / 4;
    if (now >= due) {
      ++count;
      due = next_due(due, now, 0.5);
    }
  }
  CHECK(count >= 199);  // 200 periods in 100 s; `now + period` would run about 150 times
}

TEST_CASE("loop timer: membership probes every period when its node's loop wakes only on the grid") {
  SimNetwork net(1, MembershipConfig{}, 0);
  net.add_node("a");
  net.add_node("b");
  net.run_for(2);
  const uint64_t before = net.nodes_[0].m->stats().probes;
  const double t0 = net.now;
  double late = 0;
  for (int k = 1; k <= 240; ++k) {  // 60 s on the grid, each wake-up 0 to 30 ms late
    const double next_late = 0.03 * ((k * 7) % 5) / 4;
    net.step(kLoopGrid + next_late - late);
    late = next_late;
  }
  const double probes = static_cast<double>(net.nodes_[0].m->stats().probes - before);
  MESSAGE(probes << " probes in " << net.now - t0 << " s");
  CHECK(probes >= 118);  // one per 0.5 s period
  CHECK(net.all_see(MemberState::Alive, {0, 1}));
}
