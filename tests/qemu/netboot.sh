#!/usr/bin/env bash
# ctest "qemu-netboot": network boot from the cluster itself, under TCG. Node 1 boots the test
# ISO; nodes 2 and 3 have no disk at all and boot from the cluster segment with QEMU's iPXE ROM
# (`grappe-build qemu --boot cd,net`), retrying until someone serves. Then:
#   1. `grappe boot-server enable` on node 1: with no other DHCP server on the segment it serves
#      full DHCP on a private /24, and says so;
#   2. nodes 2 and 3 get iPXE's script over HTTP, fetch kernel, initrd and both layers from node 1,
#      check their SHA-256, boot, are admitted (policy auto: the cluster key sealed to their
#      one-time key), reach "node ready" and join: node 1 sees 3 nodes, node 2 sees node 1's /home;
#   3. node 2 kept a checked copy of everything served, so it could serve network boot too;
#   4. node 1 dies (its VM frozen, like a PC losing power): node 2 or 3 takes the boot service
#      over from its copy, and the other one, rebooted, network-boots from it and joins again;
#   5. `grappe node forget` on the serving node shuts the other one out: a rekey without it, and
#      it is dead to the cluster (it keeps the old key, which no member accepts any more).
# Prints the CD boot time of node 1 and the network boot-to-joined time of node 2, and writes
# them to $GRAPPE_NETBOOT_JSON when set (ci/bench-netboot). The VMs belong to one
# `grappe-build qemu`, killed by PID on every exit (tests/qemu/cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
netboot_skip_unless_ready
FAIL_NODES="1 2 3"
cluster_launch --nodes 3 --boot cd,net
wait_log 1 "grappe: node ready" 900
CD_S=$(( $(date +%s) - T0 ))
echo "ok: node 1 booted from the CD in $CD_S s"
grep -aq "grappe: node ready" "$DIR/node2.log" && fail "node 2 booted before anyone served network boot"

echo "== 1. boot serving on node 1"
wait_for 120 1 "grappe status --json >/dev/null" || fail "node 1: grapped does not answer"
con 1 "dmesg -n 1" > /dev/null  # no kernel messages in the middle of command output
con 1 "grappe boot-server enable" > /dev/null
T1=$(date +%s)
wait_for 120 1 "grappe boot-server status | grep -q 'serving network boot'" ||
  fail "node 1 does not serve: $(con 1 'grappe boot-server status')"
STATUS=$(con 1 "grappe boot-server status" | tr -d '\r')
echo "$STATUS"
echo "$STATUS" | grep -q "full DHCP" || fail "no DHCP server on the segment, yet not in full DHCP mode"

echo "== 2. nodes 2 and 3 boot from node 1 and join"
wait_log 2 "grappe-init: .*network boot" 900
wait_log 2 "grappe: node ready" 1500
READY_S=$(( $(date +%s) - T1 ))
wait_log 2 "joined cluster grappe-test nodes=" 1800
NET_S=$(( $(date +%s) - T1 ))
wait_log 3 "grappe: node ready" 1800
for n in 2 3; do
  con "$n" "dmesg -n 1" > /dev/null
  grep -aq "verified .* (sha256 ok)" "$DIR/node$n.log" || fail "node $n's console shows no checked download"
done
echo "ok: node 2 network-booted to node ready in $READY_S s, joined in $NET_S s (from boot-server enable); node 3 too"
wait_for 300 1 "test \$(grappe nodes | grep -c ' alive ') = 3" ||
  fail "node 1 does not list 3 nodes: $(con 1 'grappe nodes')"
