"""Reference logits of the family test models (tests/py/family_gguf.py) from llama.cpp, through
llama-cpp-python, stored in tests/data/families/NAME.json so the native tests need not build
llama.cpp. Run by hand when a family or the generator changes (not in CI; building
llama-cpp-python takes a long while):

    python3 -m venv /tmp/llama-venv
    /tmp/llama-venv/bin/pip install llama-cpp-python==0.3.36 gguf==0.19.0 numpy==2.4.6
    /tmp/llama-venv/bin/python tests/py/family_ref_llamacpp.py [NAME ...]

llama.cpp runs with an f32 KV cache, no flash attention, 1 thread, all logits. The JSON holds the
GGUF's sha256 (the test regenerates the file and checks it first), the token ids, and the logits
of every position.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "families")
# 14 tokens: past Gemma's 4-position test window, bytes, merges and a special token.
TOKENS = [72, 101, 108, 108, 111, 44, 32, 256, 257, 258, 119, 111, 114, 262]


def main():
    sys.path.insert(0, HERE)
    from family_gguf import FAMILIES
    from llama_cpp import Llama

    names = sys.argv[1:] or sorted(FAMILIES)
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, f"{name}.gguf")
            subprocess.run([sys.executable, os.path.join(HERE, "family_gguf.py"), name, path], check=True)
            sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
            llm = Llama(model_path=path, n_ctx=64, n_batch=64, logits_all=True, type_k=0, type_v=0,
                        flash_attn=False, n_threads=1, verbose=False)
            llm.eval(TOKENS)
            logits = np.array(llm.scores[: len(TOKENS)], dtype=np.float64)
            del llm
        rec = {
            "family": name,
            "gguf_sha256": sha,
            "tokens": TOKENS,
            "reference": "llama.cpp via llama-cpp-python 0.3.36, f32 KV cache, 1 thread",
            "logits": [[float(f"{v:.6g}") for v in row] for row in logits],
        }
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
        print(name, sha, logits.shape, float(np.abs(logits).max()))


if __name__ == "__main__":
    main()
