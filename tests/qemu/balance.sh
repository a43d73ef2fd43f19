#!/usr/bin/env bash
# ctest "qemu-balance": automatic load balancing between two TCG nodes of the test image.
#   1. node 2 blocked (grappe node block): 4 CPU-bound jobs started on node 1 with `grappe run -d`
#      all stay on node 1, and ps says why;
#   2. node 2 unblocked: without any other command the jobs end 2 and 2, and stay so (no
#      ping-pong: exactly 2 migrations);
#   3. grappe node bring on node 1 calls its 2 jobs home; grappe node expel on node 2 sends a
#      guest home;
#   4. a burst of 4 short jobs (about 15 s each alone) spreads 2 and 2, each moved at most once.
# Both nodes get the same speed (grappe node speed): they emulate the same CPU, but a speed
# calibrated under TCG varies with the host's scheduling, and unequal speeds make 1+3 or 3+1 the
# right answer. The VMs are killed by PID on every exit (tests/qemu/cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1} DIR=${GRAPPE_TEST_OUT:-$SRC/out/test}/qemu-balance
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
cluster_skip_unless_ready
cluster_start
for n in 1 2; do con "$n" "grappe node speed 500" >/dev/null; done
echo "ok: $NODE1 and $NODE2 joined, CRIU ready on both"
# Migrations stay prompt on a busy node: grapped (and the CRIU it runs) ahead of the jobs, with
# no per-session autogroups to level them out (overlay/etc/sysctl.d/50-grappe.conf).
prio=$(con 1 'echo $(cat /proc/sys/kernel/sched_autogroup_enabled) $(ps -o ni= -p $(pidof grapped))' | tail -1 | tr -d '\r')
[ "$prio" = "0 -10" ] || fail "autogroup and grapped's nice: want '0 -10', got '$prio'"
echo "ok: autogroups off, grapped at nice -10"
# Jobs per node as node 1 (their home) sees them: "<on node 1> <on node 2> <migrations>".
spread() {
  con 1 "grappe ps --json" | jq_py "' '.join(str(x) for x in (sum(j['node']=='$NODE1' for j in d), sum(j['node']=='$NODE2' for j in d), sum(j['migrations'] for j in d)))"
}

echo "== 1. node 2 blocked: the jobs stay on node 1"
con 2 "grappe node block" >/dev/null
wait_for 30 1 "grappe nodes | grep '$NODE2' | grep -q block" || fail "node 1 does not see node 2's block flag"
# The fourth job runs at its caller's nice 5: a job keeps its nice value wherever it moves (the
# source raises it for the dump, CRIU records that, the target puts it back; dump_priority.h).
for n in 0 0 0 5; do con 1 "cd / && nice -n $n grappe run -d -n -- /usr/lib/grappe/grappe-migrate-selftest --compute 1000000 16" >/dev/null; done
sleep $(( SCALE * 40 ))
[ "$(spread)" = "4 0 0" ] || fail "with node 2 blocked, jobs moved: $(spread)"
con 1 "grappe ps" | tee "$DIR/ps1.txt"
grep -q "stays: no other node would finish it sooner" "$DIR/ps1.txt" || fail "ps does not say why the jobs stay"
echo "ok: 4 jobs stayed on $NODE1 while $NODE2 was blocked"
jnice=$(con 1 "ps -o ni= -C grappe-migrate-selftest | sort -u | tr -d ' '" | tr -d '\r' | tr '\n' ' ')
[ "$jnice" = "0 5 " ] || fail "jobs should run at their caller's nice (0 and 5), not grapped's: '$jnice'"
echo "ok: the jobs run at their caller's nice (0 and 5)"

echo "== 2. node 2 unblocked: 2 and 2, by themselves"
con 2 "grappe node unblock" >/dev/null
T0=$(date +%s)
until [ "$(spread)" = "2 2 2" ]; do
  [ $(( $(date +%s) - T0 )) -lt $(( SCALE * 300 )) ] || fail "the jobs did not spread 2 and 2: $(spread)"
  sleep 3
done
echo "spread 2+2 after $(( $(date +%s) - T0 )) s"
sleep $(( SCALE * 40 ))
[ "$(spread)" = "2 2 2" ] || fail "the spread did not hold (ping-pong?): $(spread)"
con 1 "grappe ps" | tee "$DIR/ps2.txt"
grep -q "last moved to $NODE2 (balancer: cpu" "$DIR/ps2.txt" || fail "ps does not say why the jobs moved"
con 1 "journalctl -u grapped --no-pager | grep balancer" | tail -4
echo "ok: 2 jobs moved to $NODE2 by themselves, and the spread held for 40 s"
nices=$( (con 1 "ps -o ni= -C grappe-migrate-selftest"; con 2 "ps -o ni= -C grappe-migrate-selftest") | tr -d ' \r' | grep . | sort -n | tr '\n' ' ')
[ "$nices" = "0 0 0 5 " ] || fail "after the moves the jobs' nice values are '$nices', want '0 0 0 5 '"
echo "ok: the moved jobs kept their nice values"

