// End-to-end: the demo page (index.html + web/demo.js + the built pkg/) in headless Chromium,
// served by pkg-scripts/serve.mjs on an ephemeral port. Needs `npm run build` and
// `npm run fetch-model` first (npm test does both). Screenshots go to target/e2e/.
//
//   node --test tests/e2e/demo.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, REPO_ROOT } from '../../pkg-scripts/serve.mjs';
import { launchChromium, watchPage } from '../../pkg-scripts/chromium.mjs';

const SHOTS = join(REPO_ROOT, 'target', 'e2e');
const MODEL = join(REPO_ROOT, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');

let server;
let browser;
let page;
let pageLog;
const requests = []; // every request the server answered: { method, path, range }
const modelRequests = () => requests.filter((r) => r.path.endsWith('.gguf') && r.method === 'GET').length;

before(async () => {
  assert.ok(existsSync(join(REPO_ROOT, 'pkg', 'tritium_core_bg.wasm')), 'pkg/ is not built: run `npm run build`');
  assert.ok(existsSync(MODEL), 'the default model is missing: run `npm run fetch-model`');
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ port: 0, onRequest: (r) => requests.push(r) });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

async function waitForState(p, states, timeout) {
  await p.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
  return p.evaluate(() => document.body.dataset.state);
}

test('demo loads the default model and greedy-generates " Paris" on the CPU path', { timeout: 240_000 }, async () => {
  page = await browser.context.newPage();
  pageLog = watchPage(page);
  await page.goto(`${server.url}?backend=cpu`, { waitUntil: 'domcontentloaded' });
  // starting → ready (engine) → loading → ready (model)
  await page.waitForFunction(() => window.tritiumDemo && (window.tritiumDemo.model || window.tritiumDemo.error), null, {
    timeout: 180_000,
  });
  const err = await page.evaluate(() => window.tritiumDemo.error);
  assert.equal(err, null, `page error: ${JSON.stringify(err)}\n${pageLog.join('\n')}`);
  assert.equal(await waitForState(page, ['ready'], 10_000), 'ready');

  // model info is shown
  const info = await page.locator('#info-list').innerText();
  assert.match(info, /llama/);
  assert.match(info, /\b30\b/, 'layers');
  assert.match(info, /49152/, 'vocabulary');
  assert.equal(await page.locator('#tensor-count').innerText(), '272');
  const badge = await page.locator('#backend').innerText();
  assert.match(badge, /cpu/i);
  assert.match(badge, /Web Worker/, 'the demo runs the engine in a Web Worker');
  assert.equal(await page.evaluate(() => window.tritiumDemo.engine.capabilities().worker), true);

  // greedy generation
  await page.fill('#prompt', 'The capital of France is');
  await page.fill('#max-tokens', '8');
  await page.fill('#temperature', '0');
  await page.uncheck('#chat');
  await page.click('#generate');
  await page.waitForFunction(() => window.tritiumDemo.finishReason !== null || window.tritiumDemo.error, null, {
    timeout: 120_000,
  });
  const demo = await page.evaluate(() => ({
    pieces: window.tritiumDemo.pieces,
    stats: window.tritiumDemo.stats,
    finishReason: window.tritiumDemo.finishReason,
    error: window.tritiumDemo.error,
  }));
  assert.equal(demo.error, null, JSON.stringify(demo.error));
  assert.equal(demo.pieces[0], ' Paris', `first piece: ${JSON.stringify(demo.pieces)}`);
  assert.equal(demo.finishReason, 'length');
  assert.equal(demo.stats.generatedTokens, 8);
  assert.equal(demo.stats.promptTokens, 5);
  assert.ok(demo.stats.tokensPerSecond > 0, 'decode tokens/s measured');
  const out = await page.locator('#output').innerText();
  assert.ok(out.startsWith('The capital of France is Paris'), out);
  assert.match(await page.locator('#stats').innerText(), /tok\/s/);
  await page.screenshot({ path: join(SHOTS, 'demo.png'), fullPage: true });
  console.log(`# generated: ${JSON.stringify(demo.pieces.join(''))}; decode ${demo.stats.tokensPerSecond.toFixed(1)} tok/s, prefill ${demo.stats.prefillTokensPerSecond.toFixed(1)} tok/s`);
});

test('demo generates " Paris" with WebGPU (SwiftShader in headless Chromium)', { timeout: 300_000 }, async () => {
  const p = await browser.context.newPage();
  const log = watchPage(p);
  await p.goto(`${server.url}?backend=webgpu&prompt=${encodeURIComponent('The capital of France is')}`, {
    waitUntil: 'domcontentloaded',
  });
  await p.waitForFunction(() => window.tritiumDemo && (window.tritiumDemo.model || window.tritiumDemo.error), null, {
    timeout: 240_000,
  });
  const err = await p.evaluate(() => window.tritiumDemo.error);
  assert.equal(err, null, `page error: ${JSON.stringify(err)}\n${log.join('\n')}`);
  const caps = await p.evaluate(() => window.tritiumDemo.engine.capabilities());
  assert.equal(caps.backend, 'webgpu', JSON.stringify(caps));
  assert.match(await p.locator('#backend').innerText(), /webgpu/i);
  await p.fill('#max-tokens', '4');
  await p.fill('#temperature', '0');
  await p.uncheck('#chat');
  await p.click('#generate');
  await p.waitForFunction(() => window.tritiumDemo.finishReason !== null || window.tritiumDemo.error, null, {
    timeout: 240_000,
  });
  const demo = await p.evaluate(() => ({
    pieces: window.tritiumDemo.pieces,
    stats: window.tritiumDemo.stats,
    error: window.tritiumDemo.error,
  }));
  assert.equal(demo.error, null, JSON.stringify(demo.error));
  assert.equal(demo.pieces[0], ' Paris', `first piece: ${JSON.stringify(demo.pieces)}`);
  assert.equal(demo.stats.generatedTokens, 4);
  await p.screenshot({ path: join(SHOTS, 'demo-webgpu.png'), fullPage: true });
  console.log(`# WebGPU (${caps.gpu && caps.gpu.adapter}): ${JSON.stringify(demo.pieces.join(''))}; decode ${demo.stats.tokensPerSecond.toFixed(2)} tok/s, prefill ${demo.stats.prefillTokensPerSecond.toFixed(2)} tok/s`);
  await p.close();
});

test('model.spectra() in the browser matches the native CLI, with progress, in Web Workers and in the page thread', { timeout: 300_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  const layers = [0, 29];
  const r = await page.evaluate(async (layers) => {
    const run = async (workers) => {
      const progress = [];
      const t0 = performance.now();
      const recs = await window.tritiumDemo.model.spectra({ layers, workers, onProgress: (p) => progress.push(p) });
      return { recs, progress, ms: performance.now() - t0 };
    };
    return { pooled: await run(2), inThread: await run(0) };
  }, layers);
  const cli = join(REPO_ROOT, 'target', 'release', 'tritium');
  assert.ok(existsSync(cli), 'target/release/tritium is built by the native tests (cargo test --release)');
  const native = JSON.parse(
    execFileSync(cli, ['spectra', MODEL, '--layers', layers.join(','), '--json'], { maxBuffer: 64 << 20 }).toString(),
  ).matrices;
  const byName = new Map(native.map((m) => [m.name, m]));
  for (const [how, x, workers] of [['2 workers', r.pooled, 2], ['page thread', r.inThread, 0]]) {
    assert.equal(x.recs.length, 14, `${how}: seven matrices per layer`);
    assert.deepEqual(x.progress.at(-1), { done: 2, total: 2, workers }, `${how}: progress ${JSON.stringify(x.progress)}`);
    assert.deepEqual(x.recs.map((m) => m.name), native.map((m) => m.name), `${how}: layer order, then q k v o gate up down`);
    for (const m of x.recs) {
      const n = byName.get(m.name);
      assert.ok(n, `native has ${m.name}`);
      assert.ok(Math.abs(m.alpha - n.alpha) <= 1e-6 * n.alpha, `${how} ${m.name}: alpha ${m.alpha} (wasm) vs ${n.alpha} (native)`);
      assert.ok(Math.abs(m.spectralNorm - n.spectral_norm) <= 1e-6 * n.spectral_norm, `${how} ${m.name}: spectral norm`);
      assert.equal(m.histogram.counts.reduce((a, b) => a + b, 0) > 0, true, `${how} ${m.name}: histogram`);
    }
  }
  // The workers run the same wasm code on the same dequantized weights: identical records.
  r.pooled.recs.forEach((m, i) => assert.equal(m.alpha, r.inThread.recs[i].alpha, `${m.name}: workers vs page thread`));
  console.log(`# spectra of 14 matrices in the browser: ${(r.pooled.ms / 1000).toFixed(1)} s with 2 Web Workers, ${(r.inThread.ms / 1000).toFixed(1)} s in the page thread`);
});

test('demo: "Compute spectra" shows a progress bar and alpha for all 210 matrices', { timeout: 300_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  await page.click('#spectra-run');
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'spectra');
  assert.equal(await page.locator('#spectra-progress').getAttribute('aria-label'), 'Weight spectra progress');
  await page.waitForFunction(() => window.tritiumDemo.spectraProgress.length > 0 || window.tritiumDemo.error, null, { timeout: 120_000 });
  const mid = await page.evaluate(() => ({ value: document.getElementById('spectra-progress').value, text: document.getElementById('spectra-text').textContent }));
  assert.ok(mid.value >= 1, `progress bar moves: ${JSON.stringify(mid)}`);
  assert.match(mid.text, /of 30 layers/);
  await page.waitForFunction(() => window.tritiumDemo.spectra || window.tritiumDemo.error, null, { timeout: 240_000 });
  const d = await page.evaluate(() => ({
    n: window.tritiumDemo.spectra && window.tritiumDemo.spectra.length,
    progress: window.tritiumDemo.spectraProgress,
    seconds: window.tritiumDemo.spectraSeconds,
    error: window.tritiumDemo.error,
    bar: document.getElementById('spectra-progress').value,
    rows: document.querySelectorAll('#spectra-body tr').length,
    dots: document.querySelectorAll('#spectra-plot g[aria-label="dot"] circle').length,
    esd: {
      bars: document.querySelectorAll('#esd-plot g[aria-label="rect"] rect').length,
      fit: document.querySelectorAll('#esd-plot g[aria-label="line"] path').length,
      rules: document.querySelectorAll('#esd-plot g[aria-label="rule"] line').length,
      labels: document.getElementById('esd-plot').textContent,
      shown: window.tritiumDemo.charts.esd,
    },
  }));
  assert.equal(d.error, null, JSON.stringify(d.error));
  assert.equal(d.n, 210);
  assert.equal(d.progress.length, 30);
  const last = d.progress.at(-1);
  assert.ok(last.done === 30 && last.total === 30 && last.workers >= 1, `progress: ${JSON.stringify(last)} (Web Workers used)`);
  assert.equal(d.bar, 30);
  assert.equal(d.rows, 30);
  assert.equal(d.dots, 210, 'Observable Plot drew one alpha per matrix (30 layers × 7 kinds)');
  assert.ok(d.esd.bars >= 10, `ESD histogram bars: ${JSON.stringify(d.esd)}`);
  assert.equal(d.esd.fit, 1, 'the fitted power law is drawn');
  assert.ok(d.esd.rules >= 2, 'xmin and the MP edge are marked');
  assert.match(d.esd.labels, /xmin, α = \d/);
  assert.match(d.esd.labels, /MP edge/);
  assert.equal(d.esd.shown, 'blk.0.attn_q.weight');
  // another matrix from the selects redraws the ESD
  await page.selectOption('#esd-layer', '29');
  await page.selectOption('#esd-kind', 'down');
  await page.waitForFunction(() => window.tritiumDemo.charts.esd === 'blk.29.ffn_down.weight', null, { timeout: 10_000 });
  assert.equal(await waitForState(page, ['ready'], 10_000), 'ready');
  await page.screenshot({ path: join(SHOTS, 'demo-spectra.png'), fullPage: true });
  console.log(`# demo: spectra of all 210 matrices in ${d.seconds.toFixed(1)} s (headless Chromium, ${last.workers} Web Workers)`);
});

