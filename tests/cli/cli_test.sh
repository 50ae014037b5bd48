#!/usr/bin/env bash
# Command-line behaviour of the tools on bad input: every case gets a clear message and the
# documented exit code (README "Exit codes"), never a crash or a signal. Usage:
#   cli_test.sh BIN_DIR SOURCE_DIR SECTION  (SECTION: usage | corpus | checkpoint | output | results | conventions | generate | score)
set -uo pipefail
BIN=$1
SRC=$2
SECTION=$3
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
n=0

# expect CODE PATTERN -- command...   (PATTERN must occur in stderr; "" = no check)
expect() {
  local code=$1 pat=$2
  shift 3
  n=$((n + 1))
  "$@" >"$T/out" 2>"$T/err" </dev/null
  local got=$?
  if [ "$got" != "$code" ]; then
    echo "FAIL [$*]: exit $got, expected $code"; sed 's/^/    /' "$T/err" | head -5; fails=$((fails + 1)); return
  fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then
    echo "FAIL [$*]: stderr lacks '$pat'"; sed 's/^/    /' "$T/err" | head -5; fails=$((fails + 1)); return
  fi
}

corpus() {  # corpus DIR TRAIN VALID TEST (printf formats)
  mkdir -p "$1"
  printf "$2" >"$1/train.txt"
  printf "$3" >"$1/valid.txt"
  printf "$4" >"$1/test.txt"
}

# a small valid corpus and model shared by the sections
"$BIN/lm-corpus" -q synth --output "$T/syn" --vocab 50 --fanout 4 --train-tokens 6000 --valid-tokens 1500 \
  --test-tokens 1500 >/dev/null || { echo "setup failed"; exit 1; }
"$BIN/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --save "$T/m.safetensors" --report /dev/null \
  || { echo "setup training failed"; exit 1; }

