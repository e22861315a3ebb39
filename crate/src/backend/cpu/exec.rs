//! The CPU reference executes the model graph ([`crate::model::graph`]): embedding → every
//! layer's ops → final RMSNorm → logits (tied to the embedding or `output.weight`). Exact f32
//! math in a fixed order; the GPU's kernels are checked against it.

use super::attention::Gqa;
use super::{gelu, matmul, rmsnorm, rmsnorm_in_place, silu, softcap};
use crate::error::Result;
use crate::model::graph::{Act, Gated, Op};
use crate::model::{check_step, KvCache, LlamaConfig, Model, Weight};
use crate::quant::quantize_i8;

/// `out = W · x` for `n` tokens, with int8 activations when [`Model::i8_activations`] is set and
/// the format has an int8 GPU unit (what the GPU's int8 kernels compute).
pub fn linear(model: &Model, w: &Weight, x: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
    let m = model.matrix(w);
    if model.i8_activations && m.ty.has_i8_unit() && m.cols % 32 == 0 {
        matmul(&m, &quantize_i8(x, m.cols), n, out)
    } else {
        matmul(&m, x, n, out)
    }
}

/// The activation buffers of one layer call over up to `n` tokens (reused across layers); the
/// residual stream `X` is the caller's.
pub struct LayerScratch {
    bufs: Vec<Vec<f32>>,
}

impl LayerScratch {
    pub fn new(c: &LlamaConfig, n: usize) -> LayerScratch {
        let bufs = Act::ALL.iter().map(|a| if *a == Act::X { Vec::new() } else { vec![0.0; n * a.width(c)] }).collect();
        LayerScratch { bufs }
    }

    /// The first `len` floats of an activation (e.g. the queries after RoPE, read by the
    /// attention-received routers).
    pub fn act(&self, a: Act, len: usize) -> &[f32] {
        &self.bufs[a.index()][..len]
    }
}

/// `f(input, output)` over two distinct activations, `[n, width]` each; `X` is `x`.
fn pair<R>(
    c: &LlamaConfig,
    x: &mut [f32],
    s: &mut LayerScratch,
    n: usize,
    input: Act,
    out: Act,
    f: impl FnOnce(&[f32], &mut [f32]) -> R,
) -> R {
    let (li, lo) = (n * input.width(c), n * out.width(c));
    assert_ne!(input, out, "graph op reads and writes the same activation");
    if input == Act::X {
        f(&x[..li], &mut s.bufs[out.index()][..lo])
    } else if out == Act::X {
        f(&s.bufs[input.index()][..li], &mut x[..lo])
    } else {
        let mut o = std::mem::take(&mut s.bufs[out.index()]);
        let r = f(&s.bufs[input.index()][..li], &mut o[..lo]);
        s.bufs[out.index()] = o;
        r
    }
}

/// One activation, mutable.
fn act_mut<'a>(c: &LlamaConfig, x: &'a mut [f32], s: &'a mut LayerScratch, n: usize, a: Act) -> &'a mut [f32] {
    if a == Act::X {
        &mut x[..n * c.dim]
    } else {
        &mut s.bufs[a.index()][..n * a.width(c)]
    }
}

