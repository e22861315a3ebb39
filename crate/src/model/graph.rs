//! The model graph: an architecture describes its decoder layer once, as a short list of typed
//! ops over named activations ([`Act`]). The CPU backend executes the list (the reference,
//! `backend::cpu::exec`); the WebGPU backend records it into dispatches once, at upload
//! (`backend::gpu::record`), and is free to fuse neighbouring ops there. Neither backend knows
//! the order of a layer's steps: adding an architecture means one file in `model/arch/` that
//! builds this list from the config.
//!
//! Why a list and not a lazy tensor graph (candle's or ratchet's op-by-op tensors): a decoder
//! layer here is a fixed sequence over a handful of buffers, the same for every token and every
//! layer of a model, so the GPU side can build all its bind groups once at upload and a step is
//! one recorded command list, as llama.cpp builds one graph per architecture for every backend.

use crate::error::{Error, Result};
use crate::model::LlamaConfig;

/// A named activation of one layer step: `[n, width]` f32 for the step's `n` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// The residual stream (the layer's input and output).
    X,
    /// A normed copy of the residual stream (the input of a group of linears).
    Xn,
    Q,
    K,
    V,
    /// Attention output (heads concatenated).
    Att,
    /// Output of a projection back to the model width, before its residual add.
    Proj,
    Gate,
    Up,
}

impl Act {
    pub const ALL: [Act; 9] = [Act::X, Act::Xn, Act::Q, Act::K, Act::V, Act::Att, Act::Proj, Act::Gate, Act::Up];

    /// Floats per token.
    pub fn width(self, c: &LlamaConfig) -> usize {
        match self {
            Act::X | Act::Xn | Act::Proj => c.dim,
            Act::Q | Act::Att => c.n_heads * c.head_dim,
            Act::K | Act::V => c.kv_dim(),
            Act::Gate | Act::Up => c.ffn_dim,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A weight matrix of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Linear {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Linear {
    /// Every linear of a layer, in file order (`Linear::ALL[w.index()] == w`).
    pub const ALL: [Linear; 7] = [Linear::Q, Linear::K, Linear::V, Linear::O, Linear::Gate, Linear::Up, Linear::Down];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The GGUF tensor name within a layer (`blk.L.{name}.weight`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Linear::Q => "attn_q",
            Linear::K => "attn_k",
            Linear::V => "attn_v",
            Linear::O => "attn_output",
            Linear::Gate => "ffn_gate",
            Linear::Up => "ffn_up",
            Linear::Down => "ffn_down",
        }
    }
}

/// A norm weight of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Norm {
    Attn,
    Ffn,
    /// Per-head norm of the queries (Qwen 3, Gemma 3), `head_dim` wide.
    Q,
    /// Per-head norm of the keys.
    K,
    /// Norm of the attention's output projection before its residual add (Gemma 2, 3).
    PostAttn,
    /// Norm of the FFN's output before its residual add (Gemma 2, 3).
    PostFfn,
    /// Norm of the attention output before the output product (BitNet's sub-norm).
    AttnSub,
    /// Norm of the gated activation before the down product (BitNet's sub-norm), FFN-wide.
    FfnSub,
}

impl Norm {
    /// Every norm a layer may have (`Norm::ALL[n.index()] == n`).
    pub const ALL: [Norm; 8] =
        [Norm::Attn, Norm::Ffn, Norm::Q, Norm::K, Norm::PostAttn, Norm::PostFfn, Norm::AttnSub, Norm::FfnSub];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The GGUF tensor name within a layer (`blk.L.{name}.weight`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Norm::Attn => "attn_norm",
            Norm::Ffn => "ffn_norm",
            Norm::Q => "attn_q_norm",
            Norm::K => "attn_k_norm",
            Norm::PostAttn => "post_attention_norm",
            Norm::PostFfn => "post_ffw_norm",
            Norm::AttnSub => "attn_sub_norm",
            Norm::FfnSub => "ffn_sub_norm",
        }
    }
}

/// Which heads an activation holds (for RoPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heads {
    Query,
    KeyValue,
}

/// Gated activation of a gated FFN: `gate = f(gate) · up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gated {
    /// SwiGLU (Llama, Qwen, Phi-3): f = SiLU.
    Silu,
    /// GeGLU (Gemma): f = GELU, tanh approximation.
    Gelu,
    /// Squared ReLU (BitNet b1.58): f = max(x, 0)².
    Relu2,
}

