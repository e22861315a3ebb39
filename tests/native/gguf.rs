//! GGUF reader and writer: every metadata type, round trips of every tensor type, and bad input.

use tritium::format::gguf::{GgufFile, GgufWriter, Limits, Value, ValueType};
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::{self, GgmlType, ALL_TYPES};
use tritium::Error;

fn rand_vec(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = tritium::model::sampler::SplitMix64::new(seed);
    (0..n).map(|_| (rng.next_f64() as f32 * 2.0 - 1.0) * 3.0).collect()
}

fn all_values() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-100)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(3.5)),
        ("t.bool", Value::Bool(true)),
        ("t.string", Value::String("héllo, 世界 🙂".into())),
        ("t.u64", Value::U64(u64::MAX - 1)),
        ("t.i64", Value::I64(i64::MIN + 1)),
        ("t.f64", Value::F64(-2.25e300)),
        ("t.arr_empty", Value::Array(ValueType::F32, vec![])),
        ("t.arr_str", Value::Array(ValueType::String, vec![Value::String("a".into()), Value::String("".into())])),
        (
            "t.arr_nested",
            Value::Array(
                ValueType::Array,
                vec![
                    Value::Array(ValueType::I16, vec![Value::I16(1), Value::I16(-2)]),
                    Value::Array(ValueType::Array, vec![Value::Array(ValueType::Bool, vec![Value::Bool(false)])]),
                ],
            ),
        ),
    ]
}

type SampleTensor = (String, GgmlType, Vec<u64>, Vec<f32>);

fn sample_file() -> (Vec<u8>, Vec<SampleTensor>) {
    let mut w = GgufWriter::new();
    for (k, v) in all_values() {
        w.set(k, v);
    }
    let mut tensors = Vec::new();
    for (i, ty) in ALL_TYPES.iter().enumerate() {
        let dims = vec![(ty.block_size() * 2).max(3) as u64, 3];
        let n = (dims[0] * dims[1]) as usize;
        let mut x = rand_vec(i as u64, n);
        // Types tritium reads but does not write: random blocks, whose values are the reference.
        let data = quant::quantize(*ty, &x).unwrap_or_else(|_| {
            let mut rng = tritium::model::sampler::SplitMix64::new(i as u64);
            let d = quant::kquants::random_blocks(*ty, n, || rng.next_u64());
            x = quant::dequantize_vec(*ty, &d, n).unwrap();
            d
        });
        let name = format!("tensor.{}", ty.name());
        w.add_tensor(&name, &dims, *ty, data).unwrap();
        tensors.push((name, *ty, dims, x));
    }
    (w.to_bytes(), tensors)
}

#[test]
fn metadata_every_type_round_trips() {
    let (bytes, _) = sample_file();
    let g = GgufFile::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    for (k, v) in all_values() {
        assert_eq!(g.get(k), Some(&v), "metadata key {k}");
    }
    // Writing the parsed metadata back gives the same bytes for the header.
    let w2 = GgufWriter::with_metadata(g.metadata.clone());
    let g2 = GgufFile::parse(&w2.to_bytes()).unwrap();
    assert_eq!(g2.metadata, g.metadata);
}

#[test]
fn tensor_round_trip_every_type() {
    let (bytes, tensors) = sample_file();
    let g = GgufFile::parse(&bytes).unwrap();
    assert_eq!(g.tensors.len(), tensors.len());
    for (name, ty, dims, x) in &tensors {
        let t = g.tensor(name).unwrap();
        assert_eq!(t.ggml_type, *ty);
        assert_eq!(&t.dims, dims);
        assert_eq!(t.abs_offset % g.alignment, 0, "{name} aligned");
        let data = g.tensor_data(&bytes, t).unwrap();
        let y = quant::dequantize_vec(*ty, data, x.len()).unwrap();
        // Per-format error budget of quantize → dequantize on values in [-3, 3].
        let budget = match ty {
            GgmlType::F32 => 0.0,
            GgmlType::F16 => 2e-3,
            GgmlType::BF16 => 2e-2,
            GgmlType::Q8_0 => 3.0 / 127.0,
            GgmlType::Q4_0 | GgmlType::Q4_1 => 6.0 / 15.0,
            // Ternary keeps only sign and a coarse magnitude of arbitrary floats.
            GgmlType::TQ1_0 | GgmlType::TQ2_0 => 3.0,
            GgmlType::Q5_0 | GgmlType::Q5_1 => 6.0 / 31.0,
            GgmlType::Q4_K => 6.0 / 15.0,
            GgmlType::Q6_K => 6.0 / 63.0,
            GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q5_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS => 0.0,
            other => panic!("{} is not a ggml type of ALL_TYPES", other.name()),
        };
        for (i, (a, b)) in x.iter().zip(&y).enumerate() {
            assert!((a - b).abs() <= budget, "{name}[{i}]: {a} vs {b}, budget {budget}");
        }
        // Re-quantizing the dequantized values reproduces the bytes exactly for the lossless
        // and block-scaled formats.
        if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            assert_eq!(quant::quantize(*ty, &y).unwrap(), data, "{name}: re-encode");
        }
    }
}