echo "== 3. node bring and node expel"
con 1 "grappe node bring" | tee "$DIR/bring.txt"
[ "$(grep -c "going home" "$DIR/bring.txt")" = 2 ] || fail "node bring did not call 2 jobs home"
wait_for 300 1 "grappe ps --json | grep -c '\"node\": \"$NODE1\"' | grep -qx 4" || fail "the jobs did not come home: $(spread)"
con 1 "grappe ps" | grep -q "stays: local jobs stay home" || fail "ps does not say the jobs stay home (lstay)"
con 1 "grappe node nolstay" >/dev/null
T0=$(date +%s)
until con 2 "grappe ps --json" | jq_py "len(d)" | grep -qv '^0$'; do
  [ $(( $(date +%s) - T0 )) -lt $(( SCALE * 300 )) ] || fail "no job moved to node 2 after nolstay: $(spread)"
  sleep 3
done
con 2 "grappe node expel" | tee "$DIR/expel.txt"
grep -q "going home" "$DIR/expel.txt" || fail "node expel sent no guest home"
wait_for 300 2 "grappe ps --json | grep -q '^\[\]'" || fail "node 2 still runs guests after expel"
con 1 "grappe nodes" | grep "$NODE2" | grep -q block || fail "node 2 is not blocked after expel"
echo "ok: bring called 2 jobs home, expel sent node 2's guests home and blocked it"
for id in $(con 1 "grappe ps --json" | jq_py "' '.join(j['id'] for j in d)"); do con 1 "grappe kill $id KILL" >/dev/null; done
wait_for 120 1 "grappe ps --json | grep -q '^\[\]'" || fail "jobs still run after grappe kill: $(spread)"

echo "== 4. a burst of short jobs: 4 jobs of about 15 s spread 2 and 2, each moved at most once"
con 2 "grappe node unblock" >/dev/null
wait_for 30 1 "grappe nodes | grep '$NODE2' | grep -qv block" || fail "node 1 still sees node 2 blocked"
# The job's length here: one pinned run of 1800 rounds, scaled to 15 s alone. That run and a
# pinned run of the burst's own length are what this node's job history knows of the command
# (MOSIX-style: the balancer estimates a job's remaining work from earlier runs of its command;
# the killed jobs above are not recorded, as they were cut short). The two runs differ in length,
# as runs of one command with other arguments do: the estimate must not take the longer one for
# the burst's jobs near their end.
alone() { con 1 "cd / && t0=\$(date +%s.%N); grappe run --stay -n -- /usr/lib/grappe/grappe-migrate-selftest --encode $1 16 >/dev/null; t1=\$(date +%s.%N); awk \"BEGIN { print \$t1 - \$t0 }\"" | tail -1 | tr -d '\r'; }
one=$(alone 1800)
ROUNDS=$(python3 -c "print(max(200, int(1800 * 15 / $one)))")
two=$(alone "$ROUNDS")
before=$(con 1 "grappe ps --all --json" | jq_py "' '.join(j['id'] for j in d)")
burst() {  # "<running> <on node 1> <on node 2> <ended> <moved once> <moved more>" over the burst's jobs
  con 1 "grappe ps --all --json" | python3 -c "
import json, sys
old = set(sys.argv[1].split())
new = [j for j in json.load(sys.stdin) if j['id'] not in old and not j.get('stay')]
run = [j for j in new if j['state'] != 'exited']
print(len(run), sum(j['node'] == sys.argv[2] for j in run), sum(j['node'] == sys.argv[3] for j in run),
      len(new) - len(run), sum(j['migrations'] == 1 for j in new), sum(j['migrations'] > 1 for j in new))" "$before" "$NODE1" "$NODE2"
}
T0=$(date +%s)
for _ in 1 2 3 4; do con 1 "cd / && grappe run -d -n -- /usr/lib/grappe/grappe-migrate-selftest --encode $ROUNDS 16" >/dev/null; done
spread_s=""
while :; do
  read -r running on1 on2 ended once more <<< "$(burst)"
  [ -z "$spread_s" ] && [ "$running $on1 $on2" = "4 2 2" ] && spread_s=$(( $(date +%s) - T0 ))
  [ "$ended" = 4 ] && break
  [ $(( $(date +%s) - T0 )) -lt $(( SCALE * 400 )) ] || fail "the burst of 4 short jobs did not end: $(burst)"
  sleep 1
done
echo "burst: one job alone ${one} s for 1800 rounds, ${two} s for $ROUNDS; 4 at once: 2 and 2 after ${spread_s:-never} s, all ended after $(( $(date +%s) - T0 )) s; $once moved once, $more more than once"
con 1 "journalctl -u grapped --no-pager | grep balancer" | tail -3
[ "$more" = 0 ] || fail "$more of the burst's jobs moved more than once (ping-pong)"
[ -n "$spread_s" ] || fail "the burst never ran 2 and 2 ($once jobs moved)"
# Once node 2 has finished its two, a job still sharing node 1 may move there: a third move, by
# then worth it or not by the history's estimate (the unit tests hold the estimate to account;
# under TCG two jobs sharing a vCPU each burn more CPU per round than one alone, so the work done
# reads high). It is reported, not refused: what the issue asks is 2 and 2, each moved at most once.
[ "$once" -ge 2 ] || fail "only $once of the burst's jobs moved"
echo "ok: a burst of 4 jobs of 15 s spread 2 and 2, $once moves, each job moved at most once"
echo "balance: all checks passed"
