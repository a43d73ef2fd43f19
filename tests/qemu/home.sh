#!/usr/bin/env bash
# /home survives its server (issue 23). Three VMs of the test image:
#   1. node 1 founds /home (RAM-backed DRBD) and replicates it to a standby, in sync;
#   2. the third node writes and fsyncs numbered files, and a job there appends and fsyncs a line
#      every 0.1 s;
#   3. node 1's QEMU is killed (SIGKILL: a power loss). The standby promotes its copy, takes
#      /home's address, and the third node writes again without remounting: the time from the
#      kill to its first successful write is the failover time. Every file is intact on the new
#      server and on the third node; the job either wrote every line or got an I/O error, and every
#      line it had synced is there.
#   4. the new server picks the node left as its standby and resynchronises it.
#   6. `grappe home init` refuses the boot medium and an unconfirmed erase, then makes that
#      standby's virtio disk a GRAPPE-HOME disk: its copy moves onto the disk and /home follows the
#      storage (the RAM-backed server hands over). Every file is still there.
#   7. a clean poweroff of that server hands /home over first: a job on the other node writing
#      through it gets no error and loses no line.
#   8. every VM stopped, the cluster boots again: the VM with the disk serves /home from it and
#      the files written before the poweroff are there.
# Usage: home.sh GRAPPE_BUILD
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-home
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
FAIL_NODES="1 2 3"
cluster_launch --nodes 3 --disk 2,3 --disk-size 512 --stagger "grappe-init: root ready"
for n in 1 2 3; do wait_log "$n" "grappe: node ready" 1800; done
wait_for 300 1 "test \$(grappe nodes | grep -c ' alive ') = 3" || fail "the three nodes did not join: $(con 1 'grappe nodes')"
for n in 1 2 3; do con "$n" "dmesg -n 1" > /dev/null; done
# vm_of NUMBER: the VM (1-3) with that node number; hostnames end in the VM's MAC (…7201 is VM 1).
vm_of() { con 1 "grappe nodes --json" | python3 -c "import json,sys; print(next(int(n['name'][-2:]) for n in json.load(sys.stdin) if n.get('number')==$1))"; }
home_json() { con "$1" "grappe home --json" | jq_py "d$2"; }

echo "== 1. node 1 serves /home, replicated in sync to a standby"
wait_for 300 1 "grappe home | grep -q 'in sync with node'" || fail "node 1's /home never got in sync: $(con 1 'grappe home')"
[ "$(home_json 1 '["role"]')" = server ] || fail "node 1 does not serve /home: $(con 1 'grappe home')"
SB=$(vm_of "$(home_json 1 '["standby"]')")
W=$(( 6 - 1 - SB ))  # the third VM
echo "ok: node 1 serves /home, standby VM $SB; $(con 1 'grappe home' | tr -d '\r' | tail -n +2 | head -1 | sed 's/^ *//')"
con "$W" "grappe status" | grep -q "home *mounted from node 1 .*10.250.0.1" || fail "VM $W does not mount /home: $(con "$W" 'grappe status | grep -A1 home')"
REP=null UNREP=null
if [ -n "${GRAPPE_HOME_BENCH:-}" ]; then  # ci/bench-home: write throughput, replicated or not
  dd_mb_s() { con "$W" "dd if=/dev/zero of=/home/bench bs=1M count=64 conv=fsync 2>&1 | tail -1; rm -f /home/bench" |
    python3 -c "import re,sys; m=re.search(r'copied, ([0-9.]+) s', sys.stdin.read()); print(round(64 * 1.048576 / float(m.group(1)), 1))"; }
  REP=$(dd_mb_s)
  con 1 "drbdadm -c /run/grappe/drbd/drbd.conf disconnect home" > /dev/null
  UNREP=$(dd_mb_s)
  con 1 "drbdadm -c /run/grappe/drbd/drbd.conf connect home" > /dev/null
  wait_for 300 1 "grappe home | grep -q 'in sync with node'" || fail "node 1's /home did not get in sync again after the measure"
  echo "bench: 64 MB written from VM $W: $REP MB/s replicated, $UNREP MB/s with replication off"
fi

