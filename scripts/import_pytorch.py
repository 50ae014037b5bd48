#!/usr/bin/env python3
"""Convert a PyTorch word_language_model checkpoint into a wordlm checkpoint.

pytorch/examples' main.py saves the whole model (torch.save(model, f)); a plain state dict works
too. The vocabulary is rebuilt from the corpus exactly as its data.py does (train, valid, test,
first occurrence, <eos> per line), so word ids match the PyTorch run.

  /usr/bin/python3 scripts/import_pytorch.py --checkpoint model.pt --data CORPUS --output model.safetensors
"""
import argparse
import json
import os
import sys
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import wordlm_spec  # noqa: E402
import wordlm_st  # noqa: E402
from torch_rnn import rnn_model_class  # noqa: E402,F401  (re-exported for scripts that import this one)


def load_state(torch, path):
    # main.py pickles the model object of module `model`: make that module importable.
    mod = types.ModuleType("model")
    mod.RNNModel = rnn_model_class(torch)
    sys.modules.setdefault("model", mod)
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict):
        state = obj.get("state_dict", obj)
        dropout = obj.get("dropout", 0.0) if "state_dict" in obj else 0.0
    else:
        state = obj.state_dict()
        dropout = float(obj.drop.p)
    if getattr(obj, "rnn_type", "LSTM") != "LSTM":
        sys.exit(f"import_pytorch: only LSTM models are supported, not {obj.rnn_type}")
    return state, dropout


def convert(torch, checkpoint, corpus_dir, output, vocab=None):
    state, dropout = load_state(torch, checkpoint)
    enc = state["encoder.weight"]
    V, E = enc.shape
    H = state["rnn.weight_hh_l0"].shape[1]
    L = sum(1 for k in state if k.startswith("rnn.weight_ih_l"))
    tied = "decoder.weight" in state and state["decoder.weight"].data_ptr() == enc.data_ptr()
    if vocab is None:
        vocab = wordlm_st.read_vocab_like_pytorch_examples(corpus_dir)
    if len(vocab) != V:
        sys.exit(f"import_pytorch: the corpus gives {len(vocab)} words but the model has {V}")
    config = {"vocab_size": V, "emsize": E, "nhid": H, "nlayers": L, "tied": bool(tied), "dropout": dropout}
    tensors = []
    for spec in wordlm_spec.param_specs(config):
        t = state[spec["name"]].detach().float().contiguous()
        if list(t.shape) != spec["shape"]:
            sys.exit(f"import_pytorch: {spec['name']} has shape {list(t.shape)}, expected {spec['shape']}")
        tensors.append((spec["name"], "F32", spec["shape"], t.flatten().tolist()))
    prov = {"tool": "import_pytorch.py", "source": os.path.abspath(checkpoint), "corpus_dir": os.path.abspath(corpus_dir),
            "vocab": "pytorch/examples data.py (train+valid+test)", "torch": torch.__version__}
    wordlm_st.write(output, tensors, wordlm_st.model_metadata(config, vocab, prov))
    return config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="PyTorch model (torch.save(model)) or state dict")
    ap.add_argument("--data", required=True, help="the corpus folder it was trained on")
    ap.add_argument("--output", required=True, help="wordlm checkpoint to write")
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("import_pytorch: PyTorch is not installed (apt-get install python3-torch)")
    cfg = convert(torch, a.checkpoint, a.data, a.output)
    print(json.dumps({"output": a.output, "config": cfg}))


if __name__ == "__main__":
    main()
