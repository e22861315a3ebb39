//! Quantization recipes: a method for every decoder linear, or one per tensor class from a spec
//! string such as `attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0`, applied to a loaded model. The
//! result is a GGUF file (tritium's naming for AWQ int4 and trit planes, see model/save.rs) that
//! loads back as a `Model`.

use std::collections::BTreeMap;
use std::sync::Arc;

use half::f16;

use crate::analysis::dequantize_weight as dense;
use crate::convert::awq_search::{AwqOptions, AwqState};
use crate::error::{Error, Result};
use crate::format::gguf::Value;
use crate::model::save::{self, Replacements};
use crate::model::{Model, Weight};
use crate::quant::awq::Int4Linear;
use crate::quant::ternary::{self, TernaryMethod};
use crate::quant::{self, GgmlType};

/// How one tensor class is quantized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Keep the source tensor as it is.
    Keep,
    /// Round-to-nearest int4, asymmetric, per group (zero points), stored as AWQ int4.
    Rtn4,
    /// AWQ: calibrated scale search + clip search, then int4 per group.
    Awq4,
    /// BitNet b1.58 absmean ternary with one scale per tensor (TQ2_0 when the rows allow it).
    Absmean,
    /// Absmean ternary with one scale per group (TP1_G*).
    AbsmeanGroup,
    /// PTQTP: two trit planes with per-group scales (TP2_G*).
    Ptqtp,
    /// Absmean ternary packed as ggml TQ1_0 / TQ2_0 (rows must be multiples of 256).
    Tq1,
    Tq2,
    /// A ggml block format with ggml's reference quantizer (q8_0, q4_0, q4_1, f16, bf16, f32).
    Ggml(GgmlType),
}

impl Method {
    pub fn parse(s: &str) -> Result<Method> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "keep" | "source" => Method::Keep,
            "rtn4" => Method::Rtn4,
            "awq4" | "awq" => Method::Awq4,
            "absmean" => Method::Absmean,
            "absmean-group" | "absmean_g" => Method::AbsmeanGroup,
            "ptqtp" => Method::Ptqtp,
            "tq1_0" => Method::Tq1,
            "tq2_0" => Method::Tq2,
            other => match GgmlType::from_name(other) {
                Some(t) if !t.is_internal() && !t.name().starts_with("TQ") && has_quantizer(t) => Method::Ggml(t),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                    "unknown quantization method '{s}': use rtn4, awq4, absmean, absmean-group, ptqtp, tq1_0, tq2_0, \
                         q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k, f16, bf16, f32 or keep (or the recipe q4_k_m)"
                )))
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Method::Keep => "keep".into(),
            Method::Rtn4 => "rtn4".into(),
            Method::Awq4 => "awq4".into(),
            Method::Absmean => "absmean".into(),
            Method::AbsmeanGroup => "absmean-group".into(),
            Method::Ptqtp => "ptqtp".into(),
            Method::Tq1 => "tq1_0".into(),
            Method::Tq2 => "tq2_0".into(),
            Method::Ggml(t) => t.name().to_ascii_lowercase(),
        }
    }
}

/// Tensor classes of a Llama model.
pub const CLASSES: [&str; 4] = ["attn", "ffn", "embed", "output"];

#[derive(Clone, Debug)]
pub struct Recipe {
    /// q, k, v, o projections.
    pub attn: Method,
    /// gate, up, down projections.
    pub ffn: Method,
    pub embed: Method,
    pub output: Method,
    /// llama.cpp's "more bits" rule of its `_M` mixes: attn_v and ffn_down of the layers
    /// [`use_more_bits`] picks get this method instead of the class's (`more=q6_k`).
    pub more: Option<Method>,
    /// Group size for the grouped formats; `None` picks the largest of 128, 64, 32 that divides
    /// every input width the recipe quantizes (one size for the model, as AutoAWQ's config has).
    pub group: Option<usize>,
}