echo "== 2. VM $W writes and fsyncs 200 files; a job appends and fsyncs a line every 0.1 s (250 lines)"
con "$W" "mkdir -p /home/f && for i in \$(seq 1 200); do echo file \$i > /home/f/\$i && sync /home/f/\$i || echo FAILED \$i; done" | grep -q FAILED &&
  fail "writing the numbered files failed before any failure"
SUM=$(con "$W" "cat /home/f/* | md5sum" | tr -d '\r')
con "$W" "rm -f /tmp/w.*; (i=0; while [ \$i -lt 250 ]; do i=\$((i+1)); echo line \$i >> /home/w.log && sync /home/w.log || { echo \$i > /tmp/w.err; break; }; sleep 0.1; done; echo \$i > /tmp/w.done) > /dev/null 2>&1 &" > /dev/null
sleep 3

echo "== 3. node 1's QEMU is killed: the standby takes /home over"
PID1=$(sed -n 's/^node1: pid \([0-9]*\).*/\1/p' "$DIR/runner.log")
[ -n "$PID1" ] || fail "no pid for node 1 in $DIR/runner.log"
FAIL_NODES="$SB $W"
kill -9 "$PID1"
T_KILL=$(date +%s.%N) T_W=
for i in $(seq 1 $(( SCALE * 120 ))); do
  if timeout 30 "$BUILD" console --dir "$DIR" --node "$W" --timeout 30 -- "echo \$(date) > /home/probe.$i && sync /home/probe.$i && echo WROTE" 2>/dev/null | grep -q WROTE; then
    T_W=$(date +%s.%N)
    break
  fi
  sleep 1
done
[ -n "$T_W" ] || fail "VM $W could not write to /home within $(( SCALE * 120 )) s of the server's death: $(con "$SB" 'grappe home')"
FAILOVER_S=$(python3 -c "print(round($T_W - $T_KILL, 1))")
echo "ok: VM $W wrote to /home again $FAILOVER_S s after node 1 died"
[ "$(home_json "$SB" '["role"]')" = server ] || fail "VM $SB does not serve /home: $(con "$SB" 'grappe home')"
[ "$(home_json "$SB" '["term"]')" = 2 ] || fail "VM $SB serves at term $(home_json "$SB" '["term"]'), not 2"
con "$SB" "journalctl -u grapped --no-pager | grep -q 'copy takes over at term 2'" || fail "VM $SB's journal does not say it took /home over"
# Where the failover's time went, from the new server's journal (the promotion's own figures).
con "$SB" "journalctl -u grapped --no-pager -o short-precise | grep -E 'takes over at term 2|NFS server started|bound to the store|is not the store' | tail -6" |
  tr -d '\r' | sed 's/^/note: /'
# The 30 s target is ci/bench-home's to check (timing targets live in benchmarks); this test
# checks that /home comes back at all and loses nothing synced.

