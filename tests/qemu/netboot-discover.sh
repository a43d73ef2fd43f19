#!/usr/bin/env bash
# ctest "qemu-netboot-discover": a PC given only the kernel and initrd finds the cluster by itself,
# under TCG. Node 1 boots the test ISO and serves network boot; node 2 has no disk and is started
# with QEMU's -kernel/-initrd from out/pxe and no fetch URL (`grappe-build qemu --boot cd,kernel`).
# grappe-init finds no medium, takes a DHCP lease, hears node 1's boot announcement (signed with
# the cluster's boot public key, which is all its initrd carries), checks SHA256SUMS against the announced hash, fetches and checks the
# layers, boots and asks node 1 to admit it. Node 1 first runs the `listed` admission policy with no
# list: node 2 boots but is refused, says so and does not join. Then node 1 runs the `ask` policy:
# node 2, rebooted, waits, listed as waiting on node 1, until root there runs `grappe admit`; then
# it joins. (`auto` is qemu-netboot's.) On the way, the cluster key's boundary: an
# unprivileged user on either node reads no credential (key file, medium), and nothing node 2
# fetched carries the key. The VMs belong to one `grappe-build qemu`, killed by PID on every exit.
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot-discover
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
[ -s "$OUT/pxe/vmlinuz" ] || { echo "SKIP: no $OUT/pxe/vmlinuz (the image test builds it)"; exit 77; }
cluster_launch --nodes 2 --boot cd,kernel --hold-net "$DIR/go"
KEY=$(sed -n 's/^key = "\([0-9a-f]\{64\}\)".*/\1/p' "$SRC/recipes/test.toml")
[ ${#KEY} -eq 64 ] || fail "cannot read the test recipe's cluster key"
netboot_serve_from_node1

echo "== the key on a CD node: root's alone"
[ "$(con 1 "cat /run/grappe/medium/grappe/cluster.key" | tr -d '\r\n')" = "$KEY" ] || fail "the medium's key is not the recipe's"
[ "$(con 1 "stat -c %a:%U /etc/grappe/cluster.key" | tr -d '\r\n')" = "600:root" ] || fail "/etc/grappe/cluster.key is not 0600 root"
for f in /etc/grappe/cluster.key /run/grappe/medium/grappe/cluster.key /run/grappe/medium/boot/initrd.img; do
  con 1 "su -s /bin/sh nobody -c 'cat $f' >/dev/null 2>&1 && echo READABLE" | grep -q READABLE && fail "an unprivileged user can read $f"
done
con 1 "su -s /bin/sh nobody -c 'ls /run/grappe/medium' >/dev/null 2>&1 && echo READABLE" | grep -q READABLE &&
  fail "an unprivileged user can list the medium"
[ "$(con 1 "stat -c %a:%G /dev/sr0" | tr -d '\r\n')" = "600:root" ] || fail "the CD drive is not root's alone: $(con 1 'ls -l /dev/sr0')"
con 1 "su -s /bin/sh nobody -c 'head -c 1 /dev/sr0' >/dev/null 2>&1 && echo READABLE" | grep -q READABLE &&
  fail "an unprivileged user can read the raw medium"
con 1 "grep -rlF $KEY /run/grappe/boot 2>/dev/null" | grep -q . && fail "the TFTP copy carries the key"
echo "ok: node 1's key is 0600 root; nobody reads neither it, nor the medium (mounted $(con 1 "findmnt -no OPTIONS /run/grappe/medium" | tr -d '\r'))"

echo "== policy listed, node 2 not listed: it boots, is refused, does not join"
con 1 "sed -i 's/^admission = .*/admission = \"listed\"/' /etc/grappe/grapped.toml && rm -f /etc/grappe/boot-nodes.toml && systemctl restart grapped" > /dev/null
wait_for 120 1 "grappe boot-server status | grep -q 'serving network boot'" || fail "node 1 does not serve again after its restart"
touch "$DIR/go"
T1=$(date +%s)
wait_log 2 "grappe-init: found cluster grappe-test serving network boot at http://" 1200
wait_log 2 "grappe: not a cluster member" 1500
grep -aq "grappe-init:   not admitted: HTTP error .*403" "$DIR/node2.log" || fail "node 2's console does not show the refusal"
MAC2=$(grep -ao "grappe: refused [0-9a-f:]\{17\}" "$DIR/node1.log" | head -1 | cut -d' ' -f3)
[ -n "$MAC2" ] || fail "node 1's console does not say whom it refused"
ST2=$(con 2 "grappe status; true" | tr -d '\r')  # it exits 1 on a node that is not a member
echo "$ST2" | grep -q "grappe-test: not a member (.*403" || fail "node 2's grappe status does not say it is not a member: $ST2"
con 2 "test -e /etc/grappe/cluster.key" > /dev/null && fail "a refused node holds a cluster key"
[ "$(con 1 "grappe boot-server status --json" | jq_py 'd["admission"]["refused"]')" -ge 1 ] || fail "node 1 counted no refusal"
sleep 5
[ "$(con 1 "grappe nodes | grep -c ' alive '" | tr -d '\r\n')" = 1 ] || fail "a refused node joined: $(con 1 'grappe nodes')"
echo "ok: node 2 ($MAC2) refused by policy listed; it booted, says it is not a member, and node 1 lists itself alone"

echo "== policy ask: node 2, rebooted, waits until root on node 1 runs grappe admit"
con 1 "sed -i 's/^admission = .*/admission = \"ask\"/' /etc/grappe/grapped.toml && systemctl restart grapped" > /dev/null
wait_for 120 1 "grappe boot-server status | grep -q 'serving network boot'" || fail "node 1 does not serve again after its restart"
SIZE=$(stat -c %s "$DIR/node2.log")
con 2 "(sleep 1; systemctl reboot) > /dev/null 2>&1 &" > /dev/null
T2=$(date +%s)
until tail -c +"$SIZE" "$DIR/node2.log" | grep -aq "grappe-init: waiting to be admitted: on the node serving network boot, root runs grappe admit $MAC2"; do
  [ $(( $(date +%s) - T2 )) -lt $(( SCALE * 900 )) ] || fail "node 2 does not wait to be admitted: $(tail -c +"$SIZE" "$DIR/node2.log" | grep -a 'grappe' | tail -5)"
  sleep 2
done
wait_for 60 1 "grappe boot-server status | grep -q 'waiting to join: $MAC2'" || fail "node 1 does not list node 2 as waiting: $(con 1 'grappe boot-server status')"
FPR=$(tail -c +"$SIZE" "$DIR/node2.log" | grep -ao "this PC's key is [0-9a-f]\{12\}" | tail -1 | cut -d' ' -f5)
[ -n "$FPR" ] || fail "node 2's console does not show its key"
grep -aq "grappe: $MAC2 (.*, key $FPR) asks to join; on .*: grappe admit $MAC2 or grappe deny $MAC2" "$DIR/node1.log" ||
  fail "node 1's console does not say node 2 (key $FPR) asks to join"
con 1 "grappe boot-server status" | grep -q "waiting to join: $MAC2 (.*, key $FPR)" || fail "node 1 does not show the waiting PC's key"
con 1 "su -s /bin/sh nobody -c 'grappe admit $MAC2' 2>&1; true" | grep -q "only root may let a PC into the cluster" || fail "an unprivileged user's grappe admit was not refused"
WAITED=$(( $(date +%s) - T2 ))
# Any member may answer: node 2 is not one yet, so from node 1 itself here (the serving node);
# the forwarding from another member is covered by the unit tests.
con 1 "grappe admit $MAC2" | grep -q "admit $MAC2: it gets the cluster key" || fail "grappe admit $MAC2 failed"
until tail -c +"$SIZE" "$DIR/node2.log" | grep -aq "joined cluster grappe-test nodes=2"; do
  [ $(( $(date +%s) - T2 )) -lt $(( SCALE * 1200 )) ] || fail "node 2, admitted, did not join: $(tail -c +"$SIZE" "$DIR/node2.log" | grep -a 'grappe' | tail -5)"
  sleep 2
done
tail -c +"$SIZE" "$DIR/node2.log" | grep -aq "grappe-init: admitted by the cluster at http://" || fail "node 2 does not say it was admitted"
grep -aq "grappe: admitted $MAC2 (.*) by .*: policy ask: admitted by root" "$DIR/node1.log" || fail "node 1's console does not say whom it admitted, and why"
# Node 2 holds member credentials, never the invitation, and runs under the cluster's operating key.
CRED=$(con 2 "cat /etc/grappe/cluster.key" | tr -d '\r\n')
case "$CRED" in "grappe-member 1 "*) ;; *) fail "node 2 was not given a member line: ${CRED:0:20}…" ;; esac
case "$CRED" in *"$KEY"*) fail "node 2 was given the invitation" ;; esac
F1=$(con 1 "grappe status --json" | jq_py 'd["cluster_status"]["key_fingerprint"]')
F2=$(con 2 "grappe status --json" | jq_py 'd["cluster_status"]["key_fingerprint"]')
[ -n "$F1" ] && [ "$F1" = "$F2" ] || fail "node 2 runs under operating key $F2, node 1 under $F1"
[ "$(con 2 "grappe status --json" | jq_py 'd["cluster_status"]["keys"]["credential"]')" = admitted ] ||
  fail "node 2 does not say it was admitted"
