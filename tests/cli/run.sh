#!/usr/bin/env bash
# ctest "cli": grappe-build's and grappe's command lines: --help everywhere, clear errors that
# name the file, line and fix, and refusal without a built image; `grappe-build console` against
# stand-ins for a node's serial socket (deaf: signals and timeouts; live: a command, and a session
# attached through a pty).
set -euo pipefail
BUILD=$(readlink -f "$1"); GRAPPE=$(readlink -f "$2")
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for sub in "" build check-recipe qemu console; do
  "$BUILD" $sub --help > "$TMP/help" || fail "grappe-build $sub --help failed"
  grep -q "Usage" "$TMP/help" || fail "grappe-build $sub --help prints no usage"
done
for sub in "" status ready run ps kill nodes; do "$GRAPPE" $sub --help | grep -q Usage || fail "grappe $sub --help"; done
"$GRAPPE" --version | grep -q "^grappe [0-9]" || fail "grappe --version"

printf '[rootfs]\npackages = ["systemd-sysv"]\n\n[boot]\ndefault = "fast"\n' > "$TMP/bad.toml"
if "$BUILD" check-recipe "$TMP/bad.toml" 2> "$TMP/err"; then fail "a bad recipe was accepted"; fi
grep -q "bad.toml line 5" "$TMP/err" || fail "error does not name file and line: $(cat "$TMP/err")"
grep -q "boot.default" "$TMP/err" || fail "error does not name the field"
grep -q "one of node, debug, serial" "$TMP/err" || fail "error does not say what is valid"
"$BUILD" check-recipe --offline "$(dirname "$0")/../../recipes/default.toml" | grep -q ": ok" || fail "default recipe rejected"
printf '[rootfs]\npackages = ["systemd-sysv"]\n\n[boot]\ntimout = 3\n' > "$TMP/key.toml"
if "$BUILD" check-recipe --offline "$TMP/key.toml" 2> "$TMP/err"; then fail "a misspelt key was accepted"; fi
grep -q "key.toml line 5" "$TMP/err" && grep -q 'did you mean `timeout`?' "$TMP/err" ||
  fail "a misspelt key: no line or suggestion: $(cat "$TMP/err")"
if "$BUILD" check-recipe "$TMP/missing.toml" 2> "$TMP/err"; then fail "missing recipe accepted"; fi
grep -q "cannot read recipe" "$TMP/err" || fail "missing recipe: unclear error"

if "$BUILD" qemu --out "$TMP/none" 2> "$TMP/err"; then fail "qemu ran without an image"; fi
grep -q "no built image" "$TMP/err" || fail "qemu without an image: unclear error: $(cat "$TMP/err")"
if "$BUILD" qemu --out "$TMP" --boot floppy 2> "$TMP/err"; then fail "unknown boot mode accepted"; fi
grep -q "unknown --boot 'floppy'" "$TMP/err" && grep -q "use cd, uefi, usb, pxe, net, uefi-net or kernel" "$TMP/err" ||
  fail "unknown boot mode: unclear error: $(cat "$TMP/err")"
if "$BUILD" qemu --out "$TMP" --boot net 2> "$TMP/err"; then fail "qemu ran with no node to serve the others"; fi
grep -q "no node boots from a medium" "$TMP/err" || fail "--boot net alone: unclear error: $(cat "$TMP/err")"
# The runner with a stand-in for QEMU that writes a booted node's lines to its serial log: each
# node's console command is printed, and one line once the cluster has formed.
mkdir -p "$TMP/fakebin" "$TMP/img"; : > "$TMP/img/grappe-amd64.iso"
cat > "$TMP/fakebin/qemu-system-x86_64" <<'FAKE'
#!/bin/sh
n=$(printf '%s\n' "$@" | sed -n 's/^grappe-node//p'); log=$(printf '%s\n' "$@" | sed -n 's/.*,logfile=//p')
printf 'grappe: node ready name=grappe-fake%s machine-id=0\r\ngrappe: joined cluster lab nodes=2\r\n' "$n" > "$log"
exec sleep 30
FAKE
chmod +x "$TMP/fakebin/qemu-system-x86_64"
PATH="$TMP/fakebin:$PATH" timeout 20 "$BUILD" qemu --nodes 2 --out "$TMP/img" --accel tcg --until "joined cluster" > "$TMP/out" 2>&1 ||
  fail "qemu with a stand-in QEMU: $(cat "$TMP/out")"
grep -q "its root shell: .*grappe-build console --dir $TMP/img/qemu --node 2 (Ctrl-] detaches" "$TMP/out" ||
  fail "qemu does not print how to reach each node: $(cat "$TMP/out")"
grep -q "^grappe-build qemu: 2 nodes joined cluster lab in [0-9]* s: node1 grappe-fake1, node2 grappe-fake2$" "$TMP/out" ||
  fail "qemu prints no summary once the cluster formed: $(cat "$TMP/out")"
