#include <doctest/doctest.h>

#include "qemu_summary.h"

using namespace grappe::build;

TEST_CASE("qemu summary: one line once every node's serial log says it joined") {
  const std::string booting = "ISOLINUX 6.04\r\n[    2.1] random: crng init done\r\n";
  const std::string ready1 = booting + "grappe: node ready name=grappe-525400677201 machine-id=ab\r\n";
  const std::string ready2 = booting + "grappe: node ready name=grappe-525400677202 machine-id=cd\r\n";
  // The first node founds the cluster alone, then prints the joined line when the second comes.
  const std::string joined1 = ready1 + "grappe: founded cluster grappe nodes=1\r\ngrappe: joined cluster grappe nodes=2\r\n";
  const std::string joined2 = "grappe: joined cluster grappe nodes=2\r\n" + ready2;  // the join may come first

  NodeSeen a = node_seen(joined1, false), b = node_seen(ready2, false);
  CHECK(a.name == "grappe-525400677201");
  CHECK(a.cluster == "grappe");
  CHECK(a.joined);
  CHECK_FALSE(b.joined);
  CHECK(cluster_summary({a, b}, 51.6) == "");
  b = node_seen(joined2, false);
  CHECK(cluster_summary({a, b}, 51.6) ==
        "2 nodes joined cluster grappe in 52 s: node1 grappe-525400677201, node2 grappe-525400677202");
  CHECK(cluster_summary({}, 1) == "");

  // Among several, founding alone is not joining; a single VM's cluster forms when it founds it.
  CHECK_FALSE(node_seen(ready1 + "grappe: founded cluster grappe nodes=1\r\n", false).joined);
  NodeSeen lone = node_seen(ready1 + "grappe: founded cluster lab nodes=1\r\n", true);
  CHECK(lone.joined);
  CHECK(cluster_summary({lone}, 40) == "1 node founded cluster lab in 40 s: node1 grappe-525400677201");
  CHECK(node_seen("", true).name.empty());
  // Joined but its ready line (its name) not yet printed: no summary yet, never a "?" in it.
  CHECK(cluster_summary({a, node_seen("grappe: joined cluster grappe nodes=2\r\n", false)}, 3) == "");
}
