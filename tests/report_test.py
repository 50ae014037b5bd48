#!/usr/bin/env python3
"""Test of scripts/report.py (run by ctest): on the committed reports of a real main-job run
(tests/fixtures/reports/, JSON written by the tools, samples trimmed), the summary must carry
the table rows with the right numbers, and every SVG must be well-formed, with axes labels, a
legend, and one polyline (or bar set) per series."""
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
        for needle in ["| file size |", "| test perplexity |", "| latency b1 x s10 (1 thread) |",
                       "| decode latency per token (1 thread) |", "| eval throughput (1 thread) |",
                       f"{ev['result']['ppl']:.2f} ± {ev['result']['ppl_err']:.2f}",
                       f"({100 * (ev8['comparison']['ppl_ratio'] - 1):+.2f}%)", "same top-1 word"]:
            if needle not in summary:
                fail(f"summary lacks {needle!r}")
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


if __name__ == "__main__":
    main()
