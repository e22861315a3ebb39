// The page side of `npm run bench:peers` (pkg-scripts/bench-peers.mjs): in one Chromium page and
// so on one WebGPU adapter, time tritium's AWQ int4 g128 matmul kernel and onnxruntime-web's
// WebGPU `MatMulNBits` (4-bit, block 128) on the same seeded weights, and check that both give
// the same product (against each other and against an f64 reference).
//
// Timing, the same way for both: the weights stay on the GPU, the input too; each engine runs
// `iters` times back to back and the GPU is drained once at the end; per-run time = wall clock
// total / iters, median over `reps` repetitions.
//  - tritium: `Engine.benchMatmul` (one compute pass of `iters` dispatches, submit to completion:
//    `wall_ms`; also its GPU timestamp-query time when the adapter grants them, as `kernelMs`).
//  - onnxruntime-web: `session.run` with the input as a GPU tensor (`Tensor.fromGpuBuffer`) and the
//    output bound to a preallocated GPU tensor (IO binding through `fetches`), so no upload or
//    readback per run; timed by wall clock (`performance.now()` around `iters` runs and one
//    `onSubmittedWorkDone`). With WebGPU profiling on (`env.webgpu.profiling`), ORT also reports its
//    kernels' GPU times (timestamp queries), recorded as `ort.kernelMs`.

import { Engine } from '/pkg/tritium.js';
import { matmulNBitsModel, randomInt4, referenceRows } from './onnx-matmulnbits.mjs';

const ORT_URL = '/vendor/onnxruntime-web/dist/';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function adapterInfo(device) {
  const i = (device && device.adapterInfo) || {};
  const desc = i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(' ');
  return { vendor: i.vendor || '', architecture: i.architecture || '', device: i.device || '', description: desc || 'unknown adapter' };
}

/** Max |a − b| and max |a − ref| over the reference rows. */
function compare(a, b, ref, rows, batch) {
  let maxAB = 0;
  let maxRefA = 0;
  let maxRefB = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) maxAB = Math.max(maxAB, Math.abs(a[i] - b[i]));
  for (const [r, y] of ref) {
    for (let t = 0; t < batch; t++) {
      maxRef = Math.max(maxRef, Math.abs(y[t]));
      maxRefA = Math.max(maxRefA, Math.abs(a[t * rows + r] - y[t]));
      maxRefB = Math.max(maxRefB, Math.abs(b[t * rows + r] - y[t]));
    }
  }
  let nonFinite = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) nonFinite++;
  return { maxAbsDiff: maxAB, maxAbsErrTritium: maxRefA, maxAbsErrOrt: maxRefB, maxAbsRef: maxRef, nonFinite };
}

/**
 * @param {{ cases: {rows: number, cols: number, batch: number}[], iters?: number, reps?: number,
 *           seed?: number, ortProfiling?: boolean, onStatus?: (s: string) => void }} opts
 */
