//! The GPU's recorded ops: dispatches with their grids and the steps they run in, the copies
//! between them, and how a list of them is recorded into compute passes. Built once at upload
//! ([`super::record`]); a step only records them.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use crate::model::graph::Act;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Grid {
    /// Workgroups (fold_x, ceil(groups / fold_x), ceil(n / TB)) with groups = ceil(rows / ROWS),
    /// ROWS = `tile_rows` (the same for the decode and prefill tiles) and TB the tile's tokens.
    Matmul {
        rows: u32,
        fold_x: u32,
        tile_rows: u32,
        prefill_tokens: u32,
    },
    /// One workgroup per token.
    PerToken,
    /// One workgroup per row, `per_token` rows a token (the per-head norms).
    Rows {
        per_token: u32,
    },
    /// One thread per (token, item), 64 per workgroup, 1-D.
    Threads {
        per_token: u32,
    },
    /// One thread per element, 64 per workgroup, folded 2-D.
    Elementwise {
        per_token: u32,
    },
    /// (heads, n, 1).
    Attention {
        heads: u32,
    },
    Single,
}

/// Which steps a dispatch runs in: every step, or only one-token (decode) or only several-token
/// (prefill) steps. A fused int8 decode tile quantizes its input itself, so the separate quantize
/// pass and the token tile that reads its blocks run only when the step has several tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Steps {
    All,
    One,
    Many,
}

impl Steps {
    pub(crate) fn runs(self, n: u32) -> bool {
        match self {
            Steps::All => true,
            Steps::One => n == 1,
            Steps::Many => n > 1,
        }
    }
}

pub(crate) enum Op {
    Dispatch {
        /// The steps it runs in.
        steps: Steps,
        pipeline: Arc<wgpu::ComputePipeline>,
        /// The pipeline for steps of more than one token (matmul's prefill tile), if different.
        prefill: Option<Arc<wgpu::ComputePipeline>>,
        bind_group: wgpu::BindGroup,
        grid: Grid,
        one: bool,
    },
    /// Append this step's K and V activations to layer `layer`'s caches.
    StoreKv { layer: usize, k: Act, v: Act },
    /// The residual add that p-MoD's STRing weights per token: recorded as its plain add unless
    /// the recorder is handed a weighted add for it (`GpuModel::record_ops`).
    Weighted(Box<Op>),
    /// Copy the last token's residual row into `last_x`.
    CopyLast,
}

impl Op {
    /// One workgroup, once per step (argmax, sampling).
    pub(crate) fn single(pipeline: Arc<wgpu::ComputePipeline>, bind_group: wgpu::BindGroup) -> Op {
        Op::Dispatch { steps: Steps::All, pipeline, prefill: None, bind_group, grid: Grid::Single, one: true }
    }
}

pub(crate) fn storage(device: &wgpu::Device, label: &str, floats: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub(crate) fn uniform(device: &wgpu::Device, label: &str, words: &[u32]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(words),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

pub(crate) fn readback(device: &wgpu::Device, label: &str, bytes: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Workgroup counts of a dispatch over `n` tokens (`n` is 1 for ops marked `one`).
pub(crate) fn workgroups(g: Grid, n: u32) -> (u32, u32, u32) {
    match g {
        Grid::Matmul { rows, fold_x, tile_rows, prefill_tokens } => {
            let tb = if n > 1 { prefill_tokens } else { 1 };
            (fold_x, rows.div_ceil(tile_rows).div_ceil(fold_x), n.div_ceil(tb))
        }
        Grid::PerToken => (n, 1, 1),
        Grid::Rows { per_token } => (n * per_token, 1, 1),
        Grid::Threads { per_token } => ((n * per_token).div_ceil(64).max(1), 1, 1),
        Grid::Elementwise { per_token } => {
            // Shaders index i = gid.x + gid.y · 65535 · 64.
            let groups = (n * per_token).div_ceil(64);
            if groups <= 65535 {
                (groups.max(1), 1, 1)
            } else {
                (65535, groups.div_ceil(65535), 1)
            }
        }
        Grid::Attention { heads } => (heads, n, 1),
        Grid::Single => (1, 1, 1),
    }
}

/// Words of the int8 blocks (shaders/quantize_i8.wgsl) of `n` tokens of a `cols`-wide input: 10
/// per 32-element block, and the scale plane's padding to a whole 16-byte word.
pub(crate) fn xq_words(n: usize, cols: usize) -> usize {
    n * cols.div_ceil(32) * 10 + 2
}

/// Record the dispatches of `ops` (skipping copies) for a step of `n` tokens.
pub(crate) fn record(pass: &mut wgpu::ComputePass<'_>, ops: &[Op], n: u32) {
    for op in ops {
        op.dispatch(pass, n);
    }
}

impl Op {
    /// Record this op's dispatch (nothing for copies) for a step of `n` tokens.
    pub(crate) fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, n: u32) {
        match self {
            Op::Dispatch { steps, pipeline, prefill, bind_group, grid, one } => {
                let n = if *one { 1 } else { n };
                if !steps.runs(n) {
                    return;
                }
                let (x, y, z) = workgroups(*grid, n);
                pass.set_pipeline(match prefill {
                    Some(p) if n > 1 => p,
                    _ => pipeline,
                });
                pass.set_bind_group(0, bind_group, &[]);
                pass.dispatch_workgroups(x, y, z);
            }
            Op::Weighted(inner) => inner.dispatch(pass, n),
            Op::StoreKv { .. } | Op::CopyLast => {}
        }
    }

    /// How many dispatches [`Op::dispatch`] records for a step of `n` tokens.
    pub(crate) fn dispatches(&self, n: u32) -> usize {
        match self {
            Op::Dispatch { steps, one, .. } => steps.runs(if *one { 1 } else { n }) as usize,
            Op::Weighted(inner) => inner.dispatches(n),
            Op::StoreKv { .. } | Op::CopyLast => 0,
        }
    }

    /// Whether the op is recorded inside a compute pass.
    pub(crate) fn in_pass(&self) -> bool {
        matches!(self, Op::Dispatch { .. } | Op::Weighted(_))
    }
}

/// One sampling step on the GPU (see shaders/sample.wgsl): temperature, top-k (1 … 256), top-p
/// and the uniform draw r ∈ [0, 1) from the CPU's seeded generator.
#[derive(Clone, Copy, Debug)]
pub struct GpuSample {
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub r: f64,
}

/// The largest top-k the GPU sampler takes (larger, or 0 = no limit, samples on the CPU).
pub const GPU_SAMPLE_MAX_K: usize = 256;

impl GpuSample {
    pub(crate) fn words(&self, vocab: usize) -> [u32; 8] {
        [
            vocab as u32,
            self.top_k.clamp(1, GPU_SAMPLE_MAX_K as u32),
            (1.0 / self.temperature).to_bits(),
            self.top_p.to_bits(),
            (self.r as f32).min(1.0 - f32::EPSILON / 2.0).to_bits(),
            0,
            0,
            0,
        ]
    }
}
