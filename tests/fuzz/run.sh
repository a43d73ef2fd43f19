#!/usr/bin/env bash
# ctest "fuzz-wire": builds the libFuzzer targets with clang (ASan + UBSan) — the UDP packet
# decoder, the peer stream's frame decoder, the local API's dispatcher (seeded with every request
# shape the CLI sends) and the peer frame metas' parsers (migration/peer_meta.h, seeded with real
# metas) — and runs each for a bounded time (GRAPPE_FUZZ_SECONDS, default 60, split between them;
# two targets run at once, so the wall time is about half).
# A crash fails the test and leaves the input in build/fuzz/.
set -euo pipefail
# libFuzzer's own exit status for a crash is 77, ctest's "skipped": every run below says 1 instead.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=${1:-$SRC/build/fuzz}
SECONDS_BUDGET=${GRAPPE_FUZZ_SECONDS:-60}
CXX=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$CXX" ] || { echo "SKIP: clang++ is not installed (./build.sh deps installs it)"; exit 77; }
mkdir -p "$OUTDIR/corpus" "$OUTDIR/corpus-frame" "$OUTDIR/corpus-api" "$OUTDIR/corpus-meta"
# The targets compile at the same time (clang with sanitizers is most of this test's time).
PIDS=() NAMES=()
compile() { "$CXX" "$@" & PIDS+=($!); NAMES+=("${*: -1}"); }  # the last argument names the target
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_wire.cc" "$SRC/userland/membership/wire.cc" -lsodium -o "$OUTDIR/fuzz_wire"
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_frame.cc" "$SRC/userland/migration/peer_link.cc" \
  "$SRC/userland/common/json_fields.cc" -lsodium -o "$OUTDIR/fuzz_frame"
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_peer_meta.cc" "$SRC/userland/migration/peer_meta.cc" \
  "$SRC/userland/migration/peer_link.cc" "$SRC/userland/common/json_fields.cc" "$SRC/userland/membership/wire.cc" \
  -lsodium -o "$OUTDIR/fuzz_peer_meta"
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_boot.cc" "$SRC/userland/boot/boot_announce.cc" \
  "$SRC/userland/boot/boot_admit.cc" "$SRC/userland/boot/boot_keys.cc" "$SRC/userland/boot/credentials.cc" \
  "$SRC/userland/boot/rejoin.cc" -lsodium -o "$OUTDIR/fuzz_boot"
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_creds.cc" "$SRC/userland/migration/image_creds.cc" -o "$OUTDIR/fuzz_creds"
mkdir -p "$OUTDIR/corpus-boot" "$OUTDIR/corpus-creds"
# A core image header and entry size, then a core_entry whose thread_core holds a creds message.
printf '\x19\x43\x56\x54\x47\x38\x05\x55\x14\x00\x00\x00\x08\x01\x2a\x10\x52\x0e\x08\xe8\x07\x10\xe8\x07\x18\xe8\x07\x20\xe8\x07\x28\x00\x30' > "$OUTDIR/corpus-creds/seed-core"
printf 'GRAPPE-BOOT 2\ncluster lab\nbase http://10.71.0.1/grappe/\nsums %064d\n' 0 > "$OUTDIR/corpus-boot/seed-announce"
printf 'GRAPPE-ADMIT 1\npc %064d\nmac 52:54:00:00:00:01\nsealed %0160d\n' 0 0 > "$OUTDIR/corpus-boot/seed-admit"
# Seeds: metas as grapped writes them (offer_for, the relay, resolve).
seed() { printf '%s' "$2" > "$OUTDIR/corpus-meta/seed-$1"; }
seed offer '{"id":"3.14","argv":["sleep","9"],"user":"ann","uid":1000,"home":"node3","home_number":3,"epoch":2,"stdio":{"1":"pipe:[42]","2":"pipe:[42]"},"rss_kb":4096,"cpu_flags":["fpu","sse2"],"age_s":12.5,"stay":false,"tty_out":true,"tty_err":false,"precopy":true,"nice":0,"from":"node1"}'
seed file '{"name":"pages-1.img","size":1048576,"dir":"pre-0"}'
seed commit '{"bytes":3145728,"parent":"pre-1"}'
seed relay '{"id":"1.5","epoch":1}'
seed relay-off '{"id":"1.5","epoch":1,"off":[4096,-1]}'
seed resume '{"off":[-1,120]}'
seed migrate '{"to":"node2","client":4,"reason":"grappe migrate, uid 0","precopy":-1}'
seed moved '{"to":"node4","epoch":3,"why":"balance"}'
seed resolved '{"moved":null}'
seed out '{"fd":2}'
seed rekey '{"epoch":2,"key":"'"$(printf '%064d' 7)"'","grace":false,"forgotten":["a1b2c3d4000000000000000000000004"],"version":2}'
seed abandon '{"epoch":2,"fingerprint":"0123456789abcdef"}'
U=$SRC/userland
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I "$U" \
  "$SRC/tests/fuzz/fuzz_dashboard.cc" "$U/dashboard/dashboard_request.cc" "$U/dashboard/event_hub.cc" -o "$OUTDIR/fuzz_dashboard"