export async function runPeers(opts) {
  const { cases, iters = 3, reps = 3, seed = 1, ortProfiling = true, onStatus = () => {} } = opts;
  const ort = await import(`${ORT_URL}ort.webgpu.min.mjs`);
  ort.env.wasm.wasmPaths = ORT_URL;
  ort.env.logLevel = 'error';

  // ORT kernel times from its WebGPU profiler (timestamp queries when granted).
  let profile = [];
  if (ortProfiling) {
    ort.env.webgpu.profiling = {
      mode: 'default',
      ondata: (d) => profile.push(d),
    };
  }

  onStatus('starting tritium (webgpu)');
  const engine = await Engine.create({ backend: 'webgpu', worker: false });
  const caps = engine.capabilities();

  const results = [];
  let ortDevice = null;
  for (const c of cases) {
    const { rows, cols, batch } = c;
    const label = `${rows}x${cols} batch ${batch}`;
    onStatus(`${label}: weights`);
    const w = randomInt4({ rows, cols, batch, seed: seed + rows + cols });
    const row = { rows, cols, batch, iters };

    // tritium: correctness run on these weights, then the kernel timing.
    onStatus(`${label}: tritium run`);
    const yT = await engine.runMatmul({ type: 'AWQ4_G128', data: w.awq, rows, cols, x: w.x, n: batch });
    onStatus(`${label}: tritium timing`);
    const tRuns = [];
    const tWall = [];
    let tInfo = null;
    for (let r = 0; r < reps; r++) {
      tInfo = await engine.benchMatmul({ type: 'AWQ4_G128', rows, cols, batch, iters });
      tRuns.push(tInfo.ms);
      tWall.push(tInfo.wall_ms);
    }
    row.tritium = { ms: median(tWall), runsMs: tWall, timer: 'wall', kernelMs: median(tRuns), kernelTimer: tInfo.timer, tile: tInfo.tile, bytes: tInfo.bytes };

    // onnxruntime-web: session with the weights as initializers, GPU-resident IO.
    onStatus(`${label}: onnxruntime-web session`);
    const model = matmulNBitsModel({ rows, cols, blockSize: 128, b: w.b, scales: w.scales, zeros: w.zeros, m: batch });
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['webgpu'],
      graphOptimizationLevel: 'all',
      preferredOutputLocation: 'gpu-buffer',
    });
    const device = ort.env.webgpu.device;
    ortDevice = device;
    const aBuf = device.createBuffer({ size: w.x.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    device.queue.writeBuffer(aBuf, 0, w.x);
    const yBuf = device.createBuffer({ size: batch * rows * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const a = ort.Tensor.fromGpuBuffer(aBuf, { dataType: 'float32', dims: [batch, cols] });
    const y = ort.Tensor.fromGpuBuffer(yBuf, { dataType: 'float32', dims: [batch, rows] });
    onStatus(`${label}: onnxruntime-web run`);
    await session.run({ A: a }, { Y: y }); // warm-up (pipeline creation, weight upload)
    await device.queue.onSubmittedWorkDone();
    const rb = device.createBuffer({ size: batch * rows * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(yBuf, 0, rb, 0, batch * rows * 4);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const yO = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    rb.destroy();

    onStatus(`${label}: onnxruntime-web timing`);
    const oRuns = [];
    const kRuns = [];
    for (let r = 0; r < reps; r++) {
      profile = [];
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) await session.run({ A: a }, { Y: y });
      await device.queue.onSubmittedWorkDone();
      oRuns.push((performance.now() - t0) / iters);
      // Profiler records arrive asynchronously after the GPU work: give them a moment.
      await new Promise((res) => setTimeout(res, 50));
      const ns = profile.reduce((s, d) => s + (Number(d.endTime) - Number(d.startTime)), 0);
      if (profile.length) kRuns.push(ns / 1e6 / iters);
    }
    row.ort = {
      ms: median(oRuns),
      runsMs: oRuns,
      timer: 'wall',
      kernelMs: kRuns.length ? median(kRuns) : null,
      kernelPrograms: [...new Set(profile.map((d) => d.programName || d.kernelName || d.kernelType))],
    };
    await session.release();
    aBuf.destroy();
    yBuf.destroy();

    const ref = referenceRows(w, [0, 1, Math.floor(rows / 2), rows - 1]);
    row.check = compare(yT, yO, ref, rows, batch);
    row.check.ok = row.check.nonFinite === 0 && row.check.maxAbsDiff <= 1e-3 * Math.max(1, row.check.maxAbsRef);
    row.weightBytes = { tritium: w.awq.length, ort: w.b.length + w.scales.byteLength + w.zeros.length };
    // Same timing for both: wall clock per call, GPU-resident IO, `iters` calls back to back.
    row.speedup = row.ort.ms / row.tritium.ms;
    row.speedupKernel = row.ort.kernelMs ? row.ort.kernelMs / row.tritium.kernelMs : null;
    results.push(row);
    onStatus(`${label}: tritium ${row.tritium.ms.toFixed(2)} ms wall (${row.tritium.kernelMs.toFixed(2)} ms ${row.tritium.kernelTimer}), ORT ${row.ort.ms.toFixed(2)} ms wall` +
      (row.ort.kernelMs ? `, ${row.ort.kernelMs.toFixed(2)} ms kernels` : '') + `, max |diff| ${row.check.maxAbsDiff.toExponential(2)}`);
  }
  let adapterName = 'unknown';
  try {
    const ad = await navigator.gpu.requestAdapter();
    const i = ad.info || {};
    adapterName = i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || 'unknown';
  } catch (e) {
    adapterName = `requestAdapter failed: ${e.message}`;
  }
  return {
    adapterName,
    adapter: caps.gpu ? caps.gpu : null,
    tritiumAdapter: caps.backendReason,
    ortAdapter: ortDevice ? await adapterInfo(ortDevice) : null,
    ortVersion: ort.env.versions ? ort.env.versions.web || ort.env.versions.common : null,
    userAgent: navigator.userAgent,
    crossOriginIsolated: self.crossOriginIsolated,
    iters,
    reps,
    results,
  };
}
