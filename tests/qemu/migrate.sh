#!/usr/bin/env bash
# ctest "qemu-migrate": CRIU migration between two TCG nodes of the test image, driven through
# their serial consoles (grappe-build console):
#   0. /home is shared: node 1 (the founder) serves it, node 2 mounts it (nosuid,nodev, over the
#      members' WireGuard network) and sees node 1's files; a mount over the LAN is refused;
#   1. a deterministic job (CPU work over 48 MB, working in /home and holding a file there open)
#      started with `grappe run` on node 1, moved to node 2 and back home, prints exactly what an
#      unmoved run prints and exits with its status;
#   2. node 2's grapped killed in the middle of a handoff: the job stays on node 1 and runs on;
#   3. a job holding a file open in node-local /tmp is refused, with the file named;
#   4. jobs outlive grapped: `systemctl kill --signal=KILL grapped`, then `systemctl restart
#      grapped`, under a detached job (in its own grappe-job-<id>.scope) and an attached one that
#      prints a numbered line every 50 ms: both still run, ps lists them, and the attached client
#      got every line exactly once and in order, then the exit status;
#   5. a job moved to node 2, printing a numbered line every 50 ms to its attached client on node 1,
#      outlives `systemctl restart grapped` on node 1 (its home) and then on node 2 (its own scope
#      there; relays reconnect and resume): every line once, in order, then the status.
# The VMs belong to one `grappe-build qemu`, killed by PID (it kills its VMs by PID) on every exit
# (tests/qemu/cluster-lib.sh). Both nodes are set to `stay`: no automatic migration here.
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-migrate
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
cluster_start
# Manual migrations only: the automatic balancer would move the lone job to the idler node.
for n in 1 2; do con "$n" "grappe node stay" >/dev/null; done
echo "ok: $NODE1 and $NODE2 joined, CRIU ready on both"

echo "== 0. /home is shared from the founder"
wait_for 180 2 "grappe status | grep -q 'home *mounted from node 1'" ||
  fail "node 2 did not mount node 1's /home: $(con 2 'grappe status | grep home')"
con 1 "grappe status | grep -q 'home *served from here to 1 node'" || fail "node 1 does not serve /home: $(con 1 'grappe status | grep home')"
con 1 "mkdir -p /home/t && seq 1 5000 > /home/t/input"
[ "$(con 2 'md5sum < /home/t/input')" = "$(con 1 'md5sum < /home/t/input')" ] || fail "node 2 does not see node 1's /home/t/input"
echo "ok: node 2 mounts node 1's /home: $(con 2 'grappe status | grep home' | tr -d '\r')"
# Members only: /home travels on the members' WireGuard network (10.251.0.N) and is exported to
# those addresses alone. Node 2 asking over the LAN, from a member's own LAN address but outside
# the members' network (what a host that took a member's address would do), is refused.
con 2 "grep ' /home ' /proc/mounts" > "$DIR/home-mount.txt"
grep -q '^10\.250\.0\.1:/ /home nfs4 .*nosuid.*nodev' "$DIR/home-mount.txt" ||
  fail "node 2's /home is not node 1's over the members' network with nosuid,nodev: $(cat "$DIR/home-mount.txt")"
# The LAN address: the first IPv4 address not on lo or grappe0 (link-local on the test segment,
# which has no DHCP server); -c=never, as ip colours addresses on the console's terminal.
N1_LAN=$(con 1 "ip -c=never -4 -o address show | awk '\$2!=\"lo\" && \$2!=\"grappe0\" {print \$4; exit}' | cut -d/ -f1" | tr -d '\r\n') || true
[ -n "$N1_LAN" ] || fail "no LAN address on node 1: $(con 1 'ip -c=never -4 -o address show')"
con 2 "mkdir -p /mnt/lan; timeout 60 mount -t nfs4 -o soft,timeo=50,retrans=1 $N1_LAN:/ /mnt/lan 2>&1; echo rc=\$?" > "$DIR/lan-mount.txt" || true
grep -q 'rc=0' "$DIR/lan-mount.txt" && fail "node 1's /home could be mounted from its LAN address $N1_LAN: $(cat "$DIR/lan-mount.txt")"
grep -q -i 'denied' "$DIR/lan-mount.txt" || fail "mounting from the LAN address failed, but not as refused: $(cat "$DIR/lan-mount.txt")"
# The members' network key: root's alone (0700 directory, 0600 file), and nobody's read fails.
[ "$(con 2 "stat -c '%a %U' /run/grappe/overlay /run/grappe/overlay/grappe0.conf" | tr -d '\r' | tr '\n' ' ')" = "700 root 600 root " ] ||
  fail "the members' network key is not root's alone on node 2: $(con 2 'ls -ld /run/grappe/overlay /run/grappe/overlay/grappe0.conf')"
