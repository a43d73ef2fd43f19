# Shared by the two-node QEMU tests and benchmarks: boots a cluster of the test image with
# `grappe-build qemu`, waits until both nodes joined and can migrate, and drives them through
# their serial consoles. The runner is killed by PID (it kills its VMs by PID) on every exit.
# The caller sets BUILD (grappe-build), OUT (the test image's folder), DIR (a scratch folder)
# and SCALE (timeout multiplier), then calls cluster_start.

con() { local n=$1; shift; "$BUILD" console --dir "$DIR" --node "$n" --timeout $(( SCALE * 900 )) -- "$@"; }
# Waits up to $1 s (times SCALE) for the command, run on node $2, to succeed.
wait_for() {
  local limit=$(( SCALE * $1 )) n=$2 t0; shift 2
  t0=$(date +%s)
  while [ $(( $(date +%s) - t0 )) -lt "$limit" ]; do
    con "$n" "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
# (Lines the console shows from the kernel's log, such as grapped's warnings about /home, are not
# part of a command's JSON: dropped first.)
jq_py() { python3 -c "import json,re,sys; d=json.loads(''.join(l for l in sys.stdin if not re.match(r'\[ *[0-9]+\.[0-9]+\] ', l))); print($1)"; }
# FAIL_NODES: the nodes whose journal a failure shows (default 1 2; a test leaves out a frozen one).
# A command that stops the script under set -e says which line, rather than ending it silently
# (under set +e a failing command stops nothing, so it says nothing).
trap 'rc_=$?; [[ $- == *e* ]] && echo "FAIL: ${0##*/} line $LINENO: \"$BASH_COMMAND\" failed (status $rc_)"' ERR
fail() {
  echo "FAIL: $*"
  for n in ${FAIL_NODES:-1 2}; do
    echo "--- node$n journal:"
    "$BUILD" console --dir "$DIR" --node "$n" --timeout 60 -- "journalctl -u grapped --no-pager | tail -25" 2>/dev/null || true
  done
  exit 1
}
# For the ctest suites: skip (exit 77) with the reason when the test image or QEMU is missing.
cluster_skip_unless_ready() {
  [ -s "$OUT/grappe-amd64.iso" ] || { echo "SKIP: no test image at $OUT/grappe-amd64.iso (the image test builds it; it needs root)"; exit 77; }
  command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 is not installed"; exit 77; }
}
# The network-boot suites also need QEMU's iPXE ROM for virtio-net.
netboot_skip_unless_ready() {
  cluster_skip_unless_ready
  [ -s /usr/lib/ipxe/qemu/efi-virtio.rom ] || [ -s /usr/share/qemu/efi-virtio.rom ] ||
    { echo "SKIP: QEMU's iPXE ROM for virtio-net (ipxe-qemu) is not installed"; exit 77; }
}
cluster_stop() { kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; }
# Stops every VM and boots the cluster again with `grappe-build qemu OPTIONS…` in the same $DIR:
# the VMs' data disks (--disk) are kept, their logs start afresh.
cluster_relaunch() {
  cluster_stop
  rm -f "$DIR"/node*.log "$DIR"/node*.sock "$DIR/runner.log"
  "$BUILD" qemu --out "$OUT" --dir "$DIR" --port $(( 30000 + RANDOM % 20000 )) "$@" > "$DIR/runner.log" 2>&1 &
  QPID=$!
  T0=$(date +%s)
}

# Starts `grappe-build qemu OPTIONS…` in an emptied $DIR on a random segment port; sets QPID (the
# runner, killed with its VMs on exit) and T0 (the start time).
cluster_launch() {
  rm -rf "$DIR"
  mkdir -p "$DIR"
  "$BUILD" qemu --out "$OUT" --dir "$DIR" --port $(( 30000 + RANDOM % 20000 )) "$@" > "$DIR/runner.log" 2>&1 &
  QPID=$!
  trap cluster_stop EXIT
  T0=$(date +%s)
}
# wait_log N TEXT LIMIT: waits for TEXT in node N's serial log, until LIMIT s (times SCALE) after T0.
wait_log() {
  until grep -aq "$2" "$DIR/node$1.log" 2>/dev/null; do
    kill -0 "$QPID" 2>/dev/null || { cat "$DIR/runner.log"; fail "the VMs stopped"; }
    [ $(( $(date +%s) - T0 )) -lt $(( SCALE * $3 )) ] || fail "node $1: no \"$2\" after $(( $(date +%s) - T0 )) s"
    sleep 2
  done
}

# Waits for node 1's boot, turns the cluster's network boot on there and waits until it serves.
netboot_serve_from_node1() {
  wait_log 1 "grappe: node ready" 900
  wait_for 120 1 "grappe status --json >/dev/null" || fail "node 1: grapped does not answer"
  con 1 "dmesg -n 1" > /dev/null
  con 1 "grappe boot-server enable" > /dev/null
  wait_for 120 1 "grappe boot-server status | grep -q 'serving network boot'" ||
    fail "node 1 does not serve: $(con 1 'grappe boot-server status')"
}

cluster_start() {
  # Node 1 gets a head start (node 2 starts once node 1's root is up), so node 1 founds the
  # cluster and serves /home, as the tests expect, however loaded the host is.
  cluster_launch --nodes 2 --stagger "grappe-init: root ready"
  local t0=$T0
  until grep -aq "joined cluster grappe-test nodes=2" "$DIR/node1.log" 2>/dev/null &&
        grep -aq "joined cluster grappe-test nodes=2" "$DIR/node2.log" 2>/dev/null; do
    kill -0 "$QPID" 2>/dev/null || { cat "$DIR/runner.log"; fail "the VMs stopped"; }
    [ $(( $(date +%s) - t0 )) -lt $(( SCALE * 1800 )) ] || fail "the two nodes did not join one cluster"
    sleep 2
  done
  for n in 1 2; do
    wait_for 120 "$n" "grappe status --json | grep -q '\"migration\": \"ready\"'" ||
      fail "node$n: migration not ready: $(con "$n" 'grappe status --json | grep migration')"
    con "$n" "dmesg -n 1" >/dev/null
  done
  NODE1=$(con 1 "hostname" | tr -d '\r\n')
  NODE2=$(con 2 "hostname" | tr -d '\r\n')
}
