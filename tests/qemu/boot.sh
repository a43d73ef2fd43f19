#!/usr/bin/env bash
# ctest "qemu-*": boots the test image (built by the image test) under QEMU, TCG where KVM does
# not work, and waits for every node to print "grappe: node ready". Modes: cd (BIOS CD),
# uefi (OVMF CD), usb (BIOS USB stick), pxe (BIOS network boot), twonodes (2 VMs: distinct ids).
# grappe-build qemu kills every VM it started, by PID, on every exit path.
set -euo pipefail
BUILD=$(readlink -f "$1")
MODE=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test}
if [ ! -s "$OUT/grappe-amd64.iso" ]; then
  echo "SKIP: no test image at $OUT/grappe-amd64.iso (the image test builds it; it needs root)"; exit 77
fi
if ! command -v qemu-system-x86_64 >/dev/null; then echo "SKIP: qemu-system-x86_64 is not installed"; exit 77; fi
DIR=$OUT/qemu-$MODE
rm -rf "$DIR"
NODES=1; BOOT=$MODE
[ "$MODE" = twonodes ] && { NODES=2; BOOT=cd; }
# TCG boots take about a minute on this class of machine; scale with GRAPPE_TIMEOUT_SCALE.
TIMEOUT=$(( ${GRAPPE_TIMEOUT_SCALE:-1} * 900 ))
# A segment of its own: the one-VM modes run two at a time (tests/CMakeLists.txt), so each mode
# takes ports of its own residue.
case $MODE in cd) M=0 ;; uefi) M=1 ;; usb) M=2 ;; pxe) M=3 ;; *) M=4 ;; esac
PORT=$(( 30000 + (RANDOM % 4000) * 5 + M ))
UNTIL=(--until "grappe: node ready")
# Two nodes must also find each other: grapped prints this once it sees a peer, which may come
# before or after the ready line (both are waited for).
[ "$MODE" = twonodes ] && UNTIL+=(--until "grappe: joined cluster grappe-test nodes=2")
"$BUILD" qemu --out "$OUT" --dir "$DIR" --nodes "$NODES" --boot "$BOOT" --port "$PORT" \
  "${UNTIL[@]}" --timeout "$TIMEOUT"

# The node's ready line, or nothing (then the check below fails, showing what the log has).
ready() { { grep -a -o "grappe: node ready name=[^ ]* machine-id=[0-9a-f?]*" "$DIR/node$1.log" || true; } | head -1; }
no_ready() {
  echo "FAIL: node$1 has no intact ready line ($2); its serial log around it:"
  grep -a -n "node ready\|grappe-ready" "$DIR/node$1.log" | tail -5
  exit 1
}
for i in $(seq 1 "$NODES"); do
  line=$(ready "$i")
  echo "node$i: $line"
  name=$(echo "$line" | sed 's/.*name=\([^ ]*\).*/\1/')
  mid=$(echo "$line" | sed 's/.*machine-id=//')
  [ "${#mid}" -eq 32 ] || no_ready "$i" "no valid machine-id in '$line'"
  [ "$MODE" = pxe ] && want="grappe-52540067$(printf %02x 113)$(printf %02x "$i")" || want="grappe-52540067$(printf %02x 114)$(printf %02x "$i")"
  [ "$name" = "$want" ] || { echo "FAIL: node$i is named $name, expected $want (derived from its MAC)"; exit 1; }
done
if [ "$MODE" = twonodes ]; then
  a=$(ready 1); b=$(ready 2)
  [ "${a#*machine-id=}" != "${b#*machine-id=}" ] || { echo "FAIL: two nodes share a machine-id"; exit 1; }
  echo "ok: two VMs with different MACs have different hostnames and machine-ids, and joined one cluster"
fi
grep -a -q "grappe-init: boot medium\|grappe-init: .*verified" "$DIR/node1.log" || { echo "FAIL: grappe-init did not report its root source"; exit 1; }
echo "ok: $MODE boot reached node ready"