#[test]
fn ternary_codes_round_trip_exactly() {
    // Weights already ternary (the case the ggml quantizers are built for) survive exactly.
    for ty in [GgmlType::TQ1_0, GgmlType::TQ2_0] {
        let mut rng = tritium::model::sampler::SplitMix64::new(7);
        let x: Vec<f32> = (0..1024).map(|_| ((rng.next_u64() % 3) as f32 - 1.0) * 0.5).collect();
        let y = quant::dequantize_vec(ty, &quant::quantize(ty, &x).unwrap(), x.len()).unwrap();
        assert_eq!(x, y, "{}", ty.name());
    }
}

#[test]
fn every_prefix_of_a_file_is_a_clean_error() {
    let bytes = tiny_llama_gguf(1);
    assert!(GgufFile::parse(&bytes).is_ok());
    let g = GgufFile::parse(&bytes).unwrap();
    let header_end = g.data_offset as usize;
    // Every cut inside the header, and a sample of cuts inside the data section.
    let cuts: Vec<usize> = (0..header_end).chain((header_end..bytes.len()).step_by(97)).collect();
    for cut in cuts {
        match GgufFile::parse(&bytes[..cut]) {
            Err(Error::Truncated { .. }) | Err(Error::OutOfBounds { .. }) => {}
            other => panic!("prefix of {cut} bytes: expected Truncated/OutOfBounds, got {:?}", other.map(|_| ())),
        }
    }
}

fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b
}

fn push_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn tensor_info(b: &mut Vec<u8>, name: &str, dims: &[u64], ty: u32, offset: u64) {
    push_str(b, name);
    b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&offset.to_le_bytes());
}

#[test]
fn bad_magic_and_version() {
    let mut b = header(3, 0, 0);
    b[0] = b'X';
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_BAD_MAGIC", "{e}");
    assert!(e.to_string().contains("not a GGUF file"));
    for v in [0u32, 1, 4, 0xFFFF_FFFF] {
        let e = GgufFile::parse(&header(v, 0, 0)).unwrap_err();
        assert_eq!(e.code(), "E_UNSUPPORTED_VERSION", "{e}");
        assert!(e.to_string().contains(&v.to_string()));
    }
    assert!(GgufFile::parse(&header(2, 0, 0)).is_ok());
}

#[test]
fn huge_counts_hit_limits_before_allocating() {
    let e = GgufFile::parse(&header(3, u64::MAX, 0)).unwrap_err();
    assert_eq!(e.code(), "E_LIMIT", "{e}");
    assert!(e.to_string().contains("tensor count"), "{e}");
    let e = GgufFile::parse(&header(3, 0, 1 << 40)).unwrap_err();
    assert_eq!(e.code(), "E_LIMIT", "{e}");
    // A string that claims 2^60 bytes.
    let mut b = header(3, 0, 1);
    b.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_LIMIT", "{e}");
    // An array that claims more elements than the file could hold.
    let mut b = header(3, 0, 1);
    push_str(&mut b, "big");
    b.extend_from_slice(&9u32.to_le_bytes());
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&(1u64 << 23).to_le_bytes());
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_TRUNCATED", "{e}");
    // Arrays nested deeper than the limit.
    let mut b = header(3, 0, 1);
    push_str(&mut b, "deep");
    b.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..20 {
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
    }
    let e = GgufFile::parse_with_limits(&b, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "E_LIMIT", "{e}");
}

