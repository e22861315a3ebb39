//! A tiny random Llama model written as GGUF, for tests that must not depend on the real model
//! (browser tests, parser tests). Deterministic per seed; every supported tensor type appears.
//! Its tokenizer is GPT-2 style byte-level BPE: the 256 byte tokens, a few merges, and ChatML
//! special tokens.

use crate::format::gguf::{GgufWriter, Value, ValueType};
use crate::model::sampler::SplitMix64;
use crate::quant::{self, GgmlType};

pub const TINY_DIM: usize = 64;
pub const TINY_HEADS: usize = 4;
pub const TINY_KV_HEADS: usize = 2;
pub const TINY_FFN: usize = 256;
pub const TINY_LAYERS: usize = 2;
pub const TINY_CONTEXT: usize = 128;

/// GPT-2's reversible map from bytes to printable characters.
pub fn bytes_to_unicode() -> Vec<char> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut table = vec!['\0'; 256];
    for (b, c) in bs.iter().zip(cs) {
        table[*b as usize] = char::from_u32(c).unwrap_or('?');
    }
    table
}

/// Merges of the tiny tokenizer (in rank order) and the tokens they create.
pub const TINY_MERGES: &[(&str, &str)] = &[("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")];
pub const TINY_SPECIALS: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

fn random(rng: &mut SplitMix64, n: usize, center: f32, amp: f32) -> Vec<f32> {
    (0..n).map(|_| center + amp * (2.0 * rng.next_f64() as f32 - 1.0)).collect()
}

/// The tiny model's bytes.
pub fn tiny_llama_gguf(seed: u64) -> Vec<u8> {
    tiny_llama_writer(seed).to_bytes()
}

/// The tiny model with trained p-MoD routers (docs/algorithms.md §3.5 names): for each `(layer, weight, bias)`,
/// `model.layers.{layer}.router.router.weight` F32 `[1, weight.len()]` and `...router.bias` F32
/// `[1]` (a weight whose length is not the model's width makes a malformed checkpoint, for tests).
pub fn tiny_llama_gguf_with_routers(seed: u64, routers: &[(usize, Vec<f32>, f32)]) -> Vec<u8> {
    let mut w = tiny_llama_writer(seed);
    for (l, weight, bias) in routers {
        let bytes: Vec<u8> = weight.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.add_tensor(
            &format!("model.layers.{l}.router.router.weight"),
            &[weight.len() as u64, 1],
            GgmlType::F32,
            bytes,
        )
        .expect("consistent sizes");
        w.add_tensor(&format!("model.layers.{l}.router.router.bias"), &[1], GgmlType::F32, bias.to_le_bytes().to_vec())
            .expect("consistent sizes");
    }
    w.to_bytes()
}

/// The tiny model's writer (tests add or change keys and tensors before writing).
pub fn tiny_llama_writer(seed: u64) -> GgufWriter {
    tiny_writer("llama", seed)
}

