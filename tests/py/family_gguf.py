"""Small random-weight GGUF models of each architecture tritium runs, written with the `gguf`
package: the family's real tensor names, head layout and metadata (biases, per-head q/k norms,
post-norms, fused Phi-3 tensors, Llama 3 rope_freqs, Gemma soft-capping and sliding windows),
a few layers, and a GPT-2 style byte-level vocabulary. Deterministic: the same arguments give the
same bytes (the reference logits in tests/data/families/ name the file's sha256).

Usage: python family_gguf.py ARCH OUT.gguf
ARCH is one of the keys of FAMILIES.
"""
import sys
import zlib

import numpy as np
from gguf import GGUFWriter


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Per family: arch name, shapes and what sets it apart.
BASE = dict(dim=64, heads=4, kv=2, head_dim=None, ffn=96, layers=2, ctx=256, base=10000.0)
FAMILIES = {
    "llama3": dict(arch="llama", rope_freqs=True, base=500000.0, tied=False),
    "qwen2": dict(arch="qwen2", bias=True, base=1000000.0, tied=True),
    "qwen3": dict(arch="qwen3", head_dim=32, qk_norm=True, base=1000000.0, tied=True),
    "gemma": dict(arch="gemma", head_dim=32, tied=True),
    "gemma2": dict(arch="gemma2", head_dim=32, post_norms=True, softcap=(4.0, 3.0), window=4, tied=True),
    "gemma3": dict(arch="gemma3", head_dim=32, qk_norm=True, post_norms=True, window=4, layers=6,
                   base=1000000.0, linear_scale=8.0, tied=True),
    "phi3": dict(arch="phi3", fused=True, window=2047, tied=False, spm=True),
    # llama.cpp's BitNet b1.58 naming: ternary linears, sub-norms before the attention output
    # and the FFN down products.
    "bitnet": dict(arch="bitnet", dim=256, ffn=512, sub_norms=True, ternary=True, tied=True),
}


def llama3_factors(half, base, dim):
    # Llama 3.1's scaling of the inverse frequencies (factor 8, low/high freq factors 1 and 4,
    # original context 8192), stored as divisors as the GGUF converter does.
    factor, low, high, old_ctx = 8.0, 1.0, 4.0, 8192
    out = []
    for i in range(half):
        freq = base ** (-2.0 * i / dim)
        wavelen = 2 * np.pi / freq
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def main():
    name, out = sys.argv[1], sys.argv[2]
    f = dict(BASE, **FAMILIES[name])
    arch = f["arch"]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    dim, heads, kv, ffn, layers = f["dim"], f["heads"], f["kv"], f["ffn"], f["layers"]
    hd = f["head_dim"] or dim // heads
    if f.get("spm"):
        # A SentencePiece (llama) vocabulary, as Phi-3, Llama 2, Mistral and Gemma ship: control
        # tokens, the 256 byte-fallback tokens, then scored pieces.
        pieces = ["▁", "▁t", "he", "▁the", "in", "▁a", "e", "t", "h", "a", "o", "l"]
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + pieces + ["<|end|>", "<|endoftext|>"]
        types = [2, 3, 3] + [6] * 256 + [1] * len(pieces) + [3, 3]
        scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))] + [0.0, 0.0]
    else:
        tokens = bytes_to_unicode() + [a + b for a, b in MERGES] + SPECIALS
        types = [1] * (len(tokens) - len(SPECIALS)) + [3] * len(SPECIALS)
    vocab = len(tokens)

    w = GGUFWriter(out, arch)
    w.add_name(f"tiny-{name}")
    w.add_block_count(layers)
    w.add_context_length(f["ctx"])
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    if f["head_dim"]:
        w.add_key_length(hd)
        w.add_value_length(hd)
    w.add_rope_freq_base(f["base"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_dimension_count(hd)
    if f.get("linear_scale"):
        w.add_rope_scaling_type(__import__("gguf").RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(f["linear_scale"])
    if f.get("softcap"):
        w.add_attn_logit_softcapping(f["softcap"][0])
        w.add_final_logit_softcapping(f["softcap"][1])
    if f.get("window"):
        w.add_sliding_window(f["window"])
    w.add_vocab_size(vocab)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if f.get("spm"):
        w.add_tokenizer_model("llama")
        w.add_token_scores(scores)
        w.add_bos_token_id(1)
        w.add_eos_token_id(vocab - 2)
        w.add_unk_token_id(0)
    else:
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_merges([f"{a} {b}" for a, b in MERGES])
        w.add_bos_token_id(vocab - 4)
        w.add_eos_token_id(vocab - 2)
    w.add_add_bos_token(False)

    def mat(rows, cols, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(cols)
        return (rng.standard_normal((rows, cols)) * s).astype(np.float32)

    def add_linear(name, m):
        # BitNet's linears: absmean-ternary weights (one scale per matrix). Stored as F32 here:
        # llama.cpp's TQ1_0/TQ2_0 products quantize the activations to 8 bits per block, which
        # would hide the graph under that rounding; the ternary blocks themselves are checked
        # bit-for-bit against the gguf package and on the GPU elsewhere.
        if f.get("ternary"):
            scale = np.abs(m).mean()
            m = (np.clip(np.round(m / scale), -1, 1) * scale).astype(np.float32)
        w.add_tensor(name, m)

    def vec(n, center=1.0, amp=0.2):
        return (center + amp * (2 * rng.random(n) - 1)).astype(np.float32)

    w.add_tensor("token_embd.weight", mat(vocab, dim, 1.0))
    if f.get("rope_freqs"):
        w.add_tensor("rope_freqs.weight", llama3_factors(hd // 2, f["base"], hd))
    for l in range(layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", vec(dim))
        if f.get("fused"):
            add_linear(p + "attn_qkv.weight", mat(heads * hd + 2 * kv * hd, dim))
        else:
            add_linear(p + "attn_q.weight", mat(heads * hd, dim))
            add_linear(p + "attn_k.weight", mat(kv * hd, dim))
            add_linear(p + "attn_v.weight", mat(kv * hd, dim))
        if f.get("bias"):
            w.add_tensor(p + "attn_q.bias", vec(heads * hd, 0.0, 0.5))
            w.add_tensor(p + "attn_k.bias", vec(kv * hd, 0.0, 0.5))
            w.add_tensor(p + "attn_v.bias", vec(kv * hd, 0.0, 0.5))
        if f.get("qk_norm"):
            w.add_tensor(p + "attn_q_norm.weight", vec(hd))
            w.add_tensor(p + "attn_k_norm.weight", vec(hd))
        if f.get("sub_norms"):
            w.add_tensor(p + "attn_sub_norm.weight", vec(heads * hd))
            w.add_tensor(p + "ffn_sub_norm.weight", vec(ffn))
        add_linear(p + "attn_output.weight", mat(dim, heads * hd))
        if f.get("post_norms"):
            w.add_tensor(p + "post_attention_norm.weight", vec(dim))
            w.add_tensor(p + "post_ffw_norm.weight", vec(dim))
        w.add_tensor(p + "ffn_norm.weight", vec(dim))
        if f.get("fused"):
            add_linear(p + "ffn_up.weight", mat(2 * ffn, dim))
        else:
            add_linear(p + "ffn_gate.weight", mat(ffn, dim))
            add_linear(p + "ffn_up.weight", mat(ffn, dim))
        add_linear(p + "ffn_down.weight", mat(dim, ffn))
    w.add_tensor("output_norm.weight", vec(dim))
    if not f["tied"]:
        w.add_tensor("output.weight", mat(vocab, dim))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