case "$SECTION" in
usage)
  expect 64 "data"            -- "$BIN/lm-train"
  expect 64 "not expected"    -- "$BIN/lm-train" --data "$T/syn" --bogus
  expect 0  ""                -- "$BIN/lm-train" --help
  grep -q "Usage: lm-train" "$T/out" || { echo "FAIL: --help text on stdout"; fails=$((fails + 1)); }
  for bad in "--emsize 0" "--nhid -3" "--nlayers 0" "--batch_size 0" "--bptt 0" "--epochs 0" "--dropout 1.5" \
             "--lr nan" "--lr -1" "--lr 0" "--clip -1" "--max-minutes -2" "--log-interval 0" "--threads 0" \
             "--threads 100000" "--optimizer rmsprop" "--preset huge" "--model GRU" "--max-vocab -1" \
             "--vocab-from both" "--lr-scaling quadratic" "--warmup-steps 5" "--lr-base-batch 4" \
             "--lr-scaling linear --lr-base-batch 0" "--lr-scaling linear --warmup-steps -1" \
             "--embedding-exchange all" "--gradient-exchange shm" "--threads -1" "--seed -1" "--seed 18446744073709551616" \
             "--weight-decay nan" "--weight-decay -1"; do
    # shellcheck disable=SC2086
    expect 64 "" -- "$BIN/lm-train" --data "$T/syn" $bad --save "$T/x.safetensors"
  done
  expect 74 "cannot write"    -- sh -c "exec \"\$0\" --help >/dev/full" "$BIN/lm-eval"
  expect 64 "--max-size must" -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --max-size inf
  # a folder named as an output: refused before any work
  t0=$(date +%s)
  expect 73 "is a directory"  -- "$BIN/lm-train" --data "$T/syn" --emsize 8 --nhid 8 --epochs 10000 -t 1 --save "$T/d.safetensors" --report "$T/syn"
  [ $(( $(date +%s) - t0 )) -lt 20 ] && [ ! -e "$T/d.safetensors" ] || { echo "FAIL: lm-train trained before refusing a folder as --report"; fails=$((fails + 1)); }
  expect 73 "is a directory"  -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/syn/test.txt" -o "$T/syn"
  expect 66 "is a directory"  -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/syn"
  expect 66 "is a directory"  -- "$BIN/lm-generate" -m "$T/m.safetensors" -f "$T/syn" -n 3
  expect 64 "nhid == emsize"  -- "$BIN/lm-train" --data "$T/syn" --tied --emsize 8 --nhid 16 --save "$T/x.safetensors"
  expect 64 "--init"          -- "$BIN/lm-train" --data "$T/syn" --qat --save "$T/x.safetensors"
  expect 64 "--qat only"      -- "$BIN/lm-train" --data "$T/syn" --bits 4 --save "$T/x.safetensors"
  expect 64 "4 or 8"          -- "$BIN/lm-train" --data "$T/syn" --qat --init "$T/m.safetensors" --bits 3 --save "$T/x.safetensors"
  expect 64 "exclude"         -- "$BIN/lm-train" --data "$T/syn" --init "$T/m.safetensors" --resume "$T/m.safetensors" --save "$T/x.safetensors"
  expect 66 ""                -- "$BIN/lm-train" --data "$T/syn" --qat --init "$T/missing.safetensors" --save "$T/x.safetensors"
  expect 64 "4 or 8"          -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/x.safetensors" --bits 3
  expect 64 "NAME=4"          -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/x.safetensors" --bits-for decoder.weight
  expect 64 "give a budget"   -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/x.safetensors" --data "$T/syn"
  expect 64 "--split"         -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/x.safetensors" --max-size 1 --data "$T/syn" --split dev
  expect 66 ""                -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/x.safetensors" --max-size 1 --data "$T/nowhere"
  # a calibrated budget: the report says how the error was measured, and two runs choose alike
  expect 0 ""                 -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/fit.safetensors" --max-size 0.009 --data "$T/syn" --calib-tokens 300
  grep -q '"error_measure": "mean_kl_from_fp32"' "$T/out" || { echo "FAIL: calibrated budget report"; fails=$((fails + 1)); }
  cp "$T/out" "$T/fit1.json"
  "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/fit2.safetensors" --max-size 0.009 --data "$T/syn" --calib-tokens 300 > "$T/fit2.json" 2>/dev/null
  python3 -c "import json,sys; a,b=(json.load(open(f))['size_plan']['choices'] for f in sys.argv[1:]); sys.exit(a!=b)" "$T/fit1.json" "$T/fit2.json" \
    || { echo "FAIL: a calibrated budget is not deterministic"; fails=$((fails + 1)); }
  expect 64 "preset"          -- "$BIN/lm-bench" --preset huge
  expect 64 "at least one model" -- "$BIN/lm-bench"
  expect 64 "-b: 0 is below 1" -- "$BIN/lm-bench" --preset seed -b 0
  expect 64 "-t: 0 is below 1" -- "$BIN/lm-bench" --preset seed -t 0
  expect 64 "ends before it starts" -- "$BIN/lm-bench" --preset seed -s 5-1
  expect 64 "-o must be"      -- "$BIN/lm-bench" --preset seed -o xml
  expect 71 "out of memory"   -- env ASAN_OPTIONS=allocator_may_return_null=1 "$BIN/lm-train" --data "$T/syn" --emsize 50000 --nhid 50000 --save "$T/x.safetensors"
  expect 64 "give --int8 too" -- "$BIN/lm-bench" --preset seed --embedding
  expect 64 "contradict"      -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --per-tensor --granularity per-row
  expect 64 "needs --bits 4"  -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --group 8
  expect 64 "given twice"     -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --bits-for decoder.weight=8 --bits-for decoder.weight=4
  expect 64 "both name"       -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --keep decoder.weight --bits-for decoder.weight=4
  expect 64 "unknown test"    -- "$BIN/lm-bench" --preset seed --tests speed
  expect 64 "needs --data"    -- "$BIN/lm-bench" --preset seed --tests eval
  expect 64 "-r must be at least 1" -- "$BIN/lm-bench" --preset seed -r 0
  expect 64 "batch-size"      -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" --batch-size 0
  expect 64 "bptt"            -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" --bptt 0
  expect 64 "either --data"   -- "$BIN/lm-eval" -m "$T/m.safetensors"
  expect 64 "--split"         -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" --split dev
  expect 64 "granularity"     -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --granularity per-column
  expect 64 "--keep"          -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q.safetensors" --keep rnn.bias_ih_l0
  expect 64 "same file"       -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/m.safetensors"
  expect 64 "same file"       -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" -o "$T/m.safetensors"
  expect 64 "same file as the input --data" -- "$BIN/lm-train" --data "$T/syn" --epochs 1 --save "$T/syn/train.txt"
  # every output against every input and every other output, before any work
  expect 64 "name the same file" -- "$BIN/lm-train" --data "$T/syn" --epochs 1 --save "$T/s.safetensors" --save-resume "$T/s.safetensors"
  expect 64 "same file as the input --data" -- "$BIN/lm-train" --data "$T/syn" --epochs 1 --save "$T/s.safetensors" --save-resume "$T/syn/valid.txt"
  expect 64 "same file as the input --data" -- "$BIN/lm-train" --data "$T/syn" --epochs 1 --save "$T/s.safetensors" --report "$T/syn/test.txt"
  expect 64 "name the same file" -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/q9.safetensors" --report "$T/q9.safetensors"
  expect 64 "same file as the input --compare" -- "$BIN/lm-eval" -m "$T/m.safetensors" --compare "$T/m2.safetensors" --data "$T/syn" --report "$T/m2.safetensors"
  expect 64 "same file as the input -m" -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/syn/test.txt" -o "$T/sc.jsonl" --report "$T/m.safetensors"
  expect 64 "same file as the input -m" -- "$BIN/lm-bench" -m "$T/m.safetensors" --report "$T/m.safetensors"
  expect 64 "same file as the input -f" -- "$BIN/lm-generate" -m "$T/m.safetensors" -f "$T/syn/test.txt" --outf "$T/syn/test.txt"
  [ -s "$T/syn/test.txt" ] && [ ! -e "$T/q9.safetensors" ] || { echo "FAIL: a refused output was written"; fails=$((fails + 1)); }
  expect 64 "vocabulary limit" -- "$BIN/lm-corpus" stats --data "$T/syn" --max-vocab -5
  # -v: the build and kernels at the start, time and memory at the end; not without it
  expect 0 "peak memory"      -- "$BIN/lm-eval" -v -m "$T/m.safetensors" --data "$T/syn" -t 1
  grep -q "| kernels " "$T/err" || { echo "FAIL: -v lacks the kernel line"; fails=$((fails + 1)); }
  expect 0 ""                 -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" -t 1
  ! grep -q "peak memory" "$T/err" || { echo "FAIL: detail without -v"; fails=$((fails + 1)); }
  ;;
