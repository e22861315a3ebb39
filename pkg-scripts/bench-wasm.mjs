#!/usr/bin/env node
// Benchmark the CPU path in wasm: headless Chromium loads the real default model through the
// built package (pkg/) and measures prefill and decode tokens/s (median of the runs). Prints a
// table and one JSON object (also written to target/bench/wasm.json).
//
//   node pkg-scripts/bench-wasm.mjs [--prompt-tokens 32] [--decode-tokens 32] [--runs 3]
//                                   [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
// Needs: npm run build, npm run fetch-model.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, REPO_ROOT } from './serve.mjs';
import { launchChromium, watchPage } from './chromium.mjs';

function parseArgs(argv) {
  const o = { promptTokens: 32, decodeTokens: 32, runs: 3, model: 'models/SmolLM2-135M-Instruct.Q4_1.gguf' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--prompt-tokens') o.promptTokens = Number(v());
    else if (a === '--decode-tokens') o.decodeTokens = Number(v());
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--model') o.model = v();
    else if (a === '-h' || a === '--help') {
      console.log('usage: node pkg-scripts/bench-wasm.mjs [--prompt-tokens N] [--decode-tokens N] [--runs N] [--model PATH]');
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

  const server = await startServer({ port: 0 });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const log = watchPage(page);
    page.on('console', (m) => {
      if (m.type() === 'log') console.error(`[page] ${m.text()}`);
    });
    await page.goto(`${server.url}web/bench.html`, { waitUntil: 'load' });
    const browserVersion = browser.context.browser()?.version() ?? 'unknown';
    let result;
    try {
      result = await page.evaluate(
        async (opts) => {
          const { runBench } = await import('/web/bench.js');
          return runBench({ ...opts, onStatus: (s) => console.log(s) });
        },
        { modelUrl: `/${o.model}`, promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, runs: o.runs },
      );
    } catch (e) {
      throw new Error(`${e.message}\n${log.join('\n')}`);
    }
    result.browser = `Chromium ${browserVersion} (headless)`;
    const adapter = result.adapter.description || 'none';
    const rows = [
      ['browser', result.browser],
      ['WebGPU adapter (not used)', adapter],
      ['backend', `${result.backend} (wasm${result.simd128 ? ' SIMD128' : ''}, ${result.threads ? 'threads' : '1 thread'})`],
      ['model', `${result.model} (${(result.modelBytes / 1e6).toFixed(1)} MB, ${Object.entries(result.tensorTypes).map(([k, v]) => `${k}×${v}`).join(' ')})`],
      ['load (fetch + parse)', `${result.loadMs.toFixed(0)} ms`],
      [`prefill (${result.promptTokens} tokens)`, `${result.prefillTokensPerSecond.toFixed(1)} tok/s`],
      [`decode (${result.decodeTokens} tokens)`, `${result.decodeTokensPerSecond.toFixed(1)} tok/s`],
      ['runs (prefill / decode tok/s)', result.runs.map((r) => `${r.prefillTokensPerSecond.toFixed(1)} / ${r.decodeTokensPerSecond.toFixed(1)}`).join(', ')],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log('\ntritium wasm CPU benchmark (median of runs)');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
    console.log();
    const out = join(REPO_ROOT, 'target', 'bench');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'wasm.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(`bench-wasm: error: ${e.message}`);
  process.exit(1);
});
