#!/usr/bin/env node
// Benchmark of the weight spectra (issue 6): every linear weight of the default model (210
// matrices: ESD, power-law fit, MP edge) through the built package (pkg/) in headless Chromium,
// once per worker count (`workers: 0` = in the page's own thread), and natively with the CLI
// (`target/release/tritium spectra MODEL --json`, all cores) when it is built. Prints a table and
// one JSON object (also written to target/bench/spectra.json).
//
//   node pkg-scripts/bench-spectra.mjs [--workers 2,0] [--runs 1] [--layers 0,1,...]
//        [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--pkg pkg] [--no-native]
// --pkg: another built package folder under the repository (e.g. an older build, for a before/after).
// Needs: npm run build, npm run fetch-model (and cargo build --release for the native figure).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startServer, REPO_ROOT } from './serve.mjs';
import { launchChromium, watchPage } from './chromium.mjs';

function parseArgs(argv) {
  const o = { workers: '2,0', runs: 1, layers: null, pkg: 'pkg', model: 'models/SmolLM2-135M-Instruct.Q4_1.gguf', native: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--workers') o.workers = v();
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--layers') o.layers = v().split(',').map(Number);
    else if (a === '--model') o.model = v();
    else if (a === '--pkg') o.pkg = v();
    else if (a === '--no-native') o.native = false;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node pkg-scripts/bench-spectra.mjs [--workers 2,0] [--runs N] [--layers L,..] [--model PATH] [--no-native]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
  o.workerCounts = o.workers.split(',').map(Number);
  if (o.workerCounts.some((w) => !Number.isInteger(w) || w < 0)) throw new Error('--workers: non-negative integers');
  return o;
}

function nativeFigure(o) {
  const cli = join(REPO_ROOT, 'target', 'release', 'tritium');
  if (!o.native || !existsSync(cli)) return null;
  const args = ['spectra', join(REPO_ROOT, o.model), '--json'];
  if (o.layers) args.push('--layers', o.layers.join(','));
  const t0 = performance.now();
  const out = execFileSync(cli, args, { maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const seconds = (performance.now() - t0) / 1000;
  const matrices = JSON.parse(out.toString()).matrices.length;
  return { seconds, matrices, threads: Number(process.env.RAYON_NUM_THREADS) || cpus().length, command: `${cli} ${args.join(' ')}` };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(join(REPO_ROOT, o.pkg, 'tritium_core_bg.wasm'))) throw new Error('pkg/ is not built: run `npm run build`');
  if (!existsSync(join(REPO_ROOT, o.model))) throw new Error(`${o.model} is missing: run \`npm run fetch-model\``);
  const loadBefore = loadavg();

  const server = await startServer({ port: 0 });
  const browser = await launchChromium();
  const result = { pkg: o.pkg, model: o.model, cpus: cpus().length, loadavgBefore: loadBefore, browser: null, browserRuns: [], native: null };
  try {
    const page = await browser.context.newPage();
    const log = watchPage(page);
    await page.goto(`${server.url}web/bench.html`, { waitUntil: 'load' });
    result.browser = `Chromium ${browser.context.browser()?.version() ?? 'unknown'} (headless)`;
    try {
      const r = await page.evaluate(
        async ({ modelUrl, workerCounts, runs, layers, pkg }) => {
          const { Engine } = await import(`/${pkg}/tritium.js`);
          const engine = await Engine.create({ backend: 'cpu' });
          const t0 = performance.now();
          const model = await engine.load(modelUrl);
          const loadMs = performance.now() - t0;
          const out = [];
          for (const workers of workerCounts) {
            for (let run = 0; run < runs; run++) {
              const progress = [];
              const t = performance.now();
              const recs = await model.spectra({ workers, layers: layers || undefined, onProgress: (p) => progress.push({ ...p, ms: performance.now() - t }) });
              const ms = performance.now() - t;
              out.push({
                workers,
                workersUsed: progress.length && progress.at(-1).workers !== undefined ? progress.at(-1).workers : null,
                run,
                seconds: ms / 1000,
                matrices: recs.length,
                progressEvents: progress.length,
                firstProgressSeconds: progress.length ? progress[0].ms / 1000 : null,
                alphaMean: recs.reduce((a, r) => a + r.alpha, 0) / recs.length,
                // Sum of the per-matrix wall times measured where each matrix ran; ÷ the total is
                // how many ran at once (it does not show whether they had a core each: compare
                // the per-matrix time with a workers: 0 run, and the load average).
                matrixSeconds: recs.reduce((a, r) => a + r.seconds, 0),
              });
            }
          }
          model.free();
          return { loadMs, runs: out, hardwareConcurrency: navigator.hardwareConcurrency, simd128: engine.capabilities().simd128 ?? null };
        },
        { modelUrl: `/${o.model}`, workerCounts: o.workerCounts, runs: o.runs, layers: o.layers, pkg: o.pkg },
      );
      Object.assign(result, { loadMs: r.loadMs, hardwareConcurrency: r.hardwareConcurrency });
      result.browserRuns = r.runs;
    } catch (e) {
      throw new Error(`${e.message}\n${log.join('\n')}`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
  result.native = nativeFigure(o);
  result.loadavgAfter = loadavg();

  const rows = [
    ['browser', `${result.browser}, navigator.hardwareConcurrency ${result.hardwareConcurrency}`],
    ['machine', `${result.cpus} CPUs, load average before ${result.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${result.loadavgAfter.map((x) => x.toFixed(2)).join(' ')}`],
    ['model', `${result.model} (load + parse ${result.loadMs.toFixed(0)} ms)`],
  ];
  for (const r of result.browserRuns) {
    const how = r.workers === 0 ? 'wasm, page thread' : `wasm, ${r.workersUsed ?? r.workers} Web Worker${(r.workersUsed ?? r.workers) === 1 ? '' : 's'}`;
    rows.push([
      `Chromium (${how})`,
      `${r.seconds.toFixed(2)} s for ${r.matrices} matrices (${r.progressEvents} progress events; Σ per-matrix ${r.matrixSeconds.toFixed(1)} s, ${(r.matrixSeconds / r.seconds).toFixed(2)}× concurrent)`,
    ]);
  }
  if (result.native) rows.push([`native CLI (${result.native.threads} threads)`, `${result.native.seconds.toFixed(2)} s for ${result.native.matrices} matrices`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log('\ntritium weight-spectra benchmark');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  console.log();
  const dir = join(REPO_ROOT, 'target', 'bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'spectra.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(`bench-spectra: error: ${e.message}`);
  process.exit(1);
});
