#!/usr/bin/env bash
# ctest "qemu-headless": the image users get, driven the way README shows. The default recipe
# (recipes/default.toml: its "node" entry, quiet, the screen as /dev/console, a random cluster key)
# is built from the image test's cache (the SDK and userland stages are shared) and booted as two
# VMs with nothing but their serial ports, no entry picked by hand:
#   1. right after the start, before any shell is up, `console` fails within its --timeout and
#      says what node 1's serial port showed;
#   2. node 1, alone until node 2 starts, prints `grappe: founded cluster grappe nodes=1`; each
#      serial log shows `grappe: node ready` and `grappe: joined cluster grappe nodes=2`
#      (printed on the screen, echoed to ttyS0), and the runner printed each node's console
#      command and the "2 nodes joined" line;
#   3. README's QEMU commands: `console --node 1 -- grappe nodes` lists both nodes (root's
#      autologin shell on ttyS0), `grappe run -d -- sh -c "while :; do date; sleep 1; done"`
#      starts job 1.1 and `grappe migrate 1.1 2` moves it to node 2, where it runs on;
#   4. /home: served by node 1, replicated to node 2, a file written on one seen on the other,
#      `grappe home hand-over` moves it to node 2 and both still see every file;
#   5. the dashboard: grappe dashboard's link names node 1's address, from which node 2 gets the
#      page and both nodes' state;
#   6. a legacy serial port with no UART behind it (ttyS1: sysfs type 0) gets no getty and no
#      restart loop: its serial-getty is skipped by its ExecCondition (the journal says so).
# The VMs are killed by PID on every exit (tests/qemu/cluster-lib.sh).
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TEST_OUT=${GRAPPE_TEST_OUT:-$SRC/out/test} SCALE=${GRAPPE_TIMEOUT_SCALE:-1}
OUT=$TEST_OUT/headless DIR=$TEST_OUT/headless/qemu
# shellcheck source=cluster-lib.sh
. "$SRC/tests/qemu/cluster-lib.sh"
OUT=$TEST_OUT cluster_skip_unless_ready
[ "$(id -u)" -eq 0 ] || { echo "SKIP: building the default recipe's image needs root (mmdebstrap, loop mounts)"; exit 77; }

mkdir -p "$OUT"
t=$(date +%s)
(cd "$SRC" && "$BUILD" build recipes/default.toml --out "$OUT" --cache "$TEST_OUT/cache") > "$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; echo "FAIL: building the default recipe"; exit 1; }
echo "ok: the default recipe built in $(( $(date +%s) - t )) s ($(du -m "$OUT/grappe-amd64.iso" | cut -f1) MB ISO)"

# The second PC starts once the first is ready (README: the first PC to boot founds the cluster
# and is node 1, so README's "job 1.1" and "migrate 1.1 2" name the right nodes). The default
# image is quiet: its serial port shows the ready line, not the initramfs's.
cluster_launch --nodes 2 --stagger "grappe: node ready"
until [ -S "$DIR/node1.sock" ]; do
  kill -0 "$QPID" 2>/dev/null || { cat "$DIR/runner.log"; fail "the VMs stopped"; }
  sleep 0.2
done
t=$(date +%s); rc=0
"$BUILD" console --dir "$DIR" --node 1 --timeout 5 -- true 2> "$DIR/early.err" || rc=$?
took=$(( $(date +%s) - t ))
[ "$rc" != 0 ] && [ "$took" -le 8 ] || fail "console before any shell was up: exit $rc after $took s"
grep -q "no shell answered on the console within 5 s" "$DIR/early.err" || fail "console before boot: $(cat "$DIR/early.err")"
echo "ok: console before the node's shell is up fails in $took s: $(head -1 "$DIR/early.err")"

wait_log 1 "grappe: founded cluster grappe nodes=1" 900  # alone for a minute: a cluster of one
echo "ok: node 1, alone, founded the cluster (its serial log says so)"
for n in 1 2; do
  wait_log "$n" "grappe: node ready name=" 900
  wait_log "$n" "grappe: joined cluster grappe nodes=2" 1800
done
echo "ok: both serial logs show the ready and joined lines (the screen is their /dev/console)"
for n in 1 2; do
  grep -q "its root shell: .* console --dir $DIR --node $n " "$DIR/runner.log" || fail "the runner does not say how to reach node $n"
done
for _ in $(seq 10); do grep -q "2 nodes joined cluster grappe in" "$DIR/runner.log" && break; sleep 1; done
grep -q "2 nodes joined cluster grappe in" "$DIR/runner.log" || fail "no summary line: $(cat "$DIR/runner.log")"
echo "ok: the runner printed the console commands and: $(grep -o '2 nodes joined.*' "$DIR/runner.log")"

for n in 1 2; do con "$n" "dmesg -n 1" >/dev/null; done  # kernel lines would garble the answers
NODE1=$(con 1 hostname | tr -d '\r\n')
NODE2=$(con 2 hostname | tr -d '\r\n')
nodes=$(con 1 grappe nodes)
grep -q "$NODE1" <<<"$nodes" && grep -q "$NODE2" <<<"$nodes" || fail "grappe nodes on node 1 does not list both: $nodes"
echo "ok: console --node 1 -- grappe nodes lists $NODE1 and $NODE2"
for n in 1 2; do
  wait_for 180 "$n" "grappe status --json | grep -q '\"migration\": \"ready\"'" ||
    fail "node$n: migration not ready: $(con "$n" 'grappe status --json | grep migration')"
