// In-browser benchmark of the CPU (wasm) path: prefill and decode tokens/s on a real model.
// Used by web/bench.html (by hand) and pkg-scripts/bench-wasm.mjs (headless Chromium).

import { Engine } from '../pkg/tritium.js';

const TEXT =
  'The history of computing is a story of people who built machines to help them think. ' +
  'Early mechanical calculators could add and multiply, but programmable computers changed ' +
  'everything: a single machine could follow any list of instructions, store its results, ' +
  'and decide what to do next. Today small language models run inside a web page.';

async function adapterInfo() {
  if (typeof navigator === 'undefined' || !navigator.gpu) return { webgpu: false, description: 'no WebGPU (navigator.gpu missing)' };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { webgpu: false, description: 'WebGPU present but no adapter' };
    const i = adapter.info || {};
    return {
      webgpu: true,
      vendor: i.vendor || '',
      architecture: i.architecture || '',
      device: i.device || '',
      description: i.description || [i.vendor, i.architecture].filter(Boolean).join(' ') || 'unknown adapter',
    };
  } catch (e) {
    return { webgpu: false, description: `requestAdapter failed: ${e.message}` };
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * @param {{ modelUrl?: string, promptTokens?: number, decodeTokens?: number, runs?: number,
 *           onStatus?: (s: string) => void }} options
 */
export async function runBench(options = {}) {
  const {
    modelUrl = '/models/SmolLM2-135M-Instruct.Q4_1.gguf',
    promptTokens = 32,
    decodeTokens = 32,
    runs = 3,
    backend = 'cpu',
    kernels = [],
    iters = 3,
    mod = null,
    int8 = false,
    onStatus = () => {},
  } = options;
  onStatus('starting the engine');
  // int8: int8 activations (dot4I8Packed) for the quantized formats, where the adapter has them.
  const engine = await Engine.create({ backend, worker: false, int8 });
  const caps = engine.capabilities();
  const kernelResults = [];
  for (const k of kernels) {
    onStatus(`kernel ${k.type} ${k.rows}x${k.cols} batch ${k.batch || 1}`);
    kernelResults.push(await engine.benchMatmul({ ...k, iters }));
  }
  onStatus(`loading ${modelUrl}`);
  const t0 = performance.now();
  const model = await engine.load(modelUrl);
  const loadMs = performance.now() - t0;
  const info = model.info();

  let ids = [];
  while (ids.length < promptTokens) ids = ids.concat(model.tokenize(TEXT, { addSpecial: false }));
  ids = ids.slice(0, promptTokens);

  onStatus('warming up');
  await model.generate(ids.slice(0, 4), { maxTokens: 2, temperature: 0 }).complete();
  // With Mixture-of-Depths options the generation runs on the CPU path (see tritium.d.ts `mod`).
  const genOpts = mod ? { mod } : {};

  const results = [];
  for (let r = 0; r < runs; r++) {
    onStatus(`run ${r + 1} of ${runs}`);
    // maxTokens = decodeTokens + 1: the first generated token comes from the prefill.
    const res = await model.generate(ids, { maxTokens: decodeTokens + 1, temperature: 0, ...genOpts }).complete();
    const s = res.stats;
    results.push({
      promptTokens: s.promptTokens,
      decodeTokens: Math.max(0, s.generatedTokens - 1),
      prefillMs: s.prefillMs,
      decodeMs: s.decodeMs,
      prefillTokensPerSecond: s.prefillTokensPerSecond,
      decodeTokensPerSecond: s.tokensPerSecond,
      finishReason: res.finishReason,
      kvBytes: s.kvBytes ?? null,
      kvBytesDense: s.kvBytesDense ?? null,
    });
  }
  model.free();
  const summary = {
    model: info.config.name || modelUrl,
    modelFile: modelUrl,
    modelBytes: info.fileBytes,
    tensorTypes: info.tensorTypes,
    backend: caps.backend,
    backendReason: caps.backendReason,
    mod,
    generationPath: caps.backend,
    simd128: caps.simd128,
    threads: caps.threads,
    userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : 'unknown',
    hardwareConcurrency: typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : null,
    adapter: await adapterInfo(),
    loadMs,
    promptTokens: results[0].promptTokens,
    decodeTokens: results[0].decodeTokens,
    runs: results,
    prefillTokensPerSecond: median(results.map((x) => x.prefillTokensPerSecond)),
    decodeTokensPerSecond: median(results.map((x) => x.decodeTokensPerSecond)),
    kernels: kernelResults,
    gpu: caps.gpu,
  };
  onStatus('done');
  return summary;
}