corpus)
  # lm-corpus brown on a made-up package of ten tagged documents: tags stripped, lowercase,
  # punctuation dropped, numbers -> N, rare words -> <unk>; documents 9 and 10 are valid and test
  mkdir -p "$T/bp"
  for i in 01 02 03 04 05 06 07 08 09 10; do
    printf '\n\tThe/at-tl Dog/nn ran/vbd 42/cd times/nns ./.\n\n\tA/at cat/nn sat/vbd rare%s/jj ,/, too/ql ./.\n' "$i" >"$T/bp/ca$i"
  done
  n=$((n + 1))
  "$BIN/lm-corpus" -q brown --input "$T/bp" --output "$T/bo" --vocab 11 --report "$T/bo.json" \
    && [ "$(head -1 "$T/bo/train.txt")" = "the dog ran N times" ] \
    && [ "$(sed -n 2p "$T/bo/train.txt")" = "a cat sat <unk> too" ] \
    && [ "$(wc -l <"$T/bo/train.txt")" = 16 ] && [ "$(wc -l <"$T/bo/valid.txt")" = 2 ] && [ "$(wc -l <"$T/bo/test.txt")" = 2 ] \
    && "$BIN/lm-corpus" -q brown --input "$T/bp" --output "$T/bo2" --vocab 11 --report /dev/null \
    && cmp -s "$T/bo/train.txt" "$T/bo2/train.txt" \
    || { echo "FAIL: lm-corpus brown on a made-up package"; head -3 "$T/bo/train.txt"; fails=$((fails + 1)); }
  printf 'ok/nn x\377y/nn\n' >"$T/bp/ca05"
  expect 65 "ca05:1:8: invalid UTF-8" -- "$BIN/lm-corpus" brown --input "$T/bp" --output "$T/bo3"
  [ -e "$T/bo3/train.txt" ] && { echo "FAIL: lm-corpus brown wrote a corpus from bad bytes"; fails=$((fails + 1)); }
  expect 66 "does not exist"  -- "$BIN/lm-corpus" brown --input "$T/none" --output "$T/bo4"
  expect 66 "does not exist"  -- "$BIN/lm-train" --data "$T/none" --save "$T/x.safetensors"
  mkdir -p "$T/c1" && printf 'a b\n' >"$T/c1/train.txt" && printf 'a\n' >"$T/c1/valid.txt"
  expect 66 "test.txt"        -- "$BIN/lm-train" --data "$T/c1" --save "$T/x.safetensors"
  corpus "$T/c2" "" "a b\n" "a b\n"
  expect 65 "empty"           -- "$BIN/lm-train" --data "$T/c2" --save "$T/x.safetensors"
  corpus "$T/c3" "one\n" "a b c d e f g h i j k l m n o p q r s t u v\n" "a b c d e f g h i j k l m n o p q r s t u v\n"
  expect 65 "too few"         -- "$BIN/lm-train" --data "$T/c3" --save "$T/x.safetensors"
  corpus "$T/c4" "   \n  \t \n\n" "a\n" "a\n"
  expect 65 "too few"         -- "$BIN/lm-train" --data "$T/c4" --save "$T/x.safetensors"
  corpus "$T/c5" "ok fine\nbad \xff\xfe here\n" "a\n" "a\n"
  expect 65 "train.txt:2:5: invalid UTF-8" -- "$BIN/lm-train" --data "$T/c5" --save "$T/x.safetensors"
  corpus "$T/c6" "ok\nnul\000byte\n" "a\n" "a\n"
  expect 65 "train.txt:2:4: NUL byte" -- "$BIN/lm-train" --data "$T/c6" --save "$T/x.safetensors"
  # CRLF, BOM, a 1 MB line: accepted
  head -c 1000000 /dev/zero | tr '\0' 'x' >"$T/longword"
  { printf '\xef\xbb\xbfw1 w2\r\n'; for i in $(seq 1 500); do printf 'w%d ' $((i % 40)); done; printf '\r\n'; cat "$T/longword"; printf '\n'; } >"$T/t.txt"
  expect 0 "tokens"           -- "$BIN/lm-eval" -m "$T/m.safetensors" --file "$T/t.txt"
  # evaluation of text with no known word: works, warns
  printf 'zz yy xx ww vv uu tt ss rr qq pp oo nn mm ll kk jj ii hh gg ff ee dd cc bb\n' >"$T/oov.txt"
  expect 0 "no word of this text" -- "$BIN/lm-eval" -m "$T/m.safetensors" --file "$T/oov.txt" --batch-size 1
  printf 'w1 w2\n' >"$T/short.txt"
  expect 65 "too few"         -- "$BIN/lm-eval" -m "$T/m.safetensors" --file "$T/short.txt"
  expect 66 "cannot open"     -- "$BIN/lm-eval" -m "$T/m.safetensors" --file "$T/missing.txt"
  ;;
