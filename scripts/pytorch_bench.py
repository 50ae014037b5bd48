#!/usr/bin/env python3
"""PyTorch's side of lm-bench: the same tests (forward b x s with log-softmax, decode with the state
carried, eval throughput, load time) on PyTorch's RNNModel, fp32 and int8 through
torch.quantization.quantize_dynamic under each available quantized engine, emitting lm-bench's
JSON schema (impl "pytorch") so scripts/bench_compare.py can merge the two.

Thread settings are explicit: --threads (torch.set_num_threads) and --blas-threads (OpenBLAS's own
pool, set through OPENBLAS_NUM_THREADS before torch loads); OMP_WAIT_POLICY=passive whenever either
is above 1. One process measures one setting; run it once per setting.

  /usr/bin/python3 scripts/pytorch_bench.py --preset seed --int8 -b 1 -s 10 --threads 1 --blas-threads 1
  /usr/bin/python3 scripts/pytorch_bench.py -m runs/demo/small.safetensors --int8 --tests eval --data data/brown
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import wordlm_st  # noqa: E402

PRESETS = {"seed": (5000, 256, 512, 2), "small": (10000, 200, 200, 2), "medium": (10000, 650, 650, 2)}


def ints(s):
    out = []
    for part in s.split(","):
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", action="append", default=[], help="wordlm checkpoint (fp32) to load")
    ap.add_argument("--preset", action="append", default=[], choices=sorted(PRESETS))
    ap.add_argument("--int8", action="store_true", help="also quantize_dynamic under qnnpack and onednn")
    ap.add_argument("--engines", default="qnnpack,onednn")
    ap.add_argument("--tests", default="forward")
    ap.add_argument("-b", "--batch", default="1")
    ap.add_argument("-s", "--seq", default="10")
    ap.add_argument("-r", "--repetitions", type=int, default=5)
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eval-batch", type=int, default=10)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--eval-tokens", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("-o", "--output", default="json", choices=["json", "md"])
    return ap.parse_args()


def stats(v):
    s = sorted(v)
    n = len(s)

    def pct(q):
        pos = q / 100 * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)
    return {"n": n, "mean": statistics.mean(v), "sd": statistics.stdev(v) if n > 1 else 0.0, "median": pct(50),
            "p90": pct(90), "p99": pct(99), "min": s[0], "max": s[-1]}


def main():
    a = parse()
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.blas_threads)
    if a.threads > 1 or a.blas_threads > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch
    import torch.nn as nn
    torch.set_num_threads(a.threads)

    from torch_rnn import init_like_examples, rnn_model_class
    Examples = rnn_model_class(torch)

    def RNNModel(V, E, H, L, tied=False):
        return Examples("LSTM", V, E, H, L, dropout=0.0, tie_weights=tied)

    models = []  # (label, fp32 model, vocab or None)
    for p in a.preset:
        V, E, H, L = PRESETS[p]
        torch.manual_seed(1)
        m = init_like_examples(RNNModel(V, E, H, L))
        models.append((p, m, None))
    for path in a.model:
        meta, tensors = wordlm_st.read(path)
        cfg = json.loads(meta["config"])
        if "quantization" in meta:
            sys.exit(f"pytorch_bench: {path} is int8; give the fp32 checkpoint (use --int8 for PyTorch's int8)")
        m = RNNModel(cfg["vocab_size"], cfg["emsize"], cfg["nhid"], cfg["nlayers"], cfg["tied"])
        sd = {}
        for name, (dtype, shape, vals) in tensors.items():
            sd[name] = torch.tensor(vals, dtype=torch.float32).view(*shape)
        if cfg["tied"]:
            sd["decoder.weight"] = sd["encoder.weight"]
        m.load_state_dict(sd)
        models.append((os.path.basename(path), m, json.loads(meta["vocab"])))

    variants = []  # (label, dtype, model, engine)
    for label, m, vocab in models:
        m.eval()
        variants.append((label, "fp32", m, None, vocab))
        if a.int8:
            for eng in a.engines.split(","):
                if eng not in torch.backends.quantized.supported_engines:
                    print(f"pytorch_bench: engine {eng} not available", file=sys.stderr)
                    continue
                torch.backends.quantized.engine = eng
                q = torch.quantization.quantize_dynamic(m, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
                variants.append((label, f"int8 {eng}", q, eng, vocab))

    tests = []
    for t in a.tests.split(","):
        if t == "forward":
            tests += [("forward", b, s) for b in ints(a.batch) for s in ints(a.seq)]
        elif t == "decode":
            tests.append(("decode", 1, a.decode_tokens))
        elif t == "eval":
            tests.append(("eval", a.eval_batch, a.bptt))
        elif t == "load":
            tests.append(("load", 0, 0))
        else:
            sys.exit(f"pytorch_bench: unknown test {t}")

    results = []
    gen = torch.Generator().manual_seed(1)
    for label, dtype, m, eng, vocab in variants:
        if eng:
            torch.backends.quantized.engine = eng
        params = sum(p.numel() for p in models[[x[0] for x in models].index(label)][1].parameters())
        with tempfile.NamedTemporaryFile(suffix=".pt") as f:
            torch.save(m.state_dict(), f.name)
            size = os.path.getsize(f.name)
            for kind, b, s in tests:
                if kind == "eval" and not a.data:
                    continue
                V = m.ntoken if hasattr(m, "ntoken") else m.encoder.num_embeddings
                tokens = 0
                if kind == "forward":
                    x = torch.randint(0, V, (s, b), generator=gen)
                    tokens = b * s

                    def once():
                        with torch.no_grad():
                            h = m.init_hidden(b)
                            t0 = time.perf_counter()
                            m(x, h)
                            return time.perf_counter() - t0
                elif kind == "decode":
                    x = torch.randint(0, V, (s, 1), generator=gen)
                    tokens = 1

                    def once():
                        with torch.no_grad():
                            h = m.init_hidden(1)
                            t0 = time.perf_counter()
                            for i in range(s):
                                _, h = m(x[i:i + 1], h)
                            return (time.perf_counter() - t0) / s
                elif kind == "eval":
                    if vocab is None:
                        sys.exit("pytorch_bench: the eval test needs -m FILE (a vocabulary)")
                    index = {w: i for i, w in enumerate(vocab)}
                    ids = []
                    path = os.path.join(a.data, f"{a.split}.txt")
                    with open(path, encoding="utf8") as fh:
                        for line in fh:
                            for w in line.split() + ["<eos>"]:
                                ids.append(index.get(w, index.get("<unk>", 0)))
                    if a.eval_tokens:
                        ids = ids[:a.eval_tokens]
                    d = torch.tensor(ids)
                    nb = d.size(0) // b
                    data = d.narrow(0, 0, nb * b).view(b, -1).t().contiguous()
                    tokens = b * (data.size(0) - 1)
                    crit = nn.NLLLoss()

                    def once():
                        with torch.no_grad():
                            h = m.init_hidden(b)
                            t0 = time.perf_counter()
                            for i in range(0, data.size(0) - 1, s):
                                n = min(s, data.size(0) - 1 - i)
                                out, h = m(data[i:i + n], h)
                                crit(out, data[i + 1:i + 1 + n].view(-1)).item()
                            return time.perf_counter() - t0
                else:
                    def once():
                        t0 = time.perf_counter()
                        sd = torch.load(f.name)
                        if eng:
                            base = models[[x[0] for x in models].index(label)][1]
                            mm = RNNModel(base.ntoken, base.encoder.embedding_dim, base.nhid, base.nlayers)
                            mm.load_state_dict(base.state_dict())
                            torch.quantization.quantize_dynamic(mm, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
                        else:
                            mm = RNNModel(m.ntoken, m.encoder.embedding_dim, m.nhid, m.nlayers)
                            mm.load_state_dict(sd)
                        return time.perf_counter() - t0
                if not a.no_warmup:
                    once()
                ms = []
                for r in range(a.repetitions):
                    ms.append(1e3 * once())
                    print(f"{label} {dtype} t={a.threads}/{a.blas_threads} {kind} b{b} s{s}: run {r + 1}", file=sys.stderr)
                name = {"forward": f"b{b} s{s}", "decode": f"decode b{b}", "eval": f"eval b{b} bptt{s}", "load": "load"}[kind]
                tps = [tokens / (v / 1e3) for v in ms] if tokens else []
                results.append({"impl": "pytorch", "model": label, "dtype": dtype, "engine": eng or "",
                                "size_bytes": size, "params": params, "threads": a.threads,
                                "blas_threads": a.blas_threads, "test": name, "kind": kind, "batch": b, "seq": s,
                                "tokens": tokens, "reps": len(ms), "ms": stats(ms),
                                "tokens_per_sec": stats(tps) if tps else {}, "samples_ms": ms})
    out = {"tool": "pytorch_bench", "impl": "pytorch",
           "run": {"torch": torch.__version__, "threads": a.threads, "blas_threads": a.blas_threads,
                   "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                   "engines": list(torch.backends.quantized.supported_engines), "python": platform.python_version(),
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
           "results": results}
    if a.output == "json":
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        print("| model | size | dtype | threads | test | ms | t/s |\n| --- | ---: | --- | --- | --- | ---: | ---: |")
        for r in results:
            tps = f"{r['tokens_per_sec']['mean']:,.0f}" if r["tokens_per_sec"] else "-"
            print(f"| {r['model']} | {r['size_bytes'] / 1e6:.2f} MB | {r['dtype']} | {r['threads']}/{r['blas_threads']} | "
                  f"{r['test']} | {r['ms']['mean']:.3f} ± {r['ms']['sd']:.3f} | {tps} |")


if __name__ == "__main__":
    main()
