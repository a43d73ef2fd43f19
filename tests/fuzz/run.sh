#!/usr/bin/env bash
# ctest "fuzz-wire": builds the decoder's libFuzzer target with clang (ASan + UBSan) and runs it
# for a bounded time (GRAPPE_FUZZ_SECONDS, default 60). A crash fails the test and leaves the
# input in build/fuzz/.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=${1:-$SRC/build/fuzz}
SECONDS_BUDGET=${GRAPPE_FUZZ_SECONDS:-60}
CXX=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$CXX" ] || { echo "SKIP: clang++ is not installed (./build.sh deps installs it)"; exit 77; }
mkdir -p "$OUTDIR/corpus"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$SRC/userland" "$SRC/tests/fuzz/fuzz_wire.cc" "$SRC/userland/wire.cc" -lsodium -o "$OUTDIR/fuzz_wire"
cd "$OUTDIR"
./fuzz_wire -max_total_time="$SECONDS_BUDGET" -max_len=1400 -print_final_stats=1 corpus 2>&1 | tail -15
echo "fuzz-wire: no crash in ${SECONDS_BUDGET} s"