done
# (The id is the output's last word: a line grapped writes to the console may come first.)
id=$(con 1 'cd / && grappe run -d -- sh -c "while :; do date; sleep 1; done"' | tr -d '\r\n' | grep -o '[0-9]*\.[0-9]*$')
[ "$id" = 1.1 ] || fail "README's grappe run -d printed '$id', not job 1.1"
con 1 "grappe migrate 1.1 2" | tee "$DIR/migrate.txt"
grep -q "now runs on $NODE2" "$DIR/migrate.txt" || fail "grappe migrate 1.1 2 did not move the job to $NODE2"
[ "$(con 2 "grappe ps --json" | jq_py "any(j['id'] == '1.1' for j in d)")" = True ] || fail "node 2 does not run job 1.1: $(con 2 'grappe ps')"
con 1 "grappe kill 1.1" >/dev/null
echo "ok: README's grappe run -d and grappe migrate 1.1 2 work on the default image"

# README's /home: one for the whole cluster, served by node 1 and replicated to node 2; a clean
# hand-over (what a poweroff of node 1 does) moves it to node 2 and both still see every file.
wait_for 600 1 "grappe home | grep -q 'in sync with node'" || fail "node 1's /home never got in sync with node 2: $(con 1 'grappe home')"
con 1 "grappe home --json" | grep -q '"role": "server"' || fail "node 1 does not serve /home: $(con 1 'grappe home')"
wait_for 120 2 "grappe home | grep -q 'mounted from node'" || fail "node 2 did not mount /home: $(con 2 'grappe home; grep /home /proc/mounts')"
con 2 "echo from-node2 > /home/headless.txt && sync /home/headless.txt" >/dev/null
[ "$(con 1 'cat /home/headless.txt' | tr -d '\r\n')" = from-node2 ] ||
  fail "node 1 does not see what node 2 wrote in /home: node 1: $(con 1 'grappe home; grep /home /proc/mounts') node 2: $(con 2 'grappe home; grep /home /proc/mounts; journalctl -u grapped --no-pager | grep home: | tail -5')"
con 1 "grappe home hand-over" > "$DIR/handover.txt" 2>&1 || fail "grappe home hand-over on node 1: $(cat "$DIR/handover.txt")"
wait_for 120 2 "grappe home --json | grep -q '\"role\": \"server\"'" || fail "node 2 did not take /home over: $(con 2 'grappe home')"
wait_for 120 1 "grep -qx from-node2 /home/headless.txt" || fail "node 1 lost /home after the hand-over: $(con 1 'grappe home')"
con 1 "echo from-node1 > /home/back.txt && sync /home/back.txt" >/dev/null
[ "$(con 2 'cat /home/back.txt' | tr -d '\r\n')" = from-node1 ] || fail "node 2 does not see what node 1 wrote after the hand-over"
echo "ok: /home is shared and replicated on the default image; grappe home hand-over moved it to node 2 with every file"

# README's dashboard: grappe dashboard's link names node 1's LAN address; node 2 (another PC on
# that network) gets the page and the cluster's state from it (bash's /dev/tcp: no HTTP client
# in the image).
LINK=$(con 1 "grappe dashboard" | tr -d '\r')
ADDR1=$(con 2 "grappe nodes --json" | jq_py "[n['address'] for n in d if n['name'] == '$NODE1'][0]")
HOSTPORT=$(grep -o "http://$ADDR1:[0-9]*/#token=[0-9a-f]\{64\}" <<<"$LINK" | head -1 | sed 's|http://\([^/]*\)/.*|\1|')
[ -n "$HOSTPORT" ] || fail "grappe dashboard's link does not name node 1's address $ADDR1: $LINK"
fetch() { con 2 "exec 3<>/dev/tcp/${HOSTPORT%:*}/${HOSTPORT#*:} && printf 'GET $1 HTTP/1.0\r\nHost: $HOSTPORT\r\n\r\n' >&3 && timeout 10 cat <&3" | tr -d '\r'; }
fetch / | grep -q "<title>Grappe cluster</title>" || fail "node 2 cannot get the dashboard's page from $HOSTPORT: $(fetch / | head -5)"
STATE=$(fetch /api/state)
grep -q "\"name\":\"$NODE1\"" <<<"$STATE" && grep -q "\"name\":\"$NODE2\"" <<<"$STATE" || fail "the dashboard's state lacks a node: $(head -c 300 <<<"$STATE")"
echo "ok: grappe dashboard's link ($HOSTPORT) serves the page and both nodes' state to node 2"

if [ "$(con 1 'cat /sys/class/tty/ttyS1/type 2>/dev/null' | tr -d '\r\n')" = 0 ]; then
  state=$(con 1 'systemctl start serial-getty@ttyS1.service; sleep 2; systemctl show -p ActiveState,Result,NRestarts serial-getty@ttyS1.service; journalctl -b --no-pager -u serial-getty@ttyS1.service | tail -8; true')
  # systemd (257) leaves Result=success on a skip; the journal names the condition that skipped it.
  for want in '^ActiveState=inactive' '^NRestarts=0' "Skipped due to 'exec-condition'"; do
    grep -q "$want" <<<"$state" || fail "serial-getty@ttyS1 (no UART): want $want, got: $state"
  done
  echo "ok: a port with no UART (ttyS1) gets no getty and no restart loop"
else
  echo "note: this VM has no UART-less legacy port ttyS1; that check is skipped"
fi
echo "qemu-headless: all checks passed"