[ "$(con 2 "stat -c %a:%U /etc/grappe/cluster.key" | tr -d '\r\n')" = "600:root" ] || fail "node 2's key is not 0600 root"
con 2 "su -s /bin/sh nobody -c 'cat /etc/grappe/cluster.key' >/dev/null 2>&1 && echo READABLE" | grep -q READABLE && fail "an unprivileged user reads node 2's key"
con 2 "grep -rlF $KEY /run/grappe --exclude-dir=rw --exclude-dir=layer 2>/dev/null; true" | grep -q . && fail "what node 2 fetched or kept carries the key"
echo "ok: node 2 waited $WAITED s, was admitted by grappe admit, joined $(( $(date +%s) - T2 )) s after its reboot; its key is 0600 root and in nothing it fetched"
grep -aq "verified .* (sha256 ok)" "$DIR/node2.log" || fail "node 2's console shows no checked download"
grep -aq "Command line: console=tty0 console=ttyS0,115200n8" "$DIR/node2.log" || fail "node 2 did not boot the bare kernel"
grep -a "Command line" "$DIR/node2.log" | grep -aq "grappe.fetch" && fail "node 2's command line names a fetch URL"
echo "PASS: discovery: node 2, given only the kernel and initrd, found the cluster, was refused (listed, not listed), then waited and was admitted (ask) and joined"
