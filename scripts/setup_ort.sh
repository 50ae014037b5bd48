#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js (the npm package onnxruntime-node, whose CPU binaries ship
# inside the package) into tools/ort/ (git-ignored; $WORDLM_ORT_DIR overrides), for the ONNX
# scripts: scripts/ort_verify.py, scripts/ort_run.mjs, scripts/ort_bench.mjs. Its install script
# would fetch optional GPU binaries from a host this project cannot count on, so it runs with
# scripts disabled. Idempotent: an installed, loadable package of the pinned version is kept.
#
#   scripts/setup_ort.sh            install (or confirm) onnxruntime-node $WORDLM_ORT_VERSION (default 1.30.0)
#   scripts/setup_ort.sh --check    exit 0 if ORT loads, 1 if not (installs nothing)
# Exit codes: 0 ok, 1 not installed (--check), 64 usage, 69 node/npm missing or the registry
# unreachable (the ORT tests are then skipped, saying why).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${WORDLM_ORT_VERSION:-1.30.0}
dir=${WORDLM_ORT_DIR:-$root/tools/ort}
check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "setup_ort.sh: unknown option $1 (--check, --help)" >&2; exit 64 ;;
esac

loads() {  # prints the loaded version; fails when the package is absent or does not load
  [ -f "$dir/node_modules/onnxruntime-node/package.json" ] || return 1
  (cd "$dir" && node -e 'const o = require("onnxruntime-node"); process.stdout.write(o.env.versions.node)' 2>/dev/null)
}

if ! command -v node >/dev/null 2>&1; then
  echo "setup_ort: node is not installed (scripts/setup.sh test installs nodejs and npm)" >&2
  exit $([ "$check" = 1 ] && echo 1 || echo 69)
fi
have=$(loads || true)
if [ "$check" = 1 ]; then
  if [ -n "$have" ]; then echo "setup_ort: onnxruntime-node $have in $dir" >&2; exit 0; fi
  echo "setup_ort: onnxruntime-node is not installed in $dir (run scripts/setup_ort.sh)" >&2
  exit 1
fi
if [ "$have" = "$version" ]; then
  echo "setup_ort: onnxruntime-node $version already installed in $dir" >&2
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup_ort: npm is not installed (scripts/setup.sh test installs it)" >&2
  exit 69
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || printf '{\n  "private": true,\n  "description": "ONNX Runtime for the wordlm ONNX scripts, installed by scripts/setup_ort.sh (not committed)"\n}\n' > "$dir/package.json"
echo "setup_ort: installing onnxruntime-node $version into $dir (npm, install scripts disabled: CPU binaries only)" >&2
if ! timeout 600 npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
     "onnxruntime-node@$version" >&2; then
  echo "setup_ort: npm install failed: is the npm registry reachable? The ONNX Runtime checks will be skipped." >&2
  exit 69
fi
have=$(loads || true)
if [ "$have" != "$version" ]; then
  echo "setup_ort: onnxruntime-node was installed but does not load here (got '${have}'); no CPU binary for $(uname -m)?" >&2
  exit 69
fi
echo "setup_ort: onnxruntime-node $have ready in $dir" >&2
