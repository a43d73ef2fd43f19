#!/usr/bin/env bash
# ctest "netns-jobs": `grappe run`, `ps` and `kill` against a real grapped (in its own network
# namespace so its UDP port never meets the host's): output and exit status pass through, the job
# is pid 1 of its own PID namespace and leads its session, stdin and Ctrl-C are forwarded, a job
# holding a node-local file says why it cannot move, migrate refuses with reasons, ids never repeat
# across a daemon restart, admin settings (grappe node) are root-only and survive a restart; the
# benchmarks' stand-in jobs (grappe-migrate-selftest --compute/--encode) run through it unchanged.
set -euo pipefail
GRAPPED=$(readlink -f "$1"); GRAPPE=$(readlink -f "$2"); JOBINIT=$(readlink -f "$3"); SELFTEST=$(readlink -f "$4")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: jobs need root (PID namespaces) and a network namespace"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) is not installed"; exit 77; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NETNS_TAG=j$$
# shellcheck source=../../ci/netns-lib.sh
. "$SRC/ci/netns-lib.sh"
netns_single --job-init "$JOBINIT"

netns_setup 1
netns_start 1
for _ in $(seq 50); do [ -S "$TMP/n1.sock" ] && break; sleep 0.1; done

# A daemon alone founds its cluster, and says so once its discovery wait is over.
for _ in $(seq 100); do grep -q "grappe: founded cluster netns-test nodes=1" "$TMP/n1.log" && break; sleep 0.1; done
grep -q "grappe: founded cluster netns-test nodes=1" "$TMP/n1.log" || fail "a lone daemon did not print its founded line"
grep -q "joined cluster" "$TMP/n1.log" && fail "a lone daemon printed a joined line"
echo "ok: a lone daemon prints 'grappe: founded cluster netns-test nodes=1'"

# Output, stderr and the exit status pass through; the command is pid 2 under grappe-job-init.
out=$(g run -- sh -c 'echo out; echo err >&2; echo "pid=$$ sid=$(cut -d" " -f6 /proc/self/stat)"; exit 7' 2>"$TMP/err") && rc=0 || rc=$?
[ "$rc" = 7 ] || fail "exit status: want 7, got $rc"
[ "$(echo "$out" | head -1)" = out ] || fail "stdout: $out"
grep -qx err "$TMP/err" || fail "stderr: $(cat "$TMP/err")"
echo "$out" | grep -q '^pid=2 ' || fail "the command is not pid 2 of its own namespace: $out"
echo "ok: output, stderr and exit status relayed; the job has its own PID namespace"

