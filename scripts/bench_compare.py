#!/usr/bin/env python3
"""Merges lm-bench JSON (impl wordlm), scripts/ort_bench.mjs JSON (impl ort, ONNX Runtime) and
scripts/pytorch_bench.py JSON (impl pytorch) into one markdown table with ratios: wordlm int8 vs
ORT's best int8 (over the exporter's u8, s7 and s8 weight encodings) and vs PyTorch's best int8 (over engines and thread
settings with the same thread count), wordlm fp32 vs ORT fp32 and PyTorch fp32, wordlm int8 vs
wordlm fp32, and file sizes. Medians throughout. Says clearly when ORT or PyTorch results are
missing.

  scripts/bench_compare.py reports/bench_wordlm.json reports/bench_ort_*.json reports/bench_pytorch_*.json [--json out.json]
"""
import argparse
import json
import sys


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def load(paths):
    """Rows of all files; rows of the same measurement from several rounds (files) are merged
    into one, with the median over all their samples (so no round's luck is picked alone)."""
    merged = {}
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        for r in d["results"]:
            r.setdefault("impl", d.get("impl", "wordlm"))
            r.setdefault("blas_threads", r.get("threads"))
            key = (r["impl"], r["model"], r["dtype"], r.get("engine", ""), r["test"], r["threads"], r["blas_threads"])
            if key in merged:
                merged[key]["samples_ms"] += r["samples_ms"]
                merged[key]["rounds"] += 1
            else:
                r = dict(r)
                r["samples_ms"] = list(r["samples_ms"])
                r["rounds"] = 1
                merged[key] = r
    rows = []
    for r in merged.values():
        ms = r["samples_ms"]
        r["ms"] = dict(r["ms"], median=median(ms), n=len(ms))
        if r.get("tokens"):
            r["tokens_per_sec"] = dict(r.get("tokens_per_sec") or {}, median=median([r["tokens"] / (v / 1e3) for v in ms]))
        rows.append(r)
    return rows


def metric(r):
    """(value, unit, higher_is_better): eval uses tokens/s, everything else median ms."""
    if r["kind"] == "eval":
        return r["tokens_per_sec"]["median"], "tok/s", True
    return r["ms"]["median"], "ms", False


