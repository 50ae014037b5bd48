#!/usr/bin/env python3
"""Test of scripts/report.py (run by ctest): on the committed reports of a real main-job run
(tests/fixtures/reports/, JSON written by the tools, samples trimmed), the summary must carry
the table rows with the right numbers, and every SVG must be well-formed, with axes labels, a
legend, and one polyline (or bar set) per series. Then scripts/bench_compare.py on hand-made
runs (wordlm, ONNX Runtime, PyTorch) with hand-computed medians and ratios."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "reports")
NS = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as d:
        for f in os.listdir(FIX):
            shutil.copy(os.path.join(FIX, f), d)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "report.py"), "--dir", d],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"report.py exited {out.returncode}: {out.stderr}")
        summary = open(os.path.join(d, "summary.md")).read()
        if summary != out.stdout:
            fail("summary.md differs from what was printed")
        ev = json.load(open(os.path.join(FIX, "eval_fp32.json")))
        ev8 = json.load(open(os.path.join(FIX, "eval_int8.json")))
        ev4 = json.load(open(os.path.join(FIX, "eval_q4.json")))
        ev4q = json.load(open(os.path.join(FIX, "eval_q4qat.json")))
        ort = {r["dtype"]: r for r in json.load(open(os.path.join(FIX, "eval_ort.json")))["results"]}
        ort_b = [r for r in json.load(open(os.path.join(FIX, "bench_ort_main.json")))["results"] if r["test"] == "b1 s10"]
        ort_best8 = min((r for r in ort_b if r["dtype"].startswith("int8")), key=lambda r: r["ms"]["median"])
        base = ev["result"]["ppl"]
        header = next(line for line in summary.splitlines() if line.startswith("| | fp32"))
        want_cols = ["fp32", "int8", "int8 + embedding", "4-bit", "4-bit QAT", "ORT fp32", "ORT int8 (best)",
                     "PyTorch fp32", "PyTorch int8 (best)"]
        if [c.strip() for c in header.strip("|").split("|")][1:] != want_cols:
            fail(f"summary columns {header!r}, want {want_cols}")
        for needle in ["| file size |", "| test perplexity |", "| latency b1 x s10 (1 thread) |",
                       "| decode latency per token (1 thread) |", "| eval throughput (1 thread) |",
                       f"{ev['result']['ppl']:.2f} ± {ev['result']['ppl_err']:.2f}",
                       f"({100 * (ev8['comparison']['ppl_ratio'] - 1):+.2f}%)", "same top-1 word",
                       # 4-bit and 4-bit QAT: sizes, perplexities, drift from fp32
                       f"{ev4['model']['bytes'] / 1e6:.2f} MB ({ev['model']['bytes'] / ev4['model']['bytes']:.2f}x smaller)",
                       f"{ev4['result']['ppl']:.2f} ± {ev4['result']['ppl_err']:.2f} ({100 * (ev4['comparison']['ppl_ratio'] - 1):+.2f}%)",
                       f"{ev4q['result']['ppl']:.2f} ± {ev4q['result']['ppl_err']:.2f}",
                       "4-bit vs fp32 on test", "4-bit QAT vs fp32 on test", "quantization-aware fine-tuning",
                       # ORT: the perplexity of each graph against wordlm fp32, the best int8 graph named with its time
                       f"{ort['fp32']['ppl']:.2f} ({100 * (ort['fp32']['ppl'] / base - 1):+.2f}%)",
                       f"u8 {ort['int8 u8']['ppl']:.2f}", f"s7 {ort['int8 s7']['ppl']:.2f}",
                       f"{ort_best8['ms']['median']:.3f} ms {ort_best8['engine']}", "ONNX Runtime: npm onnxruntime-node"]:
            if needle not in summary:
                fail(f"summary lacks {needle!r}")
        if "No ONNX Runtime results" in summary or "No PyTorch results" in summary:
            fail("summary says a peer is missing although its reports are there")
        expect = {"training_curve.svg": ("epoch", 2, "polyline"), "latency_batch.svg": ("batch size", 2, "polyline"),
                  "latency_seq.svg": ("sequence length", 2, "polyline"), "sizes.svg": ("MB", 3, "legend")}
        for name, (label, min_series, kind) in expect.items():
            path = os.path.join(d, name)
            if not os.path.exists(path):
                fail(f"{name} was not written")
            root = ET.parse(path).getroot()
            texts = [t.text or "" for t in root.iter(NS + "text")]
            if not any(label in t for t in texts):
                fail(f"{name}: no axis label containing {label!r}")
            legend = [g for g in root.iter(NS + "g") if g.get("class") == "legend"]
            if not legend:
                fail(f"{name}: no legend")
            n_legend = len(list(legend[0].iter(NS + "text")))
            if kind == "polyline":
                n = sum(1 for p in root.iter(NS + "polyline") if p.get("class") == "series")
                if n < min_series or n != n_legend:
                    fail(f"{name}: {n} series, {n_legend} legend entries (want >= {min_series}, equal)")
            elif n_legend < min_series:
                fail(f"{name}: {n_legend} legend entries, want >= {min_series}")
    print("report.py: summary and 4 plots OK")
    without_peers()
    bench_compare()


def without_peers():
    """Without ORT, PyTorch, 4-bit and QAT reports the summary has only wordlm's int8 columns and
    names what is missing."""
    with tempfile.TemporaryDirectory() as d:
        for f in os.listdir(FIX):
            if not f.startswith(("bench_ort", "eval_ort", "bench_pytorch", "eval_q4", "quant_q4", "train_qat")):
                shutil.copy(os.path.join(FIX, f), d)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "report.py"), "--dir", d],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"report.py without peers exited {out.returncode}: {out.stderr}")
        header = next(line for line in out.stdout.splitlines() if line.startswith("| | fp32"))
        if header.strip() != "| | fp32 | int8 | int8 + embedding |":
            fail(f"summary without peers has columns {header!r}")
        for needle in ["No ONNX Runtime results in this run", "No PyTorch results in this run"]:
            if needle not in out.stdout:
                fail(f"summary without peers lacks {needle!r}")
    print("report.py: summary without ORT, PyTorch, 4-bit and QAT reports OK")


def bench_row(impl, dtype, samples, threads=1, blas=1, engine="", kind="forward", tokens=10):
    return {"impl": impl, "model": "seed", "dtype": dtype, "engine": engine, "test": "b1 s10", "kind": kind,
            "threads": threads, "blas_threads": blas, "samples_ms": samples, "ms": {}, "tokens": tokens,
            "size_bytes": {"fp32": 1000, "int8": 400}.get(dtype, 380)}


def bench_compare():
    """scripts/bench_compare.py: medians over the samples of all rounds, PyTorch's best engine and
    thread setting, ratios; hand-computed values."""
    with tempfile.TemporaryDirectory() as d:
        files = {
            # round 1 and round 2 of wordlm: fp32 samples 4,6,5 + 7,3 -> median 5; int8 1,2 + 3 -> median 2
            "w1.json": {"impl": "wordlm", "results": [bench_row("wordlm", "fp32", [4, 6, 5]), bench_row("wordlm", "int8", [1, 2])]},
            "w2.json": {"impl": "wordlm", "results": [bench_row("wordlm", "fp32", [7, 3]), bench_row("wordlm", "int8", [3])]},
            # PyTorch: fp32 median 20; int8 qnnpack 1/1 median 9, onednn 1/2 median 8 (the best), 2/2 ignored (other T)
            "p.json": {"impl": "pytorch", "results": [
                bench_row("pytorch", "fp32", [20, 30, 10]),
                bench_row("pytorch", "int8 qnnpack", [9, 9, 9], engine="qnnpack"),
                bench_row("pytorch", "int8 onednn", [8, 7, 100], blas=2, engine="onednn"),
                bench_row("pytorch", "int8 onednn", [1, 1, 1], threads=2, blas=2, engine="onednn")]},
            # ORT: fp32 median 11; int8 s7 median 4, s8 median 3 (the best), u8 median 6; an int8+emb graph is not compared
            "o.json": {"impl": "ort", "results": [
                bench_row("ort", "fp32", [10, 12, 11]),
                bench_row("ort", "int8 s7", [4, 4, 5], engine="s7"),
                bench_row("ort", "int8 s8", [3, 6, 3], engine="s8"),
                bench_row("ort", "int8 u8", [6, 6, 7], engine="u8"),
                bench_row("ort", "int8+emb s7", [0.5], engine="s7")]},
        }
        for n, v in files.items():
            json.dump(v, open(os.path.join(d, n), "w"))
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_compare.py"),
                              *[os.path.join(d, n) for n in files], "--json", os.path.join(d, "c.json")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"bench_compare.py exited {out.returncode}: {out.stderr}")
        c = json.load(open(os.path.join(d, "c.json")))
        row = next(x for x in c["comparisons"] if x["threads"] == 1)
        want = {"wordlm_fp32": 5, "wordlm_int8": 2, "pytorch_fp32": 20, "pytorch_int8": 8,
                "int8_vs_pytorch_int8": 4.0, "fp32_vs_pytorch_fp32": 4.0, "int8_vs_fp32": 2.5,
                "ort_fp32": 11, "ort_int8": 3, "int8_vs_ort_int8": 1.5, "fp32_vs_ort_fp32": 2.2}
        for k, v in want.items():
            if abs(row[k] - v) > 1e-12:
                fail(f"bench_compare: {k} = {row[k]}, want {v}")
        if row["ort_int8_setting"] != "s8":
            fail(f"bench_compare: best ORT int8 graph {row['ort_int8_setting']}, want s8")
        if "3.000 ms (s8)" not in out.stdout or "**1.50x**" not in out.stdout:
            fail("bench_compare: markdown lacks the ORT int8 cell or its ratio:\n" + out.stdout)
        if row["pytorch_int8_setting"] != "onednn 1/2":
            fail(f"bench_compare: best PyTorch int8 setting {row['pytorch_int8_setting']}, want onednn 1/2")
        if "**4.00x**" not in out.stdout or "2 interleaved round(s)" not in out.stdout:
            fail("bench_compare: markdown lacks the ratio or the round count:\n" + out.stdout)
        alone = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_compare.py"), os.path.join(d, "w1.json")],
                               capture_output=True, text=True)
        if alone.returncode != 0 or "PyTorch results missing" not in alone.stdout:
            fail("bench_compare without PyTorch input must say so")
        if "ONNX Runtime results missing" not in alone.stdout:
            fail("bench_compare without ORT input must say so")
    print("bench_compare.py: merged medians, best ORT and PyTorch settings and ratios OK")


def curve():
    """A report with a curve plots every logged interval and every validation; one without falls
    back to the epoch ends."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import report  # noqa: E402
    pts = [{"kind": "train", "step": 10 * i, "epoch": 0.25 * i, "loss": 5.0 - 0.1 * i, "ppl": 0, "lr": 20} for i in (1, 2, 3)]
    pts += [{"kind": "valid", "step": 40, "epoch": 1.0, "loss": 4.6, "ppl": 99.5, "lr": 20},
            {"kind": "train", "step": 50, "epoch": 1.25, "loss": 4.5, "ppl": 90, "lr": 5}]
    tr, va, markers = report.curve_points({"curve": pts, "epochs": []})
    if [x for x, _ in tr] != [0.25, 0.5, 0.75, 1.25] or va != [(1.0, 99.5)] or markers != [(1.25, "lr 5")]:
        fail(f"curve points: {tr} {va} {markers}")
    old = json.load(open(os.path.join(FIX, "train.json")))
    old.pop("curve", None)
    tr, va, _ = report.curve_points(old)
    if len(tr) != len(old["epochs"]) + (1 if old.get("partial_epoch") else 0):
        fail("a report without a curve should plot its epochs")
    print("report.py: training curve points OK")


if __name__ == "__main__":
    main()
    curve()
