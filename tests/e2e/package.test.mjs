// The built npm package: `npm pack` inside pkg/, install the tarball into a scratch project, then
//   1. check the tarball's contents and package.json (exports, types, files),
//   2. import it under Node (exports resolve, Engine is exported) and run the tiny synthetic model
//      with the wasm bytes passed explicitly,
//   3. load it in headless Chromium from the scratch project's node_modules (default wasm URL next
//      to the module) and generate with the tiny model.
// Needs `npm run build` first.
//
//   node --test tests/e2e/package.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, REPO_ROOT } from '../../pkg-scripts/serve.mjs';
import { launchChromium, watchPage } from '../../pkg-scripts/chromium.mjs';

const PKG = join(REPO_ROOT, 'pkg');
let scratch;
let tarball;

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(() => {
  assert.ok(existsSync(join(PKG, 'package.json')), 'pkg/ is not built: run `npm run build`');
  scratch = mkdtempSync(join(tmpdir(), 'tritium-scratch-'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], PKG));
  tarball = join(scratch, packed[0].filename);
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }, null, 2));
  run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], scratch);
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds the package files and a complete package.json', () => {
  const files = run('tar', ['-tzf', tarball], scratch).trim().split('\n').sort();
  for (const f of ['package.json', 'README.md', 'tritium.js', 'tritium.d.ts', 'tritium-spectra-worker.js', 'tritium-worker.js', 'tritium-remote.js', 'tritium-cache.js', 'tritium_core.js', 'tritium_core.d.ts', 'tritium_core_bg.wasm']) {
    assert.ok(files.includes(`package/${f}`), `package/${f} in ${files.join(', ')}`);
  }
  const pkg = JSON.parse(readFileSync(join(scratch, 'node_modules', 'tritium', 'package.json'), 'utf8'));
  const cargo = readFileSync(join(REPO_ROOT, 'Cargo.toml'), 'utf8');
  assert.equal(pkg.name, 'tritium');
  assert.equal(pkg.version, /^version\s*=\s*"([^"]+)"/m.exec(cargo)[1]);
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.types, './tritium.d.ts');
  assert.equal(pkg.exports['.'].default, './tritium.js');
  assert.equal(pkg.exports['.'].types, './tritium.d.ts');
  assert.ok(Array.isArray(pkg.files) && pkg.files.includes('tritium_core_bg.wasm'));
  // pkg-scripts/build ships the facade by pattern: every web/tritium*.js module and the typings
  const facade = readdirSync(join(REPO_ROOT, 'web')).filter((f) => /^tritium.*\.(js|d\.ts)$/.test(f));
  assert.ok(facade.includes('tritium-methods.js') && facade.length >= 10, facade.join(', '));
  for (const f of facade) {
    assert.ok(files.includes(`package/${f}`), `web/${f} is in the tarball`);
    assert.ok(pkg.files.includes(f), `web/${f} is in package.json's files`);
  }
  // and nothing of the demo or benchmark pages
  assert.ok(!files.some((f) => /^package\/(demo|bench)/.test(f)), files.join(', '));
  const dts = readFileSync(join(scratch, 'node_modules', 'tritium', 'tritium.d.ts'), 'utf8');
  for (const name of ['class Engine', 'class Model', 'class Generation', 'class TritiumError', 'interface GenerateOptions']) {
    assert.ok(dts.includes(name), `typings declare ${name}`);
  }
});

test('node imports the installed package and runs the tiny model', () => {
  const script = `
    import { Engine, Model, Generation, TritiumError } from 'tritium';
    import { readFileSync } from 'node:fs';
    import { fileURLToPath } from 'node:url';
    const out = { exports: [typeof Engine, typeof Model, typeof Generation, typeof TritiumError] };
    const wasm = readFileSync(fileURLToPath(import.meta.resolve('tritium/tritium_core_bg.wasm')));
    const engine = await Engine.create({ wasm });
    out.backend = engine.backend;
    out.reason = engine.backendReason;
    const model = await engine.load(engine.tinyTestModel(3));
    out.info = model.info().config;
    const gen = model.generate('the theater', { maxTokens: 5, temperature: 0 });
    out.pieces = [];
    for await (const p of gen) out.pieces.push(p);
    out.tokenIds = gen.tokenIds;
    out.finishReason = gen.finishReason;
    out.stats = gen.stats;
    try { await engine.load(new Uint8Array(64)); } catch (e) {
      out.error = { isTritium: e instanceof TritiumError, isError: e instanceof Error, code: e.code, message: e.message };
    }
    try { await Engine.create({ backend: 'webgpu' }); } catch (e) { out.webgpu = e.code; }
    model.free();
    try { model.info(); } catch (e) { out.freed = e.code; }
    console.log(JSON.stringify(out));
  `;
  writeFileSync(join(scratch, 'smoke.mjs'), script);
  const out = JSON.parse(run(process.execPath, ['smoke.mjs'], scratch).trim().split('\n').pop());
  assert.deepEqual(out.exports, ['function', 'function', 'function', 'function']);
  assert.equal(out.backend, 'cpu');
  assert.match(out.reason, /CPU/);
  assert.equal(out.info.architecture, 'llama');
  assert.equal(out.info.nLayers, 2);
  assert.equal(out.tokenIds.length, 5);
  assert.equal(out.finishReason, 'length');
  assert.equal(out.stats.generatedTokens, 5);
  assert.deepEqual(
    { isTritium: out.error.isTritium, isError: out.error.isError, code: out.error.code },
    { isTritium: true, isError: true, code: 'E_BAD_MAGIC' },
  );
  assert.match(out.error.message, /GGUF/);
  assert.equal(out.webgpu, 'E_BACKEND_UNAVAILABLE');
  assert.equal(out.freed, 'E_FREED');
});

