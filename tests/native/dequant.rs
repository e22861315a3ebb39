//! Dequantization and parsing against the Python `gguf` package (GGUFReader +
//! gguf.quants.dequantize), on every tensor of the default model and on synthetic tensors of
//! every supported type.

use std::path::Path;

use serde::Deserialize;
use tritium::format::gguf::{GgufFile, GgufWriter};
use tritium::quant::{self, ALL_TYPES};

use crate::common;

#[derive(Deserialize)]
struct RefTensor {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    shape: Vec<u64>,
    offset: usize,
    n: usize,
    data_offset: u64,
}

#[derive(Deserialize)]
struct RefIndex {
    tensors: Vec<RefTensor>,
    metadata_keys: Vec<String>,
}

/// Compare every tensor of `path`; returns (tensors, elements, max |diff|, exactly equal elements).
fn compare_with_python(path: &Path, tag: &str) -> (usize, usize, f32, usize) {
    let out_bin = common::tmp_dir("dequant").join(format!("{tag}.f32"));
    let json = common::run_py("gguf_dequant_ref.py", &[path.to_str().unwrap(), out_bin.to_str().unwrap()]);
    let index: RefIndex = serde_json::from_str(&json).expect("reference index JSON");
    let ref_bytes = std::fs::read(&out_bin).expect("reference values");
    let ref_vals: &[f32] = bytemuck::cast_slice(&ref_bytes);
    let bytes = std::fs::read(path).unwrap();
    let g = GgufFile::parse(&bytes).unwrap();
    let mut keys: Vec<&str> = g.metadata.iter().map(|(k, _)| k.as_str()).collect();
    let mut rkeys: Vec<&str> = index.metadata_keys.iter().map(|s| s.as_str()).collect();
    keys.sort();
    rkeys.sort();
    assert_eq!(keys, rkeys, "metadata keys differ from gguf.GGUFReader");
    assert_eq!(g.tensors.len(), index.tensors.len(), "tensor count");
    let (mut elements, mut max_diff, mut exact) = (0usize, 0f32, 0usize);
    for (t, r) in g.tensors.iter().zip(&index.tensors) {
        assert_eq!(t.name, r.name);
        assert_eq!(t.ggml_type.name(), r.ty, "{}: type", t.name);
        assert_eq!(t.shape(), r.shape, "{}: shape", t.name);
        assert_eq!(t.abs_offset, r.data_offset, "{}: data offset", t.name);
        assert_eq!(t.n_elements() as usize, r.n, "{}: element count", t.name);
        let ours = quant::dequantize_vec(t.ggml_type, g.tensor_data(&bytes, t).unwrap(), r.n).unwrap();
        let theirs = &ref_vals[r.offset..r.offset + r.n];
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let d = (a - b).abs();
            let tol = 1e-6 * b.abs().max(1e-3);
            assert!(
                d <= tol || (a.is_nan() && b.is_nan()),
                "{} ({}) element {i}: ours {a} vs gguf {b} (|diff| {d} > {tol})",
                t.name,
                r.ty
            );
            max_diff = max_diff.max(d);
            exact += (a.to_bits() == b.to_bits()) as usize;
        }
        elements += r.n;
    }
    eprintln!(
        "{tag}: {} tensors, {elements} elements, max |diff| {max_diff:e}, bit-identical {exact} ({:.4}%)",
        index.tensors.len(),
        100.0 * exact as f64 / elements as f64
    );
    (index.tensors.len(), elements, max_diff, exact)
}

#[test]
fn default_model_every_tensor_matches_python_gguf() {
    let (tensors, elements, _max, exact) = compare_with_python(&common::model_path(), "default-model");
    assert_eq!(tensors, 272, "SmolLM2-135M has 272 tensors");
    assert!(elements > 134_000_000);
    assert_eq!(exact, elements, "every element bit-identical to gguf.quants.dequantize");
}

#[test]
fn synthetic_tensors_of_every_type_match_python_gguf() {
    let mut w = GgufWriter::new();
    let mut rng = tritium::model::sampler::SplitMix64::new(42);
    for ty in ALL_TYPES {
        // Odd row counts; rows of 1 and 3 blocks.
        for (rows, blocks) in [(1usize, 1usize), (5, 3)] {
            let cols = ty.block_size().max(32) * blocks;
            let x: Vec<f32> = (0..rows * cols).map(|_| (rng.next_f64() as f32 - 0.5) * 4.0).collect();
            let data = quant::quantize(ty, &x).unwrap();
            w.add_tensor(&format!("{}.{rows}x{cols}", ty.name()), &[cols as u64, rows as u64], ty, data).unwrap();
        }
    }
    let p = common::write_tmp("all-types.gguf", &w.to_bytes());
    let (tensors, elements, _max, exact) = compare_with_python(&p, "synthetic");
    assert_eq!(tensors, 2 * ALL_TYPES.len());
    assert_eq!(exact, elements);
}
