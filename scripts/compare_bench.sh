#!/usr/bin/env bash
# Side-by-side benchmark of wordlm and PyTorch on this machine, as the issues define it:
#   - seed model (V5000 E256 H512 L2, random weights): b1 x s10 forward, decode, b16 x s35, load
#   - a trained checkpoint (--model FILE, e.g. the small model): eval throughput on --data
# at 1 and 2 threads; PyTorch at torch/OpenBLAS settings 1/1, 1/2, 2/2 (passive). Writes JSON to
# reports/ and prints the merged markdown table (scripts/bench_compare.py).
#
#   scripts/compare_bench.sh [--model FILE --data DIR] [--reps R] [--rounds N] [--eval-tokens N] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model= data= reps=5 rounds=3 eval_tokens=20000 out=reports
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --eval-tokens) eval_tokens=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "compare_bench.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
mkdir -p "$out"
rm -f "$out"/bench_wordlm_*.json "$out"/bench_pytorch_*.json
bench=$root/build/lm-bench
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
[ "$have_torch" = 0 ] && echo "==> PyTorch is not installed (apt-get install python3-torch): wordlm numbers only" >&2

# Rounds interleave wordlm and PyTorch on each workload, so that a shared machine's drift hits
# both alike; bench_compare.py merges the samples of all rounds before taking medians.
for round in $(seq 1 "$rounds"); do
  echo "==> round $round/$rounds: seed preset, b1 x s10 / decode / load" >&2
  "$bench" --preset seed --int8 --tests forward,decode,load -b 1 -s 10 -t 1,2 -r "$reps" \
    --report "$out/bench_wordlm_seed_r$round.json"
  if [ "$have_torch" = 1 ]; then
    for setting in "1 1" "1 2" "2 2"; do
      set -- $setting
      /usr/bin/python3 scripts/pytorch_bench.py --preset seed --int8 --tests forward,decode,load -b 1 -s 10 -r "$reps" \
        --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_seed_$1_$2_r$round.json" 2>/dev/null
    done
  fi
  echo "==> round $round/$rounds: seed preset, b16 x s35" >&2
  "$bench" --preset seed --int8 --tests forward -b 16 -s 35 -t 1,2 -r "$reps" \
    --report "$out/bench_wordlm_seed_b16_r$round.json"
  if [ "$have_torch" = 1 ]; then
    for setting in "1 1" "1 2" "2 2"; do
      set -- $setting
      /usr/bin/python3 scripts/pytorch_bench.py --preset seed --int8 --tests forward -b 16 -s 35 -r "$reps" \
        --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_seed_b16_$1_$2_r$round.json" 2>/dev/null
    done
  fi
  if [ -n "$model" ]; then
    echo "==> round $round/$rounds: eval throughput of $model" >&2
    "$bench" -m "$model" --int8 --tests eval --data "$data" --eval-tokens "$eval_tokens" -t 1,2 -r 3 \
      --report "$out/bench_wordlm_eval_r$round.json"
    if [ "$have_torch" = 1 ]; then
      for setting in "1 1" "1 2" "2 2"; do
        set -- $setting
        /usr/bin/python3 scripts/pytorch_bench.py -m "$model" --int8 --tests eval --data "$data" \
          --eval-tokens "$eval_tokens" -r 3 --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_eval_$1_$2_r$round.json" 2>/dev/null
      done
    fi
  fi
done
python3 scripts/bench_compare.py "$out"/bench_wordlm_*.json $( [ "$have_torch" = 1 ] && echo "$out"/bench_pytorch_*.json ) \
  --json "$out/bench_compare.json" | tee "$out/bench_compare.md"
