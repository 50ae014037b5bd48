#!/usr/bin/env python3
"""Writes the golden fixtures the C++ tests compare against (architecture.md example 8: a twin
implementation). Needs Debian's python3-torch; the fixtures are committed so CI does not.

  /usr/bin/python3 scripts/pytorch_golden.py [--build build]

1. tests/fixtures/golden_{untied,tied}.model.safetensors: a tiny random RNNModel (LSTM) as a
   wordlm checkpoint, and golden_*.expect.safetensors: an input window, initial hidden state,
   and PyTorch's logits, log-probabilities, loss, final hidden state and every gradient.
2. tests/fixtures/import_corpus/: a small corpus from `lm-corpus synth`; a PyTorch model trained
   on it for one epoch exactly as pytorch/examples main.py does, converted with
   scripts/import_pytorch.py into tests/fixtures/import_model.safetensors; and
   tests/fixtures/import_expect.json with the test perplexity PyTorch's evaluate() reports.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import wordlm_spec  # noqa: E402
import wordlm_st  # noqa: E402
import import_pytorch  # noqa: E402
from torch_rnn import init_like_examples, rnn_model_class  # noqa: E402

import torch  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures")


def flat(t):
    return t.detach().float().contiguous().flatten().tolist()


def golden(name, V, E, H, L, tied, seed):
    torch.manual_seed(seed)
    model = init_like_examples(rnn_model_class(torch)("LSTM", V, E, H, L, dropout=0.0, tie_weights=tied))
    T, B = 7, 3
    inp = torch.randint(0, V, (T, B))
    tgt = torch.randint(0, V, (T * B,))
    h0 = torch.randn(L, B, H) * 0.5
    c0 = torch.randn(L, B, H) * 0.5
    model.train()
    emb = model.encoder(inp)
    out, (hn, cn) = model.rnn(emb, (h0, c0))
    logits = model.decoder(out).view(-1, V)
    logp = torch.nn.functional.log_softmax(logits, dim=1)
    loss = torch.nn.functional.nll_loss(logp, tgt)
    loss.backward()
    # the model as a wordlm checkpoint
    state = model.state_dict()
    vocab = ["<eos>", "<unk>"] + [f"w{i}" for i in range(V - 2)]
    cfg = {"vocab_size": V, "emsize": E, "nhid": H, "nlayers": L, "tied": tied, "dropout": 0.0}
    names = wordlm_spec.names(cfg)
    wordlm_st.write(os.path.join(FIX, f"golden_{name}.model.safetensors"),
                    [(n, "F32", list(state[n].shape), flat(state[n])) for n in names],
                    wordlm_st.model_metadata(cfg, vocab, {"tool": "pytorch_golden.py", "torch": torch.__version__,
                                                          "seed": seed}))
    params = dict(model.named_parameters())
    expect = [("input", "I32", [T, B], inp.flatten().tolist()),
              ("target", "I32", [T * B], tgt.tolist()),
              ("h0", "F32", [L, B, H], flat(h0)), ("c0", "F32", [L, B, H], flat(c0)),
              ("logits", "F32", [T * B, V], flat(logits)), ("logprobs", "F32", [T * B, V], flat(logp)),
              ("loss", "F32", [1], [loss.item()]),
              ("hn", "F32", [L, B, H], flat(hn)), ("cn", "F32", [L, B, H], flat(cn))]
    for n in names:
        expect.append(("grad." + n, "F32", list(params[n].grad.shape), flat(params[n].grad)))
    wordlm_st.write(os.path.join(FIX, f"golden_{name}.expect.safetensors"), expect,
                    {"torch": torch.__version__, "loss": repr(loss.item())})
    print(f"golden_{name}: loss {loss.item():.6f}", file=sys.stderr)


# ---- pytorch/examples main.py, trimmed to what the import fixture needs ----------------------
def tokenize(path, vocab):
    ids = []
    with open(path, "r", encoding="utf8") as f:
        for line in f:
            for w in line.split() + ["<eos>"]:
                ids.append(vocab[w])
    return torch.tensor(ids, dtype=torch.int64)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


def repackage(h):
    return tuple(v.detach() for v in h)


def evaluate(model, data, bptt, ntokens):
    model.eval()
    total = 0.0
    hidden = model.init_hidden(10)
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            x, y = get_batch(data, i, bptt)
            out, hidden = model(x, hidden)
            hidden = repackage(hidden)
            total += len(x) * torch.nn.functional.nll_loss(out, y).item()
    return total / (len(data) - 1)


def import_fixture(build):
    corpus = os.path.join(FIX, "import_corpus")
    subprocess.run([os.path.join(build, "lm-corpus"), "-q", "synth", "--output", corpus, "--vocab", "300", "--fanout", "8",
                    "--train-tokens", "20000", "--valid-tokens", "3000", "--test-tokens", "3000", "--seed", "7"],
                   check=True, stdout=subprocess.DEVNULL)
    words = wordlm_st.read_vocab_like_pytorch_examples(corpus)
    vocab = {w: i for i, w in enumerate(words)}
    train = batchify(tokenize(os.path.join(corpus, "train.txt"), vocab), 20)
    valid = batchify(tokenize(os.path.join(corpus, "valid.txt"), vocab), 10)
    test = batchify(tokenize(os.path.join(corpus, "test.txt"), vocab), 10)
    torch.manual_seed(1111)
    RNNModel = rnn_model_class(torch)
    model = init_like_examples(RNNModel("LSTM", len(words), 32, 32, 2, dropout=0.2))
    lr, bptt = 20.0, 35
    for epoch in range(2):
        model.train()
        hidden = model.init_hidden(20)
        for i in range(0, train.size(0) - 1, bptt):
            x, y = get_batch(train, i, bptt)
            model.zero_grad()
            hidden = repackage(hidden)
            out, hidden = model(x, hidden)
            loss = torch.nn.functional.nll_loss(out, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
    valid_loss = evaluate(model, valid, bptt, len(words))
    test_loss = evaluate(model, test, bptt, len(words))
    with tempfile.TemporaryDirectory() as tmp:
        pt = os.path.join(tmp, "model.pt")
        sys.modules.setdefault("model", type(sys)("model"))
        sys.modules["model"].RNNModel = RNNModel
        torch.save(model, pt)
        import_pytorch.convert(torch, pt, corpus, os.path.join(FIX, "import_model.safetensors"))
    with open(os.path.join(FIX, "import_expect.json"), "w") as f:
        json.dump({"valid_loss": valid_loss, "valid_ppl": math.exp(valid_loss), "test_loss": test_loss,
                   "test_ppl": math.exp(test_loss), "eval_batch_size": 10, "bptt": bptt,
                   "torch": torch.__version__}, f, indent=2)
        f.write("\n")
    print(f"import fixture: PyTorch test ppl {math.exp(test_loss):.4f}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding lm-corpus")
    a = ap.parse_args()
    os.makedirs(FIX, exist_ok=True)
    torch.set_num_threads(1)
    golden("untied", V=50, E=16, H=32, L=2, tied=False, seed=1)
    golden("tied", V=50, E=24, H=24, L=2, tied=True, seed=2)
    import_fixture(a.build)


if __name__ == "__main__":
    main()