#[test]
fn tensor_table_errors() {
    // Unknown / unsupported tensor type names the tensor and the type.
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "blk.0.attn_q.weight", &[256, 4], 16, 0);
    b.resize(b.len() + 4096, 0);
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_UNSUPPORTED_TENSOR_TYPE");
    let msg = e.to_string();
    assert!(msg.contains("blk.0.attn_q.weight") && msg.contains("IQ2_XXS"), "{msg}");
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "x", &[32], 999, 0);
    assert_eq!(GgufFile::parse(&b).unwrap_err().code(), "E_UNSUPPORTED_TENSOR_TYPE");

    // Data out of bounds.
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "w", &[32, 2], 0, 0);
    b.resize(b.len().div_ceil(32) * 32 + 100, 0);
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_OUT_OF_BOUNDS", "{e}");
    assert!(e.to_string().contains("'w'"));

    // Offset past the end (but aligned).
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "w", &[32], 0, 1 << 40);
    assert_eq!(GgufFile::parse(&b).unwrap_err().code(), "E_OUT_OF_BOUNDS");

    // Sizes that overflow u64.
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "huge", &[1 << 32, 1 << 32, 1 << 32], 0, 0);
    let e = GgufFile::parse(&b).unwrap_err();
    assert_eq!(e.code(), "E_OVERFLOW", "{e}");
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "huge2", &[u64::MAX / 2 + 1], 0, 0);
    assert!(matches!(GgufFile::parse(&b).unwrap_err().code(), "E_OVERFLOW" | "E_OUT_OF_BOUNDS"));

    // Misaligned offset, and a row that is not a whole number of blocks.
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "w", &[32], 0, 3);
    b.resize(b.len() + 1024, 0);
    assert_eq!(GgufFile::parse(&b).unwrap_err().code(), "E_MALFORMED");
    let mut b = header(3, 1, 0);
    tensor_info(&mut b, "q", &[33], 8, 0);
    b.resize(b.len() + 1024, 0);
    assert_eq!(GgufFile::parse(&b).unwrap_err().code(), "E_BAD_TENSOR");
}

#[test]
fn missing_and_mistyped_metadata() {
    let bytes = tiny_llama_gguf(3);
    let g = GgufFile::parse(&bytes).unwrap();
    // Remove one required key and re-serialize with the same tensors.
    let rebuild = |drop: &str, replace: Option<(&str, Value)>| {
        let mut md: Vec<(String, Value)> = g.metadata.iter().filter(|(k, _)| k != drop).cloned().collect();
        if let Some((k, v)) = &replace {
            md.push((k.to_string(), v.clone()));
        }
        let mut w = GgufWriter::with_metadata(md);
        for t in &g.tensors {
            w.add_tensor(&t.name, &t.dims, t.ggml_type, g.tensor_data(&bytes, t).unwrap().to_vec()).unwrap();
        }
        w.to_bytes()
    };
    let e = Model::from_gguf_bytes(rebuild("llama.block_count", None)).err().unwrap();
    assert_eq!(e.code(), "E_MISSING_KEY", "{e}");
    assert!(e.to_string().contains("llama.block_count"));
    let e = Model::from_gguf_bytes(rebuild(
        "llama.embedding_length",
        Some(("llama.embedding_length", Value::String("64".into()))),
    ))
    .err()
    .unwrap();
    assert_eq!(e.code(), "E_WRONG_KEY_TYPE", "{e}");
    let e = Model::from_gguf_bytes(rebuild(
        "general.architecture",
        Some(("general.architecture", Value::String("rwkv".into()))),
    ))
    .err()
    .unwrap();
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL", "{e}");
    // A missing tensor is named.
    let mut w = GgufWriter::with_metadata(g.metadata.clone());
    for t in g.tensors.iter().filter(|t| t.name != "blk.1.ffn_up.weight") {
        w.add_tensor(&t.name, &t.dims, t.ggml_type, g.tensor_data(&bytes, t).unwrap().to_vec()).unwrap();
    }
    let e = Model::from_gguf_bytes(w.to_bytes()).err().unwrap();
    assert_eq!(e.code(), "E_MISSING_TENSOR");
    assert!(e.to_string().contains("blk.1.ffn_up.weight"));
    // NaN in a norm weight is refused with the tensor's name.
    let mut w = GgufWriter::with_metadata(g.metadata.clone());
    for t in &g.tensors {
        let mut data = g.tensor_data(&bytes, t).unwrap().to_vec();
        if t.name == "output_norm.weight" {
            data[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        }
        w.add_tensor(&t.name, &t.dims, t.ggml_type, data).unwrap();
    }
    let e = Model::from_gguf_bytes(w.to_bytes()).err().unwrap();
    assert_eq!(e.code(), "E_BAD_TENSOR");
    assert!(e.to_string().contains("output_norm.weight"), "{e}");
}

#[test]
fn writer_rejects_inconsistent_tensors() {
    let mut w = GgufWriter::new();
    assert!(w.add_tensor("a", &[32], GgmlType::Q8_0, vec![0; 33]).is_err());
    assert!(w.add_tensor("b", &[31], GgmlType::Q8_0, vec![0; 34]).is_err());
    assert!(w.add_tensor("c", &[32], GgmlType::Q8_0, vec![0; 34]).is_ok());
}
