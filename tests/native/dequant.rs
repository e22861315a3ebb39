//! Dequantization and parsing against the Python `gguf` package (GGUFReader +
//! gguf.quants.dequantize), on every tensor of the default model and on synthetic tensors of
//! every supported type (random blocks for the types tritium reads but does not write); and the
//! ggml reference quantizers (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) against gguf.quants.quantize, byte
//! for byte.

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

/// Every k-quant / 5-bit / IQ4 type, many random blocks each (every code and sub-block scale
/// pattern, both signs of d), against gguf.quants.dequantize bit for bit.
#[test]
fn random_kquant_blocks_match_python_gguf_bits() {
    let mut w = GgufWriter::new();
    let mut rng = tritium::model::sampler::SplitMix64::new(7);
    for ty in quant::KQUANT_TYPES {
        let (rows, cols) = (67, 1024);
        let data = quant::kquants::random_blocks(ty, rows * cols, || rng.next_u64());
        w.add_tensor(&format!("random.{}", ty.name()), &[cols as u64, rows as u64], ty, data).unwrap();
    }
    let p = common::write_tmp("kquant-random.gguf", &w.to_bytes());
    let (tensors, elements, _max, exact) = compare_with_python(&p, "kquant-random");
    assert_eq!(tensors, quant::KQUANT_TYPES.len());
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
            let data = quant::quantize(ty, &x)
                .unwrap_or_else(|_| quant::kquants::random_blocks(ty, rows * cols, || rng.next_u64()));
            w.add_tensor(&format!("{}.{rows}x{cols}", ty.name()), &[cols as u64, rows as u64], ty, data).unwrap();
        }
    }
    let p = common::write_tmp("all-types.gguf", &w.to_bytes());
    let (tensors, elements, _max, exact) = compare_with_python(&p, "synthetic");
    assert_eq!(tensors, 2 * ALL_TYPES.len());
    assert_eq!(exact, elements);
}

/// Seeded weights for the quantizer comparison: `rows` rows of `cols`, random at magnitudes from
/// 1e-6 to 1e4, then edge blocks (all zero, constant, one outlier, a negative extreme next to a
/// smaller positive one and the reverse, values on the half steps of a round scale, subnormals,
/// tiny values whose f16 scale underflows to zero, a max |x| whose Q8_0 scale overflows f16).
/// Not here: blocks of subnormals, whose 1/d overflows f32; see
/// `ggml_quantizers_zero_subnormal_blocks`.
fn quantizer_inputs(rows: usize, cols: usize) -> Vec<f32> {
    let mut rng = tritium::model::sampler::SplitMix64::new(17);
    let mut blocks: Vec<Vec<f32>> = Vec::new();
    for mag in [1e-9f32, 1e-6, 1e-3, 0.05, 1.0, 30.0, 1e4] {
        for _ in 0..8 {
            blocks.push((0..32).map(|_| (rng.next_f64() as f32 * 2.0 - 1.0) * mag).collect());
        }
    }
    blocks.push(vec![0.0; 32]);
    blocks.push(vec![0.75; 32]);
    blocks.push(vec![-0.75; 32]);
    blocks.push((0..32).map(|i| if i == 13 { 50.0 } else { (rng.next_f64() as f32 - 0.5) * 0.1 }).collect());
    blocks.push((0..32).map(|i| if i == 0 { -2.0 } else { i as f32 / 20.0 }).collect());
    blocks.push((0..32).map(|i| if i == 31 { 2.0 } else { -(i as f32) / 20.0 }).collect());
    blocks.push((0..32).map(|i| (i as f32 - 16.0) * 0.5).collect());
    blocks.push((0..32).map(|i| (i as f32 - 15.5) / 8.0).collect());
    blocks.push((0..32).map(|i| if i == 4 { 1e7 } else { i as f32 }).collect());
    let mut x = blocks.concat();
    assert!(x.len() <= rows * cols, "{} values do not fit {rows} x {cols}", x.len());
    while x.len() < rows * cols {
        x.push((rng.next_f64() as f32 - 0.5) * 3.0);
    }
    x
}

#[test]
fn ggml_quantizers_match_python_gguf_bytes() {
    use tritium::quant::GgmlType;
    let (rows, cols) = (7, 352); // 11 blocks of 32 per row
    let x = quantizer_inputs(rows, cols);
    let dir = common::tmp_dir("quantize-ref");
    let input = dir.join("x.f32");
    std::fs::write(&input, bytemuck::cast_slice(&x)).unwrap();
    let mut failures = Vec::new();
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1] {
        let out = dir.join(format!("{}.bin", ty.name()));
        let _ = std::fs::remove_file(&out);
        let (r, c) = (rows.to_string(), cols.to_string());
        common::run_py("gguf_quant_ref.py", &[ty.name(), input.to_str().unwrap(), &r, &c, out.to_str().unwrap()]);
        let want = std::fs::read(&out).expect("reference bytes");
        let got = quant::quantize(ty, &x).unwrap_or_else(|e| panic!("{}: {e}", ty.name()));
        assert_eq!(got.len(), want.len(), "{}: byte count, tritium vs gguf", ty.name());
        let bs = ty.block_bytes();
        let differ: Vec<String> = (0..got.len() / bs)
            .filter(|&b| got[b * bs..(b + 1) * bs] != want[b * bs..(b + 1) * bs])
            .map(|b| {
                format!(
                    "block {b} (values {:?}):\n  tritium {:02x?}\n  gguf    {:02x?}",
                    &x[b * 32..(b + 1) * 32],
                    &got[b * bs..(b + 1) * bs],
                    &want[b * bs..(b + 1) * bs]
                )
            })
            .collect();
        eprintln!(
            "{}: {} of {} blocks byte-identical to gguf.quants.quantize",
            ty.name(),
            got.len() / bs - differ.len(),
            got.len() / bs
        );
        if !differ.is_empty() {
            failures.push(format!("{}: {} blocks differ:\n{}", ty.name(), differ.len(), differ.join("\n")));
        }
    }
    assert!(failures.is_empty(), "tritium vs gguf.quants.quantize:\n{}", failures.join("\n"));
}

/// A block of subnormals (max |x| ≈ 3e-40): d = max / 127 (or / −8, / 15) is subnormal in f32,
/// so 1/d is +inf and ggml's reference casts ±inf (or NaN) to an integer, which C leaves
/// undefined: the gguf package gets code 0, tritium saturates. The f16 scale is zero either way,
/// so the block must dequantize to zeros.
#[test]
fn ggml_quantizers_zero_subnormal_blocks() {
    use tritium::quant::GgmlType;
    let x: Vec<f32> =
        (0..32).map(|i| f32::from_bits(1 + 7919 * i as u32) * if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1] {
        let q = quant::quantize(ty, &x).unwrap();
        let back = quant::dequantize_vec(ty, &q, 32).unwrap();
        assert!(back.iter().all(|v| *v == 0.0), "{}: subnormal block dequantizes to {back:?}", ty.name());
    }
}
