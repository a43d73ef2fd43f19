#!/usr/bin/env bash
# ctest "fuzz-wire": builds the libFuzzer targets with clang (ASan + UBSan) — the UDP packet
# decoder, the peer stream's frame decoder and the local API's dispatcher (seeded with every
# request shape the CLI sends) — and runs each for a bounded time (GRAPPE_FUZZ_SECONDS, default
# 60, split between them). A crash fails the test and leaves the
# input in build/fuzz/.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=${1:-$SRC/build/fuzz}
SECONDS_BUDGET=${GRAPPE_FUZZ_SECONDS:-60}
CXX=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$CXX" ] || { echo "SKIP: clang++ is not installed (./build.sh deps installs it)"; exit 77; }
mkdir -p "$OUTDIR/corpus" "$OUTDIR/corpus-frame" "$OUTDIR/corpus-api"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_wire.cc" "$SRC/userland/membership/wire.cc" -lsodium -o "$OUTDIR/fuzz_wire"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_frame.cc" "$SRC/userland/migration/peer_link.cc" -lsodium -o "$OUTDIR/fuzz_frame"
U=$SRC/userland
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I "$U" \
  "$SRC/tests/fuzz/fuzz_api.cc" "$U/daemon/api_router.cc" "$U/daemon/api_commands.cc" "$U/jobs/job_service.cc" \
  "$U/jobs/jobs.cc" "$U/jobs/job_inspect.cc" "$U/common/json_fields.cc" "$U/common/api_protocol.cc" -lsodium -o "$OUTDIR/fuzz_api"
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
{"cmd":1}
SEEDS
cd "$OUTDIR"
WIRE=$(( SECONDS_BUDGET * 2 / 5 )); FRAME=$(( SECONDS_BUDGET / 5 )); API=$(( SECONDS_BUDGET - WIRE - FRAME ))
./fuzz_wire -max_total_time="$WIRE" -max_len=1400 -print_final_stats=1 corpus 2>&1 | tail -8
./fuzz_frame -max_total_time="$FRAME" -max_len=4096 -print_final_stats=1 corpus-frame 2>&1 | tail -8
./fuzz_api -max_total_time="$API" -max_len=4096 -print_final_stats=1 corpus-api 2>&1 | tail -8
echo "fuzz-wire: no crash in ${SECONDS_BUDGET} s (${WIRE} s packets, ${FRAME} s frames, ${API} s API requests)"