con 2 "setpriv --reuid=65534 --regid=65534 --clear-groups cat /run/grappe/overlay/grappe0.conf 2>&1 | head -1" | grep -q 'Permission denied' ||
  fail "an unprivileged user can read the members' network key on node 2"
# A completed WireGuard handshake: a non-zero time for node 2's key on node 1.
con 1 "wg show grappe0 latest-handshakes | awk '\$2 > 0 {ok=1} END {exit !ok}'" ||
  fail "no WireGuard handshake on node 1: $(con 1 'wg show grappe0')"
echo "ok: /home only over the members' network (nosuid,nodev); a mount from node 1's LAN address $N1_LAN is refused"

echo "== 1. moved there and back, same output and status as an unmoved run"
# In /home/t, holding /home/t/input open on fd 3 (sh execs the job, which keeps it).
JOB="sh -c 'exec 3< input; exec /usr/lib/grappe/grappe-migrate-selftest --compute 600 48'"
T0=$(date +%s)
con 2 "cd /home/t && grappe run -- $JOB > /root/ref.txt; echo \$? > /root/ref.rc"
REF_S=$(( $(date +%s) - T0 ))
[ "$(con 2 'cat /root/ref.rc' | tr -d '\r\n')" = 3 ] || fail "the reference run did not exit with 3"
echo "reference run: ${REF_S} s on $NODE2"
con 1 "cd /home/t && (grappe run -- $JOB > /root/mig.txt 2>&1; echo \$? > /root/mig.rc) >/dev/null 2>&1 &"
wait_for 120 1 "test \$(wc -l < /root/mig.txt) -ge 5" || fail "the job printed nothing on $NODE1"
ID=$(con 1 "grappe ps --json" | jq_py 'd[0]["id"]')
con 1 "grappe ps" | grep -q "cannot move" && fail "a job holding a /home file is said unmovable: $(con 1 'grappe ps')"
con 1 "grappe migrate $ID 2" | tee "$DIR/m1.txt"
grep -q "now runs on $NODE2" "$DIR/m1.txt" || fail "migrate to node 2 did not report the move"
[ "$(con 2 "grappe ps --json" | jq_py "[j['home'] for j in d if j['id']=='$ID'][0]")" = "$NODE1" ] || fail "node 2 does not run job $ID"
LINES=$(con 1 "wc -l < /root/mig.txt" | tr -d '\r\n')
wait_for 120 1 "test \$(wc -l < /root/mig.txt) -gt $(( LINES + 3 ))" || fail "no output relayed from $NODE2"
con 1 "grappe migrate $ID home" | tee "$DIR/m2.txt"
grep -q "now runs on $NODE1" "$DIR/m2.txt" || fail "migrate home did not report the move"
wait_for 600 1 "test -s /root/mig.rc" || fail "the migrated job did not end"
[ "$(con 1 'cat /root/mig.rc' | tr -d '\r\n')" = 3 ] || fail "the migrated job's status is $(con 1 'cat /root/mig.rc'), not 3"
con 1 "cat /root/mig.txt" > "$DIR/mig.txt"
con 2 "cat /root/ref.txt" > "$DIR/ref.txt"
cmp "$DIR/ref.txt" "$DIR/mig.txt" || { diff "$DIR/ref.txt" "$DIR/mig.txt" | head; fail "migrated output differs from the unmoved run"; }
[ "$(con 1 "grappe ps --all --json" | jq_py "[j['migrations'] for j in d if j['id']=='$ID'][0]")" = 2 ] || fail "ps does not count 2 migrations"
echo "ok: $(wc -l < "$DIR/mig.txt") lines identical to the unmoved run, status 3, 2 migrations"