test('model.quantize() in the browser writes the same GGUF as the native CLI; its AutoAWQ folder loads back', { timeout: 420_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  const r = await page.evaluate(async () => {
    const { model, engine } = window.tritiumDemo;
    const progress = [];
    const t0 = performance.now();
    const q = await model.quantize('rtn4', { onProgress: (p) => progress.push(p) });
    const ms = performance.now() - t0;
    const gguf = await q.toGguf(); // a Promise with the Worker-backed engine
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', gguf)))
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    const folder = Object.fromEntries(await q.toAutoAwq());
    const names = Object.keys(folder).sort();
    const f = await engine.load({ files: folder });
    const ids = [504, 3575, 282, 4649, 314]; // "The capital of France is"
    const argmax = (l) => l.reduce((b, v, i, a) => (v > a[b] ? i : b), 0);
    const next = [argmax(await q.forwardLogits(ids)), argmax(await f.forwardLogits(ids))];
    const types = q.info().tensorTypes;
    q.free();
    f.free();
    return { ms, progress, digest, bytes: gguf.byteLength, names, next, types };
  });
  assert.equal(r.progress.at(-1).done, r.progress.at(-1).total);
  assert.equal(r.progress.length, 32, 'one step per layer, then the embedding and the output');
  assert.deepEqual(r.types, { AWQ4_G64: 210, Q8_0: 1 });
  const cli = join(REPO_ROOT, 'target', 'release', 'tritium');
  const out = join(SHOTS, 'rtn4-native.gguf');
  execFileSync(cli, ['quantize', MODEL, '--method', 'rtn4', '-o', out]);
  const native = createHash('sha256').update(readFileSync(out)).digest('hex');
  assert.equal(r.digest, native, 'the browser and the native CLI write byte-identical files');
  for (const n of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    assert.ok(r.names.includes(n), `AutoAWQ folder has ${n}: ${r.names}`);
  }
  assert.deepEqual(r.next, [7042, 7042], 'both predict " Paris"');
  console.log(`# rtn4 quantization of the default model in the browser (wasm, 1 thread): ${(r.ms / 1000).toFixed(1)} s; ${r.bytes} bytes`);
});