test('one generation at a time; free() during a generation ends it cleanly', () => {
  // Issue 8: a second generate() while one runs is E_BUSY; stop() with no step in flight ends at
  // once; free() mid-generation ends it ('aborted') and later calls are E_FREED.
  const script = `
    import { Engine } from 'tritium';
    import { readFileSync } from 'node:fs';
    import { fileURLToPath } from 'node:url';
    const wasm = readFileSync(fileURLToPath(import.meta.resolve('tritium/tritium_core_bg.wasm')));
    const engine = await Engine.create({ wasm });
    const model = await engine.load(engine.tinyTestModel(3));
    const out = {};
    const a = model.generate('the theater', { maxTokens: 8 });
    await a.next();
    try { model.generate('again', { maxTokens: 2 }); out.second = 'accepted'; } catch (e) { out.second = e.code; out.secondMessage = e.message; }
    a.stop();
    out.aReason = a.finishReason;
    const b = model.generate('the theater', { maxTokens: 8 });
    out.bFirst = (await b.next()).done;
    const pending = b.next();        // a step in flight
    model.free();
    const r = await pending;
    out.bAfterFree = { done: r.done, finishReason: b.finishReason, tokens: b.tokenIds.length };
    out.bNext = (await b.next()).done;
    try { model.generate('x'); } catch (e) { out.afterFree = e.code; }
    console.log(JSON.stringify(out));
  `;
  writeFileSync(join(scratch, 'busy.mjs'), script);
  const out = JSON.parse(run(process.execPath, ['busy.mjs'], scratch).trim().split('\n').pop());
  assert.equal(out.second, 'E_BUSY', JSON.stringify(out));
  assert.match(out.secondMessage, /already running/);
  assert.equal(out.aReason, 'aborted');
  assert.equal(out.bFirst, false);
  assert.deepEqual({ done: out.bAfterFree.done, finishReason: out.bAfterFree.finishReason }, { done: true, finishReason: 'aborted' });
  assert.ok(out.bAfterFree.tokens >= 1 && out.bAfterFree.tokens < 8, JSON.stringify(out));
  assert.equal(out.bNext, true);
  assert.equal(out.afterFree, 'E_FREED');
});

