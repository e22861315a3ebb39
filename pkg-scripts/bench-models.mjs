#!/usr/bin/env node
// tritium end to end on the default model and its quantized forms: prefill and decode tokens/s
// for each model × {MoD off, MoD on}, natively (the `tritium` CLI: CPU and WebGPU via wgpu) and in
// headless Chromium (pkg-scripts/bench-wasm.mjs: WebGPU and the wasm CPU path). A row that cannot
// run records the error text instead of a figure. Prints a table and one JSON object (also
// target/bench/models.json).
//
//   node pkg-scripts/bench-models.mjs [--models source=models/SmolLM2-135M-Instruct.Q4_1.gguf,awq4=PATH,ptqtp=PATH]
//        [--mod shiftedcos:0.85:0.15:0.5] [--prompt-tokens 32] [--decode-tokens 16] [--runs 1]
//        [--native-only | --browser-only]
// The quantized models: `tritium quantize models/SmolLM2-135M-Instruct.Q4_1.gguf --method awq4
// --calib models/corpus/calib.txt -o models/quality/awq4.gguf` (and `--method ptqtp`).
// Needs: cargo build --release (target/release/tritium), npm run build (browser rows).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './serve.mjs';

const TEXT =
  'The history of computing is a story of people who built machines to help them think. ' +
  'Early mechanical calculators could add and multiply, but programmable computers changed ' +
  'everything: a single machine could follow any list of instructions, store its results, ' +
  'and decide what to do next. Today small language models run inside a web page. ';

function parseArgs(argv) {
  const o = {
    models: 'source=models/SmolLM2-135M-Instruct.Q4_1.gguf,awq4=models/quality/awq4.gguf,ptqtp=models/quality/ptqtp.gguf',
    mod: 'shiftedcos:0.85:0.15:0.5',
    promptTokens: 32,
    decodeTokens: 16,
    runs: 1,
    native: true,
    browser: true,
    cli: join(REPO_ROOT, 'target', 'release', 'tritium'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--models') o.models = v();
    else if (a === '--mod') o.mod = v();
    else if (a === '--prompt-tokens') o.promptTokens = Number(v());
    else if (a === '--decode-tokens') o.decodeTokens = Number(v());
    else if (a === '--runs') o.runs = Number(v());
    else if (a === '--native-only') o.browser = false;
    else if (a === '--browser-only') o.native = false;
    else if (a === '--cli') o.cli = v();
    else if (a === '-h' || a === '--help') {
      console.log('usage: node pkg-scripts/bench-models.mjs [--models NAME=PATH,...] [--mod SPEC] [--prompt-tokens N] [--decode-tokens N] [--runs N] [--native-only|--browser-only]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  o.models = o.models.split(',').map((kv) => {
    const [name, path] = kv.includes('=') ? kv.split('=') : [kv, kv];
    return { name, path };
  });
  return o;
}

function lastJson(text) {
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (l.startsWith('{')) {
      try {
        return JSON.parse(l);
      } catch {
        /* keep looking */
      }
    }
  }
  const start = text.indexOf('{');
  if (start >= 0) {
    try {
      return JSON.parse(text.slice(start));
    } catch {
      /* fall through */
    }
  }
  return null;
}

function errorText(r) {
  const e = `${r.stderr || ''}`.split('\n').filter((l) => l.trim() && !/XDG_RUNTIME_DIR/.test(l));
  return e.slice(-3).join(' | ') || `exit ${r.status}`;
}

/** A prompt of about `n` tokens for the CLI (the CLI tokenizes; the JSON says how many). */
function promptText(n) {
  let t = '';
  while (t.length < n * 5) t += TEXT;
  // About 5 characters per token for this English text with SmolLM2's tokenizer.
  return t.slice(0, n * 5).replace(/\s+\S*$/, '');
}

function nativeRow(o, model, backend, mod) {
  const args = ['generate', join(REPO_ROOT, model.path), '--prompt', promptText(o.promptTokens), '--max-tokens', String(o.decodeTokens + 1),
    '--backend', backend, '--json'];
  if (mod) args.push('--mod', o.mod);
  const runs = [];
  let err = null;
  for (let r = 0; r < o.runs && !err; r++) {
    const res = spawnSync(o.cli, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 15 * 60 * 1000 });
    const j = res.status === 0 ? lastJson(res.stdout) : null;
    if (!j) err = errorText(res);
    else runs.push(j);
  }
  const row = { where: 'native', model: model.name, file: model.path, backend, mod: mod ? o.mod : null, command: `tritium ${args.map((a) => (a.includes(' ') ? '"…"' : a)).join(' ')}` };
  if (err) return { ...row, error: err };
  const s = runs.map((j) => j.stats);
  const med = (f) => s.map(f).sort((a, b) => a - b)[s.length >> 1];
  return {
    ...row,
    promptTokens: s[0].prompt_tokens,
    decodeTokens: s[0].generated_tokens - 1,
    prefillTokensPerSecond: med((x) => x.prefill_tokens_per_s),
    decodeTokensPerSecond: med((x) => x.tokens_per_s),
    kvBytes: s[0].kv_bytes,
    kvBytesDense: s[0].kv_bytes_dense,
    generationPath: runs[0].backend,
  };
}

