#!/usr/bin/env node
// Benchmark in headless Chromium: the real default model through the built package (pkg/),
// prefill and decode tokens/s (median of the runs) on the wasm CPU path (default) or WebGPU
// (--backend webgpu), and with --kernels the WebGPU matmul kernels per type and shape (ms and
// effective GB/s). Prints a table and one JSON object (also written to target/bench/<backend>.json).
//
//   node pkg-scripts/bench-wasm.mjs [--backend cpu|webgpu] [--kernels] [--prompt-tokens 32]
//        [--decode-tokens 32] [--runs 3] [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
//        [--shapes 576x1536,1536x576,4096x4096,4096x11008,11008x4096] [--types F16,Q8_0,Q4_1,TQ2_0]
//        [--batch 1,16] [--iters 3] [--mod shiftedcos:0.85:0.15:0.5[:ROUTER]] [--out NAME]
// Needs: npm run build, npm run fetch-model.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './serve.mjs';
import { runInBenchPage } from './chromium.mjs';

/** `SCHEDULE:MAX:MIN:MEAN[:ROUTER]` (the CLI's --mod form) → the JS API's `mod` object. */
function parseMod(spec) {
  const p = spec.split(':');
  const schedules = ['shiftedcos', 'shiftedlinear'];
  if (!schedules.includes(p[0]) || p.length < 4 || p.length > 5 || p.slice(1, 4).some((x) => !Number.isFinite(Number(x)))) {
    throw new Error(`--mod: '${spec}' is not ${schedules.join('|')}:MAX:MIN:MEAN[:ROUTER]`);
  }
  const m = { schedule: p[0], max: Number(p[1]), min: Number(p[2]), mean: Number(p[3]) };
  if (p[4]) m.router = p[4];
  return m;
}

function parseArgs(argv) {
  const o = {
    promptTokens: 32,
    decodeTokens: 32,
    runs: 3,
    model: 'models/SmolLM2-135M-Instruct.Q4_1.gguf',
    backend: 'cpu',
    kernels: false,
    shapes: '576x1536,1536x576,4096x4096,4096x11008,11008x4096',
    types: 'F16,Q8_0,Q4_1,TQ2_0',
    batch: '1',
    iters: 3,
    mod: null,
    int8: false,
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--prompt-tokens') o.promptTokens = Number(v());
    else if (a === '--decode-tokens') o.decodeTokens = Number(v());
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--model') o.model = v();
    else if (a === '--backend') o.backend = v();
    else if (a === '--kernels') o.kernels = true;
    else if (a === '--shapes') o.shapes = v();
    else if (a === '--types') o.types = v();
    else if (a === '--batch') o.batch = v();
    else if (a === '--iters') o.iters = Number(v());
    else if (a === '--mod') o.mod = parseMod(v());
    else if (a === '--int8') o.int8 = true;
    else if (a === '--out') o.out = v();
    else if (a === '-h' || a === '--help') {
      console.log('usage: node pkg-scripts/bench-wasm.mjs [--prompt-tokens N] [--decode-tokens N] [--runs N] [--model PATH]\n' +
        '  [--backend cpu|webgpu] [--kernels [--shapes RxC,..] [--types T,..] [--batch B,..] [--iters N]] [--int8] [--mod SPEC] [--out FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['promptTokens', 'decodeTokens', 'runs']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(join(REPO_ROOT, 'pkg', 'tritium_core_bg.wasm'))) throw new Error('pkg/ is not built: run `npm run build`');
  if (!existsSync(join(REPO_ROOT, o.model))) throw new Error(`${o.model} is missing: run \`npm run fetch-model\``);

  const result = await runInBenchPage({
    module: '/web/bench.js',
    run: 'runBench',
    opts: {
      modelUrl: `/${o.model}`,
      promptTokens: o.promptTokens,
      decodeTokens: o.decodeTokens,
      runs: o.runs,
      backend: o.backend,
      iters: o.iters,
      mod: o.mod,
      int8: o.int8,
      kernels: o.kernels
        ? o.shapes.split(',').flatMap((shape) => {
            const [rows, cols] = shape.split('x').map(Number);
            return o.types.split(',').flatMap((type) =>
              (type.startsWith('TQ') && cols % 256 !== 0) ? [] : o.batch.split(',').map((b) => ({ type, rows, cols, batch: Number(b) })),
            );
          })
        : [],
    },
  });
  const adapter = result.adapter.description || 'none';
  const rows = [
    ['browser', result.browser],
    ['WebGPU adapter', `${adapter}${result.backend === 'webgpu' ? '' : ' (not used)'}`],
    ['backend', result.backend === 'webgpu'
      ? `webgpu (${result.backendReason})`
      : `${result.backend} (wasm${result.simd128 ? ' SIMD128' : ''}, ${result.threads ? 'threads' : '1 thread'})`],
    ['model', `${result.model} (${(result.modelBytes / 1e6).toFixed(1)} MB, ${Object.entries(result.tensorTypes).map(([k, v]) => `${k}×${v}`).join(' ')})`],
    ['generation path', `${result.generationPath}${result.mod ? ` (mod ${JSON.stringify(result.mod)})` : ''}`],
    ['load (fetch + parse)', `${result.loadMs.toFixed(0)} ms`],
    [`prefill (${result.promptTokens} tokens)`, `${result.prefillTokensPerSecond.toFixed(2)} tok/s`],
    [`decode (${result.decodeTokens} tokens)`, `${result.decodeTokensPerSecond.toFixed(2)} tok/s`],
    ['runs (prefill / decode tok/s)', result.runs.map((r) => `${r.prefillTokensPerSecond.toFixed(1)} / ${r.decodeTokensPerSecond.toFixed(1)}`).join(', ')],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\ntritium browser benchmark, ${result.backend} backend (median of runs)`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  if (result.kernels.length) {
    console.log(`\n  ${'type'.padEnd(6)} ${'shape'.padStart(12)} ${'batch'.padStart(5)} ${'ms'.padStart(10)} ${'GB/s'.padStart(8)}`);
    for (const k of result.kernels) {
      console.log(`  ${k.type.padEnd(6)} ${`${k.rows}x${k.cols}`.padStart(12)} ${String(k.batch).padStart(5)} ${k.ms.toFixed(2).padStart(10)} ${k.gb_per_s.toFixed(3).padStart(8)}`);
    }
  }
  console.log();
  const out = join(REPO_ROOT, 'target', 'bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, o.out ? `${o.out}.json` : `${result.backend === 'webgpu' ? 'webgpu' : 'wasm'}.json`), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(`bench-wasm: error: ${e.message}`);
  process.exit(1);
});