impl Recipe {
    /// `awq4` (every decoder linear; embeddings and output kept) or `attn=awq4,ffn=ptqtp,…`.
    pub fn parse(spec: &str) -> Result<Recipe> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("q4_k_m") {
            // llama.cpp's Q4_K_M: Q4_K everywhere, Q6_K for the output and for attn_v / ffn_down
            // in the layers use_more_bits picks.
            let (q4, q6) = (Method::Ggml(GgmlType::Q4_K), Method::Ggml(GgmlType::Q6_K));
            return Ok(Recipe { attn: q4, ffn: q4, embed: q4, output: q6, more: Some(q6), group: None });
        }
        if !spec.contains('=') {
            let m = Method::parse(spec)?;
            return Ok(Recipe { attn: m, ffn: m, embed: Method::Keep, output: Method::Keep, more: None, group: None });
        }
        let mut r = Recipe {
            attn: Method::Keep,
            ffn: Method::Keep,
            embed: Method::Keep,
            output: Method::Keep,
            more: None,
            group: None,
        };
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "recipe part '{part}' is not CLASS=METHOD (classes: {})",
                    CLASSES.join(", ")
                ))
            })?;
            let m = Method::parse(v.trim())?;
            match k.trim() {
                "attn" => r.attn = m,
                "ffn" => r.ffn = m,
                "embed" => r.embed = m,
                "output" => r.output = m,
                "more" => r.more = Some(m),
                "group" => {
                    return Err(Error::InvalidArgument("set the group size with --group".into()));
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown tensor class '{other}' in recipe (classes: {})",
                        CLASSES.join(", ")
                    )))
                }
            }
            if matches!(k.trim(), "embed" | "output" | "more") && m == Method::Awq4 {
                return Err(Error::InvalidArgument(format!(
                    "awq4 needs calibrated activations and applies to decoder linears only; use rtn4 for {k}"
                )));
            }
        }
        Ok(r)
    }

    pub fn to_spec(&self) -> String {
        let more = self.more.map(|m| format!(",more={}", m.name())).unwrap_or_default();
        format!(
            "attn={},ffn={},embed={},output={}{more}",
            self.attn.name(),
            self.ffn.name(),
            self.embed.name(),
            self.output.name()
        )
    }

    fn uses(&self, f: impl Fn(Method) -> bool) -> bool {
        f(self.attn) || f(self.ffn) || f(self.embed) || f(self.output) || self.more.is_some_and(&f)
    }

    /// Whether calibration text is needed.
    pub fn needs_calibration(&self) -> bool {
        self.uses(|m| m == Method::Awq4)
    }
}

/// Whether tritium can write `ty` (ggml's reference quantizer or a lossless conversion).
fn has_quantizer(ty: GgmlType) -> bool {
    !matches!(ty, GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q5_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS)
}

/// llama.cpp's `use_more_bits(i_layer, n_layers)`: the first and last eighth of the layers and
/// every third layer between them, where its `_M` mixes give attn_v and ffn_down more bits.
pub fn use_more_bits(layer: usize, n_layers: usize) -> bool {
    layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2
}

fn grouped(m: Method) -> bool {
    matches!(m, Method::Rtn4 | Method::Awq4 | Method::AbsmeanGroup | Method::Ptqtp)
}

/// The group size for `recipe` on `model`: the requested one (checked), or the largest of 128,
/// 64, 32 that divides every input width a grouped method applies to.
pub fn pick_group(model: &Model, recipe: &Recipe) -> Result<usize> {
    let c = &model.config;
    let mut widths = Vec::new();
    if grouped(recipe.attn) {
        widths.extend([("attention input (hidden size)", c.dim), ("attn_output input", c.n_heads * c.head_dim)]);
    }
    if grouped(recipe.ffn) {
        widths.extend([("FFN input (hidden size)", c.dim), ("ffn_down input", c.ffn_dim)]);
    }
    if grouped(recipe.embed) || grouped(recipe.output) {
        widths.push(("embedding width", c.dim));
    }
    if let Some(g) = recipe.group {
        if GgmlType::awq4(g).is_none() {
            return Err(Error::InvalidArgument(format!("group size {g} is not supported: use 32, 64 or 128")));
        }
        if let Some((what, k)) = widths.iter().find(|(_, k)| k % g != 0) {
            return Err(Error::InvalidArgument(format!("group size {g} does not divide the model's {what} {k}")));
        }
        return Ok(g);
    }
    [128, 64, 32]
        .into_iter()
        .find(|g| widths.iter().all(|(_, k)| k % g == 0))
        .ok_or_else(|| Error::InvalidArgument(format!("no group size of 128, 64 or 32 divides the widths {widths:?}")))
}

/// Quantize every row of `w` (row-major `[rows, cols]`) with `quant::quantize(ty, row)`, in parallel natively.
fn quantize_rows(ty: GgmlType, w: &[f32], cols: usize) -> Result<Vec<u8>> {
    let rows: Vec<&[f32]> = w.chunks_exact(cols).collect();
    let parts: Vec<Result<Vec<u8>>> = crate::par::map(&rows, |r| quant::quantize(ty, r));
    let mut out = Vec::with_capacity(ty.bytes_for(w.len()));
    for p in parts {
        out.extend_from_slice(&p?);
    }
    Ok(out)
}