checkpoint)
  expect 66 "cannot open"     -- "$BIN/lm-eval" -m "$T/missing.safetensors" --data "$T/syn"
  : >"$T/empty.safetensors"
  expect 65 "shorter than the 8-byte" -- "$BIN/lm-eval" -m "$T/empty.safetensors" --data "$T/syn"
  expect 65 "not a regular file" -- "$BIN/lm-eval" -m "$T" --data "$T/syn"
  head -c 4096 /dev/urandom >"$T/noise.safetensors"
  expect 65 ""                -- "$BIN/lm-eval" -m "$T/noise.safetensors" --data "$T/syn"
  size=$(stat -c %s "$T/m.safetensors")
  head -c $((size - 10)) "$T/m.safetensors" >"$T/trunc.safetensors"
  expect 65 "truncated"       -- "$BIN/lm-eval" -m "$T/trunc.safetensors" --data "$T/syn"
  { cat "$T/m.safetensors"; printf 'EXTRA'; } >"$T/poly.safetensors"
  expect 65 "follow the last tensor" -- "$BIN/lm-quantize" -m "$T/poly.safetensors" -o "$T/q.safetensors"
  # a header claiming an enormous tensor: refused at once, no allocation
  python3 - "$T/huge.safetensors" <<'PY'
import json, struct, sys
h = json.dumps({"encoder.weight": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 4000000000000]}})
h += " " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h.encode() + b"\0" * 64)
PY
  expect 65 "truncated"       -- "$BIN/lm-bench" -m "$T/huge.safetensors"
  "$BIN/lm-quantize" -q -m "$T/m.safetensors" -o "$T/q.safetensors" --report /dev/null
  expect 64 "already quantized" -- "$BIN/lm-quantize" -m "$T/q.safetensors" -o "$T/q2.safetensors"
  expect 64 "resume checkpoint" -- "$BIN/lm-quantize" -m "$T/m.resume.safetensors" -o "$T/q3.safetensors"
  expect 64 "not a resume checkpoint" -- "$BIN/lm-train" --data "$T/syn" --resume "$T/m.safetensors" --save "$T/r.safetensors"
  # a resumed run keeps saving its best model where it did, from any folder, and refuses another --save
  mkdir -p "$T/r0" "$T/rs"
  "$BIN/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --save "$T/r0/m.safetensors" --report /dev/null
  expect 64 "resume without --save" -- "$BIN/lm-train" --data "$T/syn" --resume "$T/r0/m.resume.safetensors" --epochs 2 \
    --save "$T/other.safetensors"
  n=$((n + 1))
  (cd "$T/rs" && "$BIN/lm-train" --data ../syn --resume ../r0/m.resume.safetensors --epochs 2 -t 1 --report ../rr.json \
    >/dev/null 2>"$T/err") \
    && [ -z "$(ls -A "$T/rs")" ] \
    && python3 -c "import json,os,sys; r=json.load(open(sys.argv[1])); sys.exit(os.path.realpath(r['save'])!=os.path.realpath(sys.argv[2]))" \
         "$T/rr.json" "$T/r0/m.safetensors" \
    || { echo "FAIL: resume from another folder saves beside the original model"; ls -A "$T/rs"; head -3 "$T/err"; fails=$((fails + 1)); }
  # flags the resume checkpoint restores are ignored, with a warning that names them
  expect 0 "ignored: --emsize, --lr" -- "$BIN/lm-train" --data "$T/syn" --resume "$T/r0/m.resume.safetensors" --epochs 3 \
    --emsize 64 --lr 99 -t 1 --report "$T/rw.json"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r['config']['emsize'] != 8 or r['hyperparameters']['lr'] == 99)" \
    "$T/rw.json" || { echo "FAIL: --resume keeps the run's emsize and lr"; fails=$((fails + 1)); }
  mv "$T/r0/m.safetensors" "$T/r0/gone.safetensors"
  expect 64 "is not at"       -- "$BIN/lm-train" --data "$T/syn" --resume "$T/r0/m.resume.safetensors" --epochs 3
  ;;