test('demo: MoD on → retention view with one row per layer (30), bars and a token × layer heatmap', { timeout: 240_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  const prompt = 'The quick brown fox jumps over the lazy dog, and then the capital of France is';
  await page.fill('#prompt', prompt);
  await page.fill('#max-tokens', '3');
  await page.fill('#temperature', '0');
  await page.check('#mod-on');
  await page.selectOption('#mod-schedule', 'shiftedcos');
  await page.fill('#mod-mean', '0.5');
  await page.selectOption('#mod-router', 'snap');
  await page.click('#generate');
  await page.waitForFunction(() => window.tritiumDemo.finishReason !== null || window.tritiumDemo.error, null, { timeout: 200_000 });
  const d = await page.evaluate(() => {
    const mod = window.tritiumDemo.mod;
    const kept = '#4b3fd8'; // the 'kept' colour of web/demo-charts.js
    const cells = [...document.querySelectorAll('#retention-heatmap g[aria-label="cell"] rect')];
    return {
      error: window.tritiumDemo.error,
      hidden: document.getElementById('retention').hidden,
      rows: document.querySelectorAll('#retention-body tr').length,
      bars: document.querySelectorAll('#retention-bars g[aria-label="bar"] rect').length,
      ticks: document.querySelectorAll('#retention-bars g[aria-label="tick"] line').length,
      cells: cells.length,
      keptCells: cells.filter((c) => c.getAttribute('fill') === kept).length,
      heatmapText: document.getElementById('retention-heatmap').textContent,
      summary: document.getElementById('retention-summary').textContent,
      stats: document.getElementById('stats').textContent,
      promptTokens: mod && mod.promptTokens,
      span: mod && mod.span,
      tokens: mod && mod.tokens,
      retention: mod && mod.retention.map((r) => ({ modLayer: r.modLayer, keptTarget: r.keptTarget, targetTokens: r.targetTokens, kvBytes: r.kvBytes, kvBytesDense: r.kvBytesDense })),
    };
  });
  assert.equal(d.error, null, JSON.stringify(d.error));
  assert.equal(d.hidden, false);
  assert.equal(d.rows, 30, 'one row per layer in the retention table');
  assert.equal(d.bars, 30, 'one bar per layer');
  assert.equal(d.ticks, 30, 'one target-ratio tick per layer');
  assert.equal(d.retention.length, 30);
  assert.equal(d.cells, 30 * d.promptTokens, 'one heatmap cell per layer and prompt token');
  const keptInSpan = d.retention.reduce((a, r) => a + r.keptTarget, 0);
  assert.equal(d.keptCells, keptInSpan, 'kept cells = kept target tokens summed over layers');
  // shifted cosine, r̄ 0.5 over 30 layers: layers 0–7 dense, the rest prune; the last keeps the fewest
  assert.deepEqual(d.retention.slice(0, 8).map((r) => r.modLayer), Array(8).fill(false));
  assert.ok(d.retention.slice(8).every((r) => r.modLayer && r.keptTarget < r.targetTokens), JSON.stringify(d.retention));
  assert.ok(d.retention[29].kvBytes < d.retention[29].kvBytesDense);
  assert.ok(d.tokens.join('').includes('quick brown fox'), JSON.stringify(d.tokens));
  assert.match(d.heatmapText, /quick/, 'heatmap columns are labelled with the prompt tokens');
  assert.match(d.summary, /KV cache .* saved/);
  assert.match(d.stats, /MoD/);
  await page.locator('#retention').screenshot({ path: join(SHOTS, 'demo-mod.png') });
  await page.uncheck('#mod-on');
  console.log(`# MoD in the demo: ${d.promptTokens} prompt tokens; ${d.summary}`);
});