# The job runs as the caller, in the caller's directory, with the caller's environment.
mkdir -p "$TMP/work"; chmod 755 "$TMP" "$TMP/work"
out=$(cd "$TMP/work" && GRAPPE_T=marker setpriv --reuid=65534 --regid=65534 --clear-groups "$GRAPPE" --socket "$TMP/n1.sock" run -- sh -c 'id -u; pwd; echo $GRAPPE_T')
[ "$out" = "$(printf '65534\n%s\nmarker' "$TMP/work")" ] || fail "user/cwd/env not carried: $out"
fds=$(g run -- ls /proc/self/fd | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 3 " ] || fail "the job inherited descriptors beyond stdio (ls shows: $fds; 3 is ls's own)"
echo "ok: user, working directory and environment carried; only stdio is inherited"

# The working directory is entered as the caller: a request naming another user's 0700 directory
# (the CLI could not even cd there; a raw request can name any path) fails with EACCES and the path.
mkdir -p "$TMP/private"; chmod 700 "$TMP/private"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3  # not a user's pyenv shim, which nobody cannot run
setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" - "$TMP/n1.sock" "$TMP/private" > "$TMP/cwd.out" 2>&1 <<'PY' || true
import json, socket, sys, base64
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((json.dumps({"v": 1, "cmd": "run", "argv": ["ls"], "cwd": sys.argv[2]}) + "\n").encode())
buf, err, status = b"", b"", None
while status is None:
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        m = json.loads(line)
        if m.get("ev") == "out" and m.get("fd") == 2: err += base64.b64decode(m["data"])
        if m.get("ev") == "exit": status = m["status"]
print(status); print(err.decode().strip())
PY
[ "$(head -1 "$TMP/cwd.out")" = 126 ] || fail "a job in another user's 0700 directory: status $(head -1 "$TMP/cwd.out"), want 126"
grep -q "chdir $TMP/private: Permission denied" "$TMP/cwd.out" || fail "no EACCES with the path: $(cat "$TMP/cwd.out")"
echo "ok: a job asking for another user's 0700 directory fails: $(tail -1 "$TMP/cwd.out")"

# The stand-in jobs of the tests and benchmarks: a checksum line per round, the same through
# grappe as run directly (so a moved one can be compared with an unmoved run), exit status 3.
for kind in compute encode; do
  direct=$("$SELFTEST" --$kind 40 2) && rc=0 || rc=$?
  [ "$rc" = 3 ] || fail "$kind: direct exit status $rc, want 3"
  [ "$(echo "$direct" | wc -l)" = 40 ] || fail "$kind: $(echo "$direct" | wc -l) lines for 40 rounds"
  [ "$(echo "$direct" | sort -u | wc -l)" = 40 ] || fail "$kind: repeated checksum lines"
  via=$(g run -- "$SELFTEST" --$kind 40 2) && rc=0 || rc=$?
  [ "$rc" = 3 ] && [ "$via" = "$direct" ] || fail "$kind through grappe run: status $rc, output differs"
done
[ "$("$SELFTEST" --compute 40 2)" != "$("$SELFTEST" --encode 40 2)" ] || fail "--encode computes the same as --compute"
echo "ok: the stand-in jobs (--compute, --encode) run through grappe with all their output and status 3"

# Run like grapped.service (nice -10): a job still gets its caller's nice value, not grapped's.
renice -n -10 -p "${NETNS_PIDS[1]}" >/dev/null
ni() { "$@" "$GRAPPE" --socket "$TMP/n1.sock" run -- sh -c 'cut -d" " -f19 /proc/self/stat'; }
[ "$(ni nice -n 0)" = 0 ] || fail "a job of a nice-0 caller runs at nice $(ni nice -n 0) (grapped's own is -10)"
[ "$(ni nice -n 7)" = 7 ] || fail "a job of a nice-7 caller runs at nice $(ni nice -n 7)"
[ "$(ni setpriv --reuid=65534 --regid=65534 --clear-groups nice -n 3)" = 3 ] || fail "an unprivileged caller's nice is not kept"
echo "ok: jobs run at their caller's nice value (0, 7, 3 unprivileged), not at grapped's -10"

# stdin is forwarded, large output arrives whole and in order.
[ "$(printf 'a\nb\n' | g run -- cat)" = "$(printf 'a\nb')" ] || fail "stdin not forwarded"
n=$(g run -- sh -c 'seq 1 200000' | tee "$TMP/seq" | wc -l)
[ "$n" = 200000 ] && cmp -s "$TMP/seq" <(seq 1 200000) || fail "large output damaged ($n lines)"
echo "ok: stdin forwarded; 200000 lines arrive whole and in order"

# A plain program (no handlers) still gets Ctrl-C: the init forwards it. Shell convention: 130.
"$GRAPPE" --socket "$TMP/n1.sock" run -- sleep 30 & c=$!
sleep 1; kill -INT $c; rc=0; wait $c || rc=$?
[ "$rc" = 130 ] || fail "Ctrl-C: want status 130, got $rc"
echo "ok: Ctrl-C reaches the job (status 130)"

# Detached job, ps, kill; a node-local open file is a reason not to move.
id=$(cd / && g run -d -- sh -c 'exec 3>/tmp/grappe-test-$$; exec sleep 60')  # from /: the open file is the reason
[[ "$id" =~ ^[0-9]+\.[0-9]+$ ]] || fail "run -d printed '$id', not a job id"
sleep 0.5
g ps | grep -q "^$id " || fail "ps does not list $id: $(g ps)"
why=$(g ps --json | python3 -c "import json,sys; print([j for j in json.load(sys.stdin) if j['id']=='$id'][0]['why'])")
case $why in *"node-local file /tmp/grappe-test-"*) ;; *) fail "why not movable: '$why'";; esac
g kill "$id" KILL
sleep 0.5
rm -f /tmp/grappe-test-2  # the job was pid 2 in its namespace
g ps --all --json | python3 -c "import json,sys; j=[j for j in json.load(sys.stdin) if j['id']=='$id'][0]; assert j['state']=='exited' and j['exit_code']==137, j" || fail "killed job state"
g kill 99.99 2>/dev/null && fail "kill of an unknown job succeeded"
echo "ok: run -d, ps (reason: $why), kill"

