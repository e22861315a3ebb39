//! Malformed and hostile inputs (issue 8): truncated at every byte and at every section
//! boundary, flipped header bits, huge counts, NaN / infinite / negative scales, wrong dtypes
//! and mismatched shapes, for GGUF, safetensors / AutoAWQ folders, config.json and
//! tokenizer.json. Every case asserts the error code (and what the message names), never just
//! `is_err`; none may panic. The same cases run in headless Chrome (tests/browser/main.rs,
//! `malformed` section) through the JS-visible error.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use tritium::format::gguf::{GgufFile, GgufWriter, Value};
use tritium::format::hf::HfConfig;
use tritium::format::limits::Limits;
use tritium::format::safetensors::{Dtype, SafeTensors, SafetensorsWriter};
use tritium::model::awq_folder;
use tritium::model::Model;
use tritium::tokenizer::Tokenizer;
use tritium::Error;

use crate::fuzz_seeds::{micro_awq_folder, micro_gguf};

type Files = BTreeMap<String, Vec<u8>>;

fn expect_err<T>(r: Result<T, Error>, code: &str, needles: &[&str]) -> Error {
    let e = match r {
        Ok(_) => panic!("expected {code}, but it loaded"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert_eq!(e.code(), code, "wrong code for: {msg}");
    for n in needles {
        assert!(msg.contains(n), "error message {msg:?} does not mention {n:?}");
    }
    e
}

fn load(bytes: &[u8]) -> Result<Model, Error> {
    Model::from_gguf_bytes(bytes.to_vec())
}

// ---------------------------------------------------------------- GGUF

/// A raw GGUF header: magic, `version`, tensor count, metadata count, then `rest`.
fn raw_gguf(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b.extend(rest);
    b
}

fn gstr(s: &str) -> Vec<u8> {
    let mut b = (s.len() as u64).to_le_bytes().to_vec();
    b.extend(s.as_bytes());
    b
}

/// One tensor-info record.
fn tinfo(name: &str, dims: &[u64], ty: u32, offset: u64) -> Vec<u8> {
    let mut b = gstr(name);
    b.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend(d.to_le_bytes());
    }
    b.extend(ty.to_le_bytes());
    b.extend(offset.to_le_bytes());
    b
}

#[test]
fn gguf_truncated_at_every_byte() {
    let bytes = micro_gguf(1);
    let full = GgufFile::parse(&bytes).unwrap();
    // The tensor table ends somewhere in the last alignment window before the data section.
    let mut first_oob = None;
    for cut in 0..bytes.len() {
        let e = GgufFile::parse(&bytes[..cut]).expect_err("a truncated file must not parse");
        match e.code() {
            "E_TRUNCATED" => {
                assert!(first_oob.is_none(), "cut {cut}: E_TRUNCATED after E_OUT_OF_BOUNDS at {first_oob:?}");
                assert!(e.to_string().contains(&format!("the file has {cut} bytes")), "cut {cut}: {e}");
            }
            "E_OUT_OF_BOUNDS" => {
                first_oob.get_or_insert(cut);
            }
            other => panic!("cut {cut}: {other}: {e}"),
        }
    }
    let header_end = first_oob.expect("cuts in the data section are out of bounds") as u64;
    assert!(header_end <= full.data_offset && header_end + full.alignment > full.data_offset, "{header_end}");
}

#[test]
fn gguf_truncated_at_section_boundaries() {
    let bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    // Fixed header fields: magic, version, tensor count, metadata count.
    for (cut, what) in [(0, "magic"), (4, "version"), (8, "tensor count"), (16, "metadata count")] {
        expect_err(load(&bytes[..cut]), "E_TRUNCATED", &[what, &format!("offset {cut}")]);
    }
    // Just before and inside every tensor's data: the error names the tensor cut off.
    for t in &g.tensors {
        for cut in [t.abs_offset, t.abs_offset + t.n_bytes - 1] {
            let e = expect_err(load(&bytes[..cut as usize]), "E_OUT_OF_BOUNDS", &[]);
            let msg = e.to_string();
            // Tensors are checked in table order: the first one past the cut is named.
            let first_cut = g.tensors.iter().find(|u| u.abs_offset + u.n_bytes > cut).unwrap();
            assert!(msg.contains(&format!("'{}'", first_cut.name)), "{msg}");
        }
    }
    // The whole file loads.
    load(&bytes).unwrap();
}

#[test]
fn gguf_flipped_header_bits_never_panic() {
    let bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    let known = [
        "E_TRUNCATED",
        "E_BAD_MAGIC",
        "E_UNSUPPORTED_VERSION",
        "E_LIMIT",
        "E_OUT_OF_BOUNDS",
        "E_OVERFLOW",
        "E_UNSUPPORTED_TENSOR_TYPE",
        "E_MALFORMED",
        "E_MISSING_KEY",
        "E_WRONG_KEY_TYPE",
        "E_MISSING_TENSOR",
        "E_BAD_TENSOR",
        "E_UNSUPPORTED_MODEL",
        "E_TOKENIZER",
    ];
    let mut n_err = 0;
    // Every bit of the fixed header through a full load; every 7th bit of the rest of the
    // header (metadata and tensor table) through the parser and, when it parses, a load.
    let header = g.data_offset as usize;
    for bit in (0..header * 8).filter(|b| b < &(24 * 8) || b % 7 == 0) {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let r = if bit < 24 * 8 || GgufFile::parse(&b).is_ok() {
            load(&b).map(|_| ())
        } else {
            Err(GgufFile::parse(&b).unwrap_err())
        };
        if let Err(e) = r {
            assert!(known.contains(&e.code()), "bit {bit}: unexpected {}: {e}", e.code());
            n_err += 1;
        }
    }
    assert!(n_err > 200, "only {n_err} flips were rejected");
    // The magic and version bits give their own codes.
    let mut b = bytes.clone();
    b[0] ^= 1;
    expect_err(load(&b), "E_BAD_MAGIC", &["not a GGUF file"]);
    let mut b = bytes.clone();
    b[4] ^= 4; // version 3 → 7
    expect_err(load(&b), "E_UNSUPPORTED_VERSION", &["7"]);
}

#[test]
fn gguf_huge_counts_are_limits_not_allocations() {
    let l = Limits::DEFAULT;
    expect_err(
        GgufFile::parse(&raw_gguf(3, u64::MAX, 0, &[])),
        "E_LIMIT",
        &["tensor count", &u64::MAX.to_string(), &l.max_tensors.to_string()],
    );
    expect_err(
        GgufFile::parse(&raw_gguf(3, 0, 1 << 40, &[])),
        "E_LIMIT",
        &["metadata count", &(1u64 << 40).to_string()],
    );
    // A key whose length is 2^60 bytes.
    let mut kv = (1u64 << 60).to_le_bytes().to_vec();
    kv.extend(b"abc");
    expect_err(GgufFile::parse(&raw_gguf(3, 0, 1, &kv)), "E_LIMIT", &["length of metadata key #0", "offset 24"]);
    // An array of 2^40 u8 elements: over the array limit.
    let mut kv = gstr("a");
    kv.extend(9u32.to_le_bytes());
    kv.extend(0u32.to_le_bytes());
    kv.extend((1u64 << 40).to_le_bytes());
    expect_err(GgufFile::parse(&raw_gguf(3, 0, 1, &kv)), "E_LIMIT", &["element count of array 'a'"]);
    // Within the limit, but more elements than the file has bytes: caught before allocating.
    let mut kv = gstr("a");
    kv.extend(9u32.to_le_bytes());
    kv.extend(10u32.to_le_bytes()); // u64 elements
    kv.extend((1u64 << 20).to_le_bytes());
    expect_err(GgufFile::parse(&raw_gguf(3, 0, 1, &kv)), "E_TRUNCATED", &["array 'a' of 1048576 elements"]);
    // Arrays nested deeper than the limit.
    let mut kv = gstr("deep");
    kv.extend(9u32.to_le_bytes());
    for _ in 0..20 {
        kv.extend(9u32.to_le_bytes());
        kv.extend(1u64.to_le_bytes());
    }
    expect_err(GgufFile::parse(&raw_gguf(3, 0, 1, &kv)), "E_LIMIT", &["array nesting depth of 'deep'"]);
    // Five dimensions.
    let t = tinfo("t", &[32, 1, 1, 1, 1], 0, 0);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_LIMIT", &["dimension count of tensor 't'", "5"]);
    // A shape whose element count overflows u64.
    let t = tinfo("big", &[1 << 32, 1 << 32, 1 << 32], 0, 0);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_OVERFLOW", &["element count of tensor 'big'"]);
    // Elements fit in u64, bytes do not (2^64 - 32 Q8_0 elements × 34/32 bytes).
    let t = tinfo("big", &[0xFFFF_FFFF_FFFF_FFE0, 1], 8, 0);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_OVERFLOW", &["byte size of tensor 'big'"]);
    // An offset near 2^64: the data end overflows.
    let t = tinfo("far", &[32], 0, u64::MAX - 31);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_OVERFLOW", &["tensor 'far'"]);
    // A plausible size, far beyond the file.
    let t = tinfo("far", &[1 << 20, 1 << 10], 0, 0);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_OUT_OF_BOUNDS", &["tensor 'far'"]);
}

/// The micro model with metadata `key` set to `v` (tensors kept).
fn with_meta(key: &str, v: Option<Value>) -> Vec<u8> {
    let bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    let mut w = GgufWriter::new();
    for (k, val) in &g.metadata {
        if k != key {
            w.set(k, val.clone());
        }
    }
    if let Some(v) = v {
        w.set(key, v);
    }
    for t in &g.tensors {
        w.add_tensor(&t.name, &t.dims, t.ggml_type, g.tensor_data(&bytes, t).unwrap().to_vec()).unwrap();
    }
    w.to_bytes()
}

#[test]
fn gguf_hyperparameter_limits() {
    let b = with_meta("llama.block_count", Some(Value::U64(1 << 40)));
    expect_err(load(&b), "E_LIMIT", &["llama.block_count", &(1u64 << 40).to_string(), &(1u64 << 24).to_string()]);
    let b = with_meta("llama.context_length", Some(Value::U64(1 << 40)));
    expect_err(load(&b), "E_LIMIT", &["llama.context_length", &(1u64 << 20).to_string()]);
    let b = with_meta("llama.vocab_size", Some(Value::U64(u64::MAX)));
    expect_err(load(&b), "E_LIMIT", &["llama.vocab_size"]);
    let b = with_meta("llama.embedding_length", Some(Value::String("wide".into())));
    expect_err(load(&b), "E_WRONG_KEY_TYPE", &["llama.embedding_length", "string"]);
    let b = with_meta("llama.attention.head_count_kv", Some(Value::U64(u64::MAX)));
    expect_err(load(&b), "E_LIMIT", &["llama.attention.head_count_kv"]);
    let b = with_meta("llama.rope.dimension_count", Some(Value::U64(u64::MAX)));
    expect_err(load(&b), "E_LIMIT", &["llama.rope.dimension_count"]);
    let b = with_meta("llama.rope.dimension_count", Some(Value::U32(3)));
    expect_err(load(&b), "E_UNSUPPORTED_MODEL", &["rope.dimension_count 3"]);
    let b = with_meta("general.alignment", Some(Value::U32(3)));
    expect_err(load(&b), "E_MALFORMED", &["general.alignment is 3"]);
}

/// Regression (found by the `gguf` fuzz target, 2026-11-27: `oom` on `malloc(8321499136)`): a
/// `block_count` of 2^24, within the hyperparameter limit, in a 24 KB file with 11 tensors made
/// the loader reserve a slot per layer (8 GB) before looking for the layers' tensors.
#[test]
fn gguf_block_count_beyond_the_tensor_table() {
    let b = with_meta("llama.block_count", Some(Value::U32(1 << 24)));
    expect_err(load(&b), "E_UNSUPPORTED_MODEL", &["llama.block_count is 16777216", "only 11 tensors"]);
    let b = with_meta("llama.block_count", Some(Value::U32(2)));
    expect_err(load(&b), "E_UNSUPPORTED_MODEL", &["llama.block_count is 2", "only 11 tensors"]);
}

/// Regression (fixed before the first full fuzzing run): with neither `llama.vocab_size` nor a
/// token list, the vocabulary size was read from `token_embd.weight`'s second dim even when the
/// tensor had one dim (index out of bounds).
#[test]
fn gguf_one_dim_embedding_without_vocab_size() {
    let bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata.iter().filter(|(k, _)| k != "llama.vocab_size" && k != "tokenizer.ggml.tokens") {
        w.set(k, v.clone());
    }
    w.add_tensor("token_embd.weight", &[32], tritium::quant::GgmlType::F32, vec![0; 128]).unwrap();
    expect_err(load(&w.to_bytes()), "E_MISSING_KEY", &["llama.vocab_size"]);
}

/// The micro model with tensor `name`'s bytes passed through `f`.
fn patch_tensor(name: &str, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    let t = g.tensor(name).unwrap().clone();
    f(&mut bytes[t.range()]);
    bytes
}

#[test]
fn gguf_nan_and_infinite_scales_are_rejected() {
    let nan = half::f16::NAN.to_le_bytes();
    let inf = half::f16::INFINITY.to_le_bytes();
    // Q4_1 block 3's d (bytes 0..2 of the 20-byte block).
    let b = patch_tensor("blk.0.attn_q.weight", |d| d[3 * 20..3 * 20 + 2].copy_from_slice(&nan));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.attn_q.weight", "Q4_1 block 3", "NaN"]);
    // Q4_1 block 0's m (bytes 2..4).
    let b = patch_tensor("blk.0.ffn_down.weight", |d| d[2..4].copy_from_slice(&inf));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.ffn_down.weight", "block 0", "inf"]);
    // Q8_0 in the embedding, Q4_0, F16 and BF16 elements, F32 norms.
    let b = patch_tensor("token_embd.weight", |d| d[34 * 5..34 * 5 + 2].copy_from_slice(&inf));
    expect_err(load(&b), "E_BAD_TENSOR", &["token_embd.weight", "Q8_0 block 5"]);
    let b = patch_tensor("blk.0.attn_k.weight", |d| d[0..2].copy_from_slice(&nan));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.attn_k.weight", "Q4_0 block 0"]);
    let b = patch_tensor("blk.0.attn_v.weight", |d| d[10..12].copy_from_slice(&nan));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.attn_v.weight", "F16 block 5"]);
    let b = patch_tensor("blk.0.attn_output.weight", |d| d[0..2].copy_from_slice(&half::bf16::NAN.to_le_bytes()));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.attn_output.weight", "BF16 block 0"]);
    let b = patch_tensor("blk.0.ffn_up.weight", |d| d[4..8].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes()));
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.ffn_up.weight", "F32 block 1"]);
    let b = patch_tensor("output_norm.weight", |d| d[0..4].copy_from_slice(&f32::NAN.to_le_bytes()));
    expect_err(load(&b), "E_BAD_TENSOR", &["output_norm.weight", "not finite"]);
}

