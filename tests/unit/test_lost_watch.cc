#include <doctest/doctest.h>

#include "migration/lost_watch.h"

using namespace grappe;

TEST_CASE("a job is lost only once its node has been dead for the whole grace period") {
  LostWatch w(10);
  // Dead at t=100: not lost at once, nor 9.9 s later.
  CHECK_FALSE(w.check("1.4", false, 100));
  w.sweep();
  CHECK_FALSE(w.check("1.4", false, 109.9));
  w.sweep();
  CHECK(w.check("1.4", false, 110));
  w.sweep();
  CHECK(w.watched() == 0);
}

TEST_CASE("a node that refutes within the grace keeps its jobs, and the clock starts over") {
  LostWatch w(10);
  CHECK_FALSE(w.check("1.4", false, 100));  // a stall: declared dead...
  w.sweep();
  CHECK_FALSE(w.check("1.4", true, 102.5));  // ...alive again 2.5 s later (refuted)
  w.sweep();
  CHECK_FALSE(w.check("1.4", false, 105));  // dead again: counted from here
  w.sweep();
  CHECK_FALSE(w.check("1.4", false, 114.9));
  w.sweep();
  CHECK(w.check("1.4", false, 115));
}

TEST_CASE("jobs that end or come home while their node is dead are forgotten at the sweep") {
  LostWatch w(10);
  CHECK_FALSE(w.check("1.1", false, 0));
  CHECK_FALSE(w.check("1.2", false, 0));
  w.sweep();
  CHECK(w.watched() == 2);
  CHECK_FALSE(w.check("1.2", false, 1));  // 1.1 ended: not checked this tick
  w.sweep();
  CHECK(w.watched() == 1);
  // If 1.1 runs remotely again later, its grace starts from then, not from t=0; 1.2's ran on.
  CHECK_FALSE(w.check("1.1", false, 20));
  CHECK(w.check("1.2", false, 20));
  w.sweep();
  CHECK_FALSE(w.check("1.1", false, 29.9));
  w.sweep();
  CHECK(w.check("1.1", false, 30));
}
