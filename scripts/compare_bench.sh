#!/usr/bin/env bash
# Side-by-side benchmark of wordlm and PyTorch on this machine, as the issues define it:
#   - seed model (V5000 E256 H512 L2, random weights): b1 x s10 forward, decode, b16 x s35, load
#   - a trained checkpoint (--model FILE, e.g. the small model): eval throughput on --data
# at 1 and 2 threads; PyTorch at torch/OpenBLAS settings 1/1, 1/2, 2/2 (passive). Writes JSON to
# reports/ and prints the merged markdown table (scripts/bench_compare.py).
#
#   scripts/compare_bench.sh [--model FILE --data DIR] [--reps R] [--eval-tokens N] [--out DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model= data= reps=7 eval_tokens=20000 out=reports
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --eval-tokens) eval_tokens=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "compare_bench.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
mkdir -p "$out"
bench=$root/build/lm-bench
files=()

echo "==> wordlm: seed preset" >&2
"$bench" --preset seed --int8 --tests forward,decode,load -b 1 -s 10 -t 1,2 -r "$reps" -o json \
  --output-file "$out/bench_wordlm_seed.json"
"$bench" --preset seed --int8 --tests forward -b 16 -s 35 -t 1,2 -r "$reps" -o json \
  --output-file "$out/bench_wordlm_seed_b16.json"
files+=("$out/bench_wordlm_seed.json" "$out/bench_wordlm_seed_b16.json")
if [ -n "$model" ]; then
  echo "==> wordlm: eval throughput of $model" >&2
  "$bench" -m "$model" --int8 --tests eval --data "$data" --eval-tokens "$eval_tokens" -t 1,2 -r 3 -o json \
    --output-file "$out/bench_wordlm_eval.json"
  files+=("$out/bench_wordlm_eval.json")
fi

if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  for setting in "1 1" "1 2" "2 2"; do
    set -- $setting
    echo "==> PyTorch: threads $1, OpenBLAS threads $2" >&2
    /usr/bin/python3 scripts/pytorch_bench.py --preset seed --int8 --tests forward,decode,load -b 1 -s 10 -r "$reps" \
      --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_seed_$1_$2.json"
    /usr/bin/python3 scripts/pytorch_bench.py --preset seed --int8 --tests forward -b 16 -s 35 -r "$reps" \
      --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_seed_b16_$1_$2.json"
    files+=("$out/bench_pytorch_seed_$1_$2.json" "$out/bench_pytorch_seed_b16_$1_$2.json")
    if [ -n "$model" ]; then
      /usr/bin/python3 scripts/pytorch_bench.py -m "$model" --int8 --tests eval --data "$data" --eval-tokens "$eval_tokens" \
        -r 3 --threads "$1" --blas-threads "$2" > "$out/bench_pytorch_eval_$1_$2.json"
      files+=("$out/bench_pytorch_eval_$1_$2.json")
    fi
  done
else
  echo "==> PyTorch is not installed (apt-get install python3-torch): wordlm numbers only" >&2
fi
python3 scripts/bench_compare.py "${files[@]}" --json "$out/bench_compare.json" | tee "$out/bench_compare.md"
