#!/usr/bin/env bash
# ctest "qemu-netboot-uefi": UEFI network boot from the cluster, under TCG. Node 1 boots the test
# ISO (BIOS); node 2 has no disk and UEFI firmware (OVMF), and is started only once node 1 serves
# (`grappe-build qemu --boot cd,uefi-net --hold-net FILE`: OVMF does not retry a failed network
# boot). Its NIC has no iPXE ROM, so OVMF's own PXE client boots, as plain UEFI firmware does: it
# gets snponly.efi over TFTP from node 1's dnsmasq, iPXE then the script over HTTP, and the kernel
# boots through its EFI stub: node 2 reaches "node ready" and joins. The VMs belong to one
# `grappe-build qemu`, killed by PID on every exit (cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-netboot-uefi
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
netboot_skip_unless_ready
[ -s /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: no OVMF firmware (ovmf)"; exit 77; }
cluster_launch --nodes 2 --boot cd,uefi-net --hold-net "$DIR/go"
netboot_serve_from_node1
touch "$DIR/go"
T1=$(date +%s)
wait_log 2 "grappe-init: .*network boot" 1500
wait_log 2 "grappe: node ready" 1800
wait_log 2 "joined cluster grappe-test nodes=2" 1800
grep -aq "verified .* (sha256 ok)" "$DIR/node2.log" || fail "node 2's console shows no checked download"
con 2 "dmesg -n 1; test -d /sys/firmware/efi" || fail "node 2 did not boot through UEFI"
con 1 "journalctl -u grappe-boot-dhcp --no-pager | grep -q 'sent .*snponly.efi'" ||
  fail "node 1's dnsmasq did not send snponly.efi over TFTP: $(con 1 'journalctl -u grappe-boot-dhcp --no-pager | grep -i "tftp\|bootfile" | tail -8')"
echo "PASS: UEFI network boot: node 2 (OVMF) booted from node 1 and joined in $(( $(date +%s) - T1 )) s"
