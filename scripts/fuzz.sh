#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, coverage) in build-fuzz/ and runs each for
# a time budget, starting from the committed seeds (fuzz/seeds/, made by scripts/make_fuzz_seeds.py)
# and the regression inputs (fuzz/regressions/). Prints the executions each target ran. A crash,
# leak or hang fails the script and leaves the input in build-fuzz/findings/ - add it to
# fuzz/regressions/ (the test suite replays that folder) and fix the bug.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      default 30 (CI); the long run in docs/robustness.md: 900
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-30}
build=${FUZZ_BUILD_DIR:-build-fuzz}
scripts/setup.sh test
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DWORDLM_FUZZ=ON \
  -DWORDLM_TESTS=OFF -DWORDLM_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_checkpoint fuzz_corpus
mkdir -p "$build/findings"
status=0
for t in checkpoint corpus; do
  work="$build/work_$t"
  mkdir -p "$work"
  log="$build/fuzz_$t.log"
  echo "==> fuzz_$t for ${secs}s" >&2
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/findings/${t}-" "$work" "fuzz/seeds/$t" fuzz/regressions >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -m1 "stat::number_of_executed_units" "$log" | awk "{print \$2}" || true)
  echo "fuzz_$t: ${execs:-?} executions in ${secs}s, exit $rc" >&2
  if [ "$rc" != 0 ]; then
    status=1
    tail -40 "$log" >&2
  fi
done
exit $status
