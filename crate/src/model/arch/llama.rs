//! Llama (and Mistral): pre-norm decoder layers with grouped-query attention and a SwiGLU FFN.
//!
//! x += W_o · Attention(RoPE(W_q · n), RoPE(W_k · n), W_v · n), n = RMSNorm(x) · attn_norm
//! x += W_down · (SiLU(W_gate · n) · W_up · n),                 n = RMSNorm(x) · ffn_norm

use crate::error::Result;
use crate::model::graph::{Act, Gated, Heads, LayerGraph, Linear, Norm, Op};
use crate::model::LlamaConfig;

pub fn layer_graph(_c: &LlamaConfig) -> Result<LayerGraph> {
    LayerGraph::new(vec![
        Op::RmsNorm { norm: Norm::Attn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Q, Act::Q), (Linear::K, Act::K), (Linear::V, Act::V)] },
        Op::Rope { act: Act::Q, heads: Heads::Query },
        Op::Rope { act: Act::K, heads: Heads::KeyValue },
        Op::KvAppend { k: Act::K, v: Act::V },
        Op::Attention { q: Act::Q, out: Act::Att },
        Op::Linears { input: Act::Att, outs: vec![(Linear::O, Act::Proj)] },
        Op::Residual { from: Act::Proj, into: Act::X, weighted: false },
        Op::RmsNorm { norm: Norm::Ffn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Gate, Act::Gate), (Linear::Up, Act::Up)] },
        Op::Glu { gate: Act::Gate, up: Act::Up, f: Gated::Silu },
        Op::Linears { input: Act::Gate, outs: vec![(Linear::Down, Act::Proj)] },
        Op::Residual { from: Act::Proj, into: Act::X, weighted: true },
    ])
}