/// One decoder layer over the `n` rows of `x` (`[n, dim]`, updated in place), the tokens at
/// position ids `positions` (increasing, after every entry already in layer `l`'s cache): the
/// model's layer graph, op by op. The tokens' keys and values are appended to layer `l`'s cache;
/// token `t` attends to the entries before it plus the first `t + 1` new ones.
///
/// `mlp_weight`: when given, the graph's STRing-weighted residual gives row `t`
/// `h + w[t] · MLP(h)` instead of `h + MLP(h)` (a weight of exactly 1 gives the same bits as
/// `None`).
pub fn layer_forward(
    model: &Model,
    l: usize,
    cache: &mut KvCache,
    x: &mut [f32],
    positions: &[usize],
    mlp_weight: Option<&[f32]>,
    s: &mut LayerScratch,
) -> Result<()> {
    let c = &model.config;
    let lw = &model.layers[l];
    let n = positions.len();
    let mut before = cache.layer_len(l);
    for op in &model.graph.ops {
        match op {
            Op::RmsNorm { norm, input, out } => {
                pair(c, x, s, n, *input, *out, |i, o| rmsnorm(i, lw.norm(*norm), c.rms_eps, o));
            }
            Op::Linears { input, outs } => {
                for (w, out) in outs {
                    pair(c, x, s, n, *input, *out, |i, o| linear(model, lw.linear(*w), i, n, o))?;
                }
            }
            Op::Bias { linear, act } => {
                let b = lw.bias(*linear);
                for row in act_mut(c, x, s, n, *act).chunks_exact_mut(b.len()) {
                    row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
                }
            }
            Op::ActQuant { act } => {
                let w = act.width(c);
                for row in act_mut(c, x, s, n, *act).chunks_exact_mut(w) {
                    let m = row.iter().fold(0f32, |a, v| a.max(v.abs()));
                    if m > 0.0 {
                        let u = m * (1.0 / 127.0);
                        row.iter_mut().for_each(|v| *v = (*v / u).round_ties_even() * u);
                    }
                }
            }
            Op::HeadNorm { norm, act } => {
                rmsnorm_in_place(act_mut(c, x, s, n, *act), lw.norm(*norm), c.rms_eps);
            }
            Op::Rope { act, heads: _ } => {
                let w = act.width(c);
                let rope = c.layer_rope(l);
                let a = act_mut(c, x, s, n, *act);
                for (t, &pos) in positions.iter().enumerate() {
                    rope.apply(&mut a[t * w..(t + 1) * w], c.head_dim, pos);
                }
            }
            Op::KvAppend { k, v } => {
                before = cache.layer_len(l);
                cache.k[l].extend_from_slice(act_mut(c, x, s, n, *k));
                cache.v[l].extend_from_slice(act_mut(c, x, s, n, *v));
            }
            Op::Attention { q, out } => {
                let (kc, vc) = (&cache.k[l], &cache.v[l]);
                let g = Gqa::of(c);
                // A sliding-window layer's query sees itself and the window − 1 entries before
                // it (the cache holds every position of a dense sequence).
                let window = c.window(l).unwrap_or(usize::MAX);
                let keys = |t: usize| (before + t + 1).saturating_sub(window)..before + t + 1;
                pair(c, x, s, n, *q, *out, |q, o| g.attend(q, kc, vc, keys, o));
            }
            Op::Residual { from, into, weighted } => {
                let w = if *weighted { mlp_weight } else { None };
                let width = into.width(c);
                pair(c, x, s, n, *from, *into, |f, i| match w {
                    None => i.iter_mut().zip(f.iter()).for_each(|(a, b)| *a += b),
                    Some(w) => {
                        for (t, (ir, fr)) in i.chunks_exact_mut(width).zip(f.chunks_exact(width)).enumerate() {
                            ir.iter_mut().zip(fr).for_each(|(a, b)| *a += w[t] * b);
                        }
                    }
                });
            }
            Op::Glu { gate, up, f } => {
                let f = match f {
                    Gated::Silu => silu,
                    Gated::Gelu => gelu,
                    Gated::Relu2 => |x: f32| x.max(0.0) * x.max(0.0),
                };
                pair(c, x, s, n, *up, *gate, |u, g| g.iter_mut().zip(u.iter()).for_each(|(g, u)| *g = f(*g) * u));
            }
        }
    }
    Ok(())
}

/// The embeddings of `tokens` (checked against the vocabulary by [`check_step`]), `[n, dim]`.
pub fn embed(model: &Model, tokens: &[u32]) -> Result<Vec<f32>> {
    let d = model.config.dim;
    let embd = model.matrix(&model.token_embd);
    let mut x = vec![0f32; tokens.len() * d];
    for (t, &tok) in tokens.iter().enumerate() {
        embd.dequant_row(tok as usize, &mut x[t * d..(t + 1) * d])?;
    }
    let scale = model.config.embed_scale;
    if scale != 1.0 {
        x.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(x)
}

/// Run `tokens` at positions `cache.len ..` through the model, appending to the cache.
/// Returns the final-normed hidden states, `[tokens.len(), dim]`.
pub fn forward(model: &Model, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
    let c = &model.config;
    let n = tokens.len();
    check_step(c, tokens, cache.len, c.context_length)?;
    let start = cache.len;
    let mut x = embed(model, tokens)?;
    let positions: Vec<usize> = (start..start + n).collect();
    let mut s = LayerScratch::new(c, n);
    for l in 0..model.layers.len() {
        layer_forward(model, l, cache, &mut x, &positions, None, &mut s)?;
    }
    cache.len += n;
    let mut out = vec![0f32; n * c.dim];
    rmsnorm(&x, &model.output_norm, c.rms_eps, &mut out);
    Ok(out)
}

/// Logits `[n, vocab]` of `n` final hidden states.
pub fn logits(model: &Model, hidden: &[f32], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n * model.config.vocab_size];
    linear(model, &model.output, hidden, n, &mut out)?;
    let cap = model.config.final_softcap;
    if cap > 0.0 {
        out.iter_mut().for_each(|v| *v = softcap(*v, cap));
    }
    Ok(out)
}

/// Logits of the last position after a fresh prefill of `tokens`.
pub fn forward_logits(model: &Model, tokens: &[u32]) -> Result<Vec<f32>> {
    let mut cache = KvCache::new(&model.config);
    let hidden = forward(model, &mut cache, tokens)?;
    let d = model.config.dim;
    logits(model, &hidden[hidden.len() - d..], 1)
}