output)
  expect 73 "does not exist"  -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/no/such/dir/q.safetensors"
  expect 73 "does not exist"  -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" -o "$T/no/dir/e.json"
  expect 73 "is a directory"  -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T"
  # a bad output path of lm-train is found before training, not after the epoch (a 1-minute run here)
  n=$((n + 1)); t0=$(date +%s)
  "$BIN/lm-train" --data "$T/syn" --emsize 8 --nhid 8 --epochs 10000 -t 1 --save "$T/t.safetensors" \
    --report "$T/no/dir/r.json" >/dev/null 2>"$T/err"; got=$?
  [ "$got" = 73 ] && grep -q "does not exist" "$T/err" && [ $(( $(date +%s) - t0 )) -lt 20 ] && [ ! -e "$T/t.safetensors" ] \
    || { echo "FAIL: lm-train --report in a missing folder: exit $got"; head -3 "$T/err"; fails=$((fails + 1)); }
  expect 73 "is not a directory" -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/m.safetensors/q.safetensors"
  # a read-only folder (root writes anyway, so as root the same check runs as nobody when setpriv can)
  mkdir -p "$T/ro" && chmod a-w "$T/ro"
  if [ "$(id -u)" != 0 ]; then
    expect 73 "cannot create"   -- "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/ro/q.safetensors"
  elif command -v setpriv >/dev/null && chmod a+rx "$T" && chmod a+r "$T/m.safetensors" \
       && setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/lm-quantize" --version >/dev/null 2>&1; then
    expect 73 "cannot create"   -- setpriv --reuid=65534 --regid=65534 --clear-groups \
      "$BIN/lm-quantize" -m "$T/m.safetensors" -o "$T/ro/q.safetensors"
  fi
  # stdout closed: the result cannot be written -> I/O error, exit 74
  n=$((n + 1))
  "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" -q >&- 2>"$T/err"
  got=$?
  if [ "$got" != 74 ]; then echo "FAIL [lm-eval with stdout closed]: exit $got, expected 74"; cat "$T/err"; fails=$((fails + 1)); fi
  # /dev/full: every write fails with ENOSPC
  n=$((n + 1))
  "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" -q >/dev/full 2>"$T/err"
  got=$?
  if [ "$got" != 74 ]; then echo "FAIL [lm-eval > /dev/full]: exit $got, expected 74"; cat "$T/err"; fails=$((fails + 1)); fi
  ;;
results)
  expect 0 "Final estimate: PPL" -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn"
  python3 -c "import json,sys; d=json.load(open('$T/out')); assert d['result']['ppl'] > 1" || { echo "FAIL: lm-eval JSON"; fails=$((fails + 1)); }
  expect 1 "above --max-ppl"  -- "$BIN/lm-eval" -m "$T/m.safetensors" --data "$T/syn" --max-ppl 1.5
  expect 0 ""                 -- "$BIN/lm-bench" -m "$T/m.safetensors" --int8 -b 1,2 -s 1-3 -r 2 -o csv
  python3 - "$T/out" <<'PY' || { echo "FAIL: lm-bench csv"; fails=$((fails + 1)); }
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2 * 2 * 3, len(rows)
assert rows[0]["impl"] == "wordlm" and float(rows[0]["ms_median"]) > 0
PY
  expect 0 ""                 -- "$BIN/lm-bench" -m "$T/m.safetensors" -r 2 -o jsonl
  python3 -c "import json; [json.loads(l) for l in open('$T/out')]" || { echo "FAIL: jsonl"; fails=$((fails + 1)); }
  expect 0 ""                 -- "$BIN/lm-bench" -m "$T/m.safetensors" -r 2 -o json --tests forward,decode,load
  python3 -c "import json; d=json.load(open('$T/out')); assert {r['kind'] for r in d['results']} == {'forward','decode','load'}" \
    || { echo "FAIL: json"; fails=$((fails + 1)); }
  expect 0 "| model |"        -- bash -c "\"$BIN/lm-bench\" -m \"$T/m.safetensors\" -r 2 -o md 1>&2"
  # lm-train --profile: the per-phase table on stderr and in the report; without it, no profile
  expect 0 "profile over 4 batches" -- "$BIN/lm-train" --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 2 \
    --max-batches 4 --profile --save "$T/p.safetensors"
  python3 - "$T/out" <<'PY' || { echo "FAIL: lm-train --profile report"; fails=$((fails + 1)); }
import json, sys
d = json.load(open(sys.argv[1]))
phases = {p["phase"]: p["ms_per_batch"] for p in d["profile"]}
for want in ("embedding, dropout, copies", "lstm forward: recurrence", "decoder forward", "softmax+loss",
             "decoder backward (weights)", "decoder backward (input)", "lstm backward: recurrence", "clip + optimizer"):
    assert want in phases, (want, sorted(phases))
