#!/usr/bin/env python3
"""Assembles the main job's reports (JSON from lm-train, lm-quantize, lm-eval, lm-bench and, when
present, scripts/ort_bench.mjs and scripts/pytorch_bench.py) into reports/summary.md and SVG
plots: training curve, latency vs batch size and vs sequence length (wordlm fp32/int8 and
PyTorch), and file size per tensor group. Standard library only.

  scripts/report.py --dir reports [--title "..."]
Inputs looked up in --dir (missing ones are skipped, and the summary says so):
  train.json quant_int8.json quant_int8emb.json quant_q4.json eval_fp32.json eval_int8.json
  eval_int8emb.json eval_q4.json (4-bit, everything), train_qat.json quant_q4qat.json
  eval_q4qat.json (4-bit after QAT fine-tuning), bench_wordlm.json bench_batch.json bench_seq.json
  bench_ort*.json eval_ort.json (ONNX Runtime: speed; test perplexity of each graph)
  bench_pytorch*.json
  generate.json generated.txt score.json eval_file_int8.json (lm-generate, lm-score and lm-eval --file)
"""
import argparse
import glob
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import svgplot  # noqa: E402


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def bench_rows(docs):
    rows = []
    for d in docs:
        if d:
            for r in d["results"]:
                r.setdefault("impl", d.get("impl", "wordlm"))
                r.setdefault("blas_threads", r.get("threads"))
                rows.append(r)
    return rows


def find(rows, impl, dtype_pred, test, threads=None):
    c = [r for r in rows if r["impl"] == impl and dtype_pred(r["dtype"]) and r["test"] == test
         and (threads is None or r["threads"] == threads)]
    if not c:
        return None
    if c[0]["kind"] == "eval":
        return max(c, key=lambda r: r["tokens_per_sec"]["median"])
    return min(c, key=lambda r: r["ms"]["median"])


def versus(ratio, peer):
    """How many times faster wordlm is than a peer (ratio = peer time / wordlm time), or the other
    way round when the peer is faster."""
    return f"wordlm {ratio:.2f}x faster" if ratio >= 1 else f"{peer} {1 / ratio:.2f}x faster"


PEER = {"ort": "ORT", "pytorch": "PyTorch"}


def trained_epochs(train):
    n = len(train["epochs"])
    text = f"{n} epoch{'s' if n != 1 else ''}"
    pe = train.get("partial_epoch")
    if pe:
        text += (f" + {100 * pe['fraction']:.0f}% of epoch {pe['epoch']} (valid ppl {pe['valid_ppl']:.2f}, "
                 f"{'the model kept' if pe['saved'] else 'not kept: an earlier epoch was better'})")
    return text


def curve_points(train):
    """(train points, valid points, lr markers) in fractional epochs. Reports with a "curve" have
    a train point every log interval and a point at every validation (epoch ends, a validated
    partial epoch); older reports only have the epoch ends."""
    markers = []
    if train.get("curve"):
        c = train["curve"]
        tr = [(p["epoch"], p["ppl"]) for p in c if p["kind"] == "train"]
        va = [(p["epoch"], p["ppl"]) for p in c if p["kind"] == "valid"]
        for a, b in zip(c, c[1:]):
            if b["lr"] != a["lr"]:
                markers.append((b["epoch"], f"lr {b['lr']:g}"))
        if tr or va:
            return tr, va, markers
    ep = list(train["epochs"])
    pe = train.get("partial_epoch")
    if pe:  # a budget stopped the run mid-epoch: plot that epoch at its fraction
        ep.append(dict(pe, epoch=pe["epoch"] - 1 + pe["fraction"]))
    for a, b in zip(ep, ep[1:]):
        if b["lr"] != a["lr"]:
            markers.append((b["epoch"], f"lr {b['lr']:g}"))
    return [(e["epoch"], e["train_ppl"]) for e in ep], [(e["epoch"], e["valid_ppl"]) for e in ep], markers


def training_curve(train, out):
    tr, va, markers = curve_points(train)
    if not tr and not va:
        return False
    svg = svgplot.line_chart([{"label": "train ppl", "points": tr}, {"label": "valid ppl", "points": va, "dash": "6,3"}],
                             f"Training curve ({train['config']['nlayers']}x{train['config']['nhid']} LSTM, "
                             f"vocab {train['config']['vocab_size']})", "epoch", "perplexity (log scale)",
                             logy=True, markers=markers)
    open(out, "w").write(svg)
    return True