echo "== 4. every synced file is intact, on the new server and on VM $W"
for n in "$SB" "$W"; do
  [ "$(con "$n" "cat /home/f/* | md5sum" | tr -d '\r')" = "$SUM" ] || fail "VM $n: the 200 files differ after the failover"
  [ "$(con "$n" "ls /home/f | wc -l" | tr -d '\r')" = 200 ] || fail "VM $n: not 200 files after the failover"
done
wait_for 400 "$W" "test -e /tmp/w.done" || fail "the writing job did not end"
LAST=$(con "$W" "cat /tmp/w.done" | tr -d '\r') ERR=$(con "$W" "cat /tmp/w.err 2>/dev/null; true" | tr -d '\r')
# Every line the job synced is there, once and in order: lines 1..LAST (LAST itself failed if ERR).
GOT=$(con "$SB" "cat /home/w.log" | tr -d '\r')
SYNCED=$(( ERR ? LAST - 1 : LAST ))
python3 - "$SYNCED" <<EOF || fail "the job's synced lines are not all there, in order (synced $SYNCED, error at '${ERR:-none}'): $(echo "$GOT" | tail -3)"
import sys
synced = int(sys.argv[1])
lines = """$GOT""".split("\n")
want = ["line %d" % i for i in range(1, synced + 1)]
sys.exit(0 if lines[:synced] == want and len(lines) <= synced + 1 else 1)
EOF
if [ -n "$ERR" ]; then echo "ok: the job got an I/O error at line $ERR; its $SYNCED synced lines are all there"
else echo "ok: the job wrote all $LAST lines through the failover"; fi
echo "ok: 200 files intact on VM $SB (the new server) and VM $W"
echo "== 5. the new server replicates to the node left"
T5=$(date +%s)
wait_for 300 "$SB" "grappe home | grep -q 'in sync with node'" || fail "VM $SB did not get a new standby in sync: $(con "$SB" 'grappe home')"
RESYNC_S=$(( $(date +%s) - T5 )) RESYNC_MB=$(home_json "$SB" '["size_mb"]')
echo "ok: $(con "$SB" 'grappe home' | tr -d '\r' | tail -n +2 | head -1 | sed 's/^ *//')"
if [ -n "${GRAPPE_HOME_BENCH:-}" ]; then  # a full resync timed from its start (the one above may have ended during the failover)
  con "$SB" "drbdadm -c /run/grappe/drbd/drbd.conf invalidate-remote home" > /dev/null
  T5=$(date +%s.%N)
  sleep 1
  wait_for 600 "$SB" "grappe home | grep -q 'in sync with node'" || fail "VM $SB: the forced resync did not end"
  RESYNC_S=$(python3 -c "print(round($(date +%s.%N) - $T5, 1))")
  echo "bench: a full resync of $RESYNC_MB MB to the standby took $RESYNC_S s"
fi


echo "== 6. grappe home init on VM $W: /home moves onto its disk"
# (VM numbers are the VMs'; the server is now VM $SB, its standby VM $W.)
OUTI=$(con "$W" "grappe home init --yes /dev/sr0 2>&1; echo rc=\$?" | tr -d '\r')
echo "$OUTI" | grep -q "booted from" || fail "home init did not refuse the boot medium: $OUTI"
OUTI=$(con "$W" "grappe home init /dev/vda < /dev/null 2>&1; echo rc=\$?" | tr -d '\r')
echo "$OUTI" | grep -q "add --yes" || fail "home init erased a disk without a confirmation: $OUTI"
con "$W" "grappe home init --yes /dev/vda" | grep -q "is a GRAPPE-HOME disk" || fail "home init failed: $(con "$W" 'grappe home init --yes /dev/vda 2>&1')"
T6=$(date +%s)
wait_for 600 "$W" "grappe home --json | grep -q '\"role\": \"server\"'" ||
  fail "VM $W did not take /home over onto its disk: $(con "$W" 'grappe home'; con "$SB" 'grappe home')"
MOVE_S=$(( $(date +%s) - T6 ))
con "$W" "grappe home" | grep -q "backing disk GRAPPE-HOME (/dev/vda) on node" || fail "VM $W does not serve from its disk: $(con "$W" 'grappe home')"
for n in "$SB" "$W"; do
  wait_for 120 "$n" "test -e /home/f/200" || fail "VM $n does not see /home after it moved onto the disk: $(con "$n" 'grappe home')"
  [ "$(con "$n" "cat /home/f/* | md5sum" | tr -d '\r')" = "$SUM" ] || fail "VM $n: the 200 files differ after /home moved onto the disk"
done
con "$SB" "mkdir -p /home/d && for i in \$(seq 1 50); do echo disk \$i > /home/d/\$i && sync /home/d/\$i || echo FAILED \$i; done" | grep -q FAILED &&
  fail "VM $SB could not write to the disk-backed /home"
echo "ok: VM $W serves /home from its GRAPPE-HOME disk $MOVE_S s after home init; files intact"
wait_for 300 "$W" "grappe home | grep -q 'in sync with node'" || fail "VM $W has no standby in sync: $(con "$W" 'grappe home')"

echo "== 7. a clean poweroff of VM $W hands /home over; a job on VM $SB writes through it"
con "$SB" "rm -f /tmp/v.*; (i=0; while [ \$i -lt 300 ]; do i=\$((i+1)); echo line \$i >> /home/v.log && sync /home/v.log || { echo \$i > /tmp/v.err; break; }; sleep 0.1; done; echo \$i > /tmp/v.done) > /dev/null 2>&1 &" > /dev/null
sleep 3
FAIL_NODES="$SB"
T7=$(date +%s)
timeout 60 "$BUILD" console --dir "$DIR" --node "$W" --timeout 20 -- "systemctl poweroff" > /dev/null 2>&1 || true
wait_for 300 "$SB" "grappe home --json | grep -q '\"role\": \"server\"'" || fail "VM $SB did not take /home over: $(con "$SB" 'grappe home')"
HANDOVER_S=$(( $(date +%s) - T7 ))
grep -aq "/home handed over" "$DIR/node$W.log" || fail "VM $W's console does not say it handed /home over: $(grep -a 'home' "$DIR/node$W.log" | tail -5)"
con "$SB" "journalctl -u grapped --no-pager | grep -q 'handed it over: this node'" || fail "VM $SB's journal does not say /home was handed over"
wait_for 400 "$SB" "test -e /tmp/v.done" || fail "the writing job did not end"
[ -z "$(con "$SB" "cat /tmp/v.err 2>/dev/null; true" | tr -d '\r')" ] || fail "the job got an I/O error at line $(con "$SB" 'cat /tmp/v.err') during a clean hand-over"
[ "$(con "$SB" "cat /home/v.log" | tr -d '\r')" = "$(seq 1 300 | sed 's/^/line /')" ] || fail "the job's 300 lines are not all there after the hand-over"
echo "ok: VM $W handed /home over at its poweroff (VM $SB served it $HANDOVER_S s later); the job wrote all 300 lines with no error"

echo "== 8. every VM stopped, the cluster boots again: VM $W serves /home from its disk"
FAIL_NODES="1 2 3"
cluster_relaunch --nodes 3 --disk 2,3 --disk-size 512
for n in 1 2 3; do wait_log "$n" "grappe: node ready" 1800; done
for n in 1 2 3; do con "$n" "dmesg -n 1" > /dev/null; done  # no kernel lines in the consoles' answers
wait_for 600 "$W" "grappe home --json | grep -q '\"role\": \"server\"'" ||
  fail "VM $W does not serve /home after the restart: $(con "$W" 'grappe home'; con 1 'grappe home')"
con "$W" "grappe home" | grep -q "backing disk GRAPPE-HOME" || fail "VM $W does not serve from its disk: $(con "$W" 'grappe home')"
for n in 1 "$SB"; do
  wait_for 120 "$n" "test -e /home/d/50" || fail "VM $n does not see /home from the disk: $(con "$n" 'grappe home')"
  GOT=$(con "$n" "cat /home/f/* | md5sum" | tr -d '\r')
  if [ "$GOT" != "$SUM" ]; then
    # Said, then read again: a read that fails once (NFS's grace period after the restart) is
    # reported; files that stay different fail the test.
    echo "note: VM $n's first read of the 200 files gave: $(con "$n" 'cat /home/f/* > /dev/null; grappe home' | tr -d '\r' | head -5)"
    wait_for 60 "$n" "test \"\$(cat /home/f/* | md5sum)\" = \"$SUM\"" || fail "VM $n: the 200 files differ after the restart: $(con "$n" 'ls /home/f | wc -l; cat /home/f/1 /home/f/200')"
  fi
  [ "$(con "$n" "cat /home/d/* | wc -l" | tr -d '\r')" = 50 ] || fail "VM $n: the 50 files written on the disk are not all there"
done
echo "ok: after a restart of every VM, VM $W serves /home from its disk with every file"

if [ -n "${GRAPPE_HOME_JSON:-}" ]; then
  printf '{"failover_s": %s, "resync_s": %s, "resync_mb": %s, "replicated_mb_s": %s, "unreplicated_mb_s": %s, "onto_disk_s": %s, "clean_handover_s": %s}\n' \
    "$FAILOVER_S" "$RESYNC_S" "$RESYNC_MB" "$REP" "$UNREP" "$MOVE_S" "$HANDOVER_S" > "$GRAPPE_HOME_JSON"
fi
JOB="wrote every line"; [ -z "$ERR" ] || JOB="got an I/O error at line $ERR"
echo "PASS: /home survived its server: failover in $FAILOVER_S s, 200 synced files intact, the writing job $JOB; a new standby in sync in $RESYNC_S s; onto a GRAPPE-HOME disk in $MOVE_S s; a clean poweroff handed it over in $HANDOVER_S s with no error; after a restart of every VM the disk serves every file"