assert all(v >= 0 for v in phases.values()) and sum(phases.values()) > 0, phases
PY
  expect 0 "" -- "$BIN/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --max-batches 2 --save "$T/p.safetensors"
  python3 -c "import json,sys; assert 'profile' not in json.load(open(sys.argv[1]))" "$T/out" \
    || { echo "FAIL: a profile in the report without --profile"; fails=$((fails + 1)); }
  ;;
conventions)
  # every tool: --version exits 0 and names the build; --report FILE writes its JSON report;
  # the earlier report spellings still work (hidden aliases)
  json_ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, dict) and d" "$1" \
    || { echo "FAIL: $1 is not a JSON report"; fails=$((fails + 1)); }; }
  for tool in lm-train lm-quantize lm-eval lm-bench lm-corpus lm-generate lm-score; do
    expect 0 "" -- "$BIN/$tool" --version
    for want in "$tool (wordlm)" "git revision" "build type" "compiler" "kernel ISA"; do
      grep -q "$want" "$T/out" || { echo "FAIL: $tool --version lacks '$want'"; fails=$((fails + 1)); }
    done
    expect 0 "" -- "$BIN/$tool" --help
    grep -q -- "--report" "$T/out" || { echo "FAIL: $tool --help lacks --report"; fails=$((fails + 1)); }
    grep -q -- "-o here means\|has no -o" "$T/out" || { echo "FAIL: $tool --help does not say what -o means"; fails=$((fails + 1)); }
  done
  expect 0 "" -- "$BIN/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --save "$T/c.safetensors" --report "$T/r-train.json"
  json_ok "$T/r-train.json"
  expect 0 "" -- "$BIN/lm-quantize" -q -m "$T/m.safetensors" -o "$T/cq.safetensors" --report "$T/r-quant.json"
  json_ok "$T/r-quant.json"
  expect 0 "" -- "$BIN/lm-eval" -q -m "$T/m.safetensors" --data "$T/syn" --report "$T/r-eval.json"
  json_ok "$T/r-eval.json"
  expect 0 "" -- "$BIN/lm-eval" -q -m "$T/m.safetensors" --data "$T/syn" -o "$T/r-eval-o.json"
  json_ok "$T/r-eval-o.json"
  expect 0 "" -- "$BIN/lm-bench" -q -m "$T/m.safetensors" -r 1 --report "$T/r-bench.json"
  json_ok "$T/r-bench.json"
  grep -q "| model |" "$T/out" || { echo "FAIL: lm-bench --report FILE should keep the table on stdout"; fails=$((fails + 1)); }
  expect 0 "" -- "$BIN/lm-bench" -q -m "$T/m.safetensors" -r 1 -o json --output-file "$T/r-bench-old.json"
  json_ok "$T/r-bench-old.json"
  expect 0 "" -- "$BIN/lm-corpus" -q --report "$T/r-corpus.json" stats --data "$T/syn"
  json_ok "$T/r-corpus.json"
  expect 0 "" -- "$BIN/lm-corpus" -q -o "$T/r-corpus-o.json" stats --data "$T/syn"
  json_ok "$T/r-corpus-o.json"
  expect 0 "" -- "$BIN/lm-bench" -q -v -m "$T/m.safetensors" -r 1 -t 1,2 -o csv
  [ "$(wc -l <"$T/out")" = 3 ] || { echo "FAIL: lm-bench -t 1,2 gives two rows"; fails=$((fails + 1)); }
  ;;
generate)
  "$BIN/lm-quantize" -q -m "$T/m.safetensors" -o "$T/m8.safetensors" --report /dev/null
  for bad in "--temperature 0" "--temperature -1" "--top-p 0" "--top-p 1.5" "--top-k -2" "--words -1" "-t 0"; do
    # shellcheck disable=SC2086
    expect 64 "" -- "$BIN/lm-generate" -m "$T/m.safetensors" $bad
  done
  expect 66 "cannot open"     -- "$BIN/lm-generate" -m "$T/missing.safetensors"
  expect 64 "stdout carries"  -- "$BIN/lm-generate" -m "$T/m.safetensors" --report -
  printf 'w1 \xff w2\n' >"$T/badprompt.txt"
  expect 65 "invalid UTF-8"   -- "$BIN/lm-generate" -m "$T/m.safetensors" -f "$T/badprompt.txt"
  # no seed: one is drawn and printed so the run can be repeated
  expect 0 "seed: "           -- "$BIN/lm-generate" -m "$T/m.safetensors" -n 5
  seed=$(grep -o 'seed: [0-9]*' "$T/err" | cut -d' ' -f2)
  cp "$T/out" "$T/g-noseed"
  expect 0 ""                 -- "$BIN/lm-generate" -m "$T/m.safetensors" -n 5 --seed "$seed"
  cmp -s "$T/out" "$T/g-noseed" || { echo "FAIL: --seed of the printed seed does not repeat the text"; fails=$((fails + 1)); }
  # the same seed: byte-identical text for every thread count, fp32 and int8; the words are the model's
  for m in m m8; do
    expect 0 "eval time"      -- "$BIN/lm-generate" -m "$T/$m.safetensors" -p "w3 w4 nosuchword" -n 200 --seed 5 --top-k 20 -t 1
    grep -q "1 word(s) of the prompt" "$T/err" || { echo "FAIL: unknown prompt word not reported"; fails=$((fails + 1)); }
    cp "$T/out" "$T/g1"
    expect 0 ""               -- "$BIN/lm-generate" -m "$T/$m.safetensors" -p "w3 w4 nosuchword" -n 200 --seed 5 --top-k 20 -t 2
    cmp -s "$T/out" "$T/g1" || { echo "FAIL: $m: -t 1 and -t 2 generate different text"; fails=$((fails + 1)); }
    head -c 18 "$T/g1" | grep -q "^w3 w4 nosuchword" || { echo "FAIL: the prompt is not echoed"; fails=$((fails + 1)); }
    python3 - "$T/g1" "$T/syn/train.txt" <<'PY' || { echo "FAIL: $m: generated text"; fails=$((fails + 1)); }
