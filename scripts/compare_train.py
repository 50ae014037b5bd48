#!/usr/bin/env python3
"""Training speed, wordlm vs PyTorch, side by side on this machine (issue: >= 1.5x PyTorch's best
2-thread setting, >= 1.1x at 1 thread). Runs `lm-train --max-batches N` and
scripts/pytorch_train.py with the same corpus and hyperparameters, alternating the two, R times
each, and prints medians, spread (min..max) and ratios as markdown; --json writes everything.

  /usr/bin/python3 scripts/compare_train.py --data data/brown [--preset small|seed] [--batches 60] [--reps 3]
  /usr/bin/python3 scripts/compare_train.py --data data/brown --build old=../old/build --build new=build --no-torch
  /usr/bin/python3 scripts/compare_train.py --data data/brown --build old=../old/build --build new=build --no-torch --profile

--profile runs wordlm with `lm-train --profile` and adds, per thread count, a table of where a
training step spends its time (per phase, median ms/batch over the runs, every build side by side).

--build LABEL=DIR (repeatable) compares several wordlm builds in the same interleaved run (the
commit before a change against the change); the default is one build, build/.

PyTorch thread settings tried: 1/1, 1/2, 2/2 (torch threads / OpenBLAS threads), with
OMP_WAIT_POLICY=passive whenever more than one thread is involved; its best is the reference.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {"small": dict(emsize=200, nhid=200, nlayers=2, dropout=0.2),
           "seed": dict(emsize=256, nhid=512, nlayers=2, dropout=0.2)}


def run_wordlm(a, build, threads):
    p = PRESETS[a.preset]
    cmd = [os.path.join(build, "lm-train"), "--data", a.data, "--emsize", str(p["emsize"]), "--nhid", str(p["nhid"]),
           "--nlayers", str(p["nlayers"]), "--dropout", str(p["dropout"]), "--max-batches", str(a.batches),
           "-t", str(threads), "--save", os.path.join(a.tmp, "cmp.safetensors"), "-q"]
    if a.profile:
        cmd.append("--profile")
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    prof = {p["phase"]: p["ms_per_batch"] for p in r.get("profile", [])}
    return r["train_tokens_per_sec"], prof


def run_torch(a, threads, blas):
    p = PRESETS[a.preset]
    cmd = ["/usr/bin/python3", os.path.join(ROOT, "scripts", "pytorch_train.py"), "--data", a.data,
           "--emsize", str(p["emsize"]), "--nhid", str(p["nhid"]), "--nlayers", str(p["nlayers"]),
           "--dropout", str(p["dropout"]), "--max-batches", str(a.batches), "--threads", str(threads),
           "--blas-threads", str(blas), "--no-valid"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["tokens_per_sec"]


def summary(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "samples": v}


def print_profiles(builds, profiles):
    """Per thread count: phase | each build's median ms/batch (min..max) | last build vs first."""
    out = {}
    for t in (1, 2):
        runs = {label: profiles[(label, t, t)] for label, _ in builds}
        phases = []
        for label, _ in reversed(builds):  # the last (newest) build's order first
            for prof in runs[label]:
                phases += [p for p in prof if p not in phases]
        if not phases:
            continue
        print(f"\n### where a training step spends its time, {t} thread{'s' if t > 1 else ''} (lm-train --profile; median ms/batch, min..max)\n")
        head = " | ".join(label for label, _ in builds)
        ratio = len(builds) > 1
        print(f"| phase | {head} |" + (f" {builds[-1][0]} / {builds[0][0]} |" if ratio else ""))
        print("| --- |" + " ---: |" * (len(builds) + (1 if ratio else 0)))
        table = {}
        totals = {label: 0.0 for label, _ in builds}
        for ph in phases:
            cells, med = [], {}
            for label, _ in builds:
                v = [prof[ph] for prof in runs[label] if ph in prof]
                if not v:
                    cells.append("-")
                    continue
                med[label] = statistics.median(v)
                totals[label] += med[label]
                cells.append(f"{med[label]:.2f} ({min(v):.2f}..{max(v):.2f})")
            row = f"| {ph} | " + " | ".join(cells) + " |"
            first, last = builds[0][0], builds[-1][0]
            if ratio:
                row += f" {med[last] / med[first]:.2f}x |" if first in med and last in med and med[first] > 0 else " - |"
            print(row)
            table[ph] = med
        row = "| **sum of phases** | " + " | ".join(f"{totals[label]:.2f}" for label, _ in builds) + " |"
        if ratio and totals[builds[0][0]] > 0:
            row += f" {totals[builds[-1][0]] / totals[builds[0][0]]:.2f}x |"
        print(row)
        out[f"{t}_threads"] = table
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--build", action="append", default=[], help="LABEL=DIR of a wordlm build (repeatable)")
    ap.add_argument("--no-torch", action="store_true", help="wordlm builds only")
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--json", help="write all samples here")
    ap.add_argument("--profile", action="store_true", help="also collect lm-train --profile and print the per-phase table")
    a = ap.parse_args()
    builds = [b.split("=", 1) if "=" in b else ("wordlm", b) for b in a.build] or [("wordlm", os.path.join(ROOT, "build"))]
    try:
        if a.no_torch:
            raise FileNotFoundError
        subprocess.run(["/usr/bin/python3", "-c", "import torch"], check=True, capture_output=True)
        have_torch = True
    except (subprocess.CalledProcessError, FileNotFoundError):
        have_torch = False
        if not a.no_torch:
            print("PyTorch is not installed (apt-get install python3-torch): showing wordlm only", file=sys.stderr)
    settings = [(label, t, t) for t in (1, 2) for label, _ in builds]
    build_dir = dict(builds)
    if have_torch:
        settings += [("pytorch", 1, 1), ("pytorch", 1, 2), ("pytorch", 2, 2)]
    samples = {s: [] for s in settings}
    profiles = {s: [] for s in settings}
    for r in range(a.reps):
        for s in settings:  # interleaved, so drift on a shared machine hits every setting alike
            if s[0] in build_dir:
                v, prof = run_wordlm(a, build_dir[s[0]], s[1])
                profiles[s].append(prof)
            else:
                v = run_torch(a, s[1], s[2])
            samples[s].append(v)
            print(f"rep {r + 1}: {s[0]} {s[1]}/{s[2]}: {v:,.0f} tokens/s", file=sys.stderr)
    res = {f"{k[0]} {k[1]}/{k[2]}": summary(v) for k, v in samples.items()}
    print(f"### training tokens/s, preset {a.preset}, {a.batches} batches x {a.reps} runs (median, min..max)\n")
    print("| setting | tokens/s | spread |")
    print("| --- | ---: | --- |")
    for k, v in res.items():
        print(f"| {k} | {v['median']:,.0f} | {v['min']:,.0f}..{v['max']:,.0f} |")
    if len(builds) > 1:
        base = builds[0][0]
        for label, _ in builds[1:]:
            for t in (1, 2):
                r = res[f"{label} {t}/{t}"]["median"] / res[f"{base} {t}/{t}"]["median"]
                print(f"{label} vs {base}, {t} thread{'s' if t > 1 else ''}: **{r:.3f}x** tokens/s")
    if have_torch and builds[0][0] == "wordlm":
        t1 = res["pytorch 1/1"]["median"]
        t2 = max(res["pytorch 1/2"]["median"], res["pytorch 2/2"]["median"])
        best2 = "1/2" if res["pytorch 1/2"]["median"] >= res["pytorch 2/2"]["median"] else "2/2"
        print(f"\nwordlm 1 thread vs PyTorch 1/1: **{res['wordlm 1/1']['median'] / t1:.2f}x** (target >= 1.1x)")
        print(f"wordlm 2 threads vs PyTorch best 2-thread setting ({best2}): **{res['wordlm 2/2']['median'] / t2:.2f}x** (target >= 1.5x)")
        res["ratios"] = {"one_thread": res["wordlm 1/1"]["median"] / t1, "two_threads": res["wordlm 2/2"]["median"] / t2,
                         "pytorch_best_two_thread_setting": best2}
    if a.profile:
        res["profile"] = print_profiles(builds, profiles)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
