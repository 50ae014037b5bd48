#!/usr/bin/env bash
# The README's test command: installs what the build and tests need (scripts/setup.sh), builds
# with warnings as errors, and runs the test suite with ctest. The kernel tests run twice: on the
# AVX2 path and forced onto the scalar reference (WORDLM_FORCE_ISA=scalar).
#
#   scripts/test.sh            fast suite (seconds to a minute)
#   scripts/test.sh --slow     also the tests labelled "slow"
#   scripts/test.sh --build-only
# Environment: BUILD_DIR (default build), JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

slow=0
build_only=0
for a in "$@"; do
  case "$a" in
    --slow) slow=1 ;;
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 64 ;;
  esac
done

scripts/setup.sh test
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWORDLM_WERROR=ON >/dev/null
cmake --build "$build" -j"$jobs"
[ "$build_only" = 1 ] && exit 0

cd "$build"
if [ "$slow" = 1 ]; then
  ctest --output-on-failure -j2
else
  ctest --output-on-failure -j2 -LE slow
fi
