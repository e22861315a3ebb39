"""Independent reference for tritium's GGUF parser and dequantizers.

Reads a GGUF file with the `gguf` PyPI package (GGUFReader) and dequantizes every tensor with
`gguf.quants.dequantize`. Writes all values as little-endian float32, concatenated in tensor-table
order, to OUT_BIN, and prints a JSON index to stdout:
  {"tensors": [{"name", "type", "shape" (row-major), "offset" (in floats), "n"}], "metadata_keys": [...]}
Usage: python gguf_dequant_ref.py MODEL.gguf OUT_BIN
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    path, out_path = sys.argv[1], sys.argv[2]
    r = GGUFReader(path)
    index = []
    off = 0
    with open(out_path, "wb") as out:
        for t in r.tensors:
            x = dequantize(t.data, t.tensor_type).astype("<f4").reshape(-1)
            out.write(x.tobytes())
            index.append({
                "name": t.name,
                "type": t.tensor_type.name,
                "shape": [int(d) for d in reversed(t.shape)],
                "offset": off,
                "n": int(x.size),
                "data_offset": int(t.data_offset),
            })
            off += x.size
    keys = [k for k in r.fields.keys() if not k.startswith("GGUF.")]
    print(json.dumps({"tensors": index, "metadata_keys": keys}))


if __name__ == "__main__":
    main()