function browserRow(o, model, backend, mod) {
  const args = [join(REPO_ROOT, 'pkg-scripts', 'bench-wasm.mjs'), '--model', model.path, '--backend', backend,
    '--prompt-tokens', String(o.promptTokens), '--decode-tokens', String(o.decodeTokens), '--runs', String(o.runs),
    '--out', `models-${model.name}-${backend}${mod ? '-mod' : ''}`];
  if (mod) args.push('--mod', o.mod);
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60 * 1000 });
  const row = { where: 'browser', model: model.name, file: model.path, backend, mod: mod ? o.mod : null,
    command: `node pkg-scripts/bench-wasm.mjs ${args.slice(1).join(' ')}` };
  const j = res.status === 0 ? lastJson(res.stdout) : null;
  if (!j) return { ...row, error: errorText(res) };
  return {
    ...row,
    adapter: j.adapter?.description || null,
    promptTokens: j.promptTokens,
    decodeTokens: j.decodeTokens,
    prefillTokensPerSecond: j.prefillTokensPerSecond,
    decodeTokensPerSecond: j.decodeTokensPerSecond,
    kvBytes: j.runs?.[0]?.kvBytes ?? null,
    kvBytesDense: j.runs?.[0]?.kvBytesDense ?? null,
    generationPath: j.generationPath,
    browser: j.userAgent,
  };
}

function adapterName(o) {
  const r = spawnSync(o.cli, ['bench', '--backend', 'gpu', '--shapes', '256x256', '--types', 'F32', '--batch', '1', '--iters', '1', '--json'],
    { encoding: 'utf8', maxBuffer: 16 << 20 });
  const j = r.status === 0 ? lastJson(r.stdout) : null;
  return j ? j.adapter : `no adapter (${errorText(r)})`;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const m of o.models) if (!existsSync(join(REPO_ROOT, m.path))) throw new Error(`${m.name}: ${m.path} is missing (see the header of this script for how to make it)`);
  if (o.native && !existsSync(o.cli)) throw new Error(`${o.cli} is missing: run cargo build --release`);
  const rows = [];
  const nativeAdapter = o.native ? adapterName(o) : null;
  for (const m of o.models) {
    for (const mod of [false, true]) {
      if (o.native) {
        for (const backend of ['cpu', 'gpu']) {
          console.error(`native ${m.name} ${backend}${mod ? ' +MoD' : ''}`);
          rows.push(nativeRow(o, m, backend, mod));
        }
      }
      if (o.browser) {
        for (const backend of ['cpu', 'webgpu']) {
          console.error(`browser ${m.name} ${backend}${mod ? ' +MoD' : ''}`);
          rows.push(browserRow(o, m, backend, mod));
        }
      }
    }
  }
  for (const r of rows) if (r.where === 'native' && r.backend === 'gpu') r.adapter = nativeAdapter;
  const result = { date: new Date().toISOString(), nativeAdapter, promptTokens: o.promptTokens, decodeTokens: o.decodeTokens, runs: o.runs, mod: o.mod, rows };
  const w = [8, 8, 8, 5, 12, 12, 30];
  console.log(`\ntritium end to end (${o.promptTokens} prompt + ${o.decodeTokens} decode tokens, median of ${o.runs}); MoD = ${o.mod}`);
  if (nativeAdapter) console.log(`  native GPU adapter: ${nativeAdapter}`);
  const browserAdapter = rows.find((r) => r.where === 'browser' && r.adapter)?.adapter;
  if (browserAdapter) console.log(`  browser WebGPU adapter: ${browserAdapter}`);
  const cells = ['where', 'model', 'backend', 'MoD', 'prefill t/s', 'decode t/s', 'ran on'];
  console.log('  ' + cells.map((c, i) => (i < 4 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' '));
  for (const r of rows) {
    const a = [r.where, r.model, r.backend, r.mod ? 'on' : 'off'];
    const b = r.error
      ? [`error: ${r.error}`]
      : [r.prefillTokensPerSecond.toFixed(2), r.decodeTokensPerSecond.toFixed(2), String(r.generationPath)];
    console.log('  ' + a.map((c, i) => c.padEnd(w[i])).join(' ') + ' ' + (r.error ? b[0] : b.map((c, i) => c.padStart(w[i + 4])).join(' ')));
  }
  const out = join(REPO_ROOT, 'target', 'bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'models.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
}

try {
  main();
} catch (e) {
  console.error(`bench-models: error: ${e.message}`);
  process.exit(1);
}
