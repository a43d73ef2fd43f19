#!/usr/bin/env bash
# ctest "qemu-netboot-discover": a PC given only the kernel and initrd finds the cluster by itself,
# under TCG. Node 1 boots the test ISO and serves network boot; node 2 has no disk and is started
# with QEMU's -kernel/-initrd from out/pxe and no fetch URL (`grappe-build qemu --boot cd,kernel`).
# grappe-init finds no medium, takes a DHCP lease, hears node 1's boot announcement (signed with
# the cluster key it carries), checks SHA256SUMS against the announced hash, fetches and checks the
# layers, boots and joins. The VMs belong to one `grappe-build qemu`, killed by PID on every exit.
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot-discover
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
[ -s "$OUT/pxe/vmlinuz" ] || { echo "SKIP: no $OUT/pxe/vmlinuz (the image test builds it)"; exit 77; }
cluster_launch --nodes 2 --boot cd,kernel --hold-net "$DIR/go"
netboot_serve_from_node1
touch "$DIR/go"
T1=$(date +%s)
wait_log 2 "grappe-init: found cluster grappe-test serving network boot at http://" 1200
wait_log 2 "grappe: node ready" 1500
wait_log 2 "joined cluster grappe-test nodes=2" 1800
grep -aq "verified .* (sha256 ok)" "$DIR/node2.log" || fail "node 2's console shows no checked download"
grep -aq "Command line: console=tty0 console=ttyS0,115200n8" "$DIR/node2.log" || fail "node 2 did not boot the bare kernel"
grep -a "Command line" "$DIR/node2.log" | grep -aq "grappe.fetch" && fail "node 2's command line names a fetch URL"
echo "PASS: discovery: node 2, given only the kernel and initrd, found the cluster and joined in $(( $(date +%s) - T1 )) s"
