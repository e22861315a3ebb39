//! Architectures: the layer graph ([`crate::model::graph`]) of each supported family, built from
//! its config. Both backends run what [`layer_graph`] returns. Every family here is a pre-norm
//! decoder with grouped-query attention and a gated FFN; they differ in the few features of
//! [`Features`]:
//!
//! | family | q/k/v bias | per-head q/k norm | post-norms | gated activation |
//! |---|---|---|---|---|
//! | llama, mistral, phi3 | – | – | – | SiLU |
//! | qwen2 | yes | – | – | SiLU |
//! | qwen3 | – | yes | – | SiLU |
//! | gemma | – | – | – | GELU |
//! | gemma2 | – | – | yes | GELU |
//! | gemma3 | – | yes | yes | GELU |
//! | bitnet (llama.cpp's naming) | – | – | sub-norms | SiLU |
//! | bitnet-b1.58 (bitnet.cpp's naming) | – | – | sub-norms | ReLU² |
//!
//! The rest of what sets the families apart is in the config (`LlamaConfig`): RoPE pairing,
//! scaling and factors, the attention scale, soft-capping, sliding windows and the embedding
//! scale. Phi-3's fused `attn_qkv` and `ffn_up` tensors are split into the graph's linears at
//! load (`model::load`).
//!
//! The layer, for the full feature set:
//!
//! ```text
//! n = RMSNorm(x) · attn_norm
//! q, k, v = W_q n (+ b_q), W_k n (+ b_k), W_v n (+ b_v)
//! q, k = RMSNorm_head(q) · q_norm, RMSNorm_head(k) · k_norm
//! x += PostNorm_attn(W_o · SubNorm_attn(Attention(RoPE(q), RoPE(k), v)))
//! n = RMSNorm(x) · ffn_norm
//! x += PostNorm_ffn(W_down · SubNorm_ffn(f(W_gate n) · W_up n))
//! ```
//!
//! BitNet's sub-norms sit before the output and down products (its BitLinear normalizes its
//! input); the post-norms of Gemma 2/3 after them.

use crate::error::{Error, Result};
use crate::model::config::SUPPORTED_ARCHITECTURES;
use crate::model::graph::{Act, Gated, Heads, LayerGraph, Linear, Norm, Op};
use crate::model::LlamaConfig;

/// What a family's layer adds to Llama's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub qkv_bias: bool,
    pub qk_norm: bool,
    pub post_norms: bool,
    pub sub_norms: bool,
    /// Every linear's input is int8-quantized per token first (BitNet b1.58's BitLinear).
    pub act_quant: bool,
    pub act: Gated,
}

/// The features of an architecture (`general.architecture`).
pub fn features(arch: &str) -> Result<Features> {
    let f = |qkv_bias, qk_norm, post_norms, act| {
        Ok(Features { qkv_bias, qk_norm, post_norms, sub_norms: false, act_quant: false, act })
    };
    let bitnet = |act, act_quant| {
        Ok(Features { qkv_bias: false, qk_norm: false, post_norms: false, sub_norms: true, act_quant, act })
    };
    match arch {
        "llama" | "mistral" | "phi3" => f(false, false, false, Gated::Silu),
        "qwen2" => f(true, false, false, Gated::Silu),
        "qwen3" => f(false, true, false, Gated::Silu),
        "gemma" => f(false, false, false, Gated::Gelu),
        "gemma2" => f(false, false, true, Gated::Gelu),
        "gemma3" => f(false, true, true, Gated::Gelu),
        // llama.cpp runs its `bitnet` with float activations; bitnet.cpp's `bitnet-b1.58` as the
        // model was trained, with int8 activations per token.
        "bitnet" => bitnet(Gated::Silu, false),
        "bitnet-b1.58" => bitnet(Gated::Relu2, true),
        other => Err(Error::UnsupportedModel(format!(
            "architecture '{other}' has no layer graph (supported: {})",
            SUPPORTED_ARCHITECTURES.join(", ")
        ))),
    }
}

/// The layer graph of the config's architecture.
pub fn layer_graph(c: &LlamaConfig) -> Result<LayerGraph> {
    let f = features(&c.architecture)?;
    if f.sub_norms && c.n_heads * c.head_dim != c.dim {
        return Err(Error::UnsupportedModel(format!(
            "{}: {} heads of {} do not make the width {} (the sub-normed attention output is normed into it)",
            c.architecture, c.n_heads, c.head_dim, c.dim
        )));
    }
    let mut ops = vec![
        Op::RmsNorm { norm: Norm::Attn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Q, Act::Q), (Linear::K, Act::K), (Linear::V, Act::V)] },
    ];
    if f.qkv_bias {
        ops.extend([
            Op::Bias { linear: Linear::Q, act: Act::Q },
            Op::Bias { linear: Linear::K, act: Act::K },
            Op::Bias { linear: Linear::V, act: Act::V },
        ]);
    }
    if f.qk_norm {
        ops.extend([Op::HeadNorm { norm: Norm::Q, act: Act::Q }, Op::HeadNorm { norm: Norm::K, act: Act::K }]);
    }
    ops.extend([
        Op::Rope { act: Act::Q, heads: Heads::Query },
        Op::Rope { act: Act::K, heads: Heads::KeyValue },
        Op::KvAppend { k: Act::K, v: Act::V },
        Op::Attention { q: Act::Q, out: Act::Att },
    ]);
    if f.sub_norms {
        ops.extend([
            Op::RmsNorm { norm: Norm::AttnSub, input: Act::Att, out: Act::Xn },
            Op::Linears { input: Act::Xn, outs: vec![(Linear::O, Act::Proj)] },
        ]);
    } else {
        ops.push(Op::Linears { input: Act::Att, outs: vec![(Linear::O, Act::Proj)] });
    }
    // With post-norms the projection is normed into Xn (free until the FFN norm rewrites it)
    // and the residual adds that.
    let added = |ops: &mut Vec<Op>, norm: Norm, weighted: bool| match f.post_norms {
        true => ops.extend([
            Op::RmsNorm { norm, input: Act::Proj, out: Act::Xn },
            Op::Residual { from: Act::Xn, into: Act::X, weighted },
        ]),
        false => ops.push(Op::Residual { from: Act::Proj, into: Act::X, weighted }),
    };
    added(&mut ops, Norm::PostAttn, false);
    ops.extend([
        Op::RmsNorm { norm: Norm::Ffn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Gate, Act::Gate), (Linear::Up, Act::Up)] },
        Op::Glu { gate: Act::Gate, up: Act::Up, f: f.act },
    ]);
    if f.sub_norms {
        ops.extend([
            Op::RmsNorm { norm: Norm::FfnSub, input: Act::Gate, out: Act::Up },
            Op::Linears { input: Act::Up, outs: vec![(Linear::Down, Act::Proj)] },
        ]);
    } else {
        ops.push(Op::Linears { input: Act::Gate, outs: vec![(Linear::Down, Act::Proj)] });
    }
    added(&mut ops, Norm::PostFfn, true);
    if f.act_quant {
        ops = ops
            .into_iter()
            .flat_map(|op| match op {
                Op::Linears { input, .. } => vec![Op::ActQuant { act: input }, op],
                op => vec![op],
            })
            .collect();
    }
    LayerGraph::new(ops)
}
