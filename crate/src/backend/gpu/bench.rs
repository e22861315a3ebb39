//! One-off GPU runs for kernel tests and the benchmarks: a matmul or a sampling step outside a
//! model, and timed passes of matmuls (timestamp queries when granted) and of a plain read.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::kernels::{Kernel, Shader};
use super::model::GpuSample;
use super::ops::{readback, record, storage, uniform, xq_words, Op};
use super::record::OpBuilder;
use super::weights::{self, GpuWeight};
use super::GpuContext;
use crate::error::Result;

/// One-off matmul on the GPU (kernel tests): `y = W · x` for `n` tokens with `tiles` (the decode
/// tile for one token, the prefill tile for more); outputs start as `sentinel`.
pub async fn matmul_once(
    ctx: &Arc<GpuContext>,
    m: &crate::quant::QMatrix<'_>,
    x: &[f32],
    n: usize,
    sentinel: f32,
    tiles: super::kernels::Tiles,
) -> Result<Vec<f32>> {
    let dev = &ctx.device;
    let w = weights::upload(dev, "matmul_once", m, ctx.caps.max_storage_buffer_binding_size)?;
    let input = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("input"),
        contents: bytemuck::cast_slice(x),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let out = storage(dev, "output", n * m.rows);
    ctx.queue.write_buffer(&out, 0, bytemuck::cast_slice(&vec![sentinel; n * m.rows]));
    let step = uniform(dev, "step", &[n as u32, 0, 0, 0]);
    let read = readback(dev, "read", n * m.rows * 4);
    let b = OpBuilder { ctx };
    let xq = storage(dev, "xq", xq_words(n, m.cols));
    // (with int8 tiles the quantize op runs first, so timings include it)
    let ops = b.products(&[(&w, &out)], &step, &input, &xq, false, |_| tiles)?;
    ctx.scoped("matmul", || {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, &ops, n as u32);
        }
        enc.copy_buffer_to_buffer(&out, 0, &read, 0, (n * m.rows * 4) as u64);
        ctx.queue.submit(Some(enc.finish()));
    })
    .await?;
    let bytes = ctx.read_buffer(&read).await?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}

/// One-off GPU sampling step over `logits` (tests): what shaders/sample.wgsl picks.
pub async fn sample_once(ctx: &Arc<GpuContext>, logits: &[f32], smp: GpuSample) -> Result<u32> {
    let dev = &ctx.device;
    let lb = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("logits"),
        contents: bytemuck::cast_slice(logits),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let out = storage(dev, "sampled", 1);
    ctx.queue.write_buffer(&out, 0, bytemuck::cast_slice(&[u32::MAX]));
    let step = uniform(dev, "step", &[1, 0, 0, 0]);
    let params = uniform(dev, "sample params", &smp.words(logits.len()));
    let read = readback(dev, "read", 4);
    let b = OpBuilder { ctx };
    let (pipeline, bind_group) = b.bind(&Kernel::Plain(Shader::Sample), &[&step, &params, &lb, &out])?;
    let op = Op::single(pipeline, bind_group);
    ctx.scoped("sample", || {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, std::slice::from_ref(&op), 1);
        }
        enc.copy_buffer_to_buffer(&out, 0, &read, 0, 4);
        ctx.queue.submit(Some(enc.finish()));
    })
    .await?;
    let bytes = ctx.read_buffer(&read).await?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// What [`time_matmul`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulTiming {
    /// Mean milliseconds per matmul (all shards), the best of three passes.
    pub ms: f64,
    /// Bytes one matmul reads: the repacked weights and scales, plus the activations.
    pub bytes: u64,
    /// `timestamp` (GPU timestamp queries around the pass) or `wall` (submit to completion).
    pub timer: &'static str,
    /// Distinct copies of the weights the dispatches rotate through, so that repeated
    /// dispatches stream from memory instead of hitting the GPU's L2 cache.
    pub copies: usize,
    /// The tile that ran (`ROWSxLANESxTOKENS`).
    pub tile: String,
    /// Mean milliseconds per matmul by wall clock (submit of the pass to its completion read
    /// back), the best of three passes: `ms` plus the submit and synchronisation costs.
    pub wall_ms: f64,
}

/// GPU time of passes of `count` dispatches, recorded by `rec`: timestamp queries around the
/// pass when granted, else wall clock from submit to completion. Returns milliseconds per pass,
/// the best of `reps`, the timer used, and the best wall-clock milliseconds per pass.
async fn time_passes(
    ctx: &Arc<GpuContext>,
    reps: usize,
    rec: &dyn Fn(&mut wgpu::ComputePass<'_>),
) -> Result<(f64, &'static str, f64)> {
    let dev = &ctx.device;
    let sync = readback(dev, "sync", 4);
    let scratch = storage(dev, "scratch", 1);
    let ts = ctx.caps.timestamp_query.then(|| {
        let qs = dev.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        (qs, resolve, readback(dev, "timestamp read", 16))
    });
    let mut best = f64::INFINITY;
    let mut best_wall = f64::INFINITY;
    // Warm-up passes (pipeline creation, first touch of the buffers, and the GPU's clocks, which
    // drop while the CPU quantizes the next matrix) until 300 ms have passed (at most 200).
    let warm_from = crate::clock::now_ms();
    let mut warmups = 0;
    let mut rep = 0;
    while rep < reps.max(1) + 1 {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let tw = ts.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            });
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("bench"), timestamp_writes: tw });
            rec(&mut pass);
        }
        if let Some((qs, resolve, read)) = &ts {
            enc.resolve_query_set(qs, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        enc.copy_buffer_to_buffer(&scratch, 0, &sync, 0, 4);
        let t0 = crate::clock::now_ms();
        ctx.scoped("benchmark pass", || ctx.queue.submit(Some(enc.finish()))).await?;
        ctx.read_buffer(&sync).await?;
        let wall = crate::clock::now_ms() - t0;
        let ms = match &ts {
            Some((_, _, read)) => {
                let b = ctx.read_buffer(read).await?;
                let t: &[u64] = bytemuck::cast_slice(&b);
                t[1].saturating_sub(t[0]) as f64 * ctx.queue.get_timestamp_period() as f64 / 1e6
            }
            None => wall,
        };
        if rep == 0 && warmups < 200 && crate::clock::now_ms() - warm_from < 300.0 {
            warmups += 1;
            continue;
        }
        if rep > 0 && ms > 0.0 {
            best = best.min(ms);
            best_wall = best_wall.min(wall);
        }
        rep += 1;
    }
    Ok((best, if ts.is_some() { "timestamp" } else { "wall" }, best_wall))
}