con 1 "mkdir -p /home/t && echo served-by-node-1 > /home/t/netboot"
wait_for 300 2 "grep -q served-by-node-1 /home/t/netboot" || fail "node 2 does not see node 1's /home: $(con 2 'grappe status | grep home')"
echo "ok: node 1 lists 3 nodes; node 2 sees node 1's /home"
for n in 2 3; do
  grep -aq "grappe: admitted 52:54:00:67:72:0$n (.*) by .*: policy auto" "$DIR/node1.log" ||
    fail "node 1's console does not say it admitted node $n"
  grep -aq "grappe-init: admitted by the cluster at http://" "$DIR/node$n.log" || fail "node $n does not say it was admitted"
done
[ "$(con 1 "grappe boot-server status --json" | jq_py 'd["admission"]["admitted"]')" -ge 2 ] || fail "node 1 counted fewer than 2 admissions"
echo "ok: nodes 2 and 3 were admitted (policy auto), and node 1's console says so"
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

echo "== 4. node 1 dies: another node takes the boot service over, and a node still network-boots"
PID1=$(sed -n 's/^node1: pid \([0-9]*\).*/\1/p' "$DIR/runner.log")
[ -n "$PID1" ] || fail "no pid for node 1 in $DIR/runner.log"
trap 'kill -CONT "$PID1" 2>/dev/null || true; cluster_stop' EXIT
kill -STOP "$PID1"  # frozen: gone from the segment at once, like a PC losing power
FAIL_NODES="2 3"
T2=$(date +%s) S=
until [ -n "$S" ]; do
  for n in 2 3; do con "$n" "grappe boot-server status | grep -q 'serving network boot'" > /dev/null 2>&1 && S=$n; done
  [ $(( $(date +%s) - T2 )) -lt $(( SCALE * 300 )) ] ||
    fail "nobody took the boot service over: $(con 2 'grappe boot-server status'; con 3 'grappe boot-server status')"
  sleep 1
done
TAKE_S=$(( $(date +%s) - T2 ))
R=$(( S == 2 ? 3 : 2 ))
echo "ok: node $S serves network boot $TAKE_S s after node 1 died: $(con "$S" 'grappe boot-server status' | tr -d '\r')"
con "$R" "grappe status" | grep -q "boot .*served by node" || fail "node $R does not show the new server: $(con "$R" 'grappe status')"
BEFORE=$(grep -ac "grappe: node ready" "$DIR/node$R.log")
SIZE=$(stat -c %s "$DIR/node$R.log")
con "$R" "(sleep 1; systemctl reboot) > /dev/null 2>&1 &" > /dev/null  # the firmware boots from the network again
T3=$(date +%s) T_RESET= T_JOINED=
# From the reset (the kernel's last line) to "joined" in its log: power-on to joined, network boot.
until [ -n "$T_JOINED" ]; do
  [ $(( $(date +%s) - T3 )) -lt $(( SCALE * 1200 )) ] || fail "node $R did not network-boot again from node $S"
  AFTER=$(tail -c +"$SIZE" "$DIR/node$R.log")
  echo "$AFTER" | grep -aq "Kernel panic\|grappe-init: FAILED" &&
    fail "node $R's second boot failed: $(echo "$AFTER" | grep -a "grappe-init\|Oops\|panic" | tail -8)"
  [ -z "$T_RESET" ] && echo "$AFTER" | grep -aq "reboot: Restarting system" && T_RESET=$(date +%s.%N)
  # joined and node ready, in either order
  [ -n "$T_RESET" ] && echo "$AFTER" | grep -aq "joined cluster grappe-test" &&
    [ "$(grep -ac "grappe: node ready" "$DIR/node$R.log")" -gt "$BEFORE" ] && T_JOINED=$(date +%s.%N)
  sleep 0.5
done
REBOOT_S=$(python3 -c "print(round($T_JOINED - $T_RESET, 1))")
SRV=$(con "$S" "grappe boot-server status --json" | jq_py 'd["url"]')
# (grep without -q: it reads to the end, so tail never dies of SIGPIPE and fails the pipeline)
tail -c +"$SIZE" "$DIR/node$R.log" | grep -a "fetching ${SRV%node.ipxe}base.squashfs" > /dev/null ||
  fail "node $R did not fetch from node $S ($SRV) in its second boot: $(tail -c +"$SIZE" "$DIR/node$R.log" | grep -a "fetching\|grappe-init" | tail -5)"
