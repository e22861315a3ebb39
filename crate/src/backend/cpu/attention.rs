//! The CPU's one attention kernel: causal grouped-query attention over a KV layout
//! `[entries, kv_dim]`, each query row attending to a range of key entries. The forward pass
//! (keys: the cache before the step plus the step's own, causally), AWQ's calibration blocks
//! (block-causal) and the attention-received MoD routers (the softmax weights themselves) all
//! call it, so the scores are computed by one code in one order.

use std::ops::Range;

use super::{axpy, dot, softcap, softmax};
use crate::model::LlamaConfig;
use crate::par::for_each_chunk_mut;

/// Head layout of grouped-query attention.
#[derive(Clone, Copy, Debug)]
pub struct Gqa {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Multiplier of the scores (1/√head_dim unless the family sets another).
    pub scale: f32,
    /// Score soft-capping (Gemma 2); 0 = none.
    pub softcap: f32,
}

impl Gqa {
    pub fn new(heads: usize, kv_heads: usize, head_dim: usize) -> Gqa {
        Gqa { heads, kv_heads, head_dim, scale: 1.0 / (head_dim as f32).sqrt(), softcap: 0.0 }
    }

    /// The model's attention: its heads, score scale and soft-capping.
    pub fn of(c: &LlamaConfig) -> Gqa {
        Gqa { scale: c.attn_scale, softcap: c.attn_softcap, ..Gqa::new(c.n_heads, c.n_kv_heads, c.head_dim) }
    }

    pub fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Query head `h` of token row `t` of `q` (`[n, heads · head_dim]`).
    pub fn query<'a>(&self, q: &'a [f32], t: usize, h: usize) -> &'a [f32] {
        let (qd, hd) = (self.q_dim(), self.head_dim);
        &q[t * qd + h * hd..t * qd + (h + 1) * hd]
    }

    /// The key or value row of entry `p` that query head `h` reads.
    pub fn kv_row<'a>(&self, kv: &'a [f32], p: usize, h: usize) -> &'a [f32] {
        let (kvd, hd) = (self.kv_dim(), self.head_dim);
        let g = h / (self.heads / self.kv_heads);
        &kv[p * kvd + g * hd..p * kvd + (g + 1) * hd]
    }

    /// Softmax weights of query head `qh` (head `h`) over the key entries `keys` of `k`, into
    /// `out` (cleared first).
    pub fn weights_into(&self, qh: &[f32], h: usize, k: &[f32], keys: Range<usize>, out: &mut Vec<f32>) {
        out.clear();
        out.extend(keys.map(|p| softcap(dot(qh, self.kv_row(k, p, h)) * self.scale, self.softcap)));
        softmax(out);
    }

    /// Attention of every (token, head) of `q` (`[n, heads · head_dim]`) into `out` (same shape):
    /// token `t` attends to the entries `keys(t)` of `k` / `v`. One task per (token, head), in
    /// parallel natively.
    pub fn attend(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        keys: impl Fn(usize) -> Range<usize> + Sync,
        out: &mut [f32],
    ) {
        for_each_chunk_mut(out, self.head_dim, |i, o| {
            let (t, h) = (i / self.heads, i % self.heads);
            let range = keys(t);
            let mut w = Vec::with_capacity(range.len());
            self.weights_into(self.query(q, t, h), h, k, range.clone(), &mut w);
            o.fill(0.0);
            for (p, &wp) in range.zip(&w) {
                axpy(o, wp, self.kv_row(v, p, h));
            }
        });
    }
}