/// Quantize one matrix with a non-calibrated method. `None` = keep the source.
pub fn quantize_matrix(model: &Model, w: &Weight, m: Method, group: usize) -> Result<Option<(GgmlType, Vec<u8>)>> {
    let (rows, cols) = (w.rows, w.cols);
    let need = |unit: usize, what: &str| -> Result<()> {
        if cols % unit != 0 {
            return Err(Error::InvalidArgument(format!(
                "tensor '{}': {cols} columns are not a multiple of {unit}, which {what} needs",
                w.name
            )));
        }
        Ok(())
    };
    Ok(Some(match m {
        Method::Keep => return Ok(None),
        Method::Awq4 => unreachable!("AWQ runs over whole layers"),
        Method::Rtn4 => {
            need(group, "the int4 group")?;
            let l = Int4Linear::quantize(&dense(model, w)?, rows, cols, group)?;
            l.to_blocks()?
        }
        Method::Ptqtp => {
            need(group, "the PTQTP group")?;
            ternary::quantize_matrix_ternary(&dense(model, w)?, rows, cols, TernaryMethod::Ptqtp(group))?
        }
        Method::AbsmeanGroup => {
            need(group, "the ternary group")?;
            ternary::quantize_matrix_ternary(&dense(model, w)?, rows, cols, TernaryMethod::AbsmeanGroup(group))?
        }
        Method::Absmean => {
            ternary::quantize_matrix_ternary(&dense(model, w)?, rows, cols, TernaryMethod::AbsmeanTensor)?
        }
        Method::Tq1 | Method::Tq2 => {
            let ty = if m == Method::Tq1 { GgmlType::TQ1_0 } else { GgmlType::TQ2_0 };
            need(256, ty.name())?;
            // BitNet absmean trits with d = γ in every block (ggml's own quantizer would use
            // each block's max |w|).
            let (gamma, trits) = ternary::absmean_tensor(&dense(model, w)?);
            (ty, ternary::encode_tq(ty, &trits, &vec![f16::from_f32(gamma); rows * cols / 256])?)
        }
        Method::Ggml(ty) => {
            // As llama.cpp does, a k-quant on rows that are not whole 256-element superblocks
            // falls back to a 32-element format of about the same size.
            let ty = match ty {
                GgmlType::Q4_K if cols % 256 != 0 => GgmlType::Q5_0,
                GgmlType::Q6_K if cols % 256 != 0 => GgmlType::Q8_0,
                t => t,
            };
            need(ty.block_size(), ty.name())?;
            (ty, quantize_rows(ty, &dense(model, w)?, cols)?)
        }
    }))
}

/// Progress of a whole-model quantization: (done, total, what).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// Options beyond the recipe.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    /// Calibration token ids (AWQ), cut into blocks of `calib_block`.
    pub calib: Vec<u32>,
    pub calib_block: usize,
    pub awq: AwqOptions,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions { calib: Vec::new(), calib_block: 512, awq: AwqOptions::default() }
    }
}

/// A quantization in steps (one decoder layer per step, then the embedding and output), so the
/// CLI can print progress and the browser can yield between steps.
pub struct Quantizer {
    model: Arc<Model>,
    recipe: Recipe,
    group: usize,
    rep: Replacements,
    awq: Option<AwqState>,
    calib_tokens: usize,
    next: usize,
}

impl Quantizer {
    pub fn new(model: Arc<Model>, recipe: &Recipe, opts: &QuantizeOptions) -> Result<Quantizer> {
        let group = pick_group(&model, recipe)?;
        let awq = if recipe.needs_calibration() {
            let mut o = opts.awq.clone();
            o.group = group;
            Some(AwqState::new(&model, &opts.calib, opts.calib_block, &o)?)
        } else {
            None
        };
        let calib_tokens = awq.as_ref().map(|a| a.tokens()).unwrap_or(0);
        Ok(Quantizer { model, recipe: recipe.clone(), group, rep: Replacements::default(), awq, calib_tokens, next: 0 })
    }

    pub fn group(&self) -> usize {
        self.group
    }

    /// The source model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Calibration tokens AWQ uses (0 without AWQ).
    pub fn calibration_tokens(&self) -> usize {
        self.calib_tokens
    }

    /// Steps in all: one per layer, plus the embedding and the output.
    pub fn total(&self) -> usize {
        self.model.layers.len() + 2
    }

    pub fn done(&self) -> usize {
        self.next
    }

