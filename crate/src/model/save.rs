//! Writing a model (with some tensors replaced, e.g. by a quantizer) back to GGUF.
//!
//! Linears in ggml types are written as `base.weight`. tritium's internal formats use a documented
//! naming that any GGUF reader can parse (only ggml's I8, I32 and F16 types appear):
//! - AWQ int4 (`AWQ4_G*`): `base.qweight` I32 `[K, N/8]`, `base.qzeros` I32 `[K/g, N/8]`,
//!   `base.scales` F16 `[K/g, N]` — AutoAWQ's GEMM tensors (nibble order [0, 2, 4, 6, 1, 3, 5, 7]),
//!   with output channels in GGUF row order (llama.cpp's Q/K permutation applied);
//! - trit planes (`TP1_G*`, `TP2_G*`): for each plane K, `base.trits.K` I8 `[N, K/4]` (2-bit codes
//!   c = t + 1, weight j of a row in byte j/4 at bits 2·(j % 4)) and `base.alpha.K` F16
//!   `[N, K/g]`; W = Σ_K diag-by-group(alpha.K) · trits.K.
//!
//! Shapes above are row-major; GGUF lists dims innermost first. `Model::from_gguf_bytes` reads
//! all of these back (see `model::linear`).

use std::collections::HashMap;

use half::f16;

use crate::error::{Error, Result};
use crate::format::gguf::{GgufWriter, Value};
use crate::model::Model;
use crate::quant::{self, awq, GgmlType};

/// What to change when writing a model.
#[derive(Default)]
pub struct Replacements {
    /// Linear base name (`blk.3.attn_q`, `token_embd`, `output`) → (format, row-block data).
    pub linears: HashMap<String, (GgmlType, Vec<u8>)>,
    /// Full tensor name (`blk.3.attn_norm.weight`) → new f32 values (AWQ folds scales into norms).
    pub vectors: HashMap<String, Vec<f32>>,
    /// Metadata keys to set.
    pub metadata: Vec<(String, Value)>,
}

