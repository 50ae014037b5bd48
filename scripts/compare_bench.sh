#!/usr/bin/env bash
# Side-by-side benchmark of wordlm, ONNX Runtime and PyTorch on this machine, as the issues define it:
#   - seed model (V5000 E256 H512 L2, random weights): b1 x s10 forward, decode, b16 x s35, load
#   - a trained checkpoint (--model FILE, e.g. the small model): eval throughput on --data
# at 1 and 2 threads; ORT (when scripts/setup_ort.sh installed it, and python3-onnx is there) at
# 1 and 2 intra-op threads on graphs from scripts/export_onnx.py: fp32, and int8 in the exporter's
# three weight encodings u8, s7, s8 (docs/onnx.md; the same weights: random seed weights, or --model quantized by the exporter as
# lm-bench --int8 does); PyTorch at torch/OpenBLAS settings 1/1, 1/2, 2/2 (passive). Writes JSON
# to --out (default reports/compare/, apart from the demo's reports/, whose files it would otherwise
# replace; graphs to --onnx-dir) and prints the merged markdown table (scripts/bench_compare.py).
#
#   scripts/compare_bench.sh [--model FILE --data DIR] [--reps R] [--rounds N] [--eval-tokens N] [--out DIR] [--onnx-dir DIR]
#                            [--no-torch] [--no-ort]     (leave a peer out, e.g. to keep a run short)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model= data= reps=5 rounds=3 eval_tokens=20000 out=reports/compare onnx_dir=runs/onnx_bench use_torch=1 use_ort=1
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --eval-tokens) eval_tokens=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --onnx-dir) onnx_dir=$2; shift 2 ;;
    --no-torch) use_torch=0; shift ;;
    --no-ort) use_ort=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "compare_bench.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
if [ -n "$model" ] && [ -z "$data" ]; then echo "compare_bench.sh: --model needs --data DIR (the eval corpus)" >&2; exit 64; fi
if [ -z "$model" ] && [ -n "$data" ]; then echo "compare_bench.sh: --data is only used with --model FILE" >&2; exit 64; fi
if [ -n "$model" ] && [ ! -f "$model" ]; then echo "compare_bench.sh: $model: no such file" >&2; exit 66; fi
if [ -n "$data" ] && [ ! -f "$data/test.txt" ] && [ ! -f "$data/valid.txt" ]; then
  echo "compare_bench.sh: $data: no corpus there (train/valid/test.txt)" >&2; exit 66
fi
mkdir -p "$out"
rm -f "$out"/bench_wordlm_*.json "$out"/bench_pytorch_*.json "$out"/bench_ort_*.json
bench=$root/build/lm-bench
have_torch=0
[ "$use_torch" = 1 ] && /usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
[ "$use_torch" = 1 ] && [ "$have_torch" = 0 ] && echo "==> PyTorch is not installed (apt-get install python3-torch): no PyTorch columns" >&2
have_ort=0
if [ "$use_ort" = 0 ]; then
  :
elif /usr/bin/python3 -c "import onnx, numpy" 2>/dev/null && scripts/setup_ort.sh --check 2>/dev/null; then
  have_ort=1
  echo "==> exporting ONNX graphs for ONNX Runtime to $onnx_dir" >&2
  mkdir -p "$onnx_dir"
  export_graphs() {  # NAME SOURCE-ARGS...: fp32 and int8 u8/s7/s8 graphs of the same weights, with LogSoftmax
    local name=$1; shift
    /usr/bin/python3 scripts/export_onnx.py "$@" --log-softmax -o "$onnx_dir/$name.onnx" >/dev/null
    for enc in u8 s7 s8; do
      /usr/bin/python3 scripts/export_onnx.py "$@" --quantize --int8-weights "$enc" --log-softmax \
        -o "$onnx_dir/$name.int8.$enc.onnx" > /dev/null 2>&1
    done
  }
  export_graphs seed --preset seed
  [ -n "$model" ] && export_graphs model -m "$model"
  ort() {  # NAME LABEL OUT-PREFIX ARGS...: ort_bench.mjs on the three graphs of NAME at 1 and 2 threads
    local name=$1 label=$2 prefix=$3; shift 3
    for t in 1 2; do
      node scripts/ort_bench.mjs -m "$onnx_dir/$name.onnx" -m "$onnx_dir/$name.int8.u8.onnx" -m "$onnx_dir/$name.int8.s7.onnx" \
        -m "$onnx_dir/$name.int8.s8.onnx" \
        --label "$label" --threads "$t" "$@" > "${prefix}_$t.json" 2>/dev/null
    done
  }
else
  echo "==> ONNX Runtime is not installed (scripts/setup_ort.sh; python3-onnx): no ORT columns" >&2
fi

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
  [ "$have_ort" = 1 ] && ort seed seed "$out/bench_ort_seed_r$round" --tests forward,decode,load -b 1 -s 10 -r "$reps"
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
  [ "$have_ort" = 1 ] && ort seed seed "$out/bench_ort_seed_b16_r$round" --tests forward -b 16 -s 35 -r "$reps"
  if [ -n "$model" ]; then
    echo "==> round $round/$rounds: eval throughput of $model" >&2
    [ "$have_ort" = 1 ] && ort model "$(basename "$model")" "$out/bench_ort_eval_r$round" --tests eval --data "$data" \
      --eval-tokens "$eval_tokens" -r 3
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
python3 scripts/bench_compare.py "$out"/bench_wordlm_*.json $( [ "$have_ort" = 1 ] && echo "$out"/bench_ort_*.json ) \
  $( [ "$have_torch" = 1 ] && echo "$out"/bench_pytorch_*.json ) \
  --json "$out/bench_compare.json" | tee "$out/bench_compare.md"