#[test]
fn gguf_negative_scales_load_and_mean_what_they_say() {
    // ggml scales are signed: a negated d negates the block (documented in the README).
    let base = load(&micro_gguf(1)).unwrap();
    let b = patch_tensor("blk.0.attn_q.weight", |d| {
        for blk in d.chunks_exact_mut(20) {
            let v = half::f16::from_le_bytes([blk[0], blk[1]]);
            blk[0..2].copy_from_slice(&(-v).to_le_bytes());
            let m = half::f16::from_le_bytes([blk[2], blk[3]]);
            blk[2..4].copy_from_slice(&(-m).to_le_bytes());
        }
    });
    let neg = load(&b).unwrap();
    let dq = |m: &Model| {
        let q = m.matrix(&m.layers[0].wq);
        tritium::quant::dequantize_vec(q.ty, q.data, q.rows * q.cols).unwrap()
    };
    let (a, n) = (dq(&base), dq(&neg));
    assert!(a.iter().any(|&x| x != 0.0));
    for (i, (x, y)) in a.iter().zip(&n).enumerate() {
        assert_eq!(*y, -*x, "element {i}");
    }
}

#[test]
fn gguf_wrong_types_and_shapes() {
    let bytes = micro_gguf(1);
    let g = GgufFile::parse(&bytes).unwrap();
    type Edit<'a> =
        &'a dyn Fn(&str, &[u64], tritium::quant::GgmlType, &[u8]) -> (Vec<u64>, tritium::quant::GgmlType, Vec<u8>);
    let rebuild = |f: Edit| {
        let mut w = GgufWriter::with_metadata(g.metadata.clone());
        for t in &g.tensors {
            let (dims, ty, data) = f(&t.name, &t.dims, t.ggml_type, g.tensor_data(&bytes, t).unwrap());
            w.add_tensor(&t.name, &dims, ty, data).unwrap();
        }
        w.to_bytes()
    };
    use tritium::quant::GgmlType;
    // attn_q stored transposed.
    let b = rebuild(&|n, d, t, x| {
        if n == "blk.0.attn_q.weight" {
            (vec![d[1], d[0]], t, x.to_vec())
        } else {
            (d.to_vec(), t, x.to_vec())
        }
    });
    let b2 = b.clone();
    load(&b2).map(|_| ()).unwrap_or_else(|e| panic!("square attn_q transposed is still [32, 32]: {e}"));
    // ffn_down [32, 32] Q4_1 read as ffn_gate's shape is fine; a 3-D attn_k is not.
    let b = rebuild(&|n, d, t, x| {
        if n == "blk.0.attn_k.weight" {
            (vec![d[0], d[1], 1], t, x.to_vec())
        } else {
            (d.to_vec(), t, x.to_vec())
        }
    });
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.attn_k.weight", "shape"]);
    // An I32 weight matrix.
    let b = rebuild(&|n, d, t, x| {
        if n == "blk.0.ffn_up.weight" {
            (d.to_vec(), GgmlType::I32, x.to_vec())
        } else {
            (d.to_vec(), t, x.to_vec())
        }
    });
    expect_err(load(&b), "E_BAD_TENSOR", &["blk.0.ffn_up.weight", "I32 cannot be a weight matrix"]);
    // A norm of the wrong length.
    let b = rebuild(&|n, d, t, x| {
        if n == "output_norm.weight" {
            (vec![16], t, x[..64].to_vec())
        } else {
            (d.to_vec(), t, x.to_vec())
        }
    });
    expect_err(load(&b), "E_BAD_TENSOR", &["output_norm.weight", "16 elements, expected 32"]);
    // An unsupported ggml type id (16 = IQ2_XXS) in the tensor table.
    let mut b = bytes.clone();
    let name = b"blk.0.attn_q.weight";
    let at = b.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    // n_dims (4) + 2 dims (16) then the type id.
    b[at + 20..at + 24].copy_from_slice(&16u32.to_le_bytes());
    expect_err(load(&b), "E_UNSUPPORTED_TENSOR_TYPE", &["blk.0.attn_q.weight", "IQ2_XXS"]);
    // A row length that is not a multiple of the block size.
    let t = tinfo("odd", &[33, 2], 8, 0);
    expect_err(GgufFile::parse(&raw_gguf(3, 1, 0, &t)), "E_BAD_TENSOR", &["odd", "row length 33", "Q8_0"]);
}

