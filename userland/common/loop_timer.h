// The timing of grapped's loops. They wake on a shared grid (multiples of a step of the
// monotonic clock) rather than every 100 ms from whenever they last woke: the loop's periodic work
// (probes, load gossip and samples, the balancer) and the reads of chatty jobs' output then fall
// on the same wake-ups. Under emulation each wake-up of a busy node costs its jobs CPU time.
// Periodic work is fixed-rate (next_due): a deadline moves on by its period from the last one,
// not from the moment the loop got to it, so waking a little late on the grid never stretches a
// 0.5 s period to 0.75 s.
#pragma once
#include <cmath>

namespace grappe {

// The loops' grid step (s): the main loop sleeps at most until the next multiple of it.
constexpr double kLoopGrid = 0.25;

// The first multiple of `step` after `now` (never `now` itself).
inline double next_grid_point(double now, double step) {
  const double t = (std::floor(now / step) + 1) * step;
  return t > now ? t : t + step;  // rounding must not give a point at or before now
}

// A periodic deadline that came due at `now`: the next one is a period after the last, or a
// period from now when the loop fell a whole period behind (no burst of catch-up runs).
inline double next_due(double due, double now, double period) {
  const double t = due + period;
  return t > now ? t : now + period;
}

}  // namespace grappe