test('demo: the quantization picker quantizes, shows size and bits per weight, generates with the new weights, and compares spectra', { timeout: 400_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  await page.selectOption('#quant-method', 'rtn4');
  await page.click('#quant-apply');
  await waitForState(page, ['quantizing'], 10_000);
  await page.waitForFunction(() => window.tritiumDemo.state === 'ready' || window.tritiumDemo.error, null, { timeout: 240_000 });
  const q = await page.evaluate(() => ({
    error: window.tritiumDemo.error,
    variant: window.tritiumDemo.variant,
    name: window.tritiumDemo.model.name,
    progress: window.tritiumDemo.quantProgress.length,
    rows: [...document.querySelectorAll('#quant-body tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    text: document.getElementById('quant-text').textContent,
    info: document.getElementById('info-list').innerText,
  }));
  assert.equal(q.error, null, JSON.stringify(q.error));
  assert.equal(q.variant, 'rtn4');
  assert.match(q.name, /\[rtn4\]$/);
  assert.equal(q.progress, 32, 'progress per layer, embedding and output');
  assert.equal(q.rows.length, 2, JSON.stringify(q.rows));
  const [src, rtn] = q.rows;
  assert.equal(src[0], 'source');
  assert.equal(rtn[0], 'int4 RTN');
  assert.equal(rtn[4], '●', 'the quantized weights are in use');
  assert.ok(Number(rtn[2]) < Number(src[2]), `bits per weight: ${rtn[2]} (rtn4) < ${src[2]} (Q4_1)`);
  assert.match(q.text, /bits per weight/);
  assert.match(q.info, /AWQ4_G64/);
  // generate with the quantized weights
  await page.fill('#prompt', 'The capital of France is');
  await page.fill('#max-tokens', '2');
  await page.click('#generate');
  await page.waitForFunction(() => window.tritiumDemo.finishReason !== null || window.tritiumDemo.error, null, { timeout: 120_000 });
  const g = await page.evaluate(() => ({ pieces: window.tritiumDemo.pieces, error: window.tritiumDemo.error }));
  assert.equal(g.error, null, JSON.stringify(g.error));
  assert.equal(g.pieces[0], ' Paris');
  // spectra of the quantized weights next to the source's (computed by the spectra test above, kept)
  await page.click('#spectra-run');
  await page.waitForFunction(() => window.tritiumDemo.spectra || window.tritiumDemo.error, null, { timeout: 240_000 });
  const sp = await page.evaluate(() => ({
    error: window.tritiumDemo.error,
    text: document.getElementById('spectra-text').textContent,
    dots: document.querySelectorAll('#spectra-plot g[aria-label="dot"] circle').length,
    facets: [...document.querySelectorAll('#spectra-plot g[aria-label="fx-axis tick label"] text')].map((t) => t.textContent),
    esdModels: [...document.querySelectorAll('#esd-model option')].map((o) => o.textContent),
  }));
  assert.equal(sp.error, null, JSON.stringify(sp.error));
  assert.match(sp.text, /of 210 matrices \(rtn4\)/, 'only the quantized weights were computed');
  assert.equal(sp.dots, 420, 'alpha of 210 matrices, source and int4 RTN');
  assert.deepEqual(sp.facets, ['source', 'int4 RTN'], 'side by side');
  assert.deepEqual(sp.esdModels, ['source', 'int4 RTN']);
  await page.locator('section[aria-labelledby="spectra-h"]').screenshot({ path: join(SHOTS, 'demo-spectra-rtn4.png') });
  // back to the source weights: no second quantization
  await page.selectOption('#quant-method', 'source');
  await page.click('#quant-apply');
  await page.waitForFunction(() => window.tritiumDemo.variant === 'source', null, { timeout: 10_000 });
  assert.doesNotMatch(await page.evaluate(() => window.tritiumDemo.model.name), /rtn4/);
});

test('screenshots at 1280×800 and 390×844 (target/e2e/)', { timeout: 60_000 }, async () => {
  assert.ok(page, 'needs the page of the first test');
  for (const [w, h, name] of [[1280, 800, 'wide'], [390, 844, 'narrow']]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForFunction((w) => window.tritiumDemo.chartsWidth === w, w, { timeout: 20_000 }); // charts redrawn
    await page.evaluate(() => window.scrollTo(0, 0));
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.scroll-x, .table-wrap'))
        .map((e) => `${e.tagName.toLowerCase()} in #${(e.closest('[id]') || {}).id}`);
      return { px: document.documentElement.scrollWidth - document.documentElement.clientWidth, wide: wide.slice(0, 8) };
    });
    assert.ok(overflow.px <= 1, `${name}: the page does not scroll sideways (${JSON.stringify(overflow)})`);
    await page.screenshot({ path: join(SHOTS, `demo-${name}.png`) });
    await page.screenshot({ path: join(SHOTS, `demo-${name}-full.png`), fullPage: true });
    for (const [sel, part] of [['#retention', 'retention'], ['section[aria-labelledby="spectra-h"]', 'spectra']]) {
      if (await page.locator(sel).isVisible()) await page.locator(sel).screenshot({ path: join(SHOTS, `demo-${name}-${part}.png`) });
    }
  }
  await page.setViewportSize({ width: 1200, height: 900 });
});