// ---------------------------------------------------------------- safetensors / AutoAWQ

type Entry = (String, Dtype, Vec<u64>, Vec<u8>);

fn rewrite(files: &Files, f: impl Fn(Entry) -> Vec<Entry>) -> Files {
    let st = SafeTensors::parse("model.safetensors", &files["model.safetensors"]).unwrap();
    let mut w = SafetensorsWriter::new();
    for t in &st.tensors {
        let v = st.tensor(&t.name).unwrap();
        for (n, d, s, b) in f((t.name.clone(), t.dtype, t.shape.clone(), v.data.to_vec())) {
            w.add(&n, d, &s, b).unwrap();
        }
    }
    let mut out = files.clone();
    out.insert("model.safetensors".into(), w.to_bytes());
    out
}

fn load_folder(files: &Files) -> Result<Model, Error> {
    awq_folder::load_awq_folder(files)
}

#[test]
fn safetensors_truncated_at_every_byte() {
    let files = micro_awq_folder(None);
    let bytes = &files["model.safetensors"];
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for cut in 0..bytes.len() {
        let e = SafeTensors::parse("model.safetensors", &bytes[..cut]).expect_err("truncated");
        let want = if cut < 8 + n { "E_TRUNCATED" } else { "E_OUT_OF_BOUNDS" };
        assert_eq!(e.code(), want, "cut {cut}: {e}");
        assert!(e.to_string().contains("model.safetensors"), "cut {cut}: {e}");
    }
    // Section boundaries through the whole folder loader.
    for cut in [0, 7, 8, 8 + n - 1, 8 + n, bytes.len() - 1] {
        let mut f = files.clone();
        f.insert("model.safetensors".into(), bytes[..cut].to_vec());
        let e = load_folder(&f).map(|_| ()).unwrap_err();
        assert!(["E_TRUNCATED", "E_OUT_OF_BOUNDS"].contains(&e.code()), "cut {cut}: {e}");
    }
    load_folder(&files).unwrap();
}