def latency_plot(rows, key, fixed, xlabel, title, out):
    series = []
    styles = [("wordlm", "fp32", lambda d: d == "fp32", "#1f77b4", ""),
              ("wordlm", "int8", lambda d: d.startswith("int8"), "#d62728", ""),
              ("pytorch", "fp32", lambda d: d == "fp32", "#1f77b4", "6,3"),
              ("pytorch", "int8 (best)", lambda d: d.startswith("int8"), "#d62728", "6,3")]
    for impl, label, pred, color, dash in styles:
        pts = {}
        for r in rows:
            if r["impl"] != impl or r["kind"] != "forward" or not pred(r["dtype"]) or r["threads"] != 1:
                continue
            if r[fixed[0]] != fixed[1]:
                continue
            x, v = r[key], r["ms"]["median"]
            pts[x] = min(pts.get(x, math.inf), v)
        if len(pts) >= 2:
            series.append({"label": f"{'PyTorch' if impl == 'pytorch' else 'wordlm'} {label}",
                           "points": sorted(pts.items()), "color": color, "dash": dash})
    if not series:
        return False
    open(out, "w").write(svgplot.line_chart(series, title, xlabel, "ms per forward (median, log scale)",
                                            logx=True, logy=True))
    return True


def size_plot(quants, out):
    groups = {"embedding": lambda n: n.startswith("encoder."), "LSTM weights": lambda n: n.startswith("rnn.weight"),
              "decoder": lambda n: n == "decoder.weight", "biases": lambda n: "bias" in n}
    series = []
    base = None
    for label, q in quants:
        if not q:
            continue
        if base is None:
            base = ("fp32", [sum(t["bytes_in"] for t in q["tensors"] if f(t["name"])) / 1e6 for f in groups.values()])
            series.append({"label": base[0], "values": base[1]})
        series.append({"label": label, "values": [sum(t["bytes_out"] for t in q["tensors"] if f(t["name"])) / 1e6
                                                  for f in groups.values()]})
    if not series:
        return False
    open(out, "w").write(svgplot.bar_chart(list(groups), series, "File size per tensor group", "MB (scales included)"))
    return True