# --stagger: node 2 starts only once node 1's serial log shows the text (node 1 founds the cluster).
PATH="$TMP/fakebin:$PATH" timeout 20 "$BUILD" qemu --nodes 2 --out "$TMP/img" --accel tcg --stagger "node ready" \
  --until "joined cluster" > "$TMP/out" 2>&1 || fail "qemu --stagger: $(cat "$TMP/out")"
grep -q "^node2: starts once node 1 shows \"node ready\" (--stagger)" "$TMP/out" || fail "qemu --stagger does not say node 2 waits: $(cat "$TMP/out")"
[ "$(grep -n '^node1: pid' "$TMP/out" | cut -d: -f1)" -lt "$(grep -n '^node2: pid' "$TMP/out" | cut -d: -f1)" ] ||
  fail "qemu --stagger started node 2 before node 1: $(cat "$TMP/out")"
[ "$(stat -c %Y "$TMP/img/qemu/node1.log")" -le "$(stat -c %Y "$TMP/img/qemu/node2.cmd")" ] || fail "node 2 started before node 1's log showed the text"
# check-recipe against a mirror (a small archive in a temp dir, as file:// and over HTTP on the
# loopback): an unknown suite and a missing package are errors naming their line; an unreachable
# mirror fails with the reason.
if command -v python3 >/dev/null; then
  DEFAULT=$(readlink -f "$(dirname "$0")/../../recipes/default.toml")
  python3 "$(dirname "$0")/fake_mirror.py" "$TMP/mirror/debian" "$DEFAULT"
  GRAPPE_MIRROR="file://$TMP/mirror/debian" "$BUILD" check-recipe --cache "$TMP/cache" "$DEFAULT" > "$TMP/out" ||
    fail "default recipe rejected by a mirror that has its packages: $(cat "$TMP/out")"
  grep -q "ok (.*packages found on file://$TMP/mirror/debian" "$TMP/out" || fail "check-recipe does not say it asked the mirror: $(cat "$TMP/out")"
  ls "$TMP/cache/apt-index/" | grep -q '^[0-9a-f]\{64\}$' || fail "the package index was not cached under its hash"
  printf '[rootfs]\nsuite = "trixxie"\npackages = ["systemd-sysv"]\n' > "$TMP/suite.toml"
  if "$BUILD" check-recipe --mirror "file://$TMP/mirror/debian" "$TMP/suite.toml" 2> "$TMP/err"; then fail "unknown suite accepted"; fi
  grep -q "suite.toml line 2: suite 'trixxie' is not on the mirror" "$TMP/err" && grep -q 'did you mean `trixie`?' "$TMP/err" ||
    fail "unknown suite: unclear error: $(cat "$TMP/err")"
  printf '[rootfs]\npackages = [\n  "systemd-sysv",\n  "awk",\n  "htopp",\n]\n' > "$TMP/pkg.toml"
  python3 -u -m http.server --bind 127.0.0.1 --directory "$TMP/mirror" 0 > "$TMP/http.log" 2>&1 & HTTPD=$!
  for _ in $(seq 50); do grep -q "port [0-9]" "$TMP/http.log" && break; sleep 0.1; done
  PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$TMP/http.log" | head -1)
  rc=0; "$BUILD" check-recipe --mirror "http://127.0.0.1:$PORT/debian" --cache "$TMP/cache2" "$TMP/pkg.toml" 2> "$TMP/err" || rc=$?
  kill $HTTPD 2>/dev/null; wait $HTTPD 2>/dev/null || true
  [ "$rc" = 1 ] || fail "a missing package over HTTP: exit $rc: $(cat "$TMP/err")"
  grep -q "pkg.toml line 5: package 'htopp' is not in trixie main for amd64 on http://127.0.0.1:$PORT/debian" "$TMP/err" ||
    fail "missing package: unclear error: $(cat "$TMP/err")"
  grep -q "line 4" "$TMP/err" && fail "a virtual package (awk, provided by mawk) was an error: $(cat "$TMP/err")"
  if "$BUILD" check-recipe --mirror "http://127.0.0.1:1/debian" "$TMP/pkg.toml" 2> "$TMP/err"; then fail "an unreachable mirror passed"; fi
  grep -q "cannot reach the mirror" "$TMP/err" || fail "unreachable mirror: unclear error: $(cat "$TMP/err")"
else
  echo "SKIP (check-recipe against a mirror): python3 is not installed"
fi

if "$GRAPPE" --socket "$TMP/nosock" run -- true 2> "$TMP/err"; then fail "run without a daemon succeeded"; fi
grep -q "cannot reach grapped at $TMP/nosock" "$TMP/err" || fail "run without a daemon: unclear error: $(cat "$TMP/err")"
if "$GRAPPE" run 2> "$TMP/err"; then fail "run without a command succeeded"; fi
grep -q "command is required" "$TMP/err" || fail "run without a command: unclear error: $(cat "$TMP/err")"
if "$GRAPPE" --socket "$TMP/nosock" ps 2> "$TMP/err"; then fail "ps without a daemon succeeded"; fi
grep -q "Is it running" "$TMP/err" || fail "ps without a daemon: unclear error"
# console against a node whose serial port nobody reads: SIGINT and SIGTERM end it at once with
# 130 and 143 (a blocked write used to ignore them), and it never outlives --timeout.
if command -v python3 >/dev/null; then
  mkdir -p "$TMP/deaf"
  python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
