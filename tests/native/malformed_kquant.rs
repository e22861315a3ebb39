//! Malformed input in the 5-bit, k-quant and IQ4 formats: a one-layer, 256-wide Llama whose
//! matrices cover every type of `KQUANT_TYPES` loads; cut inside any of those tensors it is an
//! out-of-bounds error naming the tensor; a NaN or infinite block scale (d, dmin) is refused with
//! the tensor, type and block; rows that are not whole blocks are refused at parse.

use tritium::format::gguf::{GgufFile, GgufWriter, Value};
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::{self, kquants, GgmlType};
use tritium::Error;

const D: usize = 256;

/// Linear name → type: every k-quant type once (the embedding Q5_1, an untied Q5_0 output).
const TYPES: [(&str, GgmlType); 9] = [
    ("token_embd", GgmlType::Q5_1),
    ("blk.0.attn_q", GgmlType::Q2_K),
    ("blk.0.attn_k", GgmlType::Q3_K),
    ("blk.0.attn_v", GgmlType::Q5_K),
    ("blk.0.attn_output", GgmlType::Q6_K),
    ("blk.0.ffn_gate", GgmlType::IQ4_XS),
    ("blk.0.ffn_up", GgmlType::Q4_K),
    ("blk.0.ffn_down", GgmlType::IQ4_NL),
    ("output", GgmlType::Q5_0),
];

fn kquant_gguf() -> Vec<u8> {
    let tiny = tiny_llama_gguf(1);
    let g = GgufFile::parse(&tiny).unwrap();
    let mut w = GgufWriter::with_metadata(g.metadata.clone());
    for (k, v) in [
        ("llama.embedding_length", D),
        ("llama.block_count", 1),
        ("llama.feed_forward_length", D),
        ("llama.attention.head_count", 2),
        ("llama.attention.head_count_kv", 1),
        ("llama.rope.dimension_count", D / 2),
        ("llama.context_length", 64),
    ] {
        w.set(k, Value::U32(v as u32));
    }
    let vocab = g.get_u64("llama.vocab_size").unwrap().unwrap() as usize;
    let mut rng = tritium::model::sampler::SplitMix64::new(3);
    for (name, ty) in TYPES {
        let rows = match name {
            "token_embd" | "output" => vocab,
            "blk.0.attn_k" | "blk.0.attn_v" => D / 2,
            _ => D,
        };
        let x: Vec<f32> = (0..rows * D).map(|_| (rng.next_f64() as f32 - 0.5) * 0.2).collect();
        let data = quant::quantize(ty, &x).unwrap_or_else(|_| kquants::random_blocks(ty, rows * D, || rng.next_u64()));
        w.add_tensor(&format!("{name}.weight"), &[D as u64, rows as u64], ty, data).unwrap();
    }
    for norm in ["blk.0.attn_norm", "blk.0.ffn_norm", "output_norm"] {
        let ones: Vec<u8> = (0..D).flat_map(|_| 1f32.to_le_bytes()).collect();
        w.add_tensor(&format!("{norm}.weight"), &[D as u64], GgmlType::F32, ones).unwrap();
    }
    w.to_bytes()
}

fn expect_err(r: Result<Model, Error>, code: &str, needles: &[&str]) {
    let e = r.err().unwrap_or_else(|| panic!("expected {code}"));
    let msg = e.to_string();
    assert_eq!(e.code(), code, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
    }
}

#[test]
fn kquant_model_loads_and_truncations_name_the_tensor() {
    let bytes = kquant_gguf();
    let m = Model::from_gguf_bytes(bytes.clone()).unwrap();
    assert_eq!(m.layers[0].wq.ty, GgmlType::Q2_K);
    assert_eq!(m.output.ty, GgmlType::Q5_0);
    let g = GgufFile::parse(&bytes).unwrap();
    for t in &g.tensors {
        if !quant::KQUANT_TYPES.contains(&t.ggml_type) {
            continue;
        }
        // Cut at the tensor's start, inside its first block, and one byte short of its end.
        for cut in [t.abs_offset, t.abs_offset + 5, t.abs_offset + t.n_bytes - 1] {
            let e = Model::from_gguf_bytes(bytes[..cut as usize].to_vec()).err().expect("truncated");
            assert_eq!(e.code(), "E_OUT_OF_BOUNDS", "{}: {e}", t.name);
            let first = g.tensors.iter().find(|u| u.abs_offset + u.n_bytes > cut).unwrap();
            assert!(e.to_string().contains(&format!("'{}'", first.name)), "{e}");
        }
    }
}

#[test]
fn kquant_nonfinite_scales_are_rejected() {
    let bytes = kquant_gguf();
    let g = GgufFile::parse(&bytes).unwrap();
    for (name, ty) in TYPES {
        let wname = format!("{name}.weight");
        let t = g.tensor(&wname).unwrap();
        for (k, &o) in kquants::scale_offsets(ty).iter().enumerate() {
            let mut b = bytes.clone();
            let at = t.abs_offset as usize + 2 * ty.block_bytes() + o;
            let v = if k == 0 { half::f16::NAN } else { half::f16::INFINITY };
            b[at..at + 2].copy_from_slice(&v.to_le_bytes());
            let what = format!("{} block 2", ty.name());
            expect_err(Model::from_gguf_bytes(b), "E_BAD_TENSOR", &[&wname, &what]);
        }
    }
}

#[test]
fn kquant_rows_must_be_whole_superblocks() {
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::IQ4_XS] {
        let mut w = GgufWriter::new();
        let e = w.add_tensor("w", &[128, 2], ty, vec![0; ty.block_bytes()]).unwrap_err();
        assert!(e.to_string().contains("not a multiple of the") && e.to_string().contains(ty.name()), "{e}");
    }
    // A file that claims 128-element rows of Q4_K is refused at parse.
    let mut w = GgufWriter::new();
    w.add_tensor("w", &[256, 1], GgmlType::Q4_K, vec![0; 144]).unwrap();
    let mut b = w.to_bytes();
    let info = [1, 0, 0, 0, 0, 0, 0, 0, b'w', 2, 0, 0, 0];
    let at = b.windows(info.len()).position(|x| x == info).unwrap() + info.len();
    b[at..at + 8].copy_from_slice(&128u64.to_le_bytes());
    b[at + 8..at + 16].copy_from_slice(&2u64.to_le_bytes());
    let e = GgufFile::parse(&b).unwrap_err();
    assert!(e.to_string().contains("Q4_K") && e.to_string().contains("256"), "{}: {e}", e.code());
}
