#!/usr/bin/env python3
"""Independent reference for tritium's tokenizer: HF `tokenizers` (Python) built straight from a
GGUF file's vocabulary and merges (read with the `gguf` package), and Jinja2 for chat templates.

    python hf_tokenizer_ref.py encode GGUF CORPUS.jsonl OUT.jsonl
        CORPUS: one JSON string per line. OUT: one {"ids": [...], "text": decode(ids)} per line.
    python hf_tokenizer_ref.py save GGUF OUT_DIR
        writes OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json (HF's own serialization).
    python hf_tokenizer_ref.py chat CASES.json OUT.json
        CASES: [{"template", "messages", "add_generation_prompt", "bos_token", "eos_token"}];
        OUT: [{"text": ...} | {"error": ...}], rendered as transformers does (sandboxed Jinja2,
        trim_blocks, lstrip_blocks, raise_exception).
"""

import json
import sys


def gguf_str(field, i):
    return bytes(field.parts[field.data[i]]).decode("utf-8")


def read_gguf_tokenizer(path):
    from gguf import GGUFReader

    r = GGUFReader(path)
    f = r.fields

    def scalar(key, default=None):
        if key not in f:
            return default
        fld = f[key]
        if fld.types[0].name == "STRING":
            return gguf_str(fld, 0)
        return fld.parts[fld.data[0]].tolist()[0]

    model = scalar("tokenizer.ggml.model")
    if model != "gpt2":
        raise SystemExit(f"tokenizer.ggml.model is {model!r}, expected 'gpt2'")
    tok_f = f["tokenizer.ggml.tokens"]
    tokens = [gguf_str(tok_f, i) for i in range(len(tok_f.data))]
    mer_f = f["tokenizer.ggml.merges"]
    merges = [gguf_str(mer_f, i) for i in range(len(mer_f.data))]
    tt_f = f.get("tokenizer.ggml.token_type")
    types = [int(tt_f.parts[i][0]) for i in tt_f.data] if tt_f is not None else [1] * len(tokens)
    return {
        "tokens": tokens,
        "merges": merges,
        "types": types,
        "pre": scalar("tokenizer.ggml.pre", "default"),
        "bos": scalar("tokenizer.ggml.bos_token_id"),
        "eos": scalar("tokenizer.ggml.eos_token_id"),
        "add_bos": bool(scalar("tokenizer.ggml.add_bos_token", False)),
        "chat_template": scalar("tokenizer.chat_template"),
    }


# The split regexes of the models' own tokenizer.json files (Meta-Llama-3-8B, Qwen2.5).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def build(meta):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab = {t: i for i, t in enumerate(meta["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in meta["merges"]]
    pre = meta["pre"]
    llama3 = pre in ("llama-bpe", "llama3")
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=llama3))
    # The pre-tokenizers of the models' own tokenizer.json files.
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    bytes_only = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    if pre in ("smollm", "starcoder", "refact"):
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("gpt-2", "gpt2", "default"):
        tk.pre_tokenizer = byte_level
    elif llama3:
        split = pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False)
        tk.pre_tokenizer = pre_tokenizers.Sequence([split, bytes_only])
    elif pre == "qwen2":
        tk.normalizer = normalizers.NFC()
        split = pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False)
        tk.pre_tokenizer = pre_tokenizers.Sequence([split, bytes_only])
    else:
        raise SystemExit(f"hf_tokenizer_ref: no reference pre-tokenizer for {pre!r}")
    tk.decoder = decoders.ByteLevel()
    special = [AddedToken(t, special=True, normalized=False)
               for t, ty in zip(meta["tokens"], meta["types"]) if ty == 3]
    user = [AddedToken(t, special=False, normalized=False)
            for t, ty in zip(meta["tokens"], meta["types"]) if ty == 4]
    tk.add_special_tokens(special)
    tk.add_tokens(user)
    return tk


def cmd_encode(gguf_path, corpus, out):
    meta = read_gguf_tokenizer(gguf_path)
    tk = build(meta)
    with open(corpus, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f]
    encs = tk.encode_batch(texts, add_special_tokens=False)
    n_tok = 0
    with open(out, "w", encoding="utf-8") as f:
        for enc in encs:
            ids = enc.ids
            n_tok += len(ids)
            f.write(json.dumps({"ids": ids, "text": tk.decode(ids, skip_special_tokens=False)},
                               ensure_ascii=False) + "\n")
    print(f"hf_tokenizer_ref: {len(texts)} lines, {n_tok} tokens", file=sys.stderr)


def cmd_save(gguf_path, out_dir):
    import os

    meta = read_gguf_tokenizer(gguf_path)
    tk = build(meta)
    os.makedirs(out_dir, exist_ok=True)
    tk.save(os.path.join(out_dir, "tokenizer.json"))
    cfg = {
        "bos_token": meta["tokens"][meta["bos"]] if meta["bos"] is not None else None,
        "eos_token": meta["tokens"][meta["eos"]] if meta["eos"] is not None else None,
        "add_bos_token": meta["add_bos"],
        "chat_template": meta["chat_template"],
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)


def cmd_chat(cases_path, out):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    results = []
    for c in cases:
        try:
            t = env.from_string(c["template"])
            results.append({"text": t.render(
                messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                bos_token=c.get("bos_token", ""), eos_token=c.get("eos_token", ""))})
        except Exception as e:  # noqa: BLE001 - reported to the caller
            results.append({"error": f"{type(e).__name__}: {e}"})
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


def main():
    cmds = {"encode": (cmd_encode, 3), "save": (cmd_save, 2), "chat": (cmd_chat, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) - 2 != cmds[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn, _ = cmds[sys.argv[1]]
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
