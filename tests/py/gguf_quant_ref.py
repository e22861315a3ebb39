"""Independent reference for tritium's ggml quantizers (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).

Reads ROWS x COLS little-endian float32 values from IN_BIN, quantizes them with the `gguf` PyPI
package (`gguf.quants.quantize`, its numpy port of ggml's reference quantizers) to TYPE, and
writes the quantized bytes (row blocks, as in a GGUF file) to OUT_BIN.
Usage: python gguf_quant_ref.py TYPE IN_BIN ROWS COLS OUT_BIN
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import quantize


def main():
    qtype, in_path, rows, cols, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    x = np.fromfile(in_path, dtype="<f4")
    if x.size != rows * cols:
        sys.exit(f"{in_path}: {x.size} floats, expected {rows} x {cols}")
    q = quantize(x.reshape(rows, cols), GGMLQuantizationType[qtype])
    with open(out_path, "wb") as out:
        out.write(q.tobytes())


if __name__ == "__main__":
    main()