def use_lines(d):
    """The summary's lines on using the model: a generated text and the scoring throughput."""
    out = []
    gen, sc, ev = load(d, "generate.json"), load(d, "score.json"), load(d, "eval_file_int8.json")
    txt = os.path.join(d, "generated.txt")
    if gen and os.path.exists(txt):
        words = " ".join(open(txt, encoding="utf-8").read().split())
        t = gen["timing"]
        st = gen["settings"]
        how = ["greedy"] if st.get("greedy") else (
            [f"temperature {st['temperature']:g}"] + ([f"top-k {st['top_k']}"] if st.get("top_k", 0) > 0 else [])
            + ([f"top-p {st['top_p']:g}"] if st.get("top_p", 1) < 1 else []))
        prompt = gen.get("prompt", {}).get("text")
        src = ", ".join(["lm-generate, int8"] + ([f"-p \"{prompt}\""] if prompt else []) + how + [f"seed {st['seed']}"])
        threads = gen.get("run", {}).get("threads")
        out += ["", f"Generated ({src}): \"{words}\" ({t['ms_per_token']:.3f} ms per word"
                    + (f", {threads} thread{'s' if threads != 1 else ''})." if threads else ").")]
    if sc:
        s = (f"Scoring (lm-score, int8, {sc['run']['threads']} threads): {sc['lines']:,} test sentences, "
             f"{sc['tokens']:,} tokens at {sc['tokens_per_sec']:,.0f} tokens/s")
        if ev:
            s += f" (lm-eval on the same text: {ev['tokens_per_sec']:,.0f} tokens/s, {sc['tokens_per_sec'] / ev['tokens_per_sec']:.2f}x)"
        out += ["", s + "."]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="reports")
    ap.add_argument("--title", default="wordlm main job")
    ap.add_argument("--context", default="", help="a line of context for the summary (corpus, date, CPU)")
    a = ap.parse_args()
    d = a.dir
    train, q8, q8e = load(d, "train.json"), load(d, "quant_int8.json"), load(d, "quant_int8emb.json")
    e32, e8, e8e = load(d, "eval_fp32.json"), load(d, "eval_int8.json"), load(d, "eval_int8emb.json")
    q4, e4, tqat, q4q, e4q = (load(d, n) for n in ("quant_q4.json", "eval_q4.json", "train_qat.json",
                                                    "quant_q4qat.json", "eval_q4qat.json"))
    pt_docs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, "bench_pytorch*.json")))]
    ort_docs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, "bench_ort*.json")))]
    ort_eval = bench_rows([load(d, "eval_ort.json")])
    rows = bench_rows([load(d, "bench_wordlm.json"), load(d, "bench_batch.json"), load(d, "bench_seq.json")]
                      + ort_docs + pt_docs)
    have_pt = any(r["impl"] == "pytorch" for r in rows)
    have_ort = any(r["impl"] == "ort" for r in rows)

    lines = [f"## {a.title}", ""]
    if a.context:
        lines += [a.context, ""]
    if train:
        c = train["config"]
        lines.append(f"Model: {c['nlayers']}x{c['nhid']} LSTM, embedding {c['emsize']}, vocab {c['vocab_size']}, "
                     f"{train['parameters']:,} parameters; trained {trained_epochs(train)} "
                     f"({train['stop_reason']}, {train['total_seconds'] / 60:.1f} min, "
                     f"{train.get('train_tokens_per_sec', 0):,.0f} tokens/s on {train['threads']} threads).")
        lines.append("")
    int8 = lambda x: x.startswith("int8") and "emb" not in x  # noqa: E731  (LSTM + decoder int8, embedding fp32)
    cols = [("fp32", "wordlm", lambda x: x == "fp32", e32, None),
            ("int8", "wordlm", int8, e8, q8),
            ("int8 + embedding", "wordlm", lambda x: x.startswith("int8") and "emb" in x, e8e, q8e)]
    if e4:
        cols.append(("4-bit", "wordlm", lambda x: x.startswith("q4"), e4, q4))
    if e4q:  # the same format and kernels as 4-bit: not benchmarked again
        cols.append(("4-bit QAT", "wordlm", lambda x: False, e4q, q4q))
    if have_ort:
        cols += [("ORT fp32", "ort", lambda x: x == "fp32", None, None),
                 ("ORT int8 (best)", "ort", int8, None, None)]
    if have_pt:
        cols += [("PyTorch fp32", "pytorch", lambda x: x == "fp32", None, None),
                 ("PyTorch int8 (best)", "pytorch", lambda x: x.startswith("int8"), None, None)]
    hdr = "| | " + " | ".join(c[0] for c in cols) + " |"
    lines += [hdr, "| --- |" + " ---: |" * len(cols)]

    def row(name, fn):
        lines.append(f"| {name} | " + " | ".join(fn(c) for c in cols) + " |")

    fp32_size = e32["model"]["bytes"] if e32 else None

    def size(c):
        r = find(rows, c[1], c[2], "b1 s10", 1)
        b = (c[3]["model"]["bytes"] if c[3] else None) or (r["size_bytes"] if r else None)
        if not b:
            return "-"
        s = f"{b / 1e6:.2f} MB"
        if fp32_size and c[0] != "fp32" and c[1] == "wordlm":
            s += f" ({fp32_size / b:.2f}x smaller)"
        if c[1] in ("pytorch", "ort") and not c[0].endswith("fp32"):
            p32 = find(rows, c[1], lambda x: x == "fp32", "b1 s10", 1)
            if p32 and p32.get("size_bytes"):
                s += f" ({p32['size_bytes'] / b:.2f}x smaller)"
        return s
    row("file size", size)

    def ppl(c):
        if c[1] == "ort":  # each graph's perplexity on the whole split (scripts/ort_bench.mjs eval), vs wordlm fp32
            base = e32["result"]["ppl"] if e32 else None
            got = [r for r in ort_eval if c[2](r["dtype"]) and r.get("ppl")]
            cell = []
            for r in sorted(got, key=lambda r: r.get("engine", "")):
                v = f"{r['engine'] + ' ' if r.get('engine') else ''}{r['ppl']:.2f}"
                cell.append(v + (f" ({100 * (r['ppl'] / base - 1):+.2f}%)" if base else ""))
            return ", ".join(cell) or "-"
        e = c[3]
        if not e:
            return "-"
        r = e["result"]
        s = f"{r['ppl']:.2f} ± {r['ppl_err']:.2f}"
        if "comparison" in e:
            s += f" ({100 * (e['comparison']['ppl_ratio'] - 1):+.2f}%)"
        return s
    row("test perplexity", ppl)

    def same_dtype(c, dtype):  # wordlm's counterpart of a PyTorch or ORT column (int8: LSTM + decoder, not the embedding)
        return dtype == "fp32" if c[0].endswith("fp32") else dtype.startswith("int8") and "emb" not in dtype

    def lat(test, unit="ms"):
        def f(c):
            r = find(rows, c[1], c[2], test, 1)
            if not r:
                return "-"
            v = r["ms"]["median"]
            s = f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"
            if c[1] == "ort" and r.get("engine"):
                s += f" {r['engine']}"
            if c[1] in ("pytorch", "ort"):  # how many times faster wordlm's model of the same dtype is
                wl = find(rows, "wordlm", lambda x: same_dtype(c, x), test, 1)
                if wl:
                    s += f" ({versus(v / wl['ms']['median'], PEER[c[1]])})"
                return s
            base = find(rows, "wordlm", lambda x: x == "fp32", test, 1)
            if base and c[0] != "fp32":
                s += f" ({base['ms']['median'] / v:.2f}x)"
            return s
        return f
    row("latency b1 x s10 (1 thread)", lat("b1 s10"))
    row("decode latency per token (1 thread)", lat("decode b1"))

    def evtps(c):
        r = [x for x in rows if x["impl"] == c[1] and c[2](x["dtype"]) and x["kind"] == "eval" and x["threads"] == 1]
        if not r:
            return "-"
        best = max(r, key=lambda x: x["tokens_per_sec"]["median"])
        v = best["tokens_per_sec"]["median"]
        s = f"{v:,.0f} tok/s"
        if c[1] == "ort" and best.get("engine"):
            s += f" {best['engine']}"
        if c[1] in ("pytorch", "ort"):
            wl = [x for x in rows if x["impl"] == "wordlm" and same_dtype(c, x["dtype"]) and x["kind"] == "eval" and x["threads"] == 1]
            if wl:
                s += f" ({versus(max(x['tokens_per_sec']['median'] for x in wl) / v, PEER[c[1]])})"
            return s
        base = [x for x in rows if x["impl"] == "wordlm" and x["dtype"] == "fp32" and x["kind"] == "eval" and x["threads"] == 1]
        if base and c[0] != "fp32":
            s += f" ({v / base[0]['tokens_per_sec']['median']:.2f}x)"
        return s
    row("eval throughput (1 thread)", evtps)
    for name, e in (("int8", e8), ("4-bit", e4), ("4-bit QAT", e4q)):
        if e and "comparison" in e:
            cm = e["comparison"]
            lines += ["", f"{name} vs fp32 on test: mean KL divergence {cm['kld']['mean']:.5f} nats "
                          f"(p99 {cm['kld']['p99']:.5f}), same top-1 word {100 * cm['top1_agreement']:.2f}% of tokens."]
    if e4q and tqat:
        lines += ["", f"4-bit QAT: {tqat['total_seconds'] / 60:.1f} min of quantization-aware fine-tuning from the fp32 model "
                      f"({trained_epochs(tqat)}), then lm-quantize --bits 4 --embedding; the same file format and kernels "
                      "as the 4-bit column, so it is not benchmarked again. Fine-tuning keeps training the weights, so "
                      "after a short main run it can beat the fp32 model it started from."]
    lines += use_lines(d)
    lines += ["", "Ratios in parentheses: wordlm's quantized columns against wordlm fp32; ORT's and PyTorch's columns "
                  "against wordlm's model of the same kind (fp32, int8)."]
    if have_ort:
        lines += ["", "ONNX Runtime: npm onnxruntime-node (CPU), graphs from scripts/export_onnx.py of the same weights "
                      "(int8: wordlm's int8 file), 1 intra-op thread, measured in this run. ORT int8 (best): the faster of "
                      "the s7 (7-bit weights) and s8 (wordlm's 8-bit codes, signed) graphs, named in each cell; test "
                      "perplexity of every exported encoding (u8 = the exporter's default: wordlm's codes, exact on every "
                      "CPU; s8 saturates on x86 CPUs without VNNI; docs/onnx.md)."]
    else:
        lines += ["", "No ONNX Runtime results in this run (scripts/setup.sh demo installs onnxruntime-node with "
                      "scripts/setup_ort.sh, and python3-onnx)."]
    if have_pt:
        lines += ["", "PyTorch: Debian python3-torch with OpenBLAS, best of engines qnnpack/onednn (and of the OpenBLAS "
                      "pool sizes run) at 1 torch thread, measured in this run."]
    else:
        lines += ["", "No PyTorch results in this run (is python3-torch installed? scripts/setup.sh demo installs it)."]

    plots = []
    if train and training_curve(train, os.path.join(d, "training_curve.svg")):
        plots.append("training_curve.svg")
    if latency_plot(rows, "batch", ("seq", 35), "batch size (sequence length 35)", "Forward latency vs batch size (1 thread)",
                    os.path.join(d, "latency_batch.svg")):
        plots.append("latency_batch.svg")
    if latency_plot(rows, "seq", ("batch", 1), "sequence length (batch 1)", "Forward latency vs sequence length (1 thread)",
                    os.path.join(d, "latency_seq.svg")):
        plots.append("latency_seq.svg")
    if size_plot([("int8", q8), ("int8 + embedding", q8e), ("4-bit", q4)], os.path.join(d, "sizes.svg")):
        plots.append("sizes.svg")
    if plots:
        lines += ["", "Plots: " + ", ".join(f"{d}/{p}" for p in plots)]
    text = "\n".join(lines) + "\n"
    open(os.path.join(d, "summary.md"), "w").write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
