#!/usr/bin/env bash
# ctest "fuzz-wire": builds the libFuzzer targets with clang (ASan + UBSan) — the UDP packet
# decoder and the peer stream's frame decoder — and runs each for a bounded time
# (GRAPPE_FUZZ_SECONDS, default 60, split between them). A crash fails the test and leaves the
# input in build/fuzz/.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=${1:-$SRC/build/fuzz}
SECONDS_BUDGET=${GRAPPE_FUZZ_SECONDS:-60}
CXX=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$CXX" ] || { echo "SKIP: clang++ is not installed (./build.sh deps installs it)"; exit 77; }
mkdir -p "$OUTDIR/corpus" "$OUTDIR/corpus-frame"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_wire.cc" "$SRC/userland/membership/wire.cc" -lsodium -o "$OUTDIR/fuzz_wire"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_frame.cc" "$SRC/userland/migration/peer_link.cc" -lsodium -o "$OUTDIR/fuzz_frame"
cd "$OUTDIR"
WIRE=$(( SECONDS_BUDGET * 2 / 3 )); FRAME=$(( SECONDS_BUDGET - WIRE ))
./fuzz_wire -max_total_time="$WIRE" -max_len=1400 -print_final_stats=1 corpus 2>&1 | tail -8
./fuzz_frame -max_total_time="$FRAME" -max_len=4096 -print_final_stats=1 corpus-frame 2>&1 | tail -8
echo "fuzz-wire: no crash in ${SECONDS_BUDGET} s (${WIRE} s packets, ${FRAME} s frames)"