mkdir -p "$OUTDIR/corpus-dash"
printf '%s' '{"action":"migrate","job":"1.3","to":"node-2"}' > "$OUTDIR/corpus-dash/seed-migrate"
printf '%s' '{"action":"block"}' > "$OUTDIR/corpus-dash/seed-block"
printf '%s' 'a=1; grappe_session=00ff; b=2' > "$OUTDIR/corpus-dash/seed-cookie"
compile -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I "$U" \
  "$SRC/tests/fuzz/fuzz_api.cc" "$U/daemon/api_router.cc" "$U/daemon/api_commands.cc" "$U/jobs/job_service.cc" \
  "$U/jobs/jobs.cc" "$U/jobs/job_inspect.cc" "$U/jobs/job_restart.cc" "$U/jobs/job_pid.cc" "$U/jobs/job_record.cc" \
  "$U/jobs/fd_store.cc" "$U/common/json_fields.cc" "$U/common/api_protocol.cc" -lsodium -o "$OUTDIR/fuzz_api"
# Seeds: every request shape the CLI sends (cli/grappe_main.cc, cli/run_client.cc), one per file.
n=0
while IFS= read -r line; do
  n=$((n + 1)); printf '%s' "$line" > "$OUTDIR/corpus-api/seed-$n"
done <<'SEEDS'
{"v":1,"cmd":"nodes"}
{"v":1,"cmd":"status"}
{"v":1,"cmd":"ps","all":false}
{"v":1,"cmd":"ps","all":true}
{"v":1,"cmd":"kill","job":"1.1","sig":15}
{"v":1,"cmd":"migrate","job":"1.1","to":"2"}
{"v":1,"cmd":"cluster","op":"rekey"}
{"v":1,"cmd":"cluster","op":"forget","value":"3"}
{"v":1,"cmd":"migrate","job":"1.1","to":"home","precopy":true}
{"v":1,"cmd":"migrate","job":"1.1","to":"later","precopy":false}
{"v":1,"cmd":"boot-server","op":"status"}
{"v":1,"cmd":"boot-server","op":"enable"}
{"v":1,"cmd":"node","op":"show","value":""}
{"v":1,"cmd":"node","op":"speed","value":"1200"}
{"v":1,"cmd":"node","op":"expel","value":""}
{"v":1,"cmd":"run","argv":["sh","-c","echo hi"],"env":["PATH=/usr/bin","HOME=/home/u"],"cwd":"/home/u","detach":false,"stay":false,"node":0,"stdin":true,"tty_out":true,"tty_err":false}
{"v":1,"cmd":"run","argv":["sleep","60"],"env":[],"cwd":"/","detach":true,"stay":true,"node":2,"stdin":false,"tty_out":false,"tty_err":false}
{"v":1,"cmd":"stdin","data":"aGVsbG8K"}
{"v":1,"cmd":"eof"}
{"v":1,"cmd":"signal","sig":2}
{"v":1,"cmd":"attach","job":"1.1","off":[120,0],"stdin":true,"tty_out":true,"tty_err":false}
{"cmd":1}
SEEDS
for i in "${!PIDS[@]}"; do
  wait "${PIDS[$i]}" && continue
  kill "${PIDS[@]}" 2>/dev/null || true
  echo "FAIL: compiling the fuzz target ${NAMES[$i]} failed (its errors are above)"; exit 1
