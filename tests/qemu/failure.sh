#!/usr/bin/env bash
# ctest "qemu-failure": grappe-init's failure paths, booted straight from the test image's kernel
# and initrd (QEMU -kernel/-initrd) so each takes seconds:
#   1. no medium with the wanted label: it names the label and lists what it found;
#   2. network root with a corrupted layer: SHA-256 mismatch, never a boot on corrupt data;
#   3. the debug flag drops to a shell instead of rebooting.
# Every VM and the HTTP server are killed by PID on every exit path.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test}
PXE=$OUT/pxe
[ -s "$PXE/vmlinuz" ] && [ -s "$OUT/grappe-amd64.iso" ] || { echo "SKIP: no test image in $OUT (the image test builds it)"; exit 77; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$TMP/serial" ] && tail -20 "$TMP/serial" >&2; exit 1; }
ACCEL=tcg
[ "$(cut -d' ' -f1 "$OUT/.kvm-probe" 2>/dev/null)" = kvm ] && ACCEL=kvm
LIMIT=$(( ${GRAPPE_TIMEOUT_SCALE:-1} * 240 ))

# boot NAME APPEND [extra qemu args…]; waits for "grappe-init: FAILED" and then for PATTERN
boot() {
  local name=$1 append=$2 pattern=$3; shift 3
  : > "$TMP/serial"
  qemu-system-x86_64 -accel "$ACCEL" -m 768 -display none -no-reboot -monitor none -serial "file:$TMP/serial" \
    -kernel "$PXE/vmlinuz" -initrd "$PXE/initrd.img" -append "console=ttyS0,115200n8 $append" "$@" \
    > "$TMP/qemu.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 "$LIMIT"); do
    grep -aq "$pattern" "$TMP/serial" && break
    kill -0 "$pid" 2>/dev/null || fail "$name: QEMU exited: $(cat "$TMP/qemu.log")"
    sleep 1
  done
  grep -aq "$pattern" "$TMP/serial" || fail "$name: no '$pattern' within $LIMIT s"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cp "$TMP/serial" "$TMP/$name.log"
}

echo "== wrong label: it says what it looked for and what it found"
boot label "grappe.label=NOPE grappe.timeout=5" "rebooting in 60 seconds" \
  -drive "file=$OUT/grappe-amd64.iso,media=cdrom,readonly=on"
grep -aq "FAILED: no boot medium with label NOPE" "$TMP/label.log" || fail "no clear message for a missing medium"
grep -aq "sr0(label GRAPPE_TEST)" "$TMP/label.log" || fail "the message does not list the CD it found"
grep -aq "starting systemd" "$TMP/label.log" && fail "booted without a medium"
echo "ok: missing medium reported with what was found"

echo "== corrupted network layer: refused"
mkdir -p "$TMP/www"
cp "$PXE/node.squashfs" "$TMP/www/node.squashfs"
printf 'corrupt' | dd of="$TMP/www/node.squashfs" bs=1 seek=4096 conv=notrunc 2>/dev/null
GOOD=$(grep node.squashfs "$PXE/SHA256SUMS" | cut -d' ' -f1)
PORT=$(( 40000 + RANDOM % 20000 ))
busybox httpd -f -p "127.0.0.1:$PORT" -h "$TMP/www" &
PIDS+=("$!")
boot corrupt "grappe.fetch=http://10.0.2.100/node.squashfs grappe.sha256=$GOOD grappe.timeout=30" "FAILED: cannot fetch" \
  -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:busybox nc 127.0.0.1 $PORT" \
  -device "virtio-net-pci,netdev=n0,mac=52:54:00:67:70:01"
grep -aq "SHA-256 mismatch for http://10.0.2.100/node.squashfs: expected $GOOD" "$TMP/corrupt.log" || fail "no SHA-256 mismatch message"
grep -aq "refusing to boot from corrupt data" "$TMP/corrupt.log" || fail "the mismatch message does not say it refuses"
grep -aq "starting systemd" "$TMP/corrupt.log" && fail "booted from corrupt data"
echo "ok: corrupted layer refused after $(grep -ac 'SHA-256 mismatch' "$TMP/corrupt.log") attempts"

echo "== debug: a shell on failure"
boot debug "grappe.label=NOPE grappe.timeout=3 grappe.debug" "starting an emergency shell" \
  -drive "file=$OUT/grappe-amd64.iso,media=cdrom,readonly=on"
echo "ok: the debug entry drops to a shell"
echo "failure paths: all checks passed"