/// One step of a decoder layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `out = RMSNorm(input) · weight` over `input`'s width (the weight's length).
    RmsNorm { norm: Norm, input: Act, out: Act },
    /// Products that share one input: `out_i = W_i · input` (one quantized input serves all).
    Linears { input: Act, outs: Vec<(Linear, Act)> },
    /// `act += b`, the bias of `linear` added to every token's row (Qwen 2's q, k, v).
    Bias { linear: Linear, act: Act },
    /// Per-token absmax int8 fake-quantization of `act` in place, the input of BitNet b1.58's
    /// BitLinear as the model was trained: `x ← round(x · 127 / max|x|) · max|x| / 127` (a row
    /// of zeros stays zero).
    ActQuant { act: Act },
    /// RMSNorm of each head of `act` (`head_dim` wide) in place, times `norm`'s weight.
    HeadNorm { norm: Norm, act: Act },
    /// Rotary position embedding of the heads of `act` at the tokens' position ids, with the
    /// layer's RoPE (`LlamaConfig::layer_rope`: pairing, base, scaling, factors).
    Rope { act: Act, heads: Heads },
    /// Append the step's key and value rows to the layer's cache.
    KvAppend { k: Act, v: Act },
    /// Causal grouped-query attention of `q` over the layer's cache (the entries before the step
    /// plus the step's own, causally, within the layer's sliding window if it has one) into
    /// `out`, with the config's score scale and soft-capping.
    Attention { q: Act, out: Act },
    /// Residual add `into += from`. `weighted`: the add that p-MoD's STRing scales per token
    /// (`into += w̃_t · from` for kept target tokens under trained routers); with no weights, or
    /// weights of exactly 1, the same bits as the plain add.
    Residual { from: Act, into: Act, weighted: bool },
    /// `gate = f(gate) · up`, element-wise.
    Glu { gate: Act, up: Act, f: Gated },
}

/// The ops of one decoder layer, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGraph {
    pub ops: Vec<Op>,
}

impl LayerGraph {
    /// Check the invariants both backends rely on: the layer appends to its KV cache exactly once
    /// and before its attention, at most one residual is STRing-weighted, and every activation is
    /// written before it is read (the residual stream `X` is the layer's input).
    pub fn new(ops: Vec<Op>) -> Result<LayerGraph> {
        let bad = |m: String| Err(Error::UnsupportedModel(format!("layer graph: {m}")));
        let mut written = vec![false; Act::ALL.len()];
        written[Act::X.index()] = true;
        let (mut kv, mut weighted) = (0, 0);
        for (i, op) in ops.iter().enumerate() {
            let (reads, writes): (Vec<Act>, Vec<Act>) = match op {
                Op::RmsNorm { input, out, .. } => (vec![*input], vec![*out]),
                Op::Linears { input, outs } => (vec![*input], outs.iter().map(|o| o.1).collect()),
                Op::Rope { act, .. } | Op::Bias { act, .. } | Op::HeadNorm { act, .. } | Op::ActQuant { act } => {
                    (vec![*act], vec![*act])
                }
                Op::KvAppend { k, v } => {
                    kv += 1;
                    (vec![*k, *v], vec![])
                }
                Op::Attention { q, out } => {
                    if kv == 0 {
                        return bad(format!("op {i}: attention before the KV append"));
                    }
                    (vec![*q], vec![*out])
                }
                Op::Residual { from, into, weighted: w } => {
                    weighted += *w as usize;
                    (vec![*from, *into], vec![*into])
                }
                Op::Glu { gate, up, .. } => (vec![*gate, *up], vec![*gate]),
            };
            // RoPE, biases and head norms work in place, a residual adds into its target and the
            // gated activation gates in place; every other op writes a different activation
            // than it reads.
            let in_place = matches!(
                op,
                Op::Rope { .. }
                    | Op::Bias { .. }
                    | Op::HeadNorm { .. }
                    | Op::ActQuant { .. }
                    | Op::Residual { .. }
                    | Op::Glu { .. }
            );
            if let Some(a) = writes.iter().find(|w| !in_place && reads.contains(w)) {
                return bad(format!("op {i} ({op:?}) reads and writes {a:?}"));
            }
            match op {
                Op::Residual { from: a, into: b, .. } | Op::Glu { gate: a, up: b, .. } if a == b => {
                    return bad(format!("op {i} ({op:?}) reads {a:?} twice"));
                }
                _ => {}
            }
            if let Some(a) = reads.iter().find(|a| !written[a.index()]) {
                return bad(format!("op {i} ({op:?}) reads {a:?} before anything writes it"));
            }
            for a in writes {
                written[a.index()] = true;
            }
        }
        if kv != 1 {
            return bad(format!("{kv} KV appends (a layer appends exactly once)"));
        }
        if weighted > 1 {
            return bad(format!("{weighted} STRing-weighted residuals (at most one)"));
        }
        Ok(LayerGraph { ops })
    }

    /// The norms the layer reads.
    pub fn norms(&self) -> Vec<Norm> {
        let mut v: Vec<Norm> = Vec::new();
        for op in &self.ops {
            if let Op::RmsNorm { norm, .. } | Op::HeadNorm { norm, .. } = op {
                if !v.contains(norm) {
                    v.push(*norm);
                }
            }
        }
        v
    }

    /// What the STRing-weighted residual adds (the FFN's output, or its post-norm).
    pub fn weighted_from(&self) -> Option<Act> {
        self.ops.iter().find_map(|op| match op {
            Op::Residual { from, weighted: true, .. } => Some(*from),
            _ => None,
        })
    }

    /// The linears whose bias the layer adds.
    pub fn biases(&self) -> Vec<Linear> {
        self.ops.iter().filter_map(|op| if let Op::Bias { linear, .. } = op { Some(*linear) } else { None }).collect()
    }
}