fn raw_st(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(vec![0u8; data_len]);
    b
}

#[test]
fn safetensors_hostile_headers() {
    let p = |b: &[u8]| SafeTensors::parse("x.safetensors", b).map(|_| ());
    let mut huge = (1u64 << 62).to_le_bytes().to_vec();
    huge.extend(b"{}");
    expect_err(p(&huge), "E_LIMIT", &["x.safetensors", "JSON header length", "100000000"]);
    let mut flipped = raw_st(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8);
    flipped[7] ^= 0x80; // the header length's top bit
    expect_err(p(&flipped), "E_LIMIT", &["JSON header length"]);
    expect_err(p(&raw_st("[1,2]", 0)), "E_MALFORMED", &["does not start with '{'"]);
    expect_err(p(&raw_st("{\"a\":", 0)), "E_MALFORMED", &["does not parse"]);
    let shape = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#;
    expect_err(p(&raw_st(shape, 8)), "E_OVERFLOW", &["tensor 'w'"]);
    let dims = r#"{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}"#;
    expect_err(p(&raw_st(dims, 4)), "E_BAD_TENSOR", &["9 dimensions"]);
    let dt = r#"{"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#;
    expect_err(p(&raw_st(dt, 1)), "E_BAD_TENSOR", &["unknown dtype \"F4\""]);
    let neg = r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#;
    expect_err(p(&raw_st(neg, 8)), "E_BAD_TENSOR", &["not a non-negative integer"]);
    let size = r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    expect_err(p(&raw_st(size, 8)), "E_BAD_TENSOR", &["needs 12"]);
    let far = r#"{"w":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551600,18446744073709551608]}}"#;
    expect_err(p(&raw_st(far, 8)), "E_OUT_OF_BOUNDS", &["w (in x.safetensors)"]);
    let overlap =
        r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}"#;
    expect_err(p(&raw_st(overlap, 12)), "E_MALFORMED", &["overlap"]);
}

