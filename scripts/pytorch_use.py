#!/usr/bin/env python3
"""PyTorch's side of lm-generate and lm-score, for the speed comparison (scripts/bench_use.py):
the same wordlm fp32 checkpoint loaded into pytorch/examples' RNNModel, int8 through
torch.quantization.quantize_dynamic (LSTM + Linear, the engine given), then

  generate: a generation loop like pytorch/examples' generate.py (one token in, the state
            carried, the next word drawn by the same sampler: softmax(logits / T), optional
            top-k), timed per generated word;
  score:    batched sentence scoring: sentences sorted by length into batches, padded, one
            forward per batch from a zero state with <eos> as start context, the closing <eos>
            scored; tokens per second.

Prints one JSON object on stdout.
  /usr/bin/python3 scripts/pytorch_use.py generate -m small.safetensors --int8 --words 1000
  /usr/bin/python3 scripts/pytorch_use.py score -m small.safetensors --int8 --file ptb.test.txt
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import wordlm_st  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["generate", "score"])
    ap.add_argument("-m", "--model", required=True, help="wordlm fp32 checkpoint")
    ap.add_argument("--int8", action="store_true", help="quantize_dynamic (LSTM and Linear, qint8)")
    ap.add_argument("--engine", default="best", help="qnnpack, onednn or best (the faster on a short trial)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file", help="sentences to score, one a line")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-lines", type=int, default=0)
    return ap.parse_args()


def load(torch, path):
    from torch_rnn import rnn_model_class
    meta, tensors = wordlm_st.read(path)
    cfg = json.loads(meta["config"])
    if "quantization" in meta:
        sys.exit(f"pytorch_use: {path} is quantized; give the fp32 checkpoint (use --int8 for PyTorch's int8)")
    m = rnn_model_class(torch)("LSTM", cfg["vocab_size"], cfg["emsize"], cfg["nhid"], cfg["nlayers"], dropout=0.0,
                               tie_weights=cfg["tied"])
    sd = {name: torch.tensor(vals, dtype=torch.float32).view(*shape) for name, (dtype, shape, vals) in tensors.items()}
    if cfg["tied"]:
        sd["decoder.weight"] = sd["encoder.weight"]
    m.load_state_dict(sd)
    m.eval()
    return m, json.loads(meta["vocab"])


def quantize(torch, m, engine):
    torch.backends.quantized.engine = engine
    return torch.quantization.quantize_dynamic(m, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)


def generate(torch, model, vocab, a, words):
    eos = vocab.index("<eos>")
    g = torch.Generator().manual_seed(a.seed)
    hidden = model.init_hidden(1)
    inp = torch.tensor([[eos]], dtype=torch.long)
    out = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for _ in range(words):
            logp, hidden = model(inp, hidden)
            z = logp[0] / a.temperature
            if a.top_k > 0:
                vals, idx = torch.topk(z, a.top_k)
                w = idx[torch.multinomial(torch.softmax(vals, 0), 1, generator=g)]
            else:
                w = torch.multinomial(torch.softmax(z, 0), 1, generator=g)
            inp.fill_(int(w))
            out.append(int(w))
    return (time.perf_counter() - t0) * 1000 / words, out


def score(torch, model, vocab, a):
    idx = {w: i for i, w in enumerate(vocab)}
    eos, unk = idx["<eos>"], idx.get("<unk>", -1)
    sents = []
    with open(a.file, encoding="utf-8") as f:
        for line in f:
            sents.append([idx.get(w, unk) for w in line.split()])
            if a.max_lines and len(sents) >= a.max_lines:
                break
    order = sorted(range(len(sents)), key=lambda i: -len(sents[i]))
    logprob = [0.0] * len(sents)
    tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b0 in range(0, len(order), a.batch_size):
            rows = order[b0:b0 + a.batch_size]
            T = len(sents[rows[0]]) + 1
            inp = torch.full((T, len(rows)), eos, dtype=torch.long)
            tgt = torch.full((T, len(rows)), eos, dtype=torch.long)
            mask = torch.zeros((T, len(rows)), dtype=torch.bool)
            for j, r in enumerate(rows):
                s = torch.tensor(sents[r], dtype=torch.long)
                n = len(sents[r])
                inp[1:n + 1, j] = s
                tgt[:n, j] = s
                mask[:n + 1, j] = True
            logp, _ = model(inp, model.init_hidden(len(rows)))
            lp = logp.view(T, len(rows), -1).gather(2, tgt.unsqueeze(2)).squeeze(2) * mask
            for j, r in enumerate(rows):
                logprob[r] = float(lp[:, j].sum())
            tokens += int(mask.sum())
    secs = time.perf_counter() - t0
    return secs, tokens, logprob


def main():
    a = parse()
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ.setdefault("GLOG_minloglevel", "2")  # qnnpack logs a warning per call otherwise
    import torch
    torch.set_num_threads(a.threads)
    m, vocab = load(torch, a.model)
    engine = ""
    if a.int8:
        engines = [e for e in ("qnnpack", "onednn") if e in torch.backends.quantized.supported_engines]
        if a.engine != "best":
            engines = [a.engine]
        best = None
        for e in engines:  # a short trial picks the faster engine for this model
            q = quantize(torch, m, e)
            ms, _ = generate(torch, q, vocab, a, 50)
            if best is None or ms < best[0]:
                best = (ms, e, q)
        _, engine, m = best
        torch.backends.quantized.engine = engine
    res = {"impl": "pytorch", "torch": torch.__version__, "dtype": "int8" if a.int8 else "fp32", "engine": engine,
           "threads": a.threads, "mode": a.mode}
    if a.mode == "generate":
        generate(torch, m, vocab, a, 20)  # warm-up
        ms, ids = generate(torch, m, vocab, a, a.words)
        res.update({"words": a.words, "ms_per_token": ms, "sample": " ".join(vocab[i] for i in ids[:20])})
    else:
        if not a.file:
            sys.exit("pytorch_use: score needs --file")
        secs, tokens, lp = score(torch, m, vocab, a)
        res.update({"lines": len(lp), "tokens": tokens, "seconds": secs, "tokens_per_sec": tokens / secs,
                    "logprob": sum(lp)})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