for _ in range(3):
    c,_=s.accept(); c.send(b"ISOLINUX boot menu\r\n")
time.sleep(20)' "$TMP/deaf/node1.sock" & DEAF=$!
  for _ in $(seq 50); do [ -S "$TMP/deaf/node1.sock" ] && break; sleep 0.1; done
  for sig in INT TERM; do
    "$BUILD" console --dir "$TMP/deaf" --timeout 60 -- echo hi 2>"$TMP/err" & C=$!
    sleep 1; t0=$(date +%s%N); kill -$sig $C; rc=0; wait $C || rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ "$rc" = "$want" ] || { kill $DEAF; fail "console after SIG$sig: exit $rc, want $want"; }
    [ "$ms" -le 1000 ] || { kill $DEAF; fail "console took $ms ms to end after SIG$sig (want at most 1 s)"; }
  done
  start=$(date +%s); rc=0
  "$BUILD" console --dir "$TMP/deaf" --timeout 2 -- echo hi 2>"$TMP/err" || rc=$?
  kill $DEAF 2>/dev/null; wait $DEAF 2>/dev/null || true
  [ "$rc" != 0 ] && [ $(( $(date +%s) - start )) -le 6 ] || fail "console on a deaf node: exit $rc after $(( $(date +%s) - start )) s"
  grep -q "ISOLINUX boot menu" "$TMP/err" || fail "console on a deaf node does not say what it saw: $(cat "$TMP/err")"
  grep -q "the serial port last showed the isolinux boot menu" "$TMP/err" ||
    fail "console on a deaf node does not name what its port shows: $(cat "$TMP/err")"

  # A node showing its boot menu (redrawn with its countdown twice a second): console types nothing
  # into it (a key there would pick an entry; Enter would boot the highlighted one) and fails in time.
  mkdir -p "$TMP/menu"
  python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX)
open(sys.argv[1][:-5]+".log","ab").write(b"ISOLINUX 6.04\r\n")  # drawn before anyone connects
s.bind(sys.argv[1]); s.listen(4)
c,_=s.accept(); c.setblocking(False); got=b""; end=time.time()+8
while time.time()<end:
    menu=b"\x1b[2J Grappe - boot this PC into the cluster\r\n Automatic boot in 5 seconds...\r\n"
    open(sys.argv[1][:-5]+".log","ab").write(menu)  # as QEMU logs the port
    try: c.send(menu)
    except OSError: break
    time.sleep(0.5)
    try: got+=c.recv(65536)
    except BlockingIOError: pass
open(sys.argv[2],"wb").write(got)' "$TMP/menu/node1.sock" "$TMP/menu/typed" & MENU=$!
  for _ in $(seq 50); do [ -S "$TMP/menu/node1.sock" ] && break; sleep 0.1; done
  rc=0; "$BUILD" console --dir "$TMP/menu" --timeout 4 -- echo hi 2>"$TMP/err" || rc=$?
  wait $MENU 2>/dev/null || true
  [ "$rc" != 0 ] || fail "console on a node in its boot menu succeeded"
  [ -f "$TMP/menu/typed" ] && [ ! -s "$TMP/menu/typed" ] || fail "console typed into the boot menu: $(od -c "$TMP/menu/typed" | head -3)"
  grep -q "the serial port last showed the isolinux boot menu" "$TMP/err" || fail "console on a node in its menu: $(cat "$TMP/err")"

  # A node with a shell on its serial port (a stand-in: sh on a pty behind the socket): a command
  # returns its output and status; attached through a pty, `hostname` runs and Ctrl-] detaches.
  mkdir -p "$TMP/live"
  python3 "$(dirname "$0")/fake_node.py" "$TMP/live/node1.sock" & LIVE=$!
  for _ in $(seq 50); do [ -S "$TMP/live/node1.sock" ] && break; sleep 0.1; done
  rc=0; out=$("$BUILD" console --dir "$TMP/live" --timeout 20 -- 'hostname; exit 3') || rc=$?
  [ "$rc" = 3 ] && [ "$out" = "$(hostname)" ] || { kill $LIVE; fail "console -- hostname: exit $rc, output '$out'"; }
  python3 "$(dirname "$0")/pty_attach.py" "$BUILD" "$TMP/live" "$(hostname)" || { kill $LIVE; fail "interactive console"; }
  kill $LIVE 2>/dev/null; wait $LIVE 2>/dev/null || true
else
  echo "SKIP (console): python3 is not installed"
fi
echo "cli: all checks passed"
