#!/usr/bin/env bash
# The README's test command (CI runs it through .ci/run): installs what the build and tests need
# (scripts/setup.sh), then
#   1. builds with warnings as errors and with MPI (data-parallel lm-train), runs the test suite
#      (ctest; the kernel tests compare every kernel table the CPU has with the scalar reference,
#      and the whole-model tests run again with WORDLM_FORCE_ISA=scalar), then the data-parallel tests under mpirun (label "mpi");
#   2. builds again with ASan + UBSan and without MPI, and runs the whole suite a second time
#      (so the build without MPI stays tested; Open MPI's own allocations would trip LeakSanitizer;
#      the data-parallel trainer still runs here, over the tests' in-process collective);
#   3. builds the libFuzzer targets with clang and runs each for 30 s (scripts/fuzz.sh).
#
#   scripts/test.sh            all three (about 25 minutes on 2 cores from scratch)
#   scripts/test.sh --quick    step 1 only
#   scripts/test.sh --slow     also the tests labelled "slow"
# Environment: JOBS (default: nproc), FUZZ_SECONDS (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
slow=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --slow) slow=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 64 ;;
  esac
done

scripts/setup.sh test
# setup.sh installed the ONNX toolchain: the ONNX tests must run, not be skipped
export WORDLM_REQUIRE_ORT=${WORDLM_REQUIRE_ORT:-1}
jobs=${JOBS:-$(nproc)}
label=(-LE slow)
[ "$slow" = 1 ] && label=()

step() { printf '\n==> %s\n' "$*" >&2; }

step "build (Release, -Werror, with MPI) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWORDLM_WERROR=ON -DWORDLM_MPI=ON >/dev/null
cmake --build build -j"$jobs"
exclude=mpi
[ "$slow" = 0 ] && exclude="slow|mpi"
(cd build && ctest --output-on-failure -j2 -LE "$exclude")

step "data-parallel training under mpirun -np 2 (ctest -L mpi)"
if [ "$(id -u)" = 0 ]; then  # mpirun refuses root unless told twice (CI runs as root)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
(cd build && ctest --output-on-failure -L mpi)
[ "$quick" = 1 ] && exit 0

step "build with ASan + UBSan (without MPI) and test again"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWORDLM_SANITIZE=ON -DWORDLM_WERROR=ON \
  -DWORDLM_BENCH=OFF -DWORDLM_MPI=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j2 "${label[@]}")

step "fuzz smoke run (${FUZZ_SECONDS:-30} s per target)"
scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