con "$R" "dmesg -n 1" > /dev/null
wait_for 300 "$S" "test \$(grappe nodes | grep -c ' alive ') = 2" || fail "node $R did not join node $S again: $(con "$S" 'grappe nodes')"
echo "ok: node $R network-booted again from node $S (${SRV%node.ipxe}) and joined, $REBOOT_S s after its reset"
echo "== 5. grappe node forget on node $S: node $R, network-booted, is shut out (a rekey without it)"
NAME_R=grappe-52540067720$R NAME_S=grappe-52540067720$S  # hostnames follow the VMs' MACs
EPOCH0=$(con "$S" "grappe status --json" | jq_py 'd["cluster_status"]["keys"]["epoch"]')
CRED=$(con "$R" "grappe status --json" | jq_py 'd["cluster_status"]["keys"]["credential"]')
[ "$CRED" = admitted ] || fail "node $R (network-booted) does not hold admitted member credentials (credential: '$CRED'): $(con "$R" 'grappe status' | tr -d '\r')"
OUT=$(con "$S" "grappe node forget $NAME_R 2>&1" | tr -d '\r')
echo "$OUT" | grep -q "forgot $NAME_R" || fail "grappe node forget $NAME_R failed on node $S: $OUT"
T4=$(date +%s)
# state_on VIEWER NAME: that node's state in VIEWER's `grappe nodes --json`
state_on() { con "$1" "grappe nodes --json" | python3 -c "import json,sys; print(next((n['state'] for n in json.load(sys.stdin) if n.get('name')=='$2'), 'none'))" 2>/dev/null || echo none; }
until [ "$(state_on "$S" "$NAME_R")" = dead ]; do
  [ $(( $(date +%s) - T4 )) -lt $(( SCALE * 120 )) ] || fail "node $R is not dead on node $S after being forgotten: $(con "$S" 'grappe nodes')"
  sleep 2
done
FORGET_S=$(( $(date +%s) - T4 ))
E_S=$(con "$S" "grappe status --json" | jq_py 'd["cluster_status"]["keys"]["epoch"]')
E_R=$(con "$R" "grappe status --json" | jq_py 'd["cluster_status"]["keys"]["epoch"]')
[ "$E_S" -gt "$EPOCH0" ] && [ "$E_R" = "$EPOCH0" ] || fail "after forget: node $S at epoch $E_S, node $R at $E_R (was $EPOCH0)"
T5=$(date +%s)
until [ "$(state_on "$R" "$NAME_S")" != alive ]; do
  [ $(( $(date +%s) - T5 )) -lt $(( SCALE * 120 )) ] || fail "node $R still sees node $S alive after being forgotten: $(con "$R" 'grappe nodes')"
  sleep 2
done
echo "ok: node $R forgotten: dead on node $S within $FORGET_S s; node $S at key epoch $E_S, node $R left at $E_R"
if [ -n "${GRAPPE_NETBOOT_JSON:-}" ]; then
  printf '{"cd_boot_s": %s, "first_netboot_ready_s": %s, "first_netboot_joined_s": %s, "takeover_s": %s, "netboot_reset_to_joined_s": %s, "ratio": %s}\n' \
    "$CD_S" "$READY_S" "$NET_S" "$TAKE_S" "$REBOOT_S" "$(python3 -c "print(round($REBOOT_S / $CD_S, 2))")" > "$GRAPPE_NETBOOT_JSON"
fi
echo "PASS: network boot from the cluster: CD boot $CD_S s; first network boots joined $NET_S s after enable; takeover $TAKE_S s; network boot reset to joined $REBOOT_S s; forgotten node dead in $FORGET_S s"
