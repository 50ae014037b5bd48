#!/usr/bin/env python3
"""Exports a wordlm checkpoint (fp32, int8 or mixed; 4-bit only with --dequantize-4bit) as ONNX
graphs that ONNX Runtime runs: a full-sequence graph and a one-step decode graph. Needs Debian's
python3-onnx and python3-numpy, not torch (PyTorch's own exporter fails on quantized LSTMs,
pytorch/pytorch#35536). Graph contract and the int8 choices: docs/onnx.md.

  /usr/bin/python3 scripts/export_onnx.py -m runs/demo/small.safetensors -o runs/onnx/small.onnx
  /usr/bin/python3 scripts/export_onnx.py -m runs/demo/small.int8.safetensors -o runs/onnx/small.int8.onnx
  /usr/bin/python3 scripts/export_onnx.py -m runs/demo/small.safetensors --quantize -o runs/onnx/small.q.onnx
  /usr/bin/python3 scripts/export_onnx.py --preset seed --quantize --int8-weights s8 -o /tmp/seed.int8.onnx

Graphs (both written unless --only): OUT (sequence) and OUT with ".onnx" -> ".decode.onnx".
  inputs   ids int64 [T, B] (sequence first, as PyTorch's RNNModel and lm-eval's windows; the
           decode graph takes [1, B]); h0, c0 float [L, B, H] (zeros for a fresh start)
  outputs  logits float [T, B, V] (log_probs with --log-softmax); hn, cn float [L, B, H]
Operators: embedding Gather (int8 table: Gather + Cast + Gather of the per-row scales + Mul,
exactly wordlm's float(q) * scale); per layer one ONNX LSTM (fp32) or com.microsoft
DynamicQuantizeLSTM (int8, per-channel scales = wordlm's per-row scales, gate rows permuted from
PyTorch's i,f,g,o to ONNX's i,o,f,c); decoder MatMul + Add (fp32) or com.microsoft
DynamicQuantizeMatMul (int8, per-column scales); optional LogSoftmax.

int8 weights (--int8-weights): ONNX Runtime quantizes activations to full-range u8 at run time.
On x86 CPUs without VNNI its u8 x s8 kernel multiplies with vpmaddubsw, whose 16-bit pair sums
saturate once |w| > 63 (measured: docs/onnx.md). A graph is written on one machine and run on
others, so the encodings are:
  u8  (default) wordlm's 8-bit codes exactly, stored as uint8 with zero point 128: ORT runs its
      u8 x u8 kernels, which widen to 16 bits before multiplying and cannot saturate; the same
      results on every CPU, slower than the signed kernels
  s7  7-bit signed codes, each row re-quantized to [-63, 63] (from the fp32 weights with
      --quantize, else from the file's int8 codes): u8 x s8 kernels, cannot saturate
      (255 * 63 * 2 < 32768), the same results on every CPU, one bit less precise
  s8  wordlm's codes as int8: u8 x s8 kernels, exact where ORT has VNNI (or ARM) kernels,
      saturates on x86 CPUs without VNNI
  auto  s8 when the exporting CPU has VNNI, else u8
The choice is printed on stderr and stored in the model's metadata_props (wordlm.int8_weights).

What the precision of each tensor follows: the file (an int8 tensor exports as int8, an fp32 one
as fp32); --quantize makes the fp32 LSTM and decoder weights int8 (the embedding stays fp32, as
lm-quantize without --embedding). An LSTM layer with one int8 and one fp32 matrix runs as an fp32
LSTM on the dequantized int8 matrix (said on stderr). 4-bit tensors are refused (exit 64) unless
--dequantize-4bit, which exports them as the fp32 values code * scale.

stdout: a JSON summary of what was written; logs on stderr. Exit codes: 0 ok, 64 usage (bad flag,
4-bit input without --dequantize-4bit), 65 malformed checkpoint, 66 input missing, 69 python3-onnx
or numpy missing, 73 output cannot be written.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import wordlm_spec  # noqa: E402
import wordlm_st  # noqa: E402

EX_USAGE, EX_DATA, EX_NOINPUT, EX_UNAVAILABLE, EX_CANTCREAT = 64, 65, 66, 69, 73
PRESETS = {"seed": (5000, 256, 512, 2), "small": (10000, 200, 200, 2), "medium": (10000, 650, 650, 2)}
OPSET = 17
ONNX_GATES = [0, 3, 1, 2]  # ONNX block k takes PyTorch block ONNX_GATES[k]: i,o,f,c <- i,f,g,o


class Fail(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def log(msg):
    print(f"export_onnx: {msg}", file=sys.stderr)


# ---- the checkpoint as numpy matrices --------------------------------------------------------

class Mat:
    """A weight matrix [rows, cols]: fp32 values (f32), or int8 codes (q) with one scale per row."""

    def __init__(self, f32=None, q=None, scale=None, origin=""):
        self.f32, self.q, self.scale, self.origin = f32, q, scale, origin

    @property
    def is_int8(self):
        return self.q is not None

    def values(self):
        """fp32 values; for int8, float(q) * scale rounded once, as wordlm dequantizes."""
        if self.f32 is not None:
            return self.f32
        return self.q.astype(np.float32) * self.scale[:, None]


def load_checkpoint(path, dequantize_4bit):
    """(config, vocab, {name: Mat or 1-D float32 array}, notes) of a wordlm checkpoint."""
    if not os.path.exists(path):
        raise Fail(EX_NOINPUT, f"{path}: no such file")
    try:
        meta, raw = wordlm_st.read_raw(path)
    except OSError as e:
        raise Fail(EX_NOINPUT, f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise Fail(EX_DATA, str(e)) from None
    if meta.get("format") != "wordlm" or meta.get("kind", "model") != "model":
        raise Fail(EX_DATA, f"{path}: not a wordlm model checkpoint (format {meta.get('format')!r}, kind {meta.get('kind')!r})")
    try:
        config = json.loads(meta["config"])
        vocab = json.loads(meta["vocab"])
        quant = json.loads(meta.get("quantization", "{}") or "{}")
    except (KeyError, json.JSONDecodeError) as e:
        raise Fail(EX_DATA, f"{path}: bad metadata ({e})") from None
    if config.get("rnn_type", "LSTM") != "LSTM":
        raise Fail(EX_DATA, f"{path}: only LSTM models export, not {config.get('rnn_type')}")

    def arr(name, want_dtype=None):
        if name not in raw:
            raise Fail(EX_DATA, f"{path}: missing tensor {name}")
        dtype, shape, blob = raw[name]
        if want_dtype and dtype not in want_dtype:
            raise Fail(EX_DATA, f"{path}: {name} is {dtype}, expected {' or '.join(want_dtype)}")
        np_dtype = {"F32": np.float32, "I8": np.int8, "U8": np.uint8, "F16": np.float16}[dtype]
        return dtype, np.frombuffer(blob, dtype=np.dtype(np_dtype).newbyteorder("<")).reshape(shape)

    groups = quant.get("int4_tensors", {}) if isinstance(quant, dict) else {}
    notes, out = [], {}

    def matrix(spec):
        name, (rows, cols) = spec["name"], spec["shape"]
        dtype, a = arr(name, ("F32", "I8", "U8"))
        if dtype == "F32":
            if list(a.shape) != [rows, cols]:
                raise Fail(EX_DATA, f"{path}: {name} has shape {list(a.shape)}, expected {[rows, cols]}")
            return Mat(f32=a.astype(np.float32), origin="fp32")
        if dtype == "I8":
            _, s = arr(wordlm_spec.scale_name(name), ("F32",))
            s = s.reshape(-1).astype(np.float32)
            if s.size == 1:
                s = np.full(rows, s[0], dtype=np.float32)  # per tensor: the same scale on every row
            if list(a.shape) != [rows, cols] or s.size != rows:
                raise Fail(EX_DATA, f"{path}: {name} has shape {list(a.shape)} with {s.size} scales, expected {[rows, cols]}")
            return Mat(q=a.astype(np.int8), scale=s, origin="int8")
        # 4-bit: packed nibble pairs + F16 scales per row and group (docs/checkpoint.md)
        if not dequantize_4bit:
            raise Fail(EX_USAGE, f"{path}: {name} is 4-bit, which has no ONNX Runtime operator here; "
                       "give --dequantize-4bit to export it as fp32 (code * scale)")
        g = int(groups.get(name, {}).get("group_size", 0))
        _, s = arr(wordlm_spec.scale_name(name), ("F16",))
        if g <= 0 or cols % g or list(a.shape) != [rows, cols // 2] or list(s.shape) != [rows, cols // g]:
            raise Fail(EX_DATA, f"{path}: 4-bit {name} has shape {list(a.shape)}, scales {list(s.shape)}, group {g}")
        codes = np.empty((rows, cols), dtype=np.int8)
        codes[:, 0::2] = (a & 0x0F).astype(np.int8) - 8
        codes[:, 1::2] = (a >> 4).astype(np.int8) - 8
        scale = np.repeat(s.astype(np.float32), g, axis=1)
        notes.append(f"{name}: 4-bit (group {g}) dequantized to fp32")
        return Mat(f32=codes.astype(np.float32) * scale, origin="4-bit, dequantized")

    for spec in wordlm_spec.param_specs(config):
        if spec["quantizable"]:
            out[spec["name"]] = matrix(spec)
        else:
            _, v = arr(spec["name"], ("F32",))
            out[spec["name"]] = v.reshape(-1).astype(np.float32)
    if config["tied"] and "decoder.weight" in raw:  # a tied model quantized without --embedding
        out["decoder.weight"] = matrix(wordlm_spec.tied_decoder_copy(config))
    return config, vocab, out, notes


def random_model(preset, seed=1):
    """A model of a preset with PyTorch RNNModel's initialization (uniform), for speed runs."""
    V, E, H, L = PRESETS[preset]
    cfg = {"vocab_size": V, "emsize": E, "nhid": H, "nlayers": L, "tied": False, "dropout": 0.0, "rnn_type": "LSTM"}
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    out = {}
    for spec in wordlm_spec.param_specs(cfg):
        shape = spec["shape"]
        if spec["role"] in ("embedding", "decoder_weight"):
            v = rng.uniform(-0.1, 0.1, shape)
        elif spec["role"] == "decoder_bias":
            v = np.zeros(shape)
        else:
            v = rng.uniform(-k, k, shape)
        v = v.astype(np.float32)
        out[spec["name"]] = Mat(f32=v, origin="fp32") if spec["quantizable"] else v
    return cfg, [f"w{i}" for i in range(V)], out, [f"random weights of preset {preset} (seed {seed})"]