def fmt(v, unit):
    return f"{v:,.0f}" if unit == "tok/s" else (f"{v:.3f}" if v < 10 else f"{v:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--json", help="write the merged comparison here")
    a = ap.parse_args()
    rows = load(a.files)
    have_pt = any(r["impl"] == "pytorch" for r in rows)
    have_ort = any(r["impl"] == "ort" for r in rows)
    keys = []
    for r in rows:
        k = (r["model"], r["test"], r["threads"])
        if k not in keys:
            keys.append(k)

    def pick(k, impl, want):
        cand = [r for r in rows if (r["model"], r["test"], r["threads"]) == k and r["impl"] == impl and want(r["dtype"])]
        if not cand:
            return None
        return max(cand, key=lambda r: metric(r)[0] if metric(r)[2] else -metric(r)[0])

    out = []
    print("| model | test | threads | wordlm fp32 | wordlm int8 | ORT fp32 | ORT int8 (best) | PyTorch fp32 | "
          "PyTorch int8 (best) | int8 vs ORT int8 | fp32 vs ORT fp32 | int8 vs PyTorch int8 | fp32 vs PyTorch fp32 | "
          "int8 vs fp32 |")
    print("| --- | --- | ---: |" + " ---: |" * 11)
    int8 = lambda d: d.startswith("int8") and "emb" not in d  # noqa: E731  (PyTorch has no int8 embedding)
    for k in keys:
        wf = pick(k, "wordlm", lambda d: d == "fp32")
        wq = pick(k, "wordlm", int8)
        of = pick(k, "ort", lambda d: d == "fp32")
        oq = pick(k, "ort", int8)  # the fastest of the u8, s7 and s8 graphs
        pf = pick(k, "pytorch", lambda d: d == "fp32")
        pq = pick(k, "pytorch", lambda d: d.startswith("int8"))
        unit = metric(next(r for r in (wf, wq, of, oq, pf, pq) if r))[1]

        def cell(r, with_setting=False):
            if not r:
                return "-"
            v = fmt(metric(r)[0], unit) + f" {unit}"
            if with_setting:
                eng = r.get("engine") or ""
                v += f" ({eng + ', ' if eng else ''}{r['threads']}/{r['blas_threads']})"
            return v

        def ratio(fast, slow):
            if not fast or not slow:
                return None
            vf, _, hib = metric(fast)
            vs, _, _ = metric(slow)
            return vf / vs if hib else vs / vf

        r1, r2, r3 = ratio(wq, pq), ratio(wf, pf), ratio(wq, wf)
        o1, o2 = ratio(wq, oq), ratio(wf, of)
        show = lambda x: f"**{x:.2f}x**" if x else "-"  # noqa: E731
        ocell = lambda r: cell(r) + (f" ({r['engine']})" if r and r.get("engine") else "")  # noqa: E731
        print(f"| {k[0]} | {k[1]} | {k[2]} | {cell(wf)} | {cell(wq)} | {cell(of)} | {ocell(oq)} | {cell(pf, True)} | "
              f"{cell(pq, True)} | {show(o1)} | {show(o2)} | {show(r1)} | {show(r2)} | {show(r3)} |")
        val = lambda r: metric(r)[0] if r else None  # noqa: E731
        out.append({"model": k[0], "test": k[1], "threads": k[2], "unit": unit,
                    "wordlm_fp32": val(wf), "wordlm_int8": val(wq), "ort_fp32": val(of), "ort_int8": val(oq),
                    "ort_int8_setting": oq.get("engine") if oq else None,
                    "pytorch_fp32": val(pf), "pytorch_int8": val(pq),
                    "pytorch_int8_setting": f"{pq.get('engine')} {pq['threads']}/{pq['blas_threads']}" if pq else None,
                    "int8_vs_ort_int8": o1, "fp32_vs_ort_fp32": o2,
                    "int8_vs_pytorch_int8": r1, "fp32_vs_pytorch_fp32": r2, "int8_vs_fp32": r3})
    sizes = {}
    for r in rows:
        sizes.setdefault((r["model"], r["impl"], r["dtype"]), r["size_bytes"])
    print("\n| model | implementation | dtype | file size |\n| --- | --- | --- | ---: |")
    for (m, impl, dt), b in sorted(sizes.items()):
        print(f"| {m} | {impl} | {dt} | {b / 1e6:.2f} MB |")
    if not have_ort:
        print("\n**ONNX Runtime results missing** (onnxruntime-node not installed: scripts/setup_ort.sh; left out "
              "with compare_bench.sh --no-ort; or no ort_bench.mjs output given): no ORT columns.")
    if not have_pt:
        print("\n**PyTorch results missing** (python3-torch not installed, left out with compare_bench.sh --no-torch, "
              "or no pytorch_bench.py output given): no PyTorch columns.")
    rounds = max((r["rounds"] for r in rows), default=1)
    print("\nwordlm threads T are compared with ORT at T intra-op threads (int8: the fastest of its u8, s7 and s8 "
          "weight encodings, named in parentheses; all from scripts/export_onnx.py, same weights as ORT fp32; s8 is "
          "not exact on x86 CPUs without VNNI, docs/onnx.md) and with "
          "PyTorch at torch threads T and its best OpenBLAS setting (T/B in parentheses; OMP_WAIT_POLICY=passive when "
          f"more than one thread). Medians over all samples of {rounds} interleaved round(s).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"comparisons": out, "sizes": [{"model": m, "impl": i, "dtype": d, "bytes": b}
                                                     for (m, i, d), b in sizes.items()]}, f, indent=2)


if __name__ == "__main__":
    main()
