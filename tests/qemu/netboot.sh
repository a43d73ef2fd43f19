#!/usr/bin/env bash
# ctest "qemu-netboot": network boot from the cluster itself, under TCG. Node 1 boots the test
# ISO; node 2 has no disk at all and boots from the cluster segment with QEMU's iPXE ROM
# (`grappe-build qemu --boot cd,net`), retrying until someone serves. Then:
#   1. `grappe boot-server enable` on node 1: with no other DHCP server on the segment it serves
#      full DHCP on a private /24, and says so;
#   2. node 2 gets iPXE's script over HTTP, fetches kernel, initrd and both layers from node 1,
#      checks their SHA-256, boots, reaches "node ready" and joins: node 1 sees 2 nodes, node 2
#      sees node 1's /home;
#   3. node 2 kept a checked copy of everything served, so it could serve network boot too.
# Prints the CD boot time of node 1 and the network boot-to-joined time of node 2, and writes
# them to $GRAPPE_NETBOOT_JSON when set (ci/bench-netboot). The VMs belong to one
# `grappe-build qemu`, killed by PID on every exit (tests/qemu/cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
{ [ -s /usr/lib/ipxe/qemu/efi-virtio.rom ] || [ -s /usr/share/qemu/efi-virtio.rom ]; } || { echo "SKIP: QEMU's iPXE ROM for virtio-net (ipxe-qemu) is not installed"; exit 77; }

rm -rf "$DIR"
mkdir -p "$DIR"
"$BUILD" qemu --out "$OUT" --dir "$DIR" --nodes 2 --boot cd,net --port $(( 30000 + RANDOM % 20000 )) > "$DIR/runner.log" 2>&1 &
QPID=$!
trap cluster_stop EXIT
T0=$(date +%s)
# wait_log N TEXT LIMIT: waits for TEXT in node N's serial log.
wait_log() {
  until grep -aq "$2" "$DIR/node$1.log" 2>/dev/null; do
    kill -0 "$QPID" 2>/dev/null || { cat "$DIR/runner.log"; fail "the VMs stopped"; }
    [ $(( $(date +%s) - T0 )) -lt $(( SCALE * $3 )) ] || fail "node $1: no \"$2\" after $(( $(date +%s) - T0 )) s"
    sleep 2
  done
}
wait_log 1 "grappe: node ready" 900
CD_S=$(( $(date +%s) - T0 ))
echo "ok: node 1 booted from the CD in $CD_S s"
grep -aq "grappe: node ready" "$DIR/node2.log" && fail "node 2 booted before anyone served network boot"

echo "== 1. boot serving on node 1"
wait_for 120 1 "grappe status --json >/dev/null" || fail "node 1: grapped does not answer"
con 1 "grappe boot-server enable" > /dev/null
T1=$(date +%s)
wait_for 120 1 "grappe boot-server status | grep -q 'serving network boot'" ||
  fail "node 1 does not serve: $(con 1 'grappe boot-server status')"
STATUS=$(con 1 "grappe boot-server status" | tr -d '\r')
echo "$STATUS"
echo "$STATUS" | grep -q "full DHCP" || fail "no DHCP server on the segment, yet not in full DHCP mode"

echo "== 2. node 2 boots from node 1 and joins"
wait_log 2 "grappe-init: .*network boot" 900
wait_log 2 "grappe: node ready" 1500
READY_S=$(( $(date +%s) - T1 ))
wait_log 2 "joined cluster grappe-test nodes=2" 1800
NET_S=$(( $(date +%s) - T1 ))
grep -aq "verified .* (sha256 ok)" "$DIR/node2.log" || fail "node 2's console shows no checked download"
echo "ok: node 2 network-booted to node ready in $READY_S s, joined in $NET_S s (from boot-server enable)"
wait_for 120 1 "test \$(grappe nodes | grep -c ' alive ') = 2" ||
  fail "node 1 does not list 2 nodes: $(con 1 'grappe nodes')"
con 1 "mkdir -p /home/t && echo served-by-node-1 > /home/t/netboot"
wait_for 300 2 "grep -q served-by-node-1 /home/t/netboot" || fail "node 2 does not see node 1's /home: $(con 2 'grappe status | grep home')"
echo "ok: node 1 lists 2 nodes; node 2 sees node 1's /home"
REQS=$(con 1 "grappe boot-server status --json" | jq_py 'd.get("http_requests", 0)')
[ "$REQS" -ge 4 ] || fail "node 1 counted $REQS HTTP requests (script, kernel, initrd, layers expected)"

echo "== 3. node 2 kept what it booted, checked, so it can serve too"
grep -aq "this node can serve network boot too" "$DIR/node2.log" ||
  fail "node 2 did not keep the boot files: $(grep -a 'will not be able to serve' "$DIR/node2.log" | head -1)"
for f in boot/vmlinuz boot/initrd.img live/base.squashfs live/node.squashfs pxe/boot.ipxe pxe/undionly.kpxe pxe/snponly.efi; do
  a=$(con 1 "sha256sum < /run/grappe/medium/$f" | tr -d '\r\n') b=$(con 2 "sha256sum < /run/grappe/medium/$f" | tr -d '\r\n')
  [ -n "$a" ] && [ "$a" = "$b" ] || fail "node 2's copy of $f differs from node 1's"
done
con 2 "grappe boot-server status" | tr -d '\r' | grep -q "served by" || fail "node 2 is not on standby: $(con 2 'grappe boot-server status')"
echo "ok: node 2 holds the same kernel, initrd, layers and loaders as node 1, on standby"
if [ -n "${GRAPPE_NETBOOT_JSON:-}" ]; then
  printf '{"cd_boot_s": %s, "netboot_ready_s": %s, "netboot_joined_s": %s, "ratio": %s}\n' "$CD_S" "$READY_S" "$NET_S" \
    "$(python3 -c "print(round($NET_S / $CD_S, 2))")" > "$GRAPPE_NETBOOT_JSON"
fi
echo "PASS: network boot from the cluster: CD boot $CD_S s, network boot to joined $NET_S s"