fn words_le(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn f16_le(v: &[f16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Add the linear `base` (`rows × cols`, data in `ty`) to `w` under the naming of this module.
pub fn add_linear(w: &mut GgufWriter, base: &str, ty: GgmlType, rows: usize, cols: usize, data: &[u8]) -> Result<()> {
    let (r, c) = (rows as u64, cols as u64);
    if ty.planes() > 0 {
        let g = ty.block_size() as u64;
        let (trits, alphas) = quant::decode_trit_planes(ty, data);
        for (k, (t, a)) in trits.iter().zip(&alphas).enumerate() {
            let mut packed = vec![0u8; rows * cols / 4];
            for (i, &v) in t.iter().enumerate() {
                packed[i / 4] |= ((v + 1) as u8) << (2 * (i % 4));
            }
            w.add_tensor(&format!("{base}.trits.{k}"), &[c / 4, r], GgmlType::I8, packed)?;
            w.add_tensor(&format!("{base}.alpha.{k}"), &[c / g, r], GgmlType::F16, f16_le(a))?;
        }
    } else if ty.group().is_some() {
        let l = awq::Int4Linear::from_blocks(ty, rows, cols, data);
        let t = awq::pack_gemm(&l).map_err(|e| Error::BadTensor { tensor: base.into(), message: e.to_string() })?;
        let g = ty.block_size() as u64;
        w.add_tensor(&format!("{base}.qweight"), &[r / 8, c], GgmlType::I32, words_le(&t.qweight))?;
        w.add_tensor(&format!("{base}.qzeros"), &[r / 8, c / g], GgmlType::I32, words_le(&t.qzeros))?;
        w.add_tensor(&format!("{base}.scales"), &[r, c / g], GgmlType::F16, f16_le(&t.scales))?;
    } else {
        w.add_tensor(&format!("{base}.weight"), &[c, r], ty, data.to_vec())?;
    }
    Ok(())
}

/// The linear a GGUF tensor name belongs to (`blk.0.attn_q.qzeros` → `blk.0.attn_q`), if any.
fn linear_base(name: &str) -> Option<&str> {
    for suf in [".weight", ".qweight", ".qzeros", ".scales", ".trits.0", ".trits.1", ".alpha.0", ".alpha.1"] {
        if let Some(b) = name.strip_suffix(suf) {
            return Some(b);
        }
    }
    None
}

/// The linears a fused tensor of the file was split into at load (`model::load`), if it is one.
fn fused_parts(model: &Model, name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix("blk.")?;
    let (l, tensor) = rest.split_once('.')?;
    let lw = model.layers.get(l.parse::<usize>().ok()?)?;
    let base = |w: &crate::model::Weight| w.name.strip_suffix(".weight").unwrap_or(&w.name).to_string();
    match tensor {
        "attn_qkv.weight" => Some(vec![base(&lw.wq), base(&lw.wk), base(&lw.wv)]),
        "ffn_up.weight" if lw.w_up.rows * 2 == model.gguf.tensor(name)?.dims.get(1).copied()? as usize => {
            Some(vec![base(&lw.w_gate), base(&lw.w_up)])
        }
        _ => None,
    }
}

/// Write `model` as GGUF with `rep` applied. Metadata (tokenizer included) is copied.
pub fn to_gguf(model: &Model, rep: &Replacements) -> Result<Vec<u8>> {
    let mut w = GgufWriter::with_metadata(model.gguf.metadata.clone());
    for (k, v) in &rep.metadata {
        w.set(k, v.clone());
    }
    let mut linears: HashMap<String, (GgmlType, usize, usize, Vec<u8>)> = HashMap::new();
    for m in model.matrices() {
        let base = m.name.strip_suffix(".weight").unwrap_or(&m.name).to_string();
        let data = match rep.linears.get(&base) {
            Some((ty, d)) => {
                if d.len() != ty.bytes_for(m.rows * m.cols) {
                    return Err(Error::BadTensor {
                        tensor: base,
                        message: format!(
                            "replacement has {} bytes, {} needs {}",
                            d.len(),
                            ty.name(),
                            ty.bytes_for(m.rows * m.cols)
                        ),
                    });
                }
                (*ty, m.rows, m.cols, d.clone())
            }
            None => (m.ty, m.rows, m.cols, model.matrix(m).data.to_vec()),
        };
        linears.insert(base, data);
    }
    let mut done = std::collections::HashSet::new();
    for t in &model.gguf.tensors {
        let base = linear_base(&t.name).unwrap_or(&t.name);
        if let Some(parts) = fused_parts(model, &t.name) {
            // A fused tensor (Phi-3's attn_qkv, its gate+up ffn_up): one tensor again when its
            // parts share a ggml type, else the parts under their own names.
            let got: Vec<_> = parts.iter().filter_map(|p| linears.get(p).map(|l| (p, l))).collect();
            let ty = got[0].1 .0;
            if got.len() == parts.len() && got.iter().all(|(_, l)| l.0 == ty) && !ty.is_internal() {
                let rows = got.iter().map(|(_, l)| l.1).sum();
                let data: Vec<u8> = got.iter().flat_map(|(_, l)| l.3.iter().copied()).collect();
                add_linear(&mut w, base, ty, rows, got[0].1 .2, &data)?;
            } else {
                for (p, (ty, rows, cols, data)) in got {
                    add_linear(&mut w, p, *ty, *rows, *cols, data)?;
                }
            }
            done.extend(parts);
            done.insert(base.to_string());
            continue;
        }
        if let Some((ty, rows, cols, data)) = linears.get(base) {
            if done.insert(base.to_string()) {
                add_linear(&mut w, base, *ty, *rows, *cols, data)?;
            }
        } else if let Some(v) = rep.vectors.get(&t.name) {
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            w.add_tensor(&t.name, &t.dims, GgmlType::F32, bytes)?;
        } else if done.insert(t.name.clone()) {
            w.add_tensor(&t.name, &t.dims, t.ggml_type, model.bytes()[t.range()].to_vec())?;
        }
    }
    // A separate output matrix for a model whose output was tied to the embedding.
    if model.tied_output {
        if let Some((ty, d)) = rep.linears.get("output") {
            add_linear(&mut w, "output", *ty, model.config.vocab_size, model.config.dim, d)?;
        }
    }
    Ok(w.to_bytes())
}