#[test]
fn awq_folder_nan_scales_wrong_dtypes_and_shapes() {
    let files = micro_awq_folder(None);
    let scales = "model.layers.0.self_attn.q_proj.scales";
    // NaN and infinite AWQ scales.
    for bad in [half::f16::NAN, half::f16::INFINITY, half::f16::NEG_INFINITY] {
        let f = rewrite(&files, |(n, d, s, mut b)| {
            if n == scales {
                b[6..8].copy_from_slice(&bad.to_le_bytes());
            }
            vec![(n, d, s, b)]
        });
        expect_err(load_folder(&f), "E_BAD_TENSOR", &["q_proj", "not finite"]);
    }
    // qweight as F16 instead of I32.
    let f = rewrite(&files, |(n, d, s, b)| {
        let d = if n.ends_with("k_proj.qweight") { Dtype::F16 } else { d };
        let s = if n.ends_with("k_proj.qweight") { vec![s[0], s[1] * 2] } else { s };
        vec![(n, d, s, b)]
    });
    expect_err(load_folder(&f), "E_BAD_TENSOR", &["k_proj.qweight", "dtype F16"]);
    // Scales of the wrong shape.
    let f = rewrite(&files, |(n, d, s, b)| {
        if n == scales {
            let half = b.len() / 2;
            vec![(n, d, vec![s[0], s[1] / 2], b[..half].to_vec())]
        } else {
            vec![(n, d, s, b)]
        }
    });
    let e = load_folder(&f).map(|_| ()).unwrap_err();
    assert_eq!(e.code(), "E_BAD_TENSOR", "{e}");
    assert!(e.to_string().contains("q_proj"), "{e}");
}