test('chromium loads the installed package from a scratch project', { timeout: 120_000 }, async () => {
  writeFileSync(
    join(scratch, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>scratch</title>
<script type="module">
  import { Engine } from './node_modules/tritium/tritium.js';
  try {
    const run = async (options) => {
      const engine = await Engine.create(options);
      const model = await engine.load(new Blob([await engine.tinyTestModel(3)]));
      const result = await model.generate('the theater', { maxTokens: 5, temperature: 0 }).complete();
      const caps = engine.capabilities();
      model.free();
      return { backend: engine.backend, webgpu: caps.webgpuInBrowser, worker: caps.worker, n: result.tokenIds.length, ids: result.tokenIds, finishReason: result.finishReason };
    };
    // the default: a Worker-backed engine; then the page-thread engine on the CPU path
    const inWorker = await run();
    const inPage = await run({ worker: false, backend: 'cpu' });
    const workerCpu = await run({ backend: 'cpu' });
    window.result = { ok: true, ...inWorker, inPage, workerCpu };
  } catch (e) {
    window.result = { ok: false, code: e.code, message: String(e.message || e) };
  }
</script>`,
  );
  const server = await startServer({ root: scratch, port: 0, hidden: [] });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const log = watchPage(page);
    await page.goto(server.url, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => window.result, null, { timeout: 60_000 });
    const r = await page.evaluate(() => window.result);
    assert.equal(r.ok, true, `${JSON.stringify(r)}\n${log.join('\n')}`);
    // 'auto' picks WebGPU when the browser offers it (headless Chromium here runs with
    // --enable-unsafe-webgpu, SwiftShader), else the CPU path.
    assert.equal(r.backend, r.webgpu ? 'webgpu' : 'cpu', JSON.stringify(r));
    assert.equal(r.n, 5);
    assert.equal(r.finishReason, 'length');
    // Engine.create() on a page runs the engine in a Web Worker (tritium-worker.js from the package)
    assert.equal(r.worker, true, JSON.stringify(r));
    assert.equal(r.inPage.worker, false);
    assert.equal(r.workerCpu.worker, true);
    // the same greedy tokens through the worker and in the page thread
    assert.deepEqual(r.workerCpu.ids, r.inPage.ids);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the Worker-backed engine answers every method of the method table as the in-thread one does', { timeout: 180_000 }, async () => {
  // web/tritium-methods.js drives both: call every method it sends to the worker (proxy
  // 'worker') on a page-thread engine and on a Worker-backed one (both on the CPU path), with the
  // tiny model, and compare what comes back (values, or error codes).
  writeFileSync(
    join(scratch, 'methods.html'),
    `<!doctype html><meta charset="utf-8"><title>methods</title>
<script type="module">
  import { Engine } from './node_modules/tritium/tritium.js';
  import { METHODS } from './node_modules/tritium/tritium-methods.js';
  const summary = (v) => {
    if (v instanceof Uint8Array) return { bytes: v.byteLength, head: Array.from(v.subarray(0, 16)) };
    if (v instanceof Float32Array) return { floats: v.length, head: Array.from(v.subarray(0, 8)) };
    if (v && typeof v === 'object' && typeof v.info === 'function') return { model: v.name, sizeBytes: v.sizeBytes, backend: v.backend };
    if (Array.isArray(v) && v.length && typeof v[0] === 'object') return v.map((r) => ({ name: r.name, alpha: r.alpha, deltaAlpha: r.deltaAlpha }));
    return v;
  };
  const run = async (options) => {
    const engine = await Engine.create({ backend: 'cpu', ...options });
    const tiny = await engine.tinyTestModel(3);
    const model = await engine.load(tiny);
    const other = await engine.load(tiny);
    const args = {
      'engine.load': [tiny],
      'engine.tinyTestModel': [5],
      'engine.benchMatmul': [{ type: 'Q4_1', rows: 8, cols: 32 }],
      'engine.runMatmul': [{ type: 'Q4_1', data: new Uint8Array(8), rows: 8, cols: 32, x: new Float32Array(32) }],
      'model.tokenize': ['the theater', { addSpecial: false }],
      'model.detokenize': [[116, 257, 258]],
      'model.forwardLogits': [[116, 257, 258]],
      'model.toGguf': [],
      'model.toAutoAwq': [],
      'model.spectra': [{ layers: [0], workers: 0 }],
      'model.quantize': ['q8_0'],
      'model.compareSpectra': [other, { layers: [1], workers: 0 }],
    };
    const out = {};
    for (const e of METHODS.filter((m) => m.proxy === 'worker')) {
      const key = e.on + '.' + e.name;
      if (!(key in args)) { out[key] = 'no arguments for it in this test'; continue; }
      try {
        out[key] = { ok: summary(await (e.on === 'engine' ? engine : model)[e.name](...args[key])) };
      } catch (err) {
        out[key] = { code: err.code };
      }
    }
    model.free();
    try { await model.tokenize('x'); out.freed = 'accepted'; } catch (err) { out.freed = err.code; }
    out.worker = engine.capabilities().worker;
    return out;
  };
  try {
    window.result = { ok: true, page: await run({ worker: false }), worker: await run({}) };
  } catch (e) {
    window.result = { ok: false, code: e.code, message: String(e.message || e) };
  }
</script>`,
  );
  const server = await startServer({ root: scratch, port: 0, hidden: [] });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const log = watchPage(page);
    await page.goto(`${server.url}methods.html`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => window.result, null, { timeout: 150_000 });
    const r = await page.evaluate(() => window.result);
    assert.equal(r.ok, true, `${JSON.stringify(r)}\n${log.join('\n')}`);
    assert.equal(r.page.worker, false);
    assert.equal(r.worker.worker, true);
    const { worker: _w, ...page1 } = r.page;
    const { worker: _x, ...worker1 } = r.worker;
    assert.deepEqual(worker1, page1);
    // the calls did run: values where the model allows, the documented errors elsewhere
    assert.deepEqual(r.page['model.tokenize'].ok.length > 0, true, JSON.stringify(r.page));
    assert.equal(r.page['model.detokenize'].ok, 'the theater'.slice(0, r.page['model.detokenize'].ok.length));
    assert.equal(r.page['model.quantize'].ok.model, 'bytes [q8_0]');
    assert.equal(r.page['model.compareSpectra'].ok.length, 7);
    assert.equal(r.page['engine.benchMatmul'].code, 'E_BACKEND_UNAVAILABLE');
    assert.equal(r.page['engine.runMatmul'].code, 'E_BACKEND_UNAVAILABLE');
    assert.equal(r.page.freed, 'E_FREED');
  } finally {
    await browser.close();
    await server.close();
  }
});
