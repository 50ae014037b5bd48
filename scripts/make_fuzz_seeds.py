#!/usr/bin/env python3
"""Writes the fuzz seed corpora committed under fuzz/seeds/ (standard library only):
checkpoint/ holds tiny valid wordlm checkpoints (fp32, int8 per-row, int8 per-tensor with an int8
embedding, tied) and a few near-misses; corpus/ holds small texts with the features the reader
handles (BOM, CRLF, lone CR, Unicode spaces, blank lines, <unk>). The first byte of a corpus seed
is the fuzz target's option byte."""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import wordlm_spec  # noqa: E402
import wordlm_st  # noqa: E402

ROOT = os.path.dirname(HERE)
CK = os.path.join(ROOT, "fuzz", "seeds", "checkpoint")
CO = os.path.join(ROOT, "fuzz", "seeds", "corpus")


def model_tensors(V, E, H, L, tied, rnd, int8=None, emb8=False):
    cfg = {"vocab_size": V, "emsize": E, "nhid": H, "nlayers": L, "tied": tied}
    out = []
    for spec in wordlm_spec.param_specs(cfg):
        n, shape = spec["name"], spec["shape"]
        count = 1
        for d in shape:
            count *= d
        quant = int8 and spec["quantizable"] and (spec["role"] != "embedding" or emb8)
        if quant:
            out.append((n, "I8", shape, [rnd.randint(-127, 127) for _ in range(count)]))
            scales = [0.01] * shape[0] if int8 == "per-row" or spec["role"] == "embedding" else [0.01]
            out.append((wordlm_spec.scale_name(n), "F32", [shape[0], 1] if len(scales) > 1 else [1], scales))
        else:
            out.append((n, "F32", shape, [rnd.uniform(-0.1, 0.1) for _ in range(count)]))
    return out


def main():
    os.makedirs(CK, exist_ok=True)
    os.makedirs(CO, exist_ok=True)
    rnd = random.Random(1)
    vocab = ["<eos>", "<unk>", "the", "cat", "sat", "mat"]
    for name, tied, int8, emb8 in [("fp32", False, None, False), ("int8_rows", False, "per-row", False),
                                   ("int8_tensor_emb", False, "per-tensor", True), ("tied", True, None, False)]:
        E, H = (4, 4) if tied else (4, 3)
        cfg = {"vocab_size": 6, "emsize": E, "nhid": H, "nlayers": 1, "tied": tied, "dropout": 0.0}
        meta = wordlm_st.model_metadata(cfg, vocab, {"tool": "make_fuzz_seeds.py"})
        if int8:
            meta["quantization"] = json.dumps({"scheme": "wordlm-int8-dynamic"})
        wordlm_st.write(os.path.join(CK, f"{name}.safetensors"), model_tensors(6, E, H, 1, tied, rnd, int8, emb8), meta)
    # near misses: wrong shape, missing tensor, bad metadata, plain safetensors
    cfg = {"vocab_size": 6, "emsize": 4, "nhid": 3, "nlayers": 1, "tied": False, "dropout": 0.0}
    t = model_tensors(6, 4, 3, 1, False, rnd)
    wordlm_st.write(os.path.join(CK, "missing_tensor.safetensors"), t[:-1], wordlm_st.model_metadata(cfg, vocab, {}))
    bad = dict(wordlm_st.model_metadata(cfg, vocab, {}))
    bad["format_version"] = "2"
    wordlm_st.write(os.path.join(CK, "newer_version.safetensors"), t, bad)
    wordlm_st.write(os.path.join(CK, "plain.safetensors"), [("x", "F32", [2, 2], [1, 2, 3, 4])], {"k": "v"})
    texts = {
        "ptb.txt": b"\x00 the cat sat on the mat \n the <unk> sat N years ago \n\n a b c\n",
        "bom_crlf.txt": b"\x01\xef\xbb\xbfThe Cat\r\nsat\ron the\r\n\r\nMAT",
        "unicode.txt": b"\x00caf\xc3\xa9 na\xc3\xafve\xc2\xa0word\xe3\x80\x80x\xe2\x80\x8by\x0bz\x1cq\n",
        "spaces.txt": b"\x00   \n\t\t\n \x0c \n",
    }
    for name, data in texts.items():
        with open(os.path.join(CO, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
