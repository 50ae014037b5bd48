#!/usr/bin/env bash
# Packaging cannot rot: installs this build into a staging prefix, builds examples/embed out of
# tree against it twice (CMake's find_package, then pkg-config), and runs both on a small model.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/stage" >/dev/null
test -f "$T/stage/include/wordlm/wordlm.hpp"
test -x "$T/stage/bin/lm-score" && test -x "$T/stage/bin/lm-generate"
# no internal header is installed
if find "$T/stage/include" -name '*.hpp' | grep -v '/wordlm/'; then echo "FAIL: internal headers installed"; exit 1; fi

"$T/stage/bin/lm-corpus" -q synth --output "$T/syn" --vocab 50 --fanout 4 --train-tokens 6000 --valid-tokens 1500 \
  --test-tokens 1500 >/dev/null
"$T/stage/bin/lm-train" -q --data "$T/syn" --emsize 8 --nhid 8 --epochs 1 -t 1 --save "$T/m.safetensors" --report /dev/null
"$T/stage/bin/lm-quantize" -q --model "$T/m.safetensors" -o "$T/m8.safetensors" --report /dev/null

cmake -S "$SRC/examples/embed" -B "$T/cm" -DCMAKE_PREFIX_PATH="$T/stage" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$T/cm" >/dev/null
g++ -std=c++20 -O1 "$SRC/examples/embed/main.cpp" -o "$T/embed-pc" \
  $(PKG_CONFIG_PATH="$T/stage/lib/pkgconfig" pkg-config --cflags --libs wordlm)

sentence=$(head -1 "$T/syn/test.txt" | cut -d' ' -f1-5)
for m in "$T/m.safetensors" "$T/m8.safetensors"; do
  a=$("$T/cm/embed" "$m" "$sentence" 7)
  b=$("$T/embed-pc" "$m" "$sentence" 7)
  echo "$a"
  [ "$a" = "$b" ] || { echo "FAIL: the two builds disagree"; exit 1; }
  grep -q "^score: 6 tokens, logprob -" <<<"$a" || { echo "FAIL: no score line"; exit 1; }
  [ "$(grep '^generated:' <<<"$a" | wc -w)" -ge 6 ] || { echo "FAIL: too few generated words"; exit 1; }
  # the library's score is the tool's score
  want=$(printf '%s\n' "$sentence" | "$T/stage/bin/lm-score" -q -m "$m" --format tsv | tail -1 | cut -f3)
  got=$(grep -o 'logprob [-0-9.]*' <<<"$a" | cut -d' ' -f2)
  python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(a-b)<1e-3 else 1)" "$want" "$got" \
    || { echo "FAIL: library logprob $got, lm-score $want"; exit 1; }
done
"$T/cm/embed" "$T/missing.safetensors" >/dev/null 2>&1 && { echo "FAIL: a missing model was accepted"; exit 1; }
echo "install_test: ok"
