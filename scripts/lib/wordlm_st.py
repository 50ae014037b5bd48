"""safetensors read/write with the standard library only, plus the wordlm checkpoint metadata
(docs/checkpoint.md). Shared by the PyTorch- and ONNX-side scripts; numpy/torch are not needed
here (read_raw() hands out the bytes, for callers that wrap them in numpy arrays)."""
import json
import struct

DTYPES = {"F32": ("f", 4), "I8": ("b", 1), "I32": ("i", 4), "I64": ("q", 8), "U8": ("B", 1), "F64": ("d", 8),
          "F16": ("e", 2)}
FORMAT_VERSION = 1


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, flat list of numbers). Widest dtype first, header
    padded with spaces to a multiple of 8, data back to back (as the C++ writer does)."""
    order = sorted(tensors, key=lambda t: -DTYPES[t[1]][1])
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs, pos = [], 0
    for name, dtype, shape, values in order:
        fmt, size = DTYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        assert len(values) == count, f"{name}: {len(values)} values for shape {shape}"
        blob = struct.pack(f"<{count}{fmt}", *values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("utf-8"))
        for b in blobs:
            f.write(b)


def read_raw(path):
    """Returns (metadata dict, {name: (dtype, shape, bytes)}): the little-endian data of each
    tensor, not unpacked. Raises ValueError for a file that is not safetensors (too short, a bad
    header, offsets outside the data, an unknown dtype); wordlm's C++ reader checks far more."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    out = {}
    for name, info in header.items():
        if info.get("dtype") not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {info.get('dtype')}")
        b, e = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        if not 0 <= b <= e <= len(buf) or e - b != count * DTYPES[info["dtype"]][1]:
            raise ValueError(f"{path}: tensor {name} has offsets {b}..{e} that do not fit its shape or the file")
        out[name] = (info["dtype"], info["shape"], buf[b:e])
    return meta, out


def read(path):
    """Returns (metadata dict, {name: (dtype, shape, flat tuple)})."""
    meta, raw = read_raw(path)
    out = {}
    for name, (dtype, shape, blob) in raw.items():
        fmt, size = DTYPES[dtype]
        out[name] = (dtype, shape, struct.unpack(f"<{len(blob) // size}{fmt}", blob))
    return meta, out


def model_metadata(config, vocab, provenance):
    cfg = dict(config)
    cfg.setdefault("rnn_type", "LSTM")
    return {"format": "wordlm", "format_version": str(FORMAT_VERSION), "kind": "model",
            "config": json.dumps(cfg), "vocab": json.dumps(vocab, ensure_ascii=False),
            "provenance": json.dumps(provenance)}


def read_vocab_like_pytorch_examples(corpus_dir):
    """pytorch/examples word_language_model/data.py: words of train, valid, test (in that order)
    in order of first occurrence, '<eos>' appended to every line."""
    import os
    words, seen = [], set()
    for split in ("train", "valid", "test"):
        path = os.path.join(corpus_dir, f"{split}.txt")
        if not os.path.exists(path):
            path = os.path.join(corpus_dir, f"ptb.{split}.txt")
        with open(path, "r", encoding="utf8") as f:
            for line in f:
                for w in line.split() + ["<eos>"]:
                    if w not in seen:
                        seen.add(w)
                        words.append(w)
    return words
