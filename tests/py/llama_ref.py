"""An independent numpy (float64) Llama forward pass over a GGUF file, for checking tritium's CPU
reference. Weights are dequantized with the `gguf` package; the math follows llama.cpp's llama
graph: RMSNorm, RoPE in ggml's NORM mode (adjacent pairs), grouped-query causal attention,
SwiGLU, tied or separate output.

Usage: python llama_ref.py MODEL.gguf TOKEN_IDS(comma-separated)
Prints JSON {"logits": [...]} with the logits of the last position.
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    path, ids = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
    r = GGUFReader(path)
    meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("tokenizer.")}
    arch = meta["general.architecture"]
    g = lambda k, d=None: meta.get(f"{arch}.{k}", d)
    n_layers, dim = int(g("block_count")), int(g("embedding_length"))
    n_heads = int(g("attention.head_count"))
    n_kv = int(g("attention.head_count_kv", n_heads))
    hd = dim // n_heads
    rot = int(g("rope.dimension_count", hd))
    base = float(g("rope.freq_base", 10000.0))
    eps = float(g("attention.layer_norm_rms_epsilon", 1e-5))
    W = {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        W[t.name] = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)

    def rms(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w

    def rope(x, pos):  # x: [n, heads, hd]
        i = np.arange(rot // 2)
        theta = pos[:, None] * base ** (-2.0 * i / rot)  # [n, rot/2]
        c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        a, b = x[..., 0:rot:2].copy(), x[..., 1:rot:2].copy()
        x = x.copy()
        x[..., 0:rot:2] = a * c - b * s
        x[..., 1:rot:2] = a * s + b * c
        return x

    n = len(ids)
    pos = np.arange(n, dtype=np.float64)
    x = W["token_embd.weight"][ids]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layers):
        p = lambda s: W[f"blk.{l}.{s}.weight"]
        h = rms(x, p("attn_norm"))
        q = rope((h @ p("attn_q").T).reshape(n, n_heads, hd), pos)
        k = rope((h @ p("attn_k").T).reshape(n, n_kv, hd), pos)
        v = (h @ p("attn_v").T).reshape(n, n_kv, hd)
        rep = n_heads // n_kv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", att, v).reshape(n, n_heads * hd)
        x = x + o @ p("attn_output").T
        h = rms(x, p("ffn_norm"))
        gt, up = h @ p("ffn_gate").T, h @ p("ffn_up").T
        x = x + (gt / (1 + np.exp(-gt)) * up) @ p("ffn_down").T
    x = rms(x, W["output_norm.weight"])
    out = W.get("output.weight", W["token_embd.weight"])
    logits = x[-1] @ out.T
    print(json.dumps({"logits": [float(v) for v in logits]}))


if __name__ == "__main__":
    main()
