#!/usr/bin/env python3
"""Checks the ONNX export against wordlm on real text: exports the given checkpoints with
scripts/export_onnx.py, runs the graphs in ONNX Runtime (scripts/ort_run.mjs, npm
onnxruntime-node) and wordlm (tests/tools/wordlm_logits) over the same corpus windows (batchified
as lm-eval does, the state carried), and compares token for token. Criteria (issue 13):
  fp32 graphs    logits within 1e-4 absolute of wordlm fp32 on the first --full-windows windows
                 (and log p(target) within 2e-4 on every window); the decode graph, stepped one
                 token at a time, likewise; the --log-softmax graph's log-probs within 2e-4
  int8 graphs    perplexity within 0.5% of wordlm's int8 on the same file, and the same top-1
                 word for >= 99% of tokens (sequence and decode graphs)
Prints a table (stdout) and exits 1 when a criterion fails.

  /usr/bin/python3 scripts/ort_verify.py --fp32 runs/demo/small.safetensors \\
      --int8 runs/demo/small.int8.safetensors --data data/brown --split test --windows 20
  /usr/bin/python3 scripts/ort_verify.py --int8 m.int8.safetensors --data DIR --int8-weights u8,s7,s8

--int8-weights takes a list: each int8 file is exported once per entry (u8, s7, s8, auto: the
exporter's encodings of int8 weights, docs/onnx.md), so they are measured side by side;
--from-fp32 LIST adds int8 graphs quantized by the exporter straight from the fp32 file. With --fp32 given, int8 rows also show their drift from
fp32: perplexity change, top-1 agreement and the mean absolute error of the log-probabilities.
Exit codes: 0 all criteria met, 1 a criterion failed, 64 usage, 66 input missing, 69 a
prerequisite missing (ORT: scripts/setup_ort.sh; python3-onnx/numpy; the wordlm_logits build).
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
import wordlm_st  # noqa: E402

EX_FAIL, EX_USAGE, EX_NOINPUT, EX_UNAVAILABLE = 1, 64, 66, 69
ORT_DIR = os.environ.get("WORDLM_ORT_DIR", os.path.join(ROOT, "tools", "ort"))


def die(code, msg):
    print(f"ort_verify: {msg}", file=sys.stderr)
    sys.exit(code)


def log(msg):
    print(f"ort_verify: {msg}", file=sys.stderr, flush=True)


def prerequisites(a):
    """Exit 69 with what to install when something the check needs is missing."""
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as e:
        die(EX_UNAVAILABLE, f"{e.name} is not installed (apt-get install python3-onnx python3-numpy, or scripts/setup.sh test)")
    if not shutil.which("node"):
        die(EX_UNAVAILABLE, "node is not installed (Node.js runs ONNX Runtime here; scripts/setup.sh test)")
    if not os.path.exists(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node", "package.json")):
        die(EX_UNAVAILABLE, f"ONNX Runtime (npm onnxruntime-node) is not installed in {ORT_DIR}: run scripts/setup_ort.sh")
    if not os.access(a.logits_tool, os.X_OK):
        die(EX_UNAVAILABLE, f"{a.logits_tool} is missing: build the tests (cmake --build build --target wordlm_logits)")


def windows(model_path, text_path, B, T, max_windows):
    """(ids, targets) int32 [W, T, B]: the text tokenized with the model's vocabulary (<eos> per
    line, unknown words -> <unk>), batchified into B columns, cut into T-step windows."""
    import numpy as np
    meta, _ = wordlm_st.read_raw(model_path)
    vocab = json.loads(meta["vocab"])
    index = {w: i for i, w in enumerate(vocab)}
    unk = index.get("<unk>")
    ids = []
    with open(text_path, encoding="utf-8") as f:
        for line in f:
            for w in line.split() + ["<eos>"]:
                i = index.get(w, unk)
                if i is None:
                    die(65, f"{text_path}: word {w!r} is not in the vocabulary and the model has no <unk>")
                ids.append(i)
    nb = len(ids) // B
    data = np.array(ids[:nb * B], dtype=np.int32).reshape(B, nb).T  # [nb, B], column b = b-th slice of the text
    W = (nb - 1) // T
    if max_windows:
        W = min(W, max_windows)
    if W < 1:
        die(65, f"{text_path}: too short for one window of {T} steps x {B} columns")
    x = np.stack([data[w * T:(w + 1) * T] for w in range(W)])
    y = np.stack([data[w * T + 1:(w + 1) * T + 1] for w in range(W)])
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def run(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        die(p.returncode if p.returncode in (64, 65, 66, 69) else EX_FAIL,
            f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return p


class Output:
    """What one implementation produced over the windows."""

    def __init__(self, prefix, V):
        import numpy as np
        self.lp = np.fromfile(prefix + ".lp.f64", dtype="<f8")
        self.top1 = np.fromfile(prefix + ".top1.i32", dtype="<i4")
        self.logits = np.fromfile(prefix + ".logits.f32", dtype="<f4").reshape(-1, V)

    def ppl(self):
        import numpy as np
        return float(np.exp(-self.lp.mean()))

    def log_softmax(self):
        import numpy as np
        x = self.logits.astype(np.float64)
        m = x.max(axis=1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 64, as the tools do (argparse's default is 2)
        self.print_usage(sys.stderr)
        die(EX_USAGE, message)


def main():
    ap = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp32", help="fp32 checkpoint: its graphs must match wordlm's logits")
    ap.add_argument("--int8", action="append", default=[], help="int8 checkpoint (repeatable)")
    ap.add_argument("--data", help="corpus folder (train/valid/test.txt)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--file", help="a text file instead of --data/--split")
    ap.add_argument("--batch", type=int, default=10, help="columns, as lm-eval's batch size (default 10)")
    ap.add_argument("--bptt", type=int, default=35, help="window length (default 35)")
    ap.add_argument("--windows", type=int, default=20, help="windows to run, 0 = the whole split (default 20)")
    ap.add_argument("--full-windows", type=int, default=2, help="windows whose full logits are compared (default 2)")
    ap.add_argument("--int8-weights", default="u8",
                    help="int8 graphs to export per int8 file: a list of u8, s7, s8, auto (default u8, the exporter's default)")
    ap.add_argument("--from-fp32", default="", help="also int8 graphs quantized from --fp32 by the exporter, in these encodings (e.g. s7,u8)")
    ap.add_argument("--no-decode", action="store_true", help="skip the one-step decode graphs")
    ap.add_argument("--dequantize-4bit", action="store_true",
                    help="export 4-bit tensors of --int8 files as fp32 (code * scale) and compare them like int8")
    ap.add_argument("--threads", type=int, default=1, help="threads of ORT and wordlm (results do not depend on them)")
    ap.add_argument("--node", default="node",
                    help="command that runs Node.js, e.g. 'qemu-x86_64 -cpu EPYC-Milan node' to measure ORT's "
                         "AVX2 kernels on a CPU with VNNI (docs/onnx.md)")
    ap.add_argument("--logits-tool", default=os.path.join(ROOT, "build", "tests", "wordlm_logits"))
    ap.add_argument("--work", help="keep the graphs and outputs in this folder (default: a temporary one)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--tol", type=float, default=1e-4, help="fp32 logits tolerance (default 1e-4)")
    ap.add_argument("--ppl-tol", type=float, default=0.5, help="int8 perplexity tolerance in percent (default 0.5)")
    ap.add_argument("--top1-min", type=float, default=99.0, help="int8 top-1 agreement minimum in percent (default 99)")
    a = ap.parse_args()
    if not a.fp32 and not a.int8:
        die(EX_USAGE, "give --fp32 FILE and/or --int8 FILE")
    if a.from_fp32 and not a.fp32:
        die(EX_USAGE, "--from-fp32 needs --fp32")
    if a.from_fp32 and not a.int8:
        log("note: without --int8 the --from-fp32 graphs have no wordlm int8 to be checked against: "
            "their rows are measured against fp32 only and marked 'not checked'")
    if (a.data is None) == (a.file is None):
        die(EX_USAGE, "give --data DIR (with --split) or --file FILE")
    enc_list = [b.strip() for b in a.int8_weights.split(",") if b.strip()]
    if any(b not in ("u8", "s7", "s8", "auto") for b in enc_list + [b for b in a.from_fp32.split(",") if b]):
        die(EX_USAGE, "--int8-weights / --from-fp32 take a list of u8, s7, s8, auto")
    for p in [a.fp32] + a.int8:
        if p and not os.path.exists(p):
            die(EX_NOINPUT, f"{p}: no such file")
    text = a.file or os.path.join(a.data, f"{a.split}.txt")
    if not os.path.exists(text):
        die(EX_NOINPUT, f"{text}: no such file")
    prerequisites(a)
    import numpy as np

    work = a.work or tempfile.mkdtemp(prefix="ort_verify.")
    os.makedirs(work, exist_ok=True)
    try:
        rows = verify(a, np, work, text, enc_list)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print_table(a, rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"tool": "ort_verify.py", "text": text, "batch": a.batch, "bptt": a.bptt,
                       "criteria": {"fp32_logits_abs": a.tol, "int8_ppl_percent": a.ppl_tol, "int8_top1_percent": a.top1_min},
                       "rows": rows}, f, indent=2)
    failed = [r for r in rows if not r["ok"]]
    if failed:
        log(f"{len(failed)} of {len(rows)} checks FAILED: " + ", ".join(r["graph"] for r in failed))
        return EX_FAIL
    log(f"all {len(rows)} checks passed")
    return 0


def verify(a, np, work, text, enc_list):
    base = a.fp32 or a.int8[0]
    x, y = windows(base, text, a.batch, a.bptt, a.windows)
    x.tofile(os.path.join(work, "ids.i32"))
    y.tofile(os.path.join(work, "targets.i32"))
    W = x.shape[0]
    V = json.loads(wordlm_st.read_raw(base)[0]["config"])["vocab_size"]
    log(f"{W} windows of {a.bptt} x {a.batch} from {text} ({W * a.bptt * a.batch:,} tokens), vocab {V}")
    common = ["--ids", os.path.join(work, "ids.i32"), "--targets", os.path.join(work, "targets.i32"),
              "--steps", str(a.bptt), "--batch", str(a.batch), "--full", str(a.full_windows), "--threads", str(a.threads)]

    def wordlm(path, tag):
        out = os.path.join(work, f"wordlm.{tag}")
        run([a.logits_tool, "-m", path, "--out", out] + common, f"wordlm_logits on {path}")
        return Output(out, V)

    def export(path, tag, extra):
        g = os.path.join(work, f"{tag}.onnx")
        p = run([sys.executable, os.path.join(HERE, "export_onnx.py"), "-o", g] + (["-m", path] if path else []) + extra,
                f"export_onnx.py {tag}")
        info = json.loads(p.stdout)
        return [f["path"] for f in info["files"]], info

    def ort(graph, tag):
        out = os.path.join(work, f"ort.{tag}")
        node = [shutil.which(w) or w if w == "node" else w for w in shlex.split(a.node)]  # qemu-user wants a path
        run(node + [os.path.join(HERE, "ort_run.mjs"), "--model", graph, "--out", out] + common, f"ort_run.mjs on {graph}")
        return Output(out, V)

    rows = []
    ref32 = None
    if a.fp32:
        ref32 = wordlm(a.fp32, "fp32")
        graphs, info = export(a.fp32, "fp32", [] if not a.no_decode else ["--only", "sequence"])
        graphs_ls, _ = export(a.fp32, "fp32_ls", ["--log-softmax", "--only", "sequence"])
        for g, kind in zip(graphs + graphs_ls, ["sequence", "decode"][:len(graphs)] + ["sequence + LogSoftmax"]):
            o = ort(g, os.path.basename(g))
            rows.append(fp32_row(a, np, f"fp32 {kind}", o, ref32, log_softmax="LogSoftmax" in kind))
    ref8 = {}
    jobs = [(p, b) for p in a.int8 for b in enc_list] + [(None, b) for b in a.from_fp32.split(",") if b]
    for path, enc in jobs:
        src = path or a.fp32
        if src not in ref8:
            ref8[src] = wordlm(src, f"int8_{len(ref8)}") if path else None
        ref = ref8[src] if path else (ref8[a.int8[0]] if a.int8 else None)
        tag = f"{os.path.basename(src).replace('.safetensors', '')}.{'q' if not path else ''}{enc}"
        extra = (["--int8-weights", enc] + (["--quantize"] if not path else []) + (["--only", "sequence"] if a.no_decode else [])
                 + (["--dequantize-4bit"] if a.dequantize_4bit else []))
        graphs, info = export(src, tag, extra)
        for g, kind in zip(graphs, ["sequence", "decode"]):
            o = ort(g, os.path.basename(g))
            got = info["int8_weights"]
            label = f"int8 {got} {kind}" if got != "none" else f"fp32 {kind} of dequantized weights"
            label += " (quantized from fp32)" if not path else ""
            rows.append(int8_row(a, np, label, os.path.basename(src), o, ref, ref32))
    return rows


def fp32_row(a, np, label, o, ref, log_softmax):
    n = min(len(o.logits), len(ref.logits))
    want = ref.log_softmax()[:n] if log_softmax else ref.logits[:n].astype(np.float64)
    dmax = float(np.abs(o.logits[:n].astype(np.float64) - want).max())
    dlp = float(np.abs(o.lp - ref.lp).max())
    tol = 2 * a.tol if log_softmax else a.tol
    ok = dmax <= tol and dlp <= 2 * a.tol
    return {"graph": label, "model": os.path.basename(a.fp32), "tokens": len(o.lp), "ppl_ort": o.ppl(), "ppl_wordlm": ref.ppl(),
            "top1_agree": float((o.top1 == ref.top1).mean()), "max_abs_logit_diff": dmax, "max_abs_lp_diff": dlp,
            "criterion": f"{'log-probs' if log_softmax else 'logits'} within {tol:g} on {n:,} rows, log p(target) within {2 * a.tol:g}",
            "ok": ok}


def int8_row(a, np, label, model, o, ref, ref32):
    row = {"graph": label, "model": model, "tokens": len(o.lp), "ppl_ort": o.ppl()}
    ok = True
    if ref is not None:
        d = o.ppl() / ref.ppl() - 1
        agree = float((o.top1 == ref.top1).mean())
        ok = abs(d) * 100 <= a.ppl_tol and agree * 100 >= a.top1_min
        row.update(ppl_wordlm=ref.ppl(), ppl_diff_percent=100 * d, top1_agree=agree,
                   criterion=f"ppl within {a.ppl_tol:g}% of wordlm int8, top-1 agreement >= {a.top1_min:g}%")
    else:
        row["criterion"] = "none (no wordlm int8 file to compare with)"
    if ref32 is not None:
        n = min(len(o.logits), len(ref32.logits))
        lsm = o.log_softmax()[:n]
        row.update(ppl_fp32=ref32.ppl(), ppl_vs_fp32_percent=100 * (o.ppl() / ref32.ppl() - 1),
                   top1_vs_fp32=float((o.top1 == ref32.top1).mean()),
                   mae_logprob_vs_fp32=float(np.abs(lsm - ref32.log_softmax()[:n]).mean()))
        if ref is not None and "wordlm_mae_vs_fp32" not in row:
            row["wordlm_ppl_vs_fp32_percent"] = 100 * (ref.ppl() / ref32.ppl() - 1)
            row["wordlm_top1_vs_fp32"] = float((ref.top1 == ref32.top1).mean())
            row["wordlm_mae_logprob_vs_fp32"] = float(np.abs(ref.log_softmax()[:n] - ref32.log_softmax()[:n]).mean())
    row["ok"] = ok
    row["checked"] = ref is not None  # False: no wordlm int8 to compare with, "ok" says nothing
    return row


def print_table(a, rows):
    print("| graph | model | tokens | ORT ppl | wordlm ppl | ppl diff | top-1 same | max abs diff | vs fp32: ppl | top-1 | MAE log-prob | check |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        diff = f"{r['max_abs_logit_diff']:.2e} (lp {r['max_abs_lp_diff']:.1e})" if "max_abs_logit_diff" in r else "-"
        pd = f"{r['ppl_diff_percent']:+.3f}%" if "ppl_diff_percent" in r else (
            f"{100 * (r['ppl_ort'] / r['ppl_wordlm'] - 1):+.4f}%" if "ppl_wordlm" in r else "-")
        v32 = (f"{r['ppl_vs_fp32_percent']:+.3f}% | {100 * r['top1_vs_fp32']:.2f}% | {r['mae_logprob_vs_fp32']:.2e}"
               if "ppl_vs_fp32_percent" in r else "- | - | -")
        print(f"| {r['graph']} | {r['model']} | {r['tokens']:,} | {r['ppl_ort']:.3f} | "
              f"{r['ppl_wordlm']:.3f} | {pd} | {100 * r['top1_agree']:.2f}% | {diff} | {v32} | "
              f"{'ok' if r['ok'] else 'FAIL'} |" if "ppl_wordlm" in r else
              f"| {r['graph']} | {r['model']} | {r['tokens']:,} | {r['ppl_ort']:.3f} | - | - | - | - | {v32} | not checked |")
    wl = [r for r in rows if "wordlm_ppl_vs_fp32_percent" in r]
    if wl:
        r = wl[0]
        print(f"\nwordlm ({r['model']}) vs fp32 on the same windows: ppl {r['wordlm_ppl_vs_fp32_percent']:+.3f}%, "
              f"top-1 {100 * r['wordlm_top1_vs_fp32']:.2f}%, MAE log-prob {r['wordlm_mae_logprob_vs_fp32']:.2e}.")
    print("\nCriteria: " + "; ".join(sorted({r["criterion"] for r in rows})) + ". MAE log-prob: mean absolute error of "
          f"all V log-probabilities against wordlm fp32 over the first {a.full_windows} window(s).")


if __name__ == "__main__":
    sys.exit(main())