import sys
words = open(sys.argv[1]).read().split()[3:]
vocab = set(open(sys.argv[2]).read().split())
assert len(words) >= 150, len(words)            # 200 tokens, some of them <eos> (newlines)
assert all(w in vocab or w == "<unk>" for w in words)
assert "<eos>" not in words
PY
  done
  expect 0 ""                 -- "$BIN/lm-generate" -m "$T/m.safetensors" -n 50 --seed 1 --greedy --no-display-prompt -p w3 --outf "$T/g.txt" --report "$T/g.json"
  [ -s "$T/g.txt" ] && [ ! -s "$T/out" ] || { echo "FAIL: --outf"; fails=$((fails + 1)); }
  python3 -c "
import json,sys; d=json.load(open('$T/g.json'))
assert d['settings']['seed'] == 1 and d['settings']['greedy'] and d['generated_tokens'] == 50 and d['prompt']['text'] == 'w3', d
assert d['timing']['ms_per_token'] > 0 and d['prompt']['tokens'] == 2" || { echo "FAIL: lm-generate report"; fails=$((fails + 1)); }
  expect 0 ""                 -- "$BIN/lm-generate" -m "$T/m.safetensors" -n 500 --seed 2 --stop-at-eos --report "$T/ge.json"
  [ "$(wc -l <"$T/out")" -le 1 ] && grep -q '"eos"' "$T/ge.json" || { echo "FAIL: --stop-at-eos"; fails=$((fails + 1)); }
  ;;
score)
  "$BIN/lm-quantize" -q -m "$T/m.safetensors" -o "$T/m8.safetensors" --report /dev/null
  head -300 "$T/syn/test.txt" >"$T/s.txt"
  expect 64 "--format"        -- "$BIN/lm-score" -m "$T/m.safetensors" --format xml "$T/s.txt"
  # a vocabulary without <unk>: an unknown word is a bad line like invalid UTF-8 (place named,
  # earlier records written, --skip-invalid goes on)
  "$BIN/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --vocab-from all --save "$T/va.safetensors" --report /dev/null
  { head -2 "$T/s.txt"; echo "zzz $(head -1 "$T/s.txt")"; sed -n 3p "$T/s.txt"; } >"$T/unk.txt"
  expect 65 "unk.txt:3:1: the word 'zzz'" -- "$BIN/lm-score" -m "$T/va.safetensors" "$T/unk.txt"
  [ "$(wc -l <"$T/out")" = 2 ] || { echo "FAIL: lm-score wrote $(wc -l <"$T/out") records before the unknown word (2)"; fails=$((fails + 1)); }
  expect 0 ""                 -- "$BIN/lm-score" -m "$T/va.safetensors" --skip-invalid "$T/unk.txt"
  [ "$(grep -c '"skipped"' "$T/out")" = 1 ] && [ "$(wc -l <"$T/out")" = 4 ] \
    || { echo "FAIL: lm-score --skip-invalid with an unknown word"; cat "$T/out"; fails=$((fails + 1)); }
  expect 65 "unk.txt:3:1"     -- "$BIN/lm-generate" -m "$T/va.safetensors" -f "$T/unk.txt" -n 2
  expect 66 "cannot open"     -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/missing.txt"
  expect 64 ""                -- "$BIN/lm-score" -m "$T/m.safetensors" --batch-size 0 "$T/s.txt"
  expect 64 "no-eos"          -- "$BIN/lm-score" -m "$T/m.safetensors" --carry-state --no-eos "$T/s.txt"
  # one record per line, in input order; an empty line scores <eos> alone
  printf 'w1 w2 w3\n\nw4 nosuchword\n' >"$T/three.txt"
  expect 0 "3 lines"          -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/three.txt"
  python3 -c "
