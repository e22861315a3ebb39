"""Independent reference for tritium's AutoAWQ GEMM folder writer.

Loads a checkpoint folder (model.safetensors, or model.safetensors.index.json + its shards) with
the `safetensors` numpy API, unpacks AutoAWQ GEMM linears as docs/algorithms.md §1.7 says
(qweight I32 [K, N/8], qzeros I32 [K/g, N/8], scales F16 [K/g, N]; the value of output channel n
sits at bit shift [0, 16, 4, 20, 8, 24, 12, 28][n % 8] of word n // 8), and dequantizes
W^T[k][n] = (q - z) * scale. For each requested name it writes two little-endian float32 files:
  OUT_DIR/<i>.hf.f32    the weight in HF layout [out_features, in_features] (nn.Linear.weight)
  OUT_DIR/<i>.gguf.f32  the same with q_proj / k_proj rows permuted as llama.cpp's
                        convert_hf_to_gguf.py `LlamaModel.permute` does (other tensors unchanged)
and prints a JSON list to stdout: [{"name", "shape", "hf", "gguf", "group"}].

A name is either a quantized linear's module path (e.g. model.layers.0.self_attn.q_proj) or a
plain tensor name (e.g. model.embed_tokens.weight, model.layers.0.input_layernorm.weight).

Usage: python awq_ref.py FOLDER OUT_DIR NAME[,NAME...]
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

SHIFTS = np.array([0, 16, 4, 20, 8, 24, 12, 28], dtype=np.uint32)


def load_folder(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        weight_map = None
        files = ["model.safetensors"]
    tensors = {}
    for fname in files:
        part = load_file(os.path.join(folder, fname))
        for k in part:
            assert k not in tensors, f"{k} appears in two shards"
            if weight_map is not None:
                assert weight_map[k] == fname, f"{k}: index says {weight_map[k]}, found in {fname}"
        tensors.update(part)
    if weight_map is not None:
        assert set(weight_map) == set(tensors), "index and shards disagree"
    return tensors


def unpack(packed):
    """[R, C] int32 words -> [R, 8C] nibbles in output-channel order."""
    u = packed.view(np.uint32)
    return ((u[:, :, None] >> SHIFTS[None, None, :]) & 0xF).reshape(u.shape[0], -1)


def dequant(tensors, prefix):
    qw, qz, sc = tensors[prefix + ".qweight"], tensors[prefix + ".qzeros"], tensors[prefix + ".scales"]
    assert qw.dtype == np.int32 and qz.dtype == np.int32 and sc.dtype == np.float16, (qw.dtype, qz.dtype, sc.dtype)
    k, n = qw.shape[0], qw.shape[1] * 8
    groups = qz.shape[0]
    g = k // groups
    assert groups * g == k and qz.shape == (groups, n // 8) and sc.shape == (groups, n)
    q = unpack(qw).astype(np.float32)  # [K, N]
    z = np.repeat(unpack(qz).astype(np.float32), g, axis=0)  # [K, N]
    s = np.repeat(sc.astype(np.float32), g, axis=0)  # [K, N]
    return np.ascontiguousarray(((q - z) * s).T), g  # [N, K]


def permute(w, n_head):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    folder, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "awq" and qc["bits"] == 4 and qc["version"] == "gemm" and qc["zero_point"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    tensors = load_folder(folder)
    os.makedirs(out_dir, exist_ok=True)
    out = []
    for i, name in enumerate(names):
        group = None
        if name in tensors:
            w = tensors[name].astype(np.float32)
        else:
            w, group = dequant(tensors, name)
            assert group == qc["group_size"], (name, group)
        g = w
        if name.endswith("q_proj"):
            g = permute(w, n_head)
        elif name.endswith("k_proj"):
            g = permute(w, n_kv)
        hf_path = os.path.join(out_dir, f"{i}.hf.f32")
        gguf_path = os.path.join(out_dir, f"{i}.gguf.f32")
        np.ascontiguousarray(w, dtype="<f4").tofile(hf_path)
        np.ascontiguousarray(g, dtype="<f4").tofile(gguf_path)
        out.append({"name": name, "shape": list(w.shape), "hf": hf_path, "gguf": gguf_path, "group": group})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
