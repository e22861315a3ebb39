#!/usr/bin/env python3
"""Independent reference for tritium's SentencePiece-style (tokenizer.ggml.model = "llama")
tokenizer: Google's `sentencepiece` itself.

    python spm_ref.py CORPUS.jsonl OUT_DIR

Trains a small BPE model with `sentencepiece` on the corpus (one JSON string per line) with the
options Llama 2's tokenizer was trained with where they matter for encoding (BPE, byte fallback,
split digits, whitespace-only pieces, no normalization, a dummy prefix), converts it to GGUF
tokenizer metadata with the `gguf` package as llama.cpp's converter does (pieces, scores, token
types), and writes
    OUT_DIR/spm.gguf        the vocabulary (metadata only, no tensors)
    OUT_DIR/spm_ref.jsonl   per corpus line: {"ids": sp.encode(line), "text": sp.decode(ids)}

Why sentencepiece and not HF `tokenizers`: a SentencePiece BPE model encodes by merging the
adjacent pair whose joined piece has the highest score, which is what llama.cpp (and tritium)
do with a GGUF's scores; HF's Llama tokenizers instead replay merges derived from those scores.
"""

import io
import json
import os
import sys

import sentencepiece as spm

VOCAB_SIZE = 3000


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    corpus, out_dir = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    with open(corpus, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f]

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t for t in texts if t]),
        model_writer=model,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        character_coverage=0.999,
        max_sentence_length=1 << 16,
        num_threads=1,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())

    from gguf import GGUFWriter, TokenType

    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(TokenType.CONTROL)
        elif sp.is_unused(i):
            types.append(TokenType.UNUSED)
        elif sp.is_byte(i):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    w = GGUFWriter(os.path.join(out_dir, "spm.gguf"), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    n_tok = 0
    with open(os.path.join(out_dir, "spm_ref.jsonl"), "w", encoding="utf-8") as f:
        for t in texts:
            ids = sp.encode(t)
            n_tok += len(ids)
            f.write(json.dumps({"ids": ids, "text": sp.decode(ids)}, ensure_ascii=False) + "\n")
    print(f"spm_ref: {sp.get_piece_size()} pieces, {len(texts)} lines, {n_tok} tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
