#!/usr/bin/env python3
"""Data-parallel training cost on this machine (docs/scaling.md): per-step compute time,
exchange time and bytes per step, dense and with the sparse embedding exchange, and the
throughput of 2 ranks x 1 thread against 1 process x 2 threads. Runs `lm-train --max-batches N`
in each setting, interleaved (round 1 of every setting, then round 2, ...), so that drift on a
shared machine hits every setting alike; prints medians and min..max as markdown.

  /usr/bin/python3 scripts/bench_dist.py --data data/brown [--models small,medium,seed] [--rounds 5] [--json out.json]
  /usr/bin/python3 scripts/bench_dist.py --project out.json     # the table on paper again, from saved samples

Settings: 1p x 2t (one process, 2 threads), 1p x 1t, and mpirun -np 2 with one thread each, each
rank bound to its core: 2r x 1t shared (--gradient-exchange auto: one copy of the parameters in
shared memory), 2r x 1t sparse and 2r x 1t dense (--gradient-exchange allreduce, with the sparse or
the dense embedding exchange). --settings picks some (1p x 2t and 2r x 1t sparse are always run). The batch is the global batch (20 columns:
10 per rank). Validation and test run on the first lines of the valid/test splits only (a copy of
the corpus folder in --tmp with the full train split), since they are not what is measured.
As root, sets OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) for mpirun.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {  # lm-train arguments and batches per run
    "small": (["--preset", "small"], 40),
    "medium": (["--preset", "medium"], 12),
    "seed": (["--preset", "seed", "--max-vocab", "5000", "--dropout", "0.2"], 30),
}
SETTINGS = ["1p x 2t", "1p x 1t", "2r x 1t shared", "2r x 1t sparse", "2r x 1t dense"]
# On paper: nodes, link speeds (Gbit/s), per-message latency of an MPI step over TCP (assumed)
NODES, GBITS, ALPHA = (4, 16, 64), (10, 25, 100), 20e-6


def bench_corpus(data, tmp):
    """data's train split with short valid/test splits (vocabulary from train, so unchanged)."""
    out = os.path.join(tmp, "bench-corpus")
    os.makedirs(out, exist_ok=True)
    for split in ("train", "valid", "test"):
        src = next(os.path.join(data, f) for f in (f"{split}.txt", f"ptb.{split}.txt")
                   if os.path.exists(os.path.join(data, f)))
        dst = os.path.join(out, f"{split}.txt")
        if os.path.lexists(dst):
            os.remove(dst)
        if split == "train":
            os.symlink(os.path.abspath(src), dst)
        else:
            with open(src) as f, open(dst, "w") as g:
                g.writelines(f.readlines()[:150])
    return out


def run(a, env, data, model, setting):
    args, batches = MODELS[model]
    save = os.path.join(a.tmp, "bench-dist.safetensors")
    build = a.build
    if setting.startswith("base "):  # the same setting from the --baseline build
        build, setting = a.baseline, setting[len("base "):]
    cmd = [os.path.join(build, "lm-train"), "--data", data, *args, "--max-batches", str(batches), "--save", save,
           "-q", "--report", "-", "-t", "2" if setting == "1p x 2t" else "1"]
    if setting.startswith("2r"):
        cmd = ["mpirun", "-np", "2", "--bind-to", "core", "--mca", "btl", "self,vader"] + cmd
        if setting.endswith("shared"):
            cmd += ["--gradient-exchange", "auto"]
        else:
            cmd += ["--gradient-exchange", "allreduce", "--embedding-exchange", setting.split()[-1]]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    steps = batches
    step_ms = 1e3 * r["train_seconds"] / steps
    dp = r.get("data_parallel") or {}
    ex, wait = dp.get("exchange_ms_per_step", 0.0), dp.get("wait_ms_per_step", 0.0)
    return {"tokens_per_sec": r["train_tokens_per_sec"], "step_ms": step_ms, "compute_ms": step_ms - ex - wait,
            "exchange_ms": ex, "wait_ms": wait, "allreduce_ms": dp.get("allreduce_ms_per_step", 0.0),
            "gather_ms": dp.get("embedding_gather_ms_per_step", 0.0) if dp.get("embedding_exchange") == "sparse" else 0.0,
            "allreduce_bytes": dp.get("allreduce_bytes_per_step", 0.0),
            "embedding_bytes": dp.get("embedding_bytes_sent_per_step", 0.0) if dp.get("embedding_exchange") == "sparse" else 0.0,
            "embedding_rows": dp.get("embedding_rows_per_step", 0.0), "table_bytes": dp.get("embedding_table_bytes", 0.0),
            "parameters": r["parameters"]}