    /// Run the next step; returns what it did, or `None` when every step has run.
    pub fn step(&mut self) -> Result<Option<String>> {
        let model = &*self.model;
        let n_layers = model.layers.len();
        let (recipe, group) = (&self.recipe, self.group);
        let what = if self.next < n_layers {
            let l = self.next;
            let lw = &model.layers[l];
            if let Some(st) = self.awq.as_mut() {
                let al = st.layer(model)?;
                // AWQ folds its scales into the norms, so it applies to a class as a whole (attention:
                // its norm + q/k/v/o; FFN: its norm + gate/up/down); other classes keep the source norms.
                let (attn_awq, ffn_awq) = (recipe.attn == Method::Awq4, recipe.ffn == Method::Awq4);
                if attn_awq {
                    self.rep.vectors.insert(format!("blk.{l}.attn_norm.weight"), al.attn_norm.clone());
                }
                if ffn_awq {
                    self.rep.vectors.insert(format!("blk.{l}.ffn_norm.weight"), al.ffn_norm.clone());
                }
                for (i, lin) in al.linears.iter().enumerate() {
                    if (i < 4 && attn_awq) || (i >= 4 && ffn_awq) {
                        let name = crate::model::graph::Linear::ALL[i].gguf_name();
                        self.rep.linears.insert(format!("blk.{l}.{name}"), lin.to_blocks()?);
                    }
                }
            }
            let more = |m: Method| match recipe.more {
                Some(more) if use_more_bits(l, n_layers) => more,
                _ => m,
            };
            let pairs = [
                (recipe.attn, &lw.wq, "attn_q"),
                (recipe.attn, &lw.wk, "attn_k"),
                (more(recipe.attn), &lw.wv, "attn_v"),
                (recipe.attn, &lw.wo, "attn_output"),
                (recipe.ffn, &lw.w_gate, "ffn_gate"),
                (recipe.ffn, &lw.w_up, "ffn_up"),
                (more(recipe.ffn), &lw.w_down, "ffn_down"),
            ];
            for (m, w, name) in pairs {
                if m == Method::Awq4 {
                    continue;
                }
                if let Some(r) = quantize_matrix(model, w, m, group)? {
                    self.rep.linears.insert(format!("blk.{l}.{name}"), r);
                }
            }
            format!("layer {}/{}", l + 1, n_layers)
        } else if self.next == n_layers {
            if let Some(r) = quantize_matrix(model, &model.token_embd, recipe.embed, group)? {
                self.rep.linears.insert("token_embd".into(), r);
            }
            "embedding".to_string()
        } else if self.next == n_layers + 1 {
            if model.tied_output {
                // A tied output follows the embedding unless the recipe gives it its own method.
                if recipe.output != recipe.embed && recipe.output != Method::Keep {
                    if let Some(r) = quantize_matrix(model, &model.output, recipe.output, group)? {
                        self.rep.linears.insert("output".into(), r);
                    }
                }
            } else if let Some(r) = quantize_matrix(model, &model.output, recipe.output, group)? {
                self.rep.linears.insert("output".into(), r);
            }
            "output".to_string()
        } else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some(what))
    }

    /// The quantized model as GGUF bytes (runs any steps left).
    pub fn finish(mut self) -> Result<Vec<u8>> {
        while self.step()?.is_some() {}
        let mut rep = std::mem::take(&mut self.rep);
        rep.metadata.push(("tritium.quantization".into(), Value::String(self.recipe.to_spec())));
        rep.metadata.push(("tritium.quantization.group_size".into(), Value::U32(self.group as u32)));
        if self.awq.is_some() {
            rep.metadata.push(("tritium.awq.calibration_tokens".into(), Value::U64(self.calib_tokens as u64)));
        }
        save::to_gguf(&self.model, &rep)
    }
}

/// Quantize `model` with `recipe`; returns the GGUF bytes of the result.
pub fn quantize_model(
    model: Arc<Model>,
    recipe: &Recipe,
    opts: &QuantizeOptions,
    progress: Progress,
) -> Result<Vec<u8>> {
    let mut q = Quantizer::new(model, recipe, opts)?;
    let total = q.total();
    progress(0, total, "start");
    while let Some(what) = q.step()? {
        progress(q.done(), total, &what);
    }
    q.finish()
}

/// A summary of a model's formats: bits per weight over the matrices, per format counts.
pub fn format_summary(model: &Model) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for w in model.matrices() {
        *m.entry(w.ty.name().to_string()).or_insert(0) += 1;
    }
    m
}
