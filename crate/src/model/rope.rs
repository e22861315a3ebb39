//! Rotary position embedding as the families store it in GGUF: the rotated dimensions, the base,
//! a linear position scale (`rope.scaling.type = linear`), Llama 3's per-frequency factors
//! (`rope_freqs.weight`), and which elements pair up. One definition of the angles serves the
//! CPU reference (computed per token) and the GPU (a table computed at upload), so both rotate
//! by the same f32 values.

use serde::Serialize;

/// How the rotated elements of a head pair up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RopeMode {
    /// `(x[2i], x[2i+1])`: ggml's NORM mode, Llama's GGUF layout (the converter permutes the
    /// query and key rows for it).
    Adjacent,
    /// `(x[i], x[i + dim/2])`: ggml's NEOX mode, HF's `rotate_half` (Qwen, Gemma, Phi-3).
    Halves,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rope {
    /// Dimensions of each head that are rotated (even, at most the head dim).
    pub dim: usize,
    pub base: f32,
    /// Positions are multiplied by this before the angles are taken (1 / the linear scaling
    /// factor).
    pub pos_scale: f32,
    /// Per-frequency divisors (Llama 3's `rope_freqs.weight`, `dim / 2` of them).
    #[serde(skip)]
    pub factors: Option<Vec<f32>>,
    pub mode: RopeMode,
}

impl Rope {
    /// The inverse frequency of pair `i`: `base^(-2i/dim) · pos_scale / factor_i`.
    fn inv_freq(&self, i: usize) -> f32 {
        let mut f = self.base.powf(-2.0 * i as f32 / self.dim as f32);
        if self.pos_scale != 1.0 {
            f *= self.pos_scale;
        }
        if let Some(ff) = &self.factors {
            f /= ff[i];
        }
        f
    }

    /// `(cos, sin)` of pair `i` at position `pos`.
    pub fn cos_sin(&self, pos: usize, i: usize) -> (f32, f32) {
        let theta = pos as f32 * self.inv_freq(i);
        let (s, c) = theta.sin_cos();
        (c, s)
    }

    /// The two element indices of pair `i` within a head.
    pub fn pair(&self, i: usize) -> (usize, usize) {
        match self.mode {
            RopeMode::Adjacent => (2 * i, 2 * i + 1),
            RopeMode::Halves => (i, i + self.dim / 2),
        }
    }

    /// Rotate every head (`head_dim` long) of one token's row `x` for position `pos`.
    pub fn apply(&self, x: &mut [f32], head_dim: usize, pos: usize) {
        let cs: Vec<(f32, f32)> = (0..self.dim / 2).map(|i| self.cos_sin(pos, i)).collect();
        for head in x.chunks_exact_mut(head_dim) {
            for (i, &(c, s)) in cs.iter().enumerate() {
                let (ia, ib) = self.pair(i);
                let (a, b) = (head[ia], head[ib]);
                head[ia] = a * c - b * s;
                head[ib] = a * s + b * c;
            }
        }
    }

    /// `(cos, sin)` for positions `0..max_ctx`, `[max_ctx, dim/2, 2]` (the GPU's table).
    pub fn table(&self, max_ctx: usize) -> Vec<f32> {
        let half = self.dim / 2;
        let mut t = Vec::with_capacity(max_ctx * half * 2);
        for pos in 0..max_ctx {
            for i in 0..half {
                let (c, s) = self.cos_sin(pos, i);
                t.push(c);
                t.push(s);
            }
        }
        t
    }
}