// ---------------------------------------------------------------- config.json

fn with_config(files: &Files, f: impl FnOnce(&mut Json)) -> Files {
    let mut out = files.clone();
    let mut cfg: Json = serde_json::from_slice(&files["config.json"]).unwrap();
    f(&mut cfg);
    out.insert("config.json".into(), serde_json::to_vec(&cfg).unwrap());
    out
}

#[test]
fn config_json_malformed() {
    let files = micro_awq_folder(None);
    let cfg = files["config.json"].clone();
    // Every cut before the closing brace (a trailing newline may follow it).
    for cut in 0..cfg.trim_ascii_end().len() {
        let e = HfConfig::from_json(&cfg[..cut], None).map(|_| ()).unwrap_err();
        assert_eq!(e.code(), "E_MALFORMED", "cut {cut}: {e}");
        assert!(e.to_string().contains("config.json"), "{e}");
    }
    let c = |f: &dyn Fn(&mut Json)| {
        let mut v: Json = serde_json::from_slice(&cfg).unwrap();
        f(&mut v);
        HfConfig::from_json(&serde_json::to_vec(&v).unwrap(), None).map(|_| ())
    };
    expect_err(c(&|v| v["hidden_size"] = json!(1u64 << 40)), "E_LIMIT", &["config.json: hidden_size", "1099511627776"]);
    expect_err(c(&|v| v["num_hidden_layers"] = json!(-1)), "E_MALFORMED", &["num_hidden_layers"]);
    expect_err(c(&|v| v["vocab_size"] = json!("many")), "E_MALFORMED", &["vocab_size"]);
    expect_err(c(&|v| v["rms_norm_eps"] = json!(-1.0)), "E_MALFORMED", &["rms_norm_eps"]);
    expect_err(c(&|v| v["num_key_value_heads"] = json!(3)), "E_UNSUPPORTED_MODEL", &["KV heads"]);
    expect_err(
        c(&|v| v.as_object_mut().unwrap().remove("hidden_size").map(|_| ()).unwrap()),
        "E_MISSING_KEY",
        &["hidden_size"],
    );
    expect_err(HfConfig::from_json(b"[]", None), "E_MALFORMED", &["not a JSON object"]);
    // A context beyond the limit loads nothing.
    let f = with_config(&files, |v| v["max_position_embeddings"] = json!(1u64 << 22));
    expect_err(load_folder(&f), "E_LIMIT", &["context_length", &(1u64 << 20).to_string()]);
    // A config whose sizes disagree with the tensors.
    let f = with_config(&files, |v| v["intermediate_size"] = json!(64));
    let e = load_folder(&f).map(|_| ()).unwrap_err();
    assert_eq!(e.code(), "E_BAD_TENSOR", "{e}");
}

