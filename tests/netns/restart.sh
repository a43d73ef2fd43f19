#!/usr/bin/env bash
# ctest "netns-restart": jobs outlive grapped. Three jobs of two users — one attached and printing
# a numbered line every 10 ms, one detached, one reading its stdin — run while grapped is killed
# with SIGKILL and started again, then stopped with SIGTERM and started again (what systemctl
# restart does). grapped runs under tests/netns/service_keeper.py, which plays systemd's part
# (the descriptor store and the restarts) on this host without systemd; tests/qemu/boot.sh checks
# the same on a node of the image, under the real systemd. Checked: all three jobs still run and
# `grappe ps` lists them after each restart, the attached client got every line exactly once and
# in order and then the exit status, the stdin reader got its input, and kill works on an adopted job.
set -euo pipefail
GRAPPED=$(readlink -f "$1"); GRAPPE=$(readlink -f "$2"); JOBINIT=$(readlink -f "$3")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: jobs need root (PID namespaces) and a network namespace"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) is not installed"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) is not installed"; exit 77; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NETNS_TAG=r$$
# shellcheck source=../../ci/netns-lib.sh
. "$SRC/ci/netns-lib.sh"
netns_single
netns_setup 1
chmod 755 "$TMP"
mkdir -p "$TMP/keep"
ip netns exec "$NETNS_TAG-1" python3 "$SRC/tests/netns/service_keeper.py" "$TMP/keep" -- "$GRAPPED" --config /nonexistent \
  --key "$TMP/key" --socket "$TMP/n1.sock" --state-dir "$TMP/state1" --name node1 --id "$(printf 'a1b2c3d4%024x' 1)" \
  --speed 1000 --cluster netns-test --job-init "$JOBINIT" >> "$TMP/n1.log" 2>&1 &
KEEPER=$!
CLIENTS=()
stop_all() {
  local p
  for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$KEEPER" 2>/dev/null || true; wait "$KEEPER" 2>/dev/null || true
  pkill -KILL -f "grappe-job-init --status-file $TMP/" 2>/dev/null || true
  netns_cleanup; rm -rf "$TMP"
}
trap stop_all EXIT
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$GRAPPE" --socket "$TMP/n1.sock" "$@"; }
ready() { for _ in $(seq 100); do g run -- true >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "grapped does not answer"; }
ready

# The attached printer (root), the detached sleeper (nobody), the stdin reader (nobody).
g run -- sh -c 'i=0; while [ $i -lt 700 ]; do echo "line $i"; i=$((i+1)); sleep 0.01; done; exit 5' \
  > "$TMP/a.out" 2> "$TMP/a.err" & A=$!; CLIENTS+=("$A")
B=$(cd / && nobody run -d -- sleep 300)
( sleep 3; echo hello; sleep 5; echo bye ) | (cd / && nobody run -- sh -c 'while read l; do echo "got $l"; done; exit 4') \
  > "$TMP/c.out" 2> "$TMP/c.err" & C=$!; CLIENTS+=("$C")
sleep 1
ids=$(g ps --json | python3 -c 'import json,sys; print(" ".join(sorted(j["id"] for j in json.load(sys.stdin))))')
[ "$(echo "$ids" | wc -w)" = 3 ] || fail "want 3 running jobs before the restarts, ps shows: $ids"

restart() {  # restart SIGNAL: grapped goes, the keeper starts the next one; the jobs must all be there
  local sig=$1 before starts
  before=$(cat "$TMP/keep/pid"); starts=$(cat "$TMP/keep/starts")
  kill -"$sig" "$before"
  for _ in $(seq 100); do [ "$(cat "$TMP/keep/starts")" -gt "$starts" ] && break; sleep 0.1; done
  [ "$(cat "$TMP/keep/pid")" != "$before" ] || fail "grapped was not started again after SIG$sig"
  ready
  now=$(g ps --json | python3 -c 'import json,sys; print(" ".join(sorted(j["id"] for j in json.load(sys.stdin))))')
  [ "$now" = "$ids" ] || fail "after SIG$sig of grapped, ps lists '$now', want '$ids'"
  echo "ok: after SIG$sig of grapped (pid $before, now $(cat "$TMP/keep/pid")) all three jobs run and ps lists them: $now"
}
restart KILL
sleep 1.5
restart TERM
grep -q "adopted 3 running job(s)" "$TMP/n1.log" || fail "grapped did not log the adoption"

rc=0; wait "$A" || rc=$?
[ "$rc" = 5 ] || fail "the attached client ended with $rc, want the job's 5 ($(cat "$TMP/a.err"))"
seq 0 699 | sed 's/^/line /' | cmp -s - "$TMP/a.out" ||
  fail "the attached client's output is not every line once and in order: $(wc -l < "$TMP/a.out") lines, $(sort "$TMP/a.out" | uniq -d | wc -l) repeated"
grep -q "reattached to job" "$TMP/a.err" || fail "the client did not say it reattached: $(cat "$TMP/a.err")"
echo "ok: the attached client got lines 0-699 exactly once, in order, then status 5, across both restarts"
rc=0; wait "$C" || rc=$?
[ "$rc" = 4 ] && [ "$(cat "$TMP/c.out")" = "$(printf 'got hello\ngot bye')" ] ||
  fail "the stdin reader: status $rc, output '$(cat "$TMP/c.out")' ($(cat "$TMP/c.err"))"
echo "ok: the stdin reader got both lines (one sent before, one after the restarts) and ended with 4"

nobody ps | grep -q "^$B " || fail "the detached job $B is gone: $(g ps --all)"
nobody kill "$B" || fail "its owner could not kill the adopted job $B"
for _ in $(seq 50); do g ps --all --json | grep -q '"exit_code":143' && break; sleep 0.1; done
g ps --all --json | python3 -c "import json,sys; j=[j for j in json.load(sys.stdin) if j['id']=='$B'][0]; assert j['state']=='exited' and j['exit_code']==143, j" ||
  fail "the adopted job's end: $(g ps --all --json)"
echo "ok: the detached job survived both restarts; its owner killed it; status 143 came from its init's status file"
echo PASS