test('keyboard: Ctrl+Enter generates and Escape stops', { timeout: 120_000 }, async () => {
  assert.ok(page, 'needs the page of the previous test');
  await page.fill('#max-tokens', '500');
  await page.fill('#prompt', '1, 2, 3, 4, 5, 6, 7, 8,');
  await page.focus('#prompt');
  await page.keyboard.press('Control+Enter');
  await waitForState(page, ['generating'], 10_000);
  await page.waitForFunction(() => window.tritiumDemo.pieces.length >= 2, null, { timeout: 60_000 });
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.tritiumDemo.finishReason !== null, null, { timeout: 30_000 });
  const r = await page.evaluate(() => ({ reason: window.tritiumDemo.finishReason, n: window.tritiumDemo.stats.generatedTokens }));
  assert.equal(r.reason, 'aborted');
  assert.ok(r.n < 500, `stopped early (${r.n} tokens)`);
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready');
  assert.equal(await page.locator('#generate').isDisabled(), false);
  // the MoD and quantization controls are reachable with Tab and work with the keyboard
  const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
  await page.focus('#chat');
  const order = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    order.push(await focused());
  }
  assert.deepEqual(order, ['mod-on', 'mod-schedule', 'mod-mean', 'mod-max', 'mod-min', 'mod-router']);
  await page.focus('#mod-on');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#mod-on'), true);
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#mod-on'), false);
  await page.focus('#quant-method');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'quant-apply');
});

