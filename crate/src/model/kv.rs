//! The per-layer KV cache of the CPU reference (the GPU keeps its own on the device).

use crate::model::LlamaConfig;

/// Keys and values of every layer, `[entries, kv_dim]` each, grown as tokens arrive. Dense
/// forward passes append every token to every layer; a Mixture-of-Depths prefill
/// ([`crate::pmod`]) appends only each layer's kept tokens, so layers may hold different numbers
/// of entries (always in increasing position order, keys rotated at their original positions).
#[derive(Clone, Debug)]
pub struct KvCache {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    /// Positions seen so far (the next token's position id), whatever each layer kept.
    pub len: usize,
    kv_dim: usize,
}

impl KvCache {
    pub fn new(c: &LlamaConfig) -> KvCache {
        KvCache { k: vec![Vec::new(); c.n_layers], v: vec![Vec::new(); c.n_layers], len: 0, kv_dim: c.kv_dim() }
    }

    pub fn clear(&mut self) {
        self.k.iter_mut().for_each(|x| x.clear());
        self.v.iter_mut().for_each(|x| x.clear());
        self.len = 0;
    }

    /// Entries (tokens) held by layer `l`.
    pub fn layer_len(&self, l: usize) -> usize {
        self.k[l].len() / self.kv_dim
    }

    /// Bytes held (f32 keys and values of every layer's entries).
    pub fn bytes(&self) -> usize {
        (0..self.k.len()).map(|l| 2 * self.layer_len(l) * self.kv_dim * 4).sum()
    }

    /// Bytes a dense cache of the same positions would hold.
    pub fn dense_bytes(&self) -> usize {
        2 * self.k.len() * self.len * self.kv_dim * 4
    }
}