# Errors: unknown command, other users' jobs, bad signal.
rc=0; g run -- /nonexistent/cmd 2>"$TMP/err" || rc=$?
[ "$rc" = 127 ] && grep -q "cannot run /nonexistent/cmd" "$TMP/err" || fail "missing command: rc $rc, $(cat "$TMP/err")"
id=$(g run -d -- sleep 30)
setpriv --reuid=65534 --regid=65534 --clear-groups "$GRAPPE" --socket "$TMP/n1.sock" kill "$id" 2>"$TMP/err" && fail "another user killed root's job"
grep -q "belongs to root" "$TMP/err" || fail "other-user error: $(cat "$TMP/err")"
g kill "$id" NOPE 2>/dev/null && fail "bad signal name accepted"
g kill "$id"
echo "ok: clear errors for a missing command, another user's job, a bad signal"

# grappe migrate: clear refusals (the CRIU migrations themselves run in tests/qemu/migrate.sh).
id=$(g run -d -- sleep 30)
g migrate 9.99 2 2>"$TMP/err" && fail "migrated a job that does not exist"
grep -q "no job 9.99 here" "$TMP/err" || fail "unknown job: $(cat "$TMP/err")"
g migrate "$id" 77 2>"$TMP/err" && fail "migrated to a node that does not exist"
grep -q "no live node '77'" "$TMP/err" || fail "unknown node: $(cat "$TMP/err")"
g migrate "$id" 1 2>"$TMP/err" && fail "migrated a job to the node it runs on"
grep -q "already runs on" "$TMP/err" || fail "same node: $(cat "$TMP/err")"
mig=$(g status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_status"]["migration"])')
[ -n "$mig" ] || fail "status does not say whether this node can migrate"
g kill "$id"
echo "ok: migrate refuses unknown jobs and nodes with the reason; status says: migration $mig"

# Admin settings (grappe node): root only, checked values, shown by grappe nodes, kept across a restart.
g run --node 77 -- true 2>"$TMP/err" && fail "run --node accepted a node that does not exist"
grep -q "run --node 77: " "$TMP/err" || fail "run --node 77: $(cat "$TMP/err")"
setpriv --reuid=65534 --regid=65534 --clear-groups "$GRAPPE" --socket "$TMP/n1.sock" node block 2>"$TMP/err" &&
  fail "a user blocked the node"
grep -q "only root" "$TMP/err" || fail "non-root node block: $(cat "$TMP/err")"
g node speed fast 2>"$TMP/err" && fail "node speed accepted 'fast'"
grep -q "'fast'" "$TMP/err" || fail "node speed fast: $(cat "$TMP/err")"
g node block >/dev/null && g node speed 1234 >/dev/null && g node maxguests 3 >/dev/null || fail "node settings refused"
sleep 1.2  # the next load sample publishes them
g nodes | grep -E ' 1234 .* block *$' >/dev/null || fail "grappe nodes does not show the settings: $(g nodes)"
echo "ok: grappe node is root-only, checks its values, and grappe nodes shows flags and speed"

# Job ids never repeat across a daemon restart.
last=$(g run -d -- true)
kill "${NETNS_PIDS[1]}"; wait "${NETNS_PIDS[1]}" 2>/dev/null || true
netns_start 1
for _ in $(seq 50); do g status >/dev/null 2>&1 && break; sleep 0.1; done
next=$(g run -d -- true)
[ "${next#*.}" -gt "${last#*.}" ] || fail "job id repeated after restart: $last then $next"
echo "ok: job ids continue after a restart ($last, then $next)"
shown=$(g node show)
[ "$shown" = "flags block, speed 1234, maxguests 3, guests 0" ] || fail "admin settings after a restart: $shown"
echo "ok: admin settings survive a restart ($shown)"
echo "PASS"