import json; r=[json.loads(l) for l in open('$T/out')]
assert [x['line'] for x in r] == [1,2,3] and [x['tokens'] for x in r] == [4,1,3] and r[2]['oov'] == 1, r
assert list(r[0]) == ['line','tokens','logprob','ppl','oov'] and all(x['logprob'] < 0 for x in r)" \
    || { echo "FAIL: records"; fails=$((fails + 1)); }
  expect 0 ""                 -- "$BIN/lm-score" -m "$T/m.safetensors" --no-eos --format tsv "$T/three.txt"
  [ "$(sed -n 3p "$T/out" | cut -f2,3)" = "$(printf '0\t0')" ] && head -1 "$T/out" | grep -q "^line" \
    || { echo "FAIL: tsv / --no-eos"; fails=$((fails + 1)); }
  # the same records for any thread count and batch size (int8: bit-identical), in input order
  for m in m m8; do
    expect 0 ""               -- "$BIN/lm-score" -m "$T/$m.safetensors" -t 1 --batch-size 64 "$T/s.txt"
    cp "$T/out" "$T/s1"
    expect 0 ""               -- "$BIN/lm-score" -m "$T/$m.safetensors" -t 2 --batch-size 5 --window 4 "$T/s.txt"
    if [ "$m" = m8 ]; then
      cmp -s "$T/out" "$T/s1" || { echo "FAIL: int8 scores depend on threads/batch"; fails=$((fails + 1)); }
    else
      python3 -c "
import json; a=[json.loads(l) for l in open('$T/s1')]; b=[json.loads(l) for l in open('$T/out')]
n = len(open('$T/s.txt').readlines()); assert n > 50 and len(a) == n and [x['line'] for x in b] == list(range(1, n + 1))
assert all(abs(x['logprob'] - y['logprob']) <= 1e-5 * abs(x['logprob']) for x, y in zip(a, b))" \
        || { echo "FAIL: fp32 scores depend on threads/batch"; fails=$((fails + 1)); }
    fi
  done
  # --carry-state totals lm-eval --file with batch size 1
  expect 0 ""                 -- "$BIN/lm-score" -m "$T/m.safetensors" --carry-state --report "$T/sc.json" "$T/s.txt"
  "$BIN/lm-eval" -q -m "$T/m.safetensors" --file "$T/s.txt" --batch-size 1 --report "$T/ev.json"
  python3 -c "
import json; s=json.load(open('$T/sc.json')); e=json.load(open('$T/ev.json'))['result']
assert s['tokens'] == e['tokens'], (s['tokens'], e['tokens'])
assert abs(-s['logprob'] - e['nll_mean'] * e['tokens']) <= 1e-6 * abs(s['logprob']), (s['logprob'], e)
r=[json.loads(l) for l in open('$T/out')]; assert sum(x['tokens'] for x in r) == s['tokens'] and len(r) == len(open('$T/s.txt').readlines())" \
    || { echo "FAIL: --carry-state vs lm-eval --file"; fails=$((fails + 1)); }
  # invalid text: exit 65 naming the line, every earlier record written; --skip-invalid goes on
  printf 'w1 w2\nw3\nw4 \xff\nw5\n' >"$T/bad.txt"
  expect 65 "bad.txt:3:4: invalid UTF-8" -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/bad.txt"
  [ "$(wc -l <"$T/out")" = 2 ] || { echo "FAIL: records before the bad line were lost"; fails=$((fails + 1)); }
  expect 65 "bad.txt:3:4: invalid UTF-8" -- "$BIN/lm-score" -m "$T/m.safetensors" --carry-state "$T/bad.txt"
  [ "$(wc -l <"$T/out")" = 2 ] || { echo "FAIL: --carry-state lost records before the bad line"; fails=$((fails + 1)); }
  printf 'w1\nw2\0w3\n' >"$T/nul.txt"
  expect 65 "NUL byte"        -- "$BIN/lm-score" -m "$T/m.safetensors" "$T/nul.txt"
  expect 0 ""                 -- "$BIN/lm-score" -m "$T/m.safetensors" --skip-invalid "$T/bad.txt" "$T/nul.txt"
  python3 -c "
import json; r=[json.loads(l) for l in open('$T/out')]
assert len(r) == 6 and 'skipped' in r[2] and 'skipped' in r[5] and r[4]['file'].endswith('nul.txt'), r" \
    || { echo "FAIL: --skip-invalid"; fails=$((fails + 1)); }
  # standard input, and -o
  expect 0 ""                 -- bash -c "cat \"$T/three.txt\" | \"$BIN/lm-score\" -q -m \"$T/m.safetensors\" -o \"$T/o.jsonl\" -"
  [ "$(wc -l <"$T/o.jsonl")" = 3 ] || { echo "FAIL: stdin / -o"; fails=$((fails + 1)); }
  ;;
*) echo "unknown section $SECTION"; exit 2 ;;
esac
echo "$SECTION: $((n - fails))/$n checks passed"
[ "$fails" = 0 ]