# ---- int8 -------------------------------------------------------------------------------------

def quantize_rows(w, qmax):
    """wordlm's symmetric per-row scheme at qmax (127: 8 bits, 63: 7 bits): scale = max|w| / qmax,
    q = clamp(round_half_even(w / scale), -qmax, qmax); an all-zero row gets scale 1."""
    m = np.abs(w).max(axis=1).astype(np.float32)
    scale = np.where(m > 0, m / np.float32(qmax), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -qmax, qmax).astype(np.int8)
    return q, scale


def to_int8(mat, enc):
    """(codes [rows, cols] as stored: int8 for s7/s8, uint8 (+128) for u8; zero point; scales
    [rows] float32; how) of a matrix in the chosen encoding."""
    src = "the file's int8 codes" if mat.is_int8 else "the fp32 weights"
    if mat.is_int8 and enc != "s7":
        q, s, how = mat.q, mat.scale, "wordlm's int8 codes, exact"
    else:
        q, s = quantize_rows(mat.values(), 63 if enc == "s7" else 127)
        how = f"{'7' if enc == 's7' else '8'}-bit, quantized per row from {src}"
    if enc == "u8":
        return (q.astype(np.int16) + 128).astype(np.uint8), np.uint8(128), s, how + ", stored as uint8 + 128"
    return q, np.int8(0), s, how