echo "== 2. the target's grapped dies in the middle of a handoff"
BIG=$(con 1 "cd / && grappe run -d -- /usr/lib/grappe/grappe-migrate-selftest --worker 160" | tr -d '\r\n')
sleep $(( SCALE * 5 ))
con 1 "(grappe migrate $BIG 2 > /root/cut.txt 2>&1; echo rc=\$? >> /root/cut.txt) >/dev/null 2>&1 &"
wait_for 120 2 "ls /var/lib/grappe/migrate | grep -q -- '-in'" || fail "the images never started to arrive on $NODE2"
con 2 "pkill -9 -x grapped; echo killed"
wait_for 300 1 "grep -q rc= /root/cut.txt" || fail "grappe migrate did not return"
cat "$DIR/cut.txt" 2>/dev/null || con 1 "cat /root/cut.txt"
con 1 "grep -q 'rc=0' /root/cut.txt" && fail "the cut handoff reported success"
STATE=$(con 1 "grappe ps --json" | jq_py "[j['node']+' '+j['state'] for j in d if j['id']=='$BIG'][0]")
[ "$STATE" = "$NODE1 running" ] || fail "after the cut handoff job $BIG is '$STATE', expected running on $NODE1"
CPU1=$(con 1 "grappe ps --json" | jq_py "[j['cpu_s'] for j in d if j['id']=='$BIG'][0]")
sleep 3
CPU2=$(con 1 "grappe ps --json" | jq_py "[j['cpu_s'] for j in d if j['id']=='$BIG'][0]")
python3 -c "import sys; sys.exit(0 if $CPU2 > $CPU1 else 1)" || fail "job $BIG is not running any more (cpu $CPU1 -> $CPU2)"
wait_for 60 2 "! pgrep -f 'selftest --worker'" || fail "a copy of job $BIG runs on $NODE2 too"
echo "ok: job $BIG kept running on $NODE1 (cpu ${CPU1}s -> ${CPU2}s), no copy on $NODE2"
con 1 "grappe kill $BIG KILL" >/dev/null

echo "== 3. a job holding a node-local file is refused, with the reason"
wait_for 60 2 "grappe status --json | grep -q '\"migration\": \"ready\"'" || fail "node 2's grapped did not come back"
PIN=$(con 1 "cd / && grappe run -d -- sh -c 'exec 3>/tmp/held; exec sleep 600'" | tr -d '\r\n')
sleep 2
set +e
MSG=$(con 1 "grappe migrate $PIN 2 2>&1")
RC=$?
set -e
echo "$MSG"
[ "$RC" != 0 ] || fail "migrating a job with /tmp/held open succeeded"
echo "$MSG" | grep -q "/tmp/held" || fail "the refusal does not name /tmp/held"
con 1 "grappe kill $PIN KILL" >/dev/null

echo "== 4. jobs outlive grapped (its scope per job, systemd's descriptor store, jobs.json)"
con 1 "(grappe run -- sh -c 'i=0; while [ \$i -lt 500 ]; do echo \"line \$i\"; i=\$((i+1)); sleep 0.05; done; exit 6' > /root/r.txt 2> /root/r.err; echo \$? > /root/r.rc) >/dev/null 2>&1 &"
DET=$(con 1 "cd / && grappe run -d -- sleep 900" | tr -d '\r\n')
wait_for 60 1 "test \$(wc -l < /root/r.txt) -ge 5" || fail "the printing job printed nothing"
con 1 "systemctl is-active grappe-job-$DET.scope" | grep -q '^active' || fail "job $DET has no scope of its own: $(con 1 "cat /proc/\$(pgrep -x sleep | head -1)/cgroup")"
con 1 "grep -q grappe-jobs.slice/grappe-job-$DET.scope /proc/\$(pgrep -o -x sleep)/cgroup" || fail "the job's process is not in grappe-jobs.slice"
for how in "systemctl kill --signal=KILL grapped" "systemctl restart grapped"; do
  BEFORE=$(con 1 "systemctl show -p MainPID --value grapped" | tr -d '\r\n')
  con 1 "$how" >/dev/null
  wait_for 120 1 "[ \$(systemctl show -p MainPID --value grapped) != $BEFORE ] && grappe ps | grep -q '^$DET '" ||
    fail "after '$how' grapped is not back or job $DET is not listed: $(con 1 'grappe ps')"
  echo "ok: after '$how' job $DET still runs and grappe ps lists it"