def profile(a, env, data, model):
    """Backward time after the decoder's weight gradient is complete (ms/step, 1 process x 2
    threads): how long an allreduce of the decoder's gradient could overlap the rest of backward."""
    args, batches = MODELS[model]
    save = os.path.join(a.tmp, "bench-dist.safetensors")
    cmd = [os.path.join(a.build, "lm-train"), "--data", data, *args, "--max-batches", str(batches), "--save", save,
           "-q", "--report", "-", "-t", "2", "--profile"]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    phases = [(p["phase"], p["ms_per_batch"]) for p in r["profile"]]
    names = [n for n, _ in phases]
    after = names[names.index("decoder backward (weights)") + 1:]
    window = sum(ms for n, ms in phases if n in after and n != "clip + optimizer")
    cfg = r["config"]
    return {"window_ms": window, "V": cfg["vocab_size"], "E": cfg["emsize"], "H": cfg["nhid"], "tied": cfg["tied"],
            "phases": phases}


def project(meas, models):
    """Expected efficiency at NODES nodes (one rank each, 20 columns, all its cores: this machine's
    1 process x 2 threads step), per link speed: ring allreduce 2(N-1)/N x bytes / bandwidth +
    2(N-1) latencies; sparse rows: an allgather, (N-1) x rows / bandwidth + (N-1) latencies, or the
    dense table when that is cheaper; overlapped: the decoder's gradient reduced during the rest
    of backward (profile window)."""
    print("\nOn paper: efficiency = compute / (compute + exposed exchange), per node = this machine's "
          "1 process x 2 threads with 20 columns (global batch 20 N)\n")
    print("| model | compute ms/step | nodes | " + " | ".join(f"{g} Gbit/s: not overlapped / overlapped" for g in GBITS)
          + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in GBITS) + " |")
    out = {}
    for m in models:
        x = meas[m]
        tc = x["compute_ms"] / 1e3
        V, E, H = x["V"], x["E"], x["H"]
        table = 4.0 * V * E
        dense = 4.0 * x["parameters"] - (0 if x["tied"] else table)  # reduced by the ring either way
        dec = 4.0 * (V * H + V)
        rows = x["rows_per_node"] * (E + 1) * 4.0
        for n in NODES:
            cells = []
            for g in GBITS:
                bw = g / 8 * 1e9
                ring = lambda b: 2 * (n - 1) / n * b / bw + 2 * (n - 1) * ALPHA
                emb = ring(table) if x["tied"] else min((n - 1) * rows / bw + (n - 1) * ALPHA, ring(table))
                comm = ring(dense) + emb
                exposed = max(0.0, ring(dec) - x["window_ms"] / 1e3) + (comm - ring(dec))
                e0, e1 = tc / (tc + comm), tc / (tc + exposed)
                out[(m, n, g)] = (e0, e1, comm)
                cells.append(f"{e0:.0%} / {e1:.0%}")
            print(f"| {m} | {x['compute_ms']:.0f} | {n} | " + " | ".join(cells) + " |")
    return out


