#!/usr/bin/env bash
# ctest onnx_export (label onnx): the ONNX export checked against wordlm in ONNX Runtime on real
# text (tests/fixtures/import_corpus). Models: the PyTorch-trained fixture (untied) and a tied
# model trained here in a second; their int8 files (per row, per tensor, with the embedding, a
# tied model's separate int8 decoder, a mixed file) and a 4-bit file (--dequantize-4bit); fp32,
# decode and LogSoftmax graphs; int8 graphs in all three weight encodings u8, s7, s8
# (scripts/ort_verify.py's criteria).
# Negative controls: a graph with PyTorch's gate order left unpermuted must fail the fp32
# check, a 4-bit file without --dequantize-4bit must be refused (64), an impossible tolerance
# must fail (1). SKIPPED (exit 77, saying why) without python3-onnx/numpy, node or ORT, unless
# WORDLM_REQUIRE_ORT=1, which makes that a failure (1).
# Mode "saturation" (ctest onnx_saturation, labels onnx and slow): ORT run by qemu-user on an
# emulated CPU without VNNI (EPYC-Milan, $WORDLM_NO_VNNI_CPU), where the s8 graph must fail the
# int8 criteria (saturation) and the u8 and s7 graphs must pass; skipped without qemu-x86_64.
#   tests/onnx_test.sh BUILD_DIR SOURCE_DIR [saturation]
set -uo pipefail
bin=$1
src=$2
py=${WORDLM_PYTHON:-/usr/bin/python3}
skip() { echo "SKIPPED: $*"; exit 77; }
# WORDLM_REQUIRE_ORT=1 (scripts/test.sh sets it, after setup.sh has installed them): a missing
# ONNX toolchain is a failure, not a skip, so that a broken install step cannot pass unnoticed
need() {
  if [ "${WORDLM_REQUIRE_ORT:-0}" = 1 ]; then echo "FAIL (WORDLM_REQUIRE_ORT=1): $*"; exit 1; fi
  skip "$@"
}
"$py" -c "import onnx, numpy" 2>/dev/null || need "python3-onnx or python3-numpy is not installed (scripts/setup.sh test installs them)"
command -v node >/dev/null 2>&1 || need "node is not installed (scripts/setup.sh test installs nodejs)"
"$src/scripts/setup_ort.sh" --check 2>/dev/null || need "ONNX Runtime (npm onnxruntime-node) is not installed: run scripts/setup_ort.sh"
[ -x "$bin/tests/wordlm_logits" ] || { echo "FAIL: $bin/tests/wordlm_logits was not built"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() {  # check NAME EXPECTED_EXIT CMD...
  local name=$1 want=$2
  shift 2
  "$@" > "$work/out.txt" 2> "$work/err.txt"
  local rc=$?
  if [ "$rc" = "$want" ]; then
    echo "ok   $name (exit $rc)"
  else
    echo "FAIL $name: exit $rc, expected $want"
    cat "$work/out.txt" "$work/err.txt"
    fails=$((fails + 1))
  fi
}
corpus=$src/tests/fixtures/import_corpus
fix=$src/tests/fixtures/import_model.safetensors
q() { "$bin/lm-quantize" -q --report /dev/null "$@"; }
verify=("$py" "$src/scripts/ort_verify.py" --logits-tool "$bin/tests/wordlm_logits" --data "$corpus" --windows 0)

if [ "${3:-}" = saturation ]; then
  command -v qemu-x86_64 >/dev/null 2>&1 || skip "qemu-x86_64 is not installed (apt-get install qemu-user): it runs ORT on an emulated CPU without VNNI"
  cpu=${WORDLM_NO_VNNI_CPU:-EPYC-Milan}
  q -m "$fix" -o "$work/untied.int8.safetensors"
  check "on an emulated $cpu: the s8 graph fails, u8 and s7 pass" 1 "${verify[@]}" --int8 "$work/untied.int8.safetensors" \
    --int8-weights u8,s7,s8 --no-decode --node "qemu-x86_64 -cpu $cpu node" --json "$work/sat.json"
  cat "$work/out.txt"
  check "exactly the s8 row failed" 0 "$py" -c '
import json, sys
rows = {r["graph"]: r["ok"] for r in json.load(open(sys.argv[1]))["rows"]}
want = {"int8 u8 sequence": True, "int8 s7 sequence": True, "int8 s8 sequence": False}
print(rows)
sys.exit(0 if rows == want else 1)' "$work/sat.json"
  [ "$fails" = 0 ] && { echo "onnx_saturation: all checks passed"; exit 0; }
  echo "onnx_saturation: $fails check(s) failed"
  exit 1
fi

"$bin/lm-train" --data "$corpus" --emsize 32 --nhid 32 --tied --epochs 3 --dropout 0 -t 1 -q \
  --save "$work/tied.safetensors" --report /dev/null || { echo "FAIL: training the tied model"; exit 1; }
q -m "$fix" -o "$work/untied.int8.safetensors"
q -m "$fix" -o "$work/untied.pt.safetensors" --per-tensor
q -m "$work/tied.safetensors" -o "$work/tied.int8.safetensors"
q -m "$work/tied.safetensors" -o "$work/tied.int8e.safetensors" --embedding
q -m "$work/tied.safetensors" -o "$work/tied.mix.safetensors" --keep rnn.weight_hh_l0
q -m "$work/tied.safetensors" -o "$work/tied.q4.safetensors" --bits 4 --embedding

check "untied: fp32, int8 per row and per tensor, u8/s7/s8 graphs" 0 \
  "${verify[@]}" --fp32 "$fix" --int8 "$work/untied.int8.safetensors" --int8 "$work/untied.pt.safetensors" \
  --int8-weights u8,s7,s8 --from-fp32 s7 --work "$work/v_untied"
cat "$work/out.txt"
check "tied: fp32, int8, int8 embedding, mixed, 4-bit dequantized" 0 \
  "${verify[@]}" --fp32 "$work/tied.safetensors" --int8 "$work/tied.int8.safetensors" --int8 "$work/tied.int8e.safetensors" \
  --int8 "$work/tied.mix.safetensors" --int8 "$work/tied.q4.safetensors" --dequantize-4bit --int8-weights u8,s7
cat "$work/out.txt"

# the exporter records its int8 choice, and the graphs pass onnx.checker
check "metadata_props carry the int8 encoding; codes in range; onnx.checker passes" 0 "$py" - "$src" "$work" <<'EOF'
import json, subprocess, sys
import numpy as np
import onnx
from onnx import numpy_helper
src, work = sys.argv[1], sys.argv[2]
ck = f"{work}/tied.int8.safetensors"
sys.path.insert(0, f"{src}/scripts/lib")
import wordlm_st
_, raw = wordlm_st.read_raw(ck)
dtype, shape, blob = raw["rnn.weight_ih_l0"]
q8 = np.frombuffer(blob, dtype=np.int8).reshape(shape)
H = q8.shape[0] // 4
onnx_rows = np.concatenate([q8[k * H:(k + 1) * H] for k in (0, 3, 1, 2)])  # i,f,g,o -> i,o,f,c
for enc in ("u8", "s7", "s8"):
    out = f"{work}/m_{enc}.onnx"
    p = subprocess.run([sys.executable, f"{src}/scripts/export_onnx.py", "-m", ck, "-o", out,
                        "--int8-weights", enc, "--check"], capture_output=True, text=True, check=True)
    assert f"int8 weights: {enc}" in p.stderr, p.stderr
    for path in (out, out.replace(".onnx", ".decode.onnx")):
        m = onnx.load(path)
        props = {p.key: p.value for p in m.metadata_props}
        assert props["wordlm.int8_weights"] == enc, props
        ops = {n.op_type for n in m.graph.node}
        assert {"DynamicQuantizeLSTM", "DynamicQuantizeMatMul"} <= ops, ops
        w = numpy_helper.to_array(next(i for i in m.graph.initializer if i.name == "rnn.l0.W"))[0].T  # [4H, K]
        if enc == "s7":
            assert w.dtype == np.int8 and int(np.abs(w).max()) == 63, "s7: 7-bit codes, the row maxima at 63"
        else:  # u8 and s8 carry wordlm's codes exactly, permuted to ONNX's gate order
            codes = w.astype(np.int16) - (128 if enc == "u8" else 0)
            assert w.dtype == (np.uint8 if enc == "u8" else np.int8) and (codes == onnx_rows).all(), enc
print("metadata and checker ok")
EOF

# negative control: the fp32 graph with layer 0's gate blocks left in PyTorch's order must fail
check "negative control: unpermuted gates differ from wordlm" 0 "$py" - "$src" "$work" <<'EOF'
import os, subprocess, sys
import numpy as np
import onnx
from onnx import numpy_helper
src, work = sys.argv[1], sys.argv[2]
v = f"{work}/v_untied"
m = onnx.load(f"{v}/fp32.onnx")
H = 32
for init in m.graph.initializer:
    if init.name in ("rnn.l0.W", "rnn.l0.R"):
        a = numpy_helper.to_array(init)  # [1, 4H, K] in ONNX order i,o,f,c; put it back to i,f,g,o
        back = np.concatenate([a[:, 0:H], a[:, 2 * H:3 * H], a[:, 3 * H:4 * H], a[:, H:2 * H]], axis=1)
        init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(back), init.name))