done
wait_for 300 1 "test -s /root/r.rc" || fail "the attached job did not end"
[ "$(con 1 'cat /root/r.rc' | tr -d '\r\n')" = 6 ] || fail "the attached client ended with $(con 1 'cat /root/r.rc; cat /root/r.err'), want 6"
con 1 "seq 0 499 | sed 's/^/line /' | cmp -s - /root/r.txt" ||
  fail "the attached client did not get every line once in order: $(con 1 'wc -l < /root/r.txt; sort /root/r.txt | uniq -d | head -3')"
con 1 "grep -c reattached /root/r.err" | grep -q '^2' || fail "the client did not reattach twice: $(con 1 'cat /root/r.err')"
echo "ok: the attached client got lines 0-499 exactly once, in order, and status 6 across a SIGKILL and a restart of grapped"
con 1 "grappe migrate $DET 2" | tee "$DIR/m4.txt"
grep -q "now runs on $NODE2" "$DIR/m4.txt" || fail "the adopted job $DET did not migrate: $(cat "$DIR/m4.txt")"
con 1 "grappe kill $DET" >/dev/null
wait_for 60 1 "grappe ps --all | grep -q '^$DET .*exited(143)'" || fail "the adopted job, moved, did not end on grappe kill: $(con 1 'grappe ps --all')"
echo "ok: the adopted job $DET migrated to $NODE2 and ended there on grappe kill (status 143)"
echo "== 5. a moved job outlives grapped on its home and on the node running it"
con 1 "(grappe run -- sh -c 'i=0; while [ \$i -lt 1500 ]; do echo \"line \$i\"; i=\$((i+1)); sleep 0.05; done; exit 5' > /root/m.txt 2> /root/m.err; echo \$? > /root/m.rc) >/dev/null 2>&1 &"
wait_for 60 1 "test \$(wc -l < /root/m.txt) -ge 5" || fail "the moved job printed nothing"
MOV=$(con 1 "grappe ps --json" | jq_py "[j['id'] for j in d if j['state']=='running' and 'line' in j['command']][0]")
con 1 "grappe migrate $MOV 2" | tee "$DIR/m5.txt"
grep -q "now runs on $NODE2" "$DIR/m5.txt" || fail "job $MOV did not move to $NODE2: $(cat "$DIR/m5.txt")"
con 2 "systemctl is-active grappe-job-$MOV-1.scope" | grep -q '^active' || fail "the guest $MOV has no scope of its own on $NODE2"
for n in 1 2; do
  BEFORE=$(con "$n" "systemctl show -p MainPID --value grapped" | tr -d '\r\n')
  AT=$(con 1 "wc -l < /root/m.txt" | tr -d '\r\n')
  con "$n" "systemctl restart grapped" >/dev/null
  wait_for 120 "$n" "[ \$(systemctl show -p MainPID --value grapped) != $BEFORE ] && grappe ps --all | grep -q '^$MOV .*running'" ||
    fail "after a restart of grapped on node $n job $MOV is not listed as running: $(con "$n" 'grappe ps --all')"
  wait_for 120 1 "test \$(wc -l < /root/m.txt) -gt \$(( $AT + 20 ))" ||
    fail "job $MOV's output stopped after a restart of grapped on node $n: $(con 1 'tail -2 /root/m.txt; cat /root/m.err')"
  echo "ok: after a restart of grapped on node $n, job $MOV still runs on $NODE2 and its output still streams"
done
wait_for 400 1 "test -s /root/m.rc" || fail "the moved job did not end"
[ "$(con 1 'cat /root/m.rc' | tr -d '\r\n')" = 5 ] || fail "the moved job's client ended with $(con 1 'cat /root/m.rc; cat /root/m.err'), want 5"
con 1 "seq 0 1499 | sed 's/^/line /' | cmp -s - /root/m.txt" ||
  fail "the moved job's client did not get every line once in order: $(con 1 'wc -l < /root/m.txt; sort /root/m.txt | uniq -d | head -3')"
echo "ok: job $MOV, moved, got lines 0-1499 to its client exactly once, in order, and status 5 across restarts of grapped on both nodes"
echo "migration: all checks passed"
