#!/usr/bin/env python3
"""A/B timing of two or more wordlm builds in one run: the same lm-bench command for each build,
interleaved over rounds (so a shared machine's drift hits all builds alike), samples of all
rounds merged, medians with min..max and the ratio of each build to the first.

  python3 scripts/ab_bench.py --build old=../old/build --build new=build --rounds 5 -- \\
      --preset seed --int8 --tests forward,decode -b 1,16 -s 10,35 -t 1 -r 5

Everything after -- goes to lm-bench unchanged (the script adds -o json --output-file FILE -q).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="LABEL=DIR (repeatable; the first is the base)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write all samples here")
    ap.add_argument("bench_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    args = a.bench_args[1:] if a.bench_args[:1] == ["--"] else a.bench_args
    builds = [b.split("=", 1) for b in a.build]
    samples = {}  # (build, model, dtype, threads, test) -> [ms]
    kinds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for label, d in builds:
                out = os.path.join(tmp, f"{label}_{r}.json")
                cmd = [os.path.join(d, "lm-bench"), *args, "-o", "json", "--output-file", out, "-q"]  # older builds take this too
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                for row in json.load(open(out))["results"]:
                    key = (label, row["model"], row["dtype"], row["threads"], row["test"])
                    kinds[key[1:]] = row["kind"]
                    v = row["tokens_per_sec"]["median"] if row["kind"] == "eval" else None
                    samples.setdefault(key, []).extend([v] if v is not None else row["samples_ms"])
                print(f"round {r + 1}/{a.rounds}: {label} done", file=sys.stderr)
    base = builds[0][0]
    print("| model | dtype | threads | test | " + " | ".join(f"{l} median [min..max]" for l, _ in builds)
          + " | " + " | ".join(f"{l}/{base}" for l, _ in builds[1:]) + " |")
    print("| --- | --- | ---: | --- |" + " ---: |" * (2 * len(builds) - 1))
    for rest in sorted(kinds):
        unit = "tok/s" if kinds[rest] == "eval" else "ms"
        cells, meds = [], []
        for label, _ in builds:
            v = samples.get((label, *rest), [])
            m = statistics.median(v) if v else float("nan")
            meds.append(m)
            cells.append(f"{m:.3f} {unit} [{min(v):.3f}..{max(v):.3f}]" if v else "-")
        ratios = [f"{m / meds[0]:.3f}" for m in meds[1:]]
        print(f"| {rest[0]} | {rest[1]} | {rest[2]} | {rest[3]} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if a.json:
        json.dump({"|".join(map(str, k)): v for k, v in samples.items()}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
