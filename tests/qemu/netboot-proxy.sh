#!/usr/bin/env bash
# ctest "qemu-netboot-proxy": network boot from the cluster next to an existing DHCP server, under
# TCG. Three VMs (`grappe-build qemu --boot cd,net,cd`): nodes 1 and 3 boot the test ISO, node 2
# has no disk. Node 3 plays the site's DHCP server (a plain dnsmasq handing out 192.168.77.0/24,
# no boot information). Then:
#   1. `grappe boot-server enable` on node 1: its probe hears node 3's server, so it runs
#      proxy-DHCP only (no address of its own, no range), and says so;
#   2. node 2 takes its address from node 3's server and its boot information from node 1's
#      proxy, boots from node 1, reaches "node ready" and joins the cluster.
# The VMs belong to one `grappe-build qemu`, killed by PID on every exit (cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot-proxy
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
netboot_skip_unless_ready
FAIL_NODES="1 2 3"
cluster_launch --nodes 3 --boot cd,net,cd
wait_log 1 "grappe: node ready" 900
wait_log 3 "grappe: node ready" 900
for n in 1 3; do
  wait_for 120 "$n" "grappe status --json >/dev/null" || fail "node $n: grapped does not answer"
  con "$n" "dmesg -n 1" > /dev/null
done

echo "== 0. node 3 runs the site's DHCP server (192.168.77.0/24, no boot information)"
MAC3=$(con 3 "cat /sys/class/net/ens3/address" | tr -d '\r\n')
con 3 "ip addr add 192.168.77.1/24 dev ens3 && dnsmasq --port=0 --interface=ens3 --bind-interfaces --dhcp-range=192.168.77.50,192.168.77.150,1h --dhcp-host=$MAC3,ignore --dhcp-leasefile=/run/site-dhcp.leases --pid-file=/run/site-dhcp.pid" ||
  fail "cannot start the site DHCP server on node 3"
echo "ok: a DHCP server on node 3"
# Node 1's networkd keeps asking for a lease (backing off up to about a minute); let it get one
# from the site's server first, so the boot service does not start on the link-local address and
# restart when the lease arrives (it would, and the test would catch it between the two).
wait_for 180 1 "ip -4 addr show ens3 | grep -q ' 192\.168\.77\.'" ||
  fail "node 1 got no lease from the site's DHCP server: $(con 1 'ip -4 addr show ens3')"

echo "== 1. boot serving on node 1: proxy mode"
con 1 "grappe boot-server enable" > /dev/null
wait_for 120 1 "grappe boot-server status | grep 'serving network boot' | grep -q 'proxy DHCP'" ||
  fail "node 1 does not serve: $(con 1 'grappe boot-server status')"
STATUS=$(con 1 "grappe boot-server status" | tr -d '\r')
echo "$STATUS"
echo "$STATUS" | grep -q "proxy DHCP" || fail "a DHCP server answered, yet not in proxy mode"
con 1 "grep -q '^dhcp-range=.*proxy' /run/grappe/boot/dnsmasq.conf && ! grep -q '^dhcp-option=3' /run/grappe/boot/dnsmasq.conf" ||
  fail "node 1's dnsmasq configuration is not proxy-only: $(con 1 'cat /run/grappe/boot/dnsmasq.conf')"
con 1 "! ip -4 addr show ens3 | grep -q ' 10\.7[0-9]\.'" || fail "node 1 took an address of its own in proxy mode"

echo "== 2. node 2: address from node 3, boot from node 1"
T1=$(date +%s)
wait_log 2 "grappe: node ready" 1500
wait_log 2 "joined cluster grappe-test nodes=" 1800
con 2 "dmesg -n 1" > /dev/null
grep -aq "grappe-init: lease 192\.168\.77\." "$DIR/node2.log" || fail "node 2 did not take its address from node 3: $(grep -a 'grappe-init: lease' "$DIR/node2.log")"
grep -aq "verified .* (sha256 ok)" "$DIR/node2.log" || fail "node 2's console shows no checked download"
con 3 "grep -qi '52:54:00:67:72:02' /run/site-dhcp.leases" || fail "node 3's DHCP server has no lease for node 2"
wait_for 300 1 "test \$(grappe nodes | grep -c ' alive ') = 3" || fail "node 1 does not list 3 nodes: $(con 1 'grappe nodes')"
echo "PASS: proxy mode: node 2 took its address from the site's server and booted from node 1 in $(( $(date +%s) - T1 )) s; 3 nodes"