/// Every architecture [`tiny_family_gguf`] writes.
pub const TINY_FAMILIES: &[&str] =
    &["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "bitnet", "bitnet-b1.58"];

/// A tiny random model of architecture `arch` (one of [`TINY_FAMILIES`]) with the family's
/// tensors and metadata (biases, per-head norms, post-norms, soft-caps, a 4-position sliding
/// window, head dim 32 for Qwen 3 and Gemma, fused Phi-3 tensors), for checking the GPU against
/// the CPU on every graph op, in the browser too. Its math against llama.cpp is checked with the
/// Python-written family models (tests/py/family_gguf.py).
pub fn tiny_family_gguf(arch: &str, seed: u64) -> Vec<u8> {
    tiny_writer(arch, seed).to_bytes()
}

fn tiny_writer(arch: &str, seed: u64) -> GgufWriter {
    let mut rng = SplitMix64::new(seed);
    let mut w = GgufWriter::new();
    let s = |v: &str| Value::String(v.to_string());
    let k = |key: &str| format!("{arch}.{key}");
    let gemma = arch.starts_with("gemma");
    let head_dim = if gemma || arch == "qwen3" { 32 } else { TINY_DIM / TINY_HEADS };
    w.set("general.architecture", s(arch));
    w.set("general.name", s("tritium-tiny"));
    w.set("general.alignment", Value::U32(32));
    w.set(&k("context_length"), Value::U32(TINY_CONTEXT as u32));
    w.set(&k("embedding_length"), Value::U32(TINY_DIM as u32));
    w.set(&k("block_count"), Value::U32(TINY_LAYERS as u32));
    w.set(&k("feed_forward_length"), Value::U32(TINY_FFN as u32));
    w.set(&k("attention.head_count"), Value::U32(TINY_HEADS as u32));
    w.set(&k("attention.head_count_kv"), Value::U32(TINY_KV_HEADS as u32));
    w.set(&k("rope.freq_base"), Value::F32(10_000.0));
    w.set(&k("rope.dimension_count"), Value::U32(head_dim as u32));
    w.set(&k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
    if head_dim != TINY_DIM / TINY_HEADS {
        w.set(&k("attention.key_length"), Value::U32(head_dim as u32));
        w.set(&k("attention.value_length"), Value::U32(head_dim as u32));
    }
    if arch == "gemma2" {
        w.set(&k("attn_logit_softcapping"), Value::F32(4.0));
        w.set(&k("final_logit_softcapping"), Value::F32(3.0));
    }
    if matches!(arch, "gemma2" | "gemma3") {
        w.set(&k("attention.sliding_window"), Value::U32(4));
    }

    let table = bytes_to_unicode();
    let mut tokens: Vec<String> = table.iter().map(|c| c.to_string()).collect();
    let mut types = vec![1i32; 256];
    for (a, b) in TINY_MERGES {
        tokens.push(format!("{a}{b}"));
        types.push(1);
    }
    for sp in TINY_SPECIALS {
        tokens.push(sp.to_string());
        types.push(3);
    }
    let vocab = tokens.len();
    w.set(&k("vocab_size"), Value::U32(vocab as u32));
    w.set("tokenizer.ggml.model", s("gpt2"));
    w.set("tokenizer.ggml.pre", s("smollm"));
    w.set("tokenizer.ggml.tokens", Value::Array(ValueType::String, tokens.iter().map(|t| s(t)).collect()));
    w.set("tokenizer.ggml.token_type", Value::Array(ValueType::I32, types.into_iter().map(Value::I32).collect()));
    w.set(
        "tokenizer.ggml.merges",
        Value::Array(ValueType::String, TINY_MERGES.iter().map(|(a, b)| s(&format!("{a} {b}"))).collect()),
    );
    let eot = (vocab - TINY_SPECIALS.len()) as u32;
    w.set("tokenizer.ggml.bos_token_id", Value::U32(eot));
    w.set("tokenizer.ggml.eos_token_id", Value::U32(eot + 2));
    w.set("tokenizer.ggml.add_bos_token", Value::Bool(false));
    w.set("tokenizer.chat_template", s(CHATML));

    let mut add = |name: &str, rows: usize, cols: usize, ty: GgmlType, center: f32, amp: f32| {
        let x = random(&mut rng, rows * cols, center, amp);
        let data = match ty {
            GgmlType::I2_S => {
                let trits: Vec<i8> = x.iter().map(|v| (v / amp * 1.5).round().clamp(-1.0, 1.0) as i8).collect();
                quant::i2s::encode(&trits, amp * 0.5)
            }
            _ => quant::quantize(ty, &x).expect("block-aligned shapes"),
        };
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.add_tensor(name, &dims, ty, data).expect("consistent sizes");
    };
    use GgmlType::*;
    let (d, f, kv, qd) = (TINY_DIM, TINY_FFN, head_dim * TINY_KV_HEADS, head_dim * TINY_HEADS);
    add("token_embd.weight", vocab, d, Q8_0, 0.0, 1.0);
    let per_layer = [[Q4_1, Q8_0, F16, Q4_0, BF16, F32, TQ1_0], [Q8_0, Q4_1, Q4_0, F32, Q4_1, Q8_0, TQ2_0]];
    for (l, t) in per_layer.iter().enumerate() {
        let n = |x: &str| format!("blk.{l}.{x}.weight");
        add(&n("attn_norm"), 1, d, F32, 1.0, 0.2);
        if arch == "phi3" {
            add(&n("attn_qkv"), qd + 2 * kv, d, t[0], 0.0, 0.25);
        } else {
            add(&n("attn_q"), qd, d, t[0], 0.0, 0.25);
            add(&n("attn_k"), kv, d, t[1], 0.0, 0.25);
            add(&n("attn_v"), kv, d, t[2], 0.0, 0.25);
        }
        if arch == "qwen2" {
            for (name, len) in [("attn_q", qd), ("attn_k", kv), ("attn_v", kv)] {
                add(&format!("blk.{l}.{name}.bias"), 1, len, F32, 0.0, 0.5);
            }
        }
        if matches!(arch, "qwen3" | "gemma3") {
            add(&n("attn_q_norm"), 1, head_dim, F32, 1.0, 0.2);
            add(&n("attn_k_norm"), 1, head_dim, F32, 1.0, 0.2);
        }
        if arch.starts_with("bitnet") {
            add(&n("attn_sub_norm"), 1, qd, F32, 1.0, 0.2);
            add(&n("ffn_sub_norm"), 1, f, F32, 1.0, 0.2);
        }
        add(&n("attn_output"), d, qd, t[3], 0.0, 0.15);
        if matches!(arch, "gemma2" | "gemma3") {
            add(&n("post_attention_norm"), 1, d, F32, 1.0, 0.2);
            add(&n("post_ffw_norm"), 1, d, F32, 1.0, 0.2);
        }
        add(&n("ffn_norm"), 1, d, F32, 1.0, 0.2);
        if arch == "phi3" {
            add(&n("ffn_up"), 2 * f, d, t[5], 0.0, 0.25);
        } else {
            add(&n("ffn_gate"), f, d, t[4], 0.0, 0.25);
            add(&n("ffn_up"), f, d, t[5], 0.0, 0.25);
        }
        // bitnet.cpp's I2_S storage for BitNet b1.58 (repacked into TQ2_0 at load).
        add(&n("ffn_down"), d, f, if arch == "bitnet-b1.58" { I2_S } else { t[6] }, 0.0, 0.1);
    }
    add("output_norm.weight", 1, d, F32, 1.0, 0.2);
    if !gemma {
        add("output.weight", vocab, d, F16, 0.0, 0.5);
    }
    w
}