onnx.save(m, f"{work}/bad.onnx")
subprocess.run(["node", f"{src}/scripts/ort_run.mjs", "--model", f"{work}/bad.onnx", "--ids", f"{v}/ids.i32", "--targets",
                f"{v}/targets.i32", "--steps", "35", "--batch", "10", "--out", f"{work}/bad"], check=True, capture_output=True)
bad = np.fromfile(f"{work}/bad.logits.f32", dtype="<f4")
ref = np.fromfile(f"{v}/wordlm.fp32.logits.f32", dtype="<f4")
d = float(np.abs(bad - ref).max())
print(f"unpermuted gates: max |logit diff| {d:.3g}")
sys.exit(0 if d > 1e-2 else 1)
EOF
check "a 4-bit file without --dequantize-4bit is refused" 64 \
  "$py" "$src/scripts/export_onnx.py" -m "$work/tied.q4.safetensors" -o "$work/q4.onnx"
grep -q "dequantize-4bit" "$work/err.txt" || { echo "FAIL: the refusal does not name --dequantize-4bit"; fails=$((fails + 1)); }
check "an impossible fp32 tolerance fails the check" 1 \
  "${verify[@]}" --fp32 "$fix" --no-decode --tol 1e-12 --windows 2
grep -q "FAIL" "$work/out.txt" || { echo "FAIL: the failing row is not marked in the table"; fails=$((fails + 1)); }
check "ort_verify without a model is a usage error" 64 "${verify[@]}"

if [ "$fails" -gt 0 ]; then
  echo "onnx_export: $fails check(s) failed"
  exit 1
fi
echo "onnx_export: all checks passed"