/// Copies of one weight matrix on the GPU for [`time_matmul_on`]: enough to defeat the L2 cache
/// on hardware GPUs (at least 256 MiB in all, at most 64 copies), one on software adapters.
pub struct BenchWeights {
    copies: Vec<GpuWeight>,
    cols: usize,
    rows: usize,
}

impl BenchWeights {
    pub fn upload(ctx: &Arc<GpuContext>, m: &crate::quant::QMatrix<'_>) -> Result<BenchWeights> {
        let dev = &ctx.device;
        let first = weights::upload(dev, "bench", m, ctx.caps.max_storage_buffer_binding_size)?;
        let wbytes = first.bytes();
        let n = if ctx.caps.software { 1 } else { ((256u64 << 20).div_ceil(wbytes.max(1)) as usize).clamp(1, 64) };
        let mut copies = vec![first];
        for _ in 1..n {
            copies.push(weights::upload(dev, "bench", m, ctx.caps.max_storage_buffer_binding_size)?);
        }
        Ok(BenchWeights { copies, cols: m.cols, rows: m.rows })
    }
}

/// Benchmark one matmul on the GPU: `iters` dispatches in one compute pass, rotating through
/// the copies in `bw`, timed by timestamp queries when granted; the best of three passes.
pub async fn time_matmul_on(
    ctx: &Arc<GpuContext>,
    bw: &BenchWeights,
    n: usize,
    iters: usize,
    tiles: Option<super::kernels::Tiles>,
) -> Result<MatmulTiming> {
    let dev = &ctx.device;
    let tiles = tiles.unwrap_or(ctx.tiles_for(bw.copies[0].ty));
    let tiles = tiles.effective(bw.copies[0].ty, bw.cols);
    let input = storage(dev, "input", n * bw.cols);
    let out = storage(dev, "output", n * bw.rows);
    let step = uniform(dev, "step", &[n as u32, 0, 0, 0]);
    let b = OpBuilder { ctx };
    let xq = storage(dev, "xq", xq_words(n, bw.cols));
    let ops: Vec<Vec<Op>> = bw
        .copies
        .iter()
        .map(|w| b.products(&[(w, &out)], &step, &input, &xq, false, |_| tiles))
        .collect::<Result<_>>()?;
    let iters = iters.max(1);
    let (ms, timer, wall) = time_passes(ctx, 3, &|pass| {
        for i in 0..iters {
            record(pass, &ops[i % ops.len()], n as u32);
        }
    })
    .await?;
    let tile = if n > 1 { tiles.prefill } else { tiles.decode };
    let wbytes = bw.copies[0].bytes();
    Ok(MatmulTiming {
        ms: ms / iters as f64,
        bytes: wbytes + (n * bw.cols * 4) as u64,
        timer,
        copies: bw.copies.len(),
        tile: tile.name(),
        wall_ms: wall / iters as f64,
    })
}

/// [`time_matmul_on`] for one matrix, uploading its copies first.
pub async fn time_matmul(
    ctx: &Arc<GpuContext>,
    m: &crate::quant::QMatrix<'_>,
    n: usize,
    iters: usize,
    tiles: Option<super::kernels::Tiles>,
) -> Result<MatmulTiming> {
    let bw = BenchWeights::upload(ctx, m)?;
    time_matmul_on(ctx, &bw, n, iters, tiles).await
}

/// The memory-bandwidth reference: GB/s of shaders/bench_read.wgsl streaming a buffer of about
/// `bytes` bytes (capped by the binding limit), timed like [`time_matmul`].
pub async fn time_read(ctx: &Arc<GpuContext>, bytes: u64, iters: usize) -> Result<(f64, u64, &'static str)> {
    let dev = &ctx.device;
    let bytes = (bytes.min(ctx.caps.max_storage_buffer_binding_size).min(4 << 30) / 16 * 16).max(16);
    let data = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench_read data"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let out = storage(dev, "bench_read out", 1);
    let words = (bytes / 16) as u32;
    let groups: u32 = if ctx.caps.software { 64 } else { 8192 };
    let step = uniform(dev, "step", &[0, 0, 0, 0]);
    let params = uniform(dev, "bench_read params", &[words, groups * 256, 0, 0]);
    let b = OpBuilder { ctx };
    let (pipeline, bind_group) = b.bind(&Kernel::Plain(Shader::BenchRead), &[&step, &params, &data, &out])?;
    let iters = iters.max(1);
    let (ms, timer, _) = time_passes(ctx, 3, &|pass| {
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        for _ in 0..iters {
            pass.dispatch_workgroups(groups, 1, 1);
        }
    })
    .await?;
    let per = ms / iters as f64;
    Ok((bytes as f64 / (per / 1000.0) / 1e9, bytes, timer))
}
