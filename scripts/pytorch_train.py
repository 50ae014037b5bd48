#!/usr/bin/env python3
"""PyTorch's side of the training comparison: pytorch/examples word_language_model main.py (LSTM)
on the same corpus with the same hyperparameters, reporting tokens/s and per-epoch valid ppl as
JSON on stdout, so anyone can rerun the comparison (scripts/compare_train.py drives both).

Thread settings are explicit: --threads sets torch.set_num_threads, --blas-threads sets OpenBLAS's
own pool (this torch build does not), and OMP_WAIT_POLICY=passive is set when either is > 1 so
the two pools do not fight for the cores (docs/benchmarks.md).

  /usr/bin/python3 scripts/pytorch_train.py --data data/brown --max-batches 60 --threads 2 --blas-threads 2
"""
import argparse
import json
import math
import os
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--emsize", type=int, default=200)
    ap.add_argument("--nhid", type=int, default=200)
    ap.add_argument("--nlayers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=20)
    ap.add_argument("--clip", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch_size", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--seed", type=int, default=1111)
    ap.add_argument("--max-batches", type=int, default=0, help="stop after this many batches (speed runs)")
    ap.add_argument("--warmup", type=int, default=3, help="batches excluded from the timing")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--no-valid", action="store_true", help="skip validation (speed runs)")
    return ap.parse_args()


def main():
    a = parse()
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.blas_threads)
    if a.threads > 1 or a.blas_threads > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch  # after the environment is set
    import torch.nn as nn
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    def read(path, vocab, add):
        ids = []
        with open(path, "r", encoding="utf8") as f:
            for line in f:
                for w in line.split() + ["<eos>"]:
                    if w not in vocab:
                        vocab[w] = len(vocab)
                    ids.append(vocab[w])
        return torch.tensor(ids, dtype=torch.int64)

    vocab = {}
    split = lambda s: os.path.join(a.data, f"{s}.txt") if os.path.exists(os.path.join(a.data, f"{s}.txt")) \
        else os.path.join(a.data, f"ptb.{s}.txt")
    train, valid, test = (read(split(s), vocab, True) for s in ("train", "valid", "test"))

    def batchify(d, bsz):
        n = d.size(0) // bsz
        return d.narrow(0, 0, n * bsz).view(bsz, -1).t().contiguous()

    train_data, val_data = batchify(train, a.batch_size), batchify(valid, 10)

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    from torch_rnn import init_like_examples, rnn_model_class
    V = len(vocab)
    model = init_like_examples(rnn_model_class(torch)("LSTM", V, a.emsize, a.nhid, a.nlayers, dropout=a.dropout,
                                                      tie_weights=a.tied))
    crit = nn.NLLLoss()

    def get_batch(src, i):
        n = min(a.bptt, len(src) - 1 - i)
        return src[i:i + n], src[i + 1:i + 1 + n].view(-1)

    def evaluate(d):
        model.eval()
        tot, h = 0.0, model.init_hidden(10)
        with torch.no_grad():
            for i in range(0, d.size(0) - 1, a.bptt):
                x, y = get_batch(d, i)
                out, h = model(x, h)
                h = tuple(v.detach() for v in h)
                tot += len(x) * crit(out, y).item()
        return tot / (len(d) - 1)

    lr, best = a.lr, None
    epochs, done, timed_tokens, timed_seconds = [], 0, 0, 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        h = model.init_hidden(a.batch_size)
        t_epoch = time.time()
        for batch, i in enumerate(range(0, train_data.size(0) - 1, a.bptt)):
            t0 = time.perf_counter()
            x, y = get_batch(train_data, i)
            model.zero_grad()
            h = tuple(v.detach() for v in h)
            out, h = model(x, h)
            loss = crit(out, y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            loss.item()
            dt = time.perf_counter() - t0
            done += 1
            if done > a.warmup:
                timed_tokens += x.numel()
                timed_seconds += dt
            if a.max_batches and done >= a.max_batches:
                break
        rec = {"epoch": epoch, "seconds": time.time() - t_epoch}
        if not a.no_valid:
            vl = evaluate(val_data)
            rec.update(valid_loss=vl, valid_ppl=math.exp(vl), lr=lr)
            if best is None or vl < best:
                best = vl
            else:
                lr /= 4.0
        epochs.append(rec)
        print(json.dumps(rec), file=sys.stderr)
        if a.max_batches and done >= a.max_batches:
            break
    print(json.dumps({"tool": "pytorch", "torch": torch.__version__, "threads": a.threads, "blas_threads": a.blas_threads,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "vocab_size": V,
                      "batches": done, "timed_tokens": timed_tokens, "timed_seconds": timed_seconds,
                      "tokens_per_sec": timed_tokens / timed_seconds if timed_seconds else 0.0, "epochs": epochs}))


if __name__ == "__main__":
    main()