def cpu_vnni():
    """(has VNNI, what was found): x86 flags avx512_vnni / avx_vnni; None when not an x86 Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    except OSError:
        flags = None
    if flags is None:
        return None, "no x86 CPU flags in /proc/cpuinfo"
    found = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    if found:
        return True, "this CPU has " + ", ".join(found)
    return False, "this CPU has " + ("AVX2" if "avx2" in flags else "no AVX2") + " but no VNNI"


SATURATION = ("ONNX Runtime's u8 x s8 kernel on x86 CPUs without VNNI (vpmaddubsw) saturates its 16-bit pair "
              "sums with full-range signed weights")


ENCODINGS = {
    "u8": "8-bit codes as uint8 with zero point 128 (u8 x u8 kernels: exact on every CPU)",
    "s7": "7-bit signed codes (u8 x s8 kernels: no saturation on any CPU, one bit less precise)",
    "s8": "8-bit signed codes (u8 x s8 kernels: exact with VNNI or on ARM, saturates on x86 without VNNI)",
}


def resolve_encoding(choice):
    """(encoding, why) for --int8-weights."""
    if choice != "auto":
        why = "default" if choice == "u8" else f"--int8-weights {choice}"
        return choice, f"{why}: {ENCODINGS[choice]}"
    vnni, found = cpu_vnni()
    if vnni:
        return "s8", f"auto: {found}: {ENCODINGS['s8']}"
    return "u8", f"auto: {found}; {SATURATION}: {ENCODINGS['u8']}"


# ---- the graph --------------------------------------------------------------------------------

def permute_gates(a, H):
    """Rows (or a vector) in PyTorch's i,f,g,o blocks -> ONNX's i,o,f,c blocks."""
    return np.concatenate([a[k * H:(k + 1) * H] for k in ONNX_GATES], axis=0)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, outputs=None, domain=None, **attrs):
        self.n += 1
        if outputs is None:
            outputs = [f"{op.lower()}_{self.n}"]
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{self.n}", **kw, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs


def plan(config, tensors, quantize):
    """What each part becomes: the embedding matrix, per layer (W_ih, W_hh, int8?), the decoder
    matrix and whether it is int8, and notes for stderr (mixed layers)."""
    L = config["nlayers"]
    dec = tensors.get("decoder.weight") or tensors["encoder.weight"]
    want = lambda m: m.is_int8 or quantize  # noqa: E731
    parts = {"embedding": tensors["encoder.weight"], "layers": [], "notes": []}
    for k in range(L):
        ih, hh = tensors[f"rnn.weight_ih_l{k}"], tensors[f"rnn.weight_hh_l{k}"]
        q = want(ih) and want(hh)
        if want(ih) != want(hh):
            parts["notes"].append(f"layer {k}: one int8 and one fp32 matrix; exported as an fp32 LSTM on the "
                                  "dequantized int8 weights")
        parts["layers"].append((ih, hh, q))
    parts["decoder"] = (dec, want(dec))
    parts["any_int8"] = any(q for _, _, q in parts["layers"]) or parts["decoder"][1]
    return parts


def build(config, vocab, tensors, parts, enc, steps, log_softmax, meta):
    """One graph: steps None = the full-sequence graph (T symbolic), 1 = the decode graph."""
    V, H, L = config["vocab_size"], config["nhid"], config["nlayers"]
    b = Builder()
    T = steps if steps else "T"
    precision = {}
    # embedding
    emb = parts["embedding"]
    if emb.is_int8:
        tq = b.init("encoder.weight_q", emb.q)
        ts = b.init("encoder.weight_scale", emb.scale.reshape(V, 1))
        rows = b.node("Cast", [b.node("Gather", [tq, "ids"])], to=TensorProto.FLOAT)
        x = b.node("Mul", [rows, b.node("Gather", [ts, "ids"])])
        precision["embedding"] = "int8 table, exact (Gather + Cast + per-row scale Mul)"
    else:
        x = b.node("Gather", [b.init("encoder.weight", emb.values()), "ids"])
        precision["embedding"] = f"fp32 ({emb.origin})"
    # LSTM layers
    if L > 1:
        h0s = b.node("Split", ["h0"], [f"h0_l{k}" for k in range(L)], axis=0)
        c0s = b.node("Split", ["c0"], [f"c0_l{k}" for k in range(L)], axis=0)
    else:
        h0s, c0s = ["h0"], ["c0"]
    hn, cn = [], []
    for k, (ih, hh, q) in enumerate(parts["layers"]):
        bias = np.concatenate([permute_gates(tensors[f"rnn.bias_ih_l{k}"], H),
                               permute_gates(tensors[f"rnn.bias_hh_l{k}"], H)]).reshape(1, 8 * H)
        tb = b.init(f"rnn.l{k}.B", bias)
        if q:
            ins = []
            how = []
            for name, m in ((f"rnn.l{k}.W", ih), (f"rnn.l{k}.R", hh)):
                codes, zp, scale, h = to_int8(m, enc)
                how.append(h)
                codes, scale = permute_gates(codes, H), permute_gates(scale, H)
                ins += [b.init(name, codes.T.reshape(1, codes.shape[1], 4 * H)),
                        b.init(name + "_scale", scale.reshape(1, 4 * H)),
                        b.init(name + "_zero_point", np.full((1, 4 * H), zp))]
            y, yh, yc = b.node("DynamicQuantizeLSTM", [x, ins[0], ins[3], tb, "", h0s[k], c0s[k], "",
                                                       ins[1], ins[2], ins[4], ins[5]],
                               [f"y_l{k}", f"yh_l{k}", f"yc_l{k}"], domain="com.microsoft", hidden_size=H)
            precision[f"layer {k}"] = "int8 DynamicQuantizeLSTM, per-channel scales (" + "; ".join(sorted(set(how))) + ")"
        else:
            tw = b.init(f"rnn.l{k}.W", permute_gates(ih.values(), H).reshape(1, 4 * H, -1))
            tr = b.init(f"rnn.l{k}.R", permute_gates(hh.values(), H).reshape(1, 4 * H, H))
            y, yh, yc = b.node("LSTM", [x, tw, tr, tb, "", h0s[k], c0s[k]], [f"y_l{k}", f"yh_l{k}", f"yc_l{k}"],
                               hidden_size=H)
            precision[f"layer {k}"] = f"fp32 LSTM ({ih.origin} / {hh.origin})"
        x = b.node("Squeeze", [y, b.init(f"axis1_l{k}", np.array([1], dtype=np.int64))])  # [T, 1, B, H] -> [T, B, H]
        hn.append(yh)
        cn.append(yc)
    b.node("Concat", hn, ["hn"], axis=0)
    b.node("Concat", cn, ["cn"], axis=0)
    # decoder
    dec, q = parts["decoder"]
    tbias = b.init("decoder.bias", tensors["decoder.bias"])
    out_name = "log_probs" if log_softmax else "logits"
    logits = "logits"  # the decoder's output; LogSoftmax (optional) turns it into log_probs
    if q:
        codes, zp, scale, how = to_int8(dec, enc)
        b.node("DynamicQuantizeMatMul", [x, b.init("decoder.weight_q", codes.T), b.init("decoder.weight_scale", scale),
                                         b.init("decoder.weight_zero_point", np.full(1, zp)), tbias],
               [logits], domain="com.microsoft")
        precision["decoder"] = f"int8 DynamicQuantizeMatMul, per-column scales ({how})"
    else:
        if dec is parts["embedding"] and not emb.is_int8:  # tied: one table, transposed at load (constant folding)
            wt = b.node("Transpose", ["encoder.weight"], perm=[1, 0])
        else:
            wt = b.init("decoder.weight_t", dec.values().T)
        b.node("Add", [b.node("MatMul", [x, wt]), tbias], [logits])
        precision["decoder"] = f"fp32 MatMul + Add ({dec.origin}{', tied' if config['tied'] else ''})"
    if log_softmax:
        b.node("LogSoftmax", [logits], [out_name], axis=-1)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        b.nodes, "wordlm_" + ("decode" if steps else "sequence"),
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [T, "B"]),
         helper.make_tensor_value_info("h0", f, [L, "B", H]), helper.make_tensor_value_info("c0", f, [L, "B", H])],
        [helper.make_tensor_value_info(out_name, f, [T, "B", V]),
         helper.make_tensor_value_info("hn", f, [L, "B", H]), helper.make_tensor_value_info("cn", f, [L, "B", H])],
        b.inits)
    graph.doc_string = ("wordlm LSTM language model. ids int64 [T, B], sequence first; h0/c0 [L, B, H] "
                        f"(zeros to start); {out_name} [T, B, V], hn/cn [L, B, H] to carry into the next call.")
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == "com.microsoft" for n in b.nodes):
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="wordlm export_onnx.py",
                              doc_string=graph.doc_string)
    model.ir_version = 8
    props = dict(meta, **{"wordlm.graph": "decode" if steps else "sequence",
                          "wordlm.output": out_name, "wordlm.precision": json.dumps(precision)})
    helper.set_model_props(model, props)
    return model, precision


def write(model, path):
    try:
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise Fail(EX_CANTCREAT, f"{path}: directory {d} does not exist")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
    except OSError as e:
        raise Fail(EX_CANTCREAT, f"{path}: cannot write ({e.strerror})") from None
    return os.path.getsize(path)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 64, as the tools do (argparse's default is 2)
        self.print_usage(sys.stderr)
        print(f"export_onnx: {message}", file=sys.stderr)
        sys.exit(EX_USAGE)


def parse():
    ap = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("-m", "--model", help="wordlm checkpoint (fp32, int8 or mixed)")
    src.add_argument("--preset", choices=sorted(PRESETS), help="random weights of a preset instead (speed runs)")
    ap.add_argument("-o", "--output", required=True, help="the sequence graph, e.g. small.onnx")
    ap.add_argument("--decode-output", help="the one-step graph (default: OUTPUT with .onnx -> .decode.onnx)")
    ap.add_argument("--only", choices=["sequence", "decode"], help="write only this graph")
    ap.add_argument("--log-softmax", action="store_true", help="end with LogSoftmax: output log_probs, not logits")
    ap.add_argument("--quantize", action="store_true",
                    help="make the fp32 LSTM and decoder weights int8 (per row), as lm-quantize does")
    ap.add_argument("--int8-weights", choices=["u8", "s7", "s8", "auto"], default="u8",
                    help="how int8 weights are stored: u8 (default: exact codes, zero point 128, correct on every "
                         "CPU), s7 (7-bit, correct everywhere, faster kernels), s8 (exact, saturates on x86 "
                         "without VNNI), auto (s8 if this CPU has VNNI, else u8)")
    ap.add_argument("--dequantize-4bit", action="store_true", help="export 4-bit tensors as fp32 (code * scale) instead of refusing")
    ap.add_argument("--check", action="store_true", help="also run onnx.checker on the graphs")
    return ap.parse_args()


def main():
    a = parse()
    if a.only != "sequence" and not a.decode_output:
        a.decode_output = (a.output[:-5] if a.output.endswith(".onnx") else a.output) + ".decode.onnx"
    if a.decode_output and os.path.abspath(a.decode_output) == os.path.abspath(a.output) and a.only is None:
        raise Fail(EX_USAGE, "--decode-output must differ from --output")
    if a.model:
        config, vocab, tensors, notes = load_checkpoint(a.model, a.dequantize_4bit)
        source = os.path.basename(a.model)
    else:
        config, vocab, tensors, notes = random_model(a.preset)
        source = f"preset {a.preset} (random weights)"
    enc, why = resolve_encoding(a.int8_weights)
    parts = plan(config, tensors, a.quantize)
    for n in notes + parts["notes"]:
        log(n)
    if parts["any_int8"]:
        log(f"int8 weights: {enc} ({why})")
    else:
        enc, why = "none", "no int8 weights in this graph"
    meta = {"wordlm.source": source, "wordlm.config": json.dumps(config), "wordlm.vocab": json.dumps(vocab, ensure_ascii=False),
            "wordlm.int8_weights": enc, "wordlm.int8_weights_reason": why,
            "wordlm.inputs": "ids int64 [T, B] sequence first; h0, c0 float [L, B, H]",
            "wordlm.exporter": "scripts/export_onnx.py"}
    written = []
    for kind, path, steps in (("sequence", a.output, None), ("decode", a.decode_output, 1)):
        if a.only and a.only != kind:
            continue
        model, precision = build(config, vocab, tensors, parts, enc, steps, a.log_softmax, meta)
        if a.check:
            onnx.checker.check_model(model)
        size = write(model, path)
        log(f"wrote {path} ({kind} graph, {size / 1e6:.2f} MB)")
        written.append({"graph": kind, "path": path, "bytes": size})
    for part, how in precision.items():
        log(f"  {part}: {how}")
    json.dump({"tool": "export_onnx.py", "source": source, "config": config, "opset": OPSET,
               "output": "log_probs" if a.log_softmax else "logits", "int8_weights": enc,
               "int8_weights_reason": why, "precision": precision, "notes": notes + parts["notes"],
               "files": written}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    try:
        import numpy as np
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        print(f"export_onnx: {e.name} is not installed (Debian: apt-get install python3-onnx python3-numpy, "
              "or scripts/setup.sh test)", file=sys.stderr)
        sys.exit(EX_UNAVAILABLE)
    try:
        main()
    except Fail as e:
        print(f"export_onnx: {e}", file=sys.stderr)
        sys.exit(e.code)