// ---------------------------------------------------------------- tokenizer.json

#[test]
fn tokenizer_json_malformed() {
    let files = micro_awq_folder(None);
    let tj = files["tokenizer.json"].clone();
    Tokenizer::from_tokenizer_json(&tj, None).unwrap();
    // Truncated at every 7th byte (and the last): never a panic, always E_TOKENIZER.
    let end = tj.trim_ascii_end().len();
    for cut in (0..end).filter(|c| c % 7 == 0 || *c == end - 1) {
        let e = Tokenizer::from_tokenizer_json(&tj[..cut], None).map(|_| ()).unwrap_err();
        assert_eq!(e.code(), "E_TOKENIZER", "cut {cut}: {e}");
    }
    let mut v: Json = serde_json::from_slice(&tj).unwrap();
    // A token id of 4e9: the id-indexed table would be 4e9 strings long.
    v["model"]["vocab"]["Ġhuge"] = json!(4_000_000_000u64);
    let e = expect_err(
        Tokenizer::from_tokenizer_json(&serde_json::to_vec(&v).unwrap(), None).map(|_| ()),
        "E_LIMIT",
        &["tokenizer.json", "4000000001", &Limits::DEFAULT.max_vocab.to_string()],
    );
    drop(e);
    // Sparse ids under the limit.
    v["model"]["vocab"]["Ġhuge"] = json!(1_000_000u64);
    expect_err(
        Tokenizer::from_tokenizer_json(&serde_json::to_vec(&v).unwrap(), None).map(|_| ()),
        "E_TOKENIZER",
        &["dense"],
    );
    // Another model type, and a bad tokenizer_config.json.
    let mut w: Json = serde_json::from_slice(&tj).unwrap();
    w["model"]["type"] = json!("WordPiece");
    let e = Tokenizer::from_tokenizer_json(&serde_json::to_vec(&w).unwrap(), None).map(|_| ()).unwrap_err();
    assert_eq!(e.code(), "E_TOKENIZER", "{e}");
    expect_err(Tokenizer::from_tokenizer_json(&tj, Some(b"{")).map(|_| ()), "E_TOKENIZER", &["tokenizer_config.json"]);
}
