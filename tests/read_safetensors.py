#!/usr/bin/env python3
"""Independent safetensors reader (standard library only), used by the test suite to prove that
files wordlm writes open in other tools. Prints a JSON summary: metadata and, per tensor, dtype,
shape, and the sum and first values of its elements."""
import json
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
         "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
FMT = {"U8": "B", "I8": "b", "I16": "h", "U16": "H", "F16": "e", "I32": "i", "U32": "I", "F32": "f",
       "F64": "d", "I64": "q", "U64": "Q"}


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    assert (8 + n) % 8 == 0, "header not padded to a multiple of 8"
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {"metadata": meta, "tensors": {}}
    end = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == end, f"{name}: gap or overlap"
        count = 1
        for d in info["shape"]:
            count *= d
        assert e - b == count * SIZES[info["dtype"]], f"{name}: size mismatch"
        end = e
        values = struct.unpack(f"<{count}{FMT[info['dtype']]}", buf[b:e])
        out["tensors"][name] = {"dtype": info["dtype"], "shape": info["shape"],
                                "sum": float(sum(values)), "first": [float(v) for v in values[:4]]}
    assert end == len(buf), "trailing bytes"
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