done
cd "$OUTDIR"
# Each share at least 1 s (libFuzzer reads -max_total_time=0 as "no limit").
at_least_1() { echo $(( $1 < 1 ? 1 : $1 )); }
SECONDS_BUDGET=$(at_least_1 "$SECONDS_BUDGET")
WIRE=$(at_least_1 $(( SECONDS_BUDGET / 4 ))); FRAME=$(at_least_1 $(( SECONDS_BUDGET / 6 ))); API=$(at_least_1 $(( SECONDS_BUDGET / 4 )))
BOOT=$(( SECONDS_BUDGET / 8 )); DASH=$(at_least_1 $(( SECONDS_BUDGET / 16 )))
META=$(at_least_1 $(( SECONDS_BUDGET - WIRE - FRAME - API - BOOT - DASH )))
BOOT_A=$(at_least_1 $(( BOOT / 2 ))); BOOT_B=$(at_least_1 $(( BOOT - BOOT / 2 )))
# Two lanes at once (the host's two cores); each target keeps its own time budget.
lane() {  # lane LOG TARGET ARGS…: runs one fuzzer, its last lines into LOG
  local log=$1; shift
  local rc=0
  "./$1" -error_exitcode=1 "${@:2}" -print_final_stats=1 > "$log.full" 2>&1 || rc=$?
  # A crash keeps its sanitizer report: the last 80 lines, and the whole log next to its input.
  if [ "$rc" = 0 ]; then tail -8 "$log.full" > "$log"; rm -f "$log.full"; else tail -80 "$log.full" > "$log"; fi
  return $rc
}
run_lane_a() {
  lane a1.log fuzz_wire -max_total_time="$WIRE" -max_len=1400 corpus &&
  lane a2.log fuzz_peer_meta -max_total_time="$META" -max_len=4096 corpus-meta &&
  lane a3.log fuzz_creds -max_total_time="$BOOT_B" -max_len=4096 corpus-creds
}
run_lane_b() {
  lane b1.log fuzz_api -max_total_time="$API" -max_len=4096 corpus-api &&
  lane b2.log fuzz_frame -max_total_time="$FRAME" -max_len=4096 corpus-frame &&
  lane b3.log fuzz_boot -max_total_time="$BOOT_A" -max_len=1200 corpus-boot &&
  lane b4.log fuzz_dashboard -max_total_time="$DASH" -max_len=2048 corpus-dash
}
rm -f a?.log b?.log
run_lane_a & A=$!
run_lane_b & B=$!
rc=0
wait "$A" || rc=1
wait "$B" || rc=1
for f in a1 a2 a3 b1 b2 b3 b4; do [ -f "$f.log" ] && { echo "-- $f:"; cat "$f.log"; }; done
[ "$rc" = 0 ] || { echo "FAIL: a fuzz target crashed or failed; its input is in $OUTDIR (crash-*), its whole output in $OUTDIR/*.log.full"; exit 1; }
echo "fuzz-wire: no crash in ${SECONDS_BUDGET} s (${WIRE} s packets, ${FRAME} s frames, ${API} s API requests, ${META} s peer metas, ${BOOT} s boot announcements, admission replies and core-image credentials, ${DASH} s dashboard requests)"