test('a bad file shows an error in the page', { timeout: 60_000 }, async () => {
  const p = await browser.context.newPage();
  const log = watchPage(p);
  await p.goto(`${server.url}?autoload=0`, { waitUntil: 'domcontentloaded' });
  await waitForState(p, ['ready'], 30_000);
  await p.setInputFiles('#model-file', {
    name: 'not-a-model.gguf',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from('this is not a GGUF file, just some text that is long enough'),
  });
  await p.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
  const text = await p.locator('#error').innerText();
  assert.match(text, /E_BAD_MAGIC/);
  assert.match(text, /not-a-model\.gguf/);
  assert.match(text, /not a GGUF file/);
  assert.match(text, /What to do: This is not a GGUF file\. Open a \.gguf file/, 'the error says what to do');
  assert.equal(await p.evaluate(() => document.body.dataset.state), 'error');
  assert.equal(await p.locator('#generate').isDisabled(), true);
  await p.screenshot({ path: join(SHOTS, 'demo-error.png'), fullPage: true });

  // a truncated real header: first 64 KiB of the model
  const { readFileSync } = await import('node:fs');
  const fd = readFileSync(MODEL).subarray(0, 65536);
  await p.setInputFiles('#model-file', { name: 'truncated.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from(fd) });
  await p.waitForFunction(() => window.tritiumDemo.error && window.tritiumDemo.error.context.includes('truncated.gguf'), null, {
    timeout: 30_000,
  });
  const code = await p.evaluate(() => window.tritiumDemo.error.code);
  assert.ok(['E_TRUNCATED', 'E_OUT_OF_BOUNDS'].includes(code), code);

  // a URL that does not exist
  await p.fill('#model-url', 'models/does-not-exist.gguf');
  await p.click('#load-url');
  await p.waitForFunction(() => window.tritiumDemo.error && window.tritiumDemo.error.code === 'E_FETCH', null, { timeout: 30_000 });
  assert.match(await p.locator('#error').innerText(), /404/);
  assert.match(await p.locator('#error').innerText(), /What to do: Check the URL/);
  assert.ok(!log.some((l) => l.startsWith('pageerror')), log.join('\n'));
  await p.close();
});

test('model cache: a reload reads the default model from Cache Storage, not the network', { timeout: 240_000 }, async () => {
  const p = await browser.context.newPage();
  const log = watchPage(p);
  const url = `${server.url}?backend=cpu&autoload=0`;
  await p.goto(url, { waitUntil: 'domcontentloaded' });
  await waitForState(p, ['ready'], 60_000);
  await p.evaluate(() => window.tritiumDemo.engine.deleteCachedModel('models/SmolLM2-135M-Instruct.Q4_1.gguf'));
  const load = async () => {
    await p.click('#load-url');
    await p.waitForFunction(() => (window.tritiumDemo.model && window.tritiumDemo.state === 'ready') || window.tritiumDemo.error, null, { timeout: 180_000 });
    return p.evaluate(() => ({ error: window.tritiumDemo.error, seconds: window.tritiumDemo.loadSeconds, fromCache: window.tritiumDemo.loadedFromCache, text: document.getElementById('progress-text').textContent }));
  };
  const n0 = modelRequests();
  const first = await load();
  assert.equal(first.error, null, `${JSON.stringify(first.error)}\n${log.join('\n')}`);
  assert.equal(first.fromCache, false);
  assert.equal(modelRequests(), n0 + 1, 'the first load downloads the model');
  const listed = await p.evaluate(async () => (await window.tritiumDemo.engine.cachedModels()).map((m) => ({ url: m.url, bytes: m.bytes })));
  const size = readFileSync(MODEL).length;
  assert.deepEqual(listed, [{ url: `${server.url}models/SmolLM2-135M-Instruct.Q4_1.gguf`, bytes: size }]);
  await p.waitForFunction(() => document.getElementById('cache-count').textContent === '1', null, { timeout: 10_000 });

  await p.reload({ waitUntil: 'domcontentloaded' });
  await waitForState(p, ['ready'], 60_000);
  const second = await load();
  assert.equal(second.error, null, JSON.stringify(second.error));
  assert.equal(second.fromCache, true);
  assert.match(second.text, /from the browser cache/);
  assert.equal(modelRequests(), n0 + 1, 'the reload did not fetch the model again');
  // the model read from the cache works
  await p.fill('#prompt', 'The capital of France is');
  await p.fill('#max-tokens', '1');
  await p.click('#generate');
  await p.waitForFunction(() => window.tritiumDemo.finishReason !== null || window.tritiumDemo.error, null, { timeout: 120_000 });
  assert.deepEqual(await p.evaluate(() => window.tritiumDemo.pieces), [' Paris']);
  // delete from the page's cache list
  await p.locator('#cache summary').click();
  await p.locator('#cache-list button').click();
  await p.waitForFunction(() => document.getElementById('cache-count').textContent === '0', null, { timeout: 10_000 });
  assert.deepEqual(await p.evaluate(() => window.tritiumDemo.engine.cachedModels()), []);
  console.log(`# default model (${(size / 1e6).toFixed(1)} MB) in headless Chromium, CPU path: first load ${first.seconds.toFixed(2)} s (network), cached load ${second.seconds.toFixed(2)} s (Cache Storage)`);
  await p.close();
});
