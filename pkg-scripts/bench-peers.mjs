#!/usr/bin/env node
// tritium vs onnxruntime-web, int4 in the browser: one headless Chromium page (so one WebGPU
// adapter for both) times tritium's AWQ int4 g128 matmul kernel and onnxruntime-web's WebGPU
// `MatMulNBits` (4-bit, block 128, a one-node ONNX graph this script writes) on the same seeded
// weights, and checks that both products agree. How each side is timed: pkg-scripts/peers/
// bench-peers-page.mjs. Prints a table and one JSON object (also target/bench/peers-int4.json).
//
//   node pkg-scripts/bench-peers.mjs [--shapes 4096x4096,4096x11008] [--batch 1,16] [--iters 3]
//        [--reps 3] [--no-ort-profiling]
// Needs: npm run build, and onnxruntime-web in node_modules (npm install; or ORT_WEB_DIR=<its folder>).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from './serve.mjs';
import { runInBenchPage } from './chromium.mjs';

function parseArgs(argv) {
  const o = { shapes: '4096x4096,4096x11008', batch: '1,16', iters: 3, reps: 3, ortProfiling: true, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--shapes') o.shapes = v();
    else if (a === '--batch') o.batch = v();
    else if (a === '--iters') o.iters = Number(v());
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--no-ort-profiling') o.ortProfiling = false;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node pkg-scripts/bench-peers.mjs [--shapes RxC,...] [--batch 1,16] [--iters N] [--reps N] [--no-ort-profiling]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['iters', 'reps']) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  o.cases = o.shapes.split(',').flatMap((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`--shapes: '${s}' is not ROWSxCOLS`);
    const [rows, cols] = [Number(m[1]), Number(m[2])];
    if (cols % 128 !== 0) throw new Error(`--shapes: ${s}: columns must be a multiple of the 128-element block`);
    return o.batch.split(',').map((b) => {
      const batch = Number(b);
      if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch: '${b}' is not a positive integer`);
      return { rows, cols, batch };
    });
  });
  return o;
}

/** The folder of the onnxruntime-web package: ORT_WEB_DIR, else node_modules. */
export function ortWebDir() {
  if (process.env.ORT_WEB_DIR) {
    const d = resolve(process.env.ORT_WEB_DIR);
    if (!existsSync(join(d, 'dist', 'ort.webgpu.min.mjs'))) throw new Error(`ORT_WEB_DIR=${d} has no dist/ort.webgpu.min.mjs`);
    return d;
  }
  // The package's `exports` hide its package.json from require.resolve, so look in node_modules.
  const d = join(REPO_ROOT, 'node_modules', 'onnxruntime-web');
  if (!existsSync(join(d, 'dist', 'ort.webgpu.min.mjs'))) {
    throw new Error('onnxruntime-web is not installed: run `npm install` (it is a devDependency)');
  }
  return d;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(join(REPO_ROOT, 'pkg', 'tritium_core_bg.wasm'))) throw new Error('pkg/ is not built: run `npm run build`');
  const ortDir = ortWebDir();
  const ortVersion = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(ortDir, 'package.json'), 'utf8'))).version;

  const result = await runInBenchPage({
    module: '/pkg-scripts/peers/bench-peers-page.mjs',
    run: 'runPeers',
    mounts: { '/vendor/onnxruntime-web/': ortDir },
    opts: { cases: o.cases, iters: o.iters, reps: o.reps, seed: o.seed, ortProfiling: o.ortProfiling },
  });
  result.ortVersion = ortVersion;
  result.date = new Date().toISOString();
  console.log(`\ntritium vs onnxruntime-web ${ortVersion} MatMulNBits (int4, block 128), ${result.browser}`);
  console.log(`  WebGPU adapter: ${result.adapterName} (tritium: ${result.adapter ? result.adapter.backend : '?'}; ORT device: ${result.ortAdapter ? result.ortAdapter.description : '?'})`);
  console.log(`  ms per call, wall clock, ${o.iters} calls back to back, median of ${o.reps}; weights, input and output on the GPU for both (ORT: IO binding)\n`);
  const hdr = ['shape', 'batch', 'tritium ms', `(${result.results[0]?.tritium.kernelTimer ?? 'kernel'})`, 'ORT ms', 'ORT kernels', 'speedup', 'max |diff|', 'check'];
  const rows = result.results.map((r) => [
    `${r.rows}x${r.cols}`,
    String(r.batch),
    r.tritium.ms.toFixed(2),
    r.tritium.kernelMs.toFixed(2),
    r.ort.ms.toFixed(2),
    r.ort.kernelMs == null ? '—' : r.ort.kernelMs.toFixed(2),
    `${r.speedup.toFixed(2)}×` + (r.speedupKernel == null ? '' : ` (${r.speedupKernel.toFixed(2)}× kernels)`),
    r.check.maxAbsDiff.toExponential(2),
    r.check.ok ? 'ok' : 'MISMATCH',
  ]);
  const widths = hdr.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => '  ' + cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(hdr));
  for (const r of rows) console.log(line(r));
  console.log(`\n  adapter: ${result.adapterName}\n`);
  const out = join(REPO_ROOT, 'target', 'bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'peers-int4.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
  const bad = result.results.filter((r) => !r.check.ok);
  if (bad.length) {
    throw new Error(`tritium and onnxruntime-web disagree on ${bad.map((r) => `${r.rows}x${r.cols} batch ${r.batch} (max |diff| ${r.check.maxAbsDiff})`).join(', ')}`);
  }
}

main().catch((e) => {
  console.error(`bench-peers: error: ${e.message}`);
  process.exit(1);
});