def med(samples, key):
    v = [s[key] for s in samples]
    return statistics.median(v), min(v), max(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the corpus folder (required unless --project)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="small,medium,seed")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated, of: " + ", ".join(SETTINGS))
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--baseline", help="another build folder (e.g. of the commit before a change): its "
                    "'2r x 1t shared' runs as a setting of its own, interleaved with the rest")
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--project", help="print the on-paper table from a --json file of an earlier run")
    a = ap.parse_args()
    if a.project:
        with open(a.project) as f:
            project(json.load(f)["projection_inputs"], a.models.split(","))
        return
    if not a.data:
        ap.error("--data is required")
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    data = bench_corpus(a.data, a.tmp)
    models = a.models.split(",")
    settings = [s for s in SETTINGS if s in a.settings.split(",") or s in ("1p x 2t", "2r x 1t sparse")]
    if a.baseline:
        settings += [s for s in ("2r x 1t shared",) if s not in settings] + ["base 2r x 1t shared"]
    if unknown := set(a.settings.split(",")) - set(SETTINGS):
        sys.exit(f"bench_dist: unknown settings {sorted(unknown)} (known: {', '.join(SETTINGS)})")
    samples = {(m, s): [] for m in models for s in settings}
    for rnd in range(a.rounds):
        for m in models:
            for s in settings:
                v = run(a, env, data, m, s)
                samples[(m, s)].append(v)
                print(f"round {rnd + 1}: {m} {s}: {v['tokens_per_sec']:,.0f} tok/s, step {v['step_ms']:.1f} ms, "
                      f"wait {v['wait_ms']:.1f} ms, exchange {v['exchange_ms']:.1f} ms", file=sys.stderr, flush=True)
    prof = {m: profile(a, env, data, m) for m in models}
    inputs = {m: dict(prof[m], compute_ms=statistics.median(v["step_ms"] for v in samples[(m, "1p x 2t")]),
                      parameters=samples[(m, "1p x 2t")][0]["parameters"],
                      # rows a node with 20 columns sends: the two 10-column ranks' rows together (an
                      # overestimate: a word in both halves counts twice)
                      rows_per_node=statistics.median(v["embedding_rows"] for v in samples[(m, "2r x 1t sparse")]))
              for m in models}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"samples": {f"{m}/{s}": v for (m, s), v in samples.items()}, "projection_inputs": inputs}, f,
                      indent=1)
    fmt = lambda t: f"{t[0]:,.1f} ({t[1]:,.1f}..{t[2]:,.1f})"
    print(f"medians of {a.rounds} interleaved rounds (min..max)\n")
    print("| model | setting | tokens/s | ms/step | compute ms/step | wait ms/step | exchange ms/step | "
          "allreduce MB/step | embedding rows kB/step (rows) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in models:
        for s in settings:
            x = samples[(m, s)]
            tok = med(x, "tokens_per_sec")
            ab = statistics.median([v["allreduce_bytes"] for v in x]) / 1e6
            eb = statistics.median([v["embedding_bytes"] for v in x]) / 1e3
            rows = statistics.median([v["embedding_rows"] for v in x])
            print(f"| {m} | {s} | {tok[0]:,.0f} ({tok[1]:,.0f}..{tok[2]:,.0f}) | {fmt(med(x, 'step_ms'))} | "
                  f"{fmt(med(x, 'compute_ms'))} | {fmt(med(x, 'wait_ms'))} | {fmt(med(x, 'exchange_ms'))} | {ab:.2f} | "
                  + (f"{eb:.0f} ({rows:.0f}) |" if s.endswith("sparse") else "- |"))
    print()
    if a.baseline:
        for m in models:
            new = [v["tokens_per_sec"] for v in samples[(m, "2r x 1t shared")]]
            old = [v["tokens_per_sec"] for v in samples[(m, "base 2r x 1t shared")]]
            ratios = [n / o for n, o in zip(new, old)]
            print(f"{m}: 2r x 1t shared, this build / --baseline = {statistics.median(new) / statistics.median(old):.3f} "
                  f"(per round {min(ratios):.3f}..{max(ratios):.3f})")
    for m in models:
        for s in (s for s in settings if "2r x 1t" in s and s != "2r x 1t dense"):
            two = [v["tokens_per_sec"] for v in samples[(m, s)]]
            one = [v["tokens_per_sec"] for v in samples[(m, "1p x 2t")]]
            ratios = [t / o for t, o in zip(two, one)]
            print(f"{m}: {s.replace('2r x 1t', '2 ranks x 1 thread')} / 1 process x 2 threads = "
                  f"{statistics.median(two) / statistics.median(one):.2f} (per round {min(ratios):.2f}..{max(ratios):.2f})")
    project(inputs, models)


if __name__ == "__main__":
    main()
