// bench:peers at a tiny shape (not a timing test): the one-node ONNX graph that
// pkg-scripts/peers/onnx-matmulnbits.mjs writes is accepted by onnxruntime-web and computes the
// int4 product (Node, wasm CPU execution provider, against an f64 reference), and in headless
// Chromium tritium's AWQ4_G128 kernel (`Engine.runMatmul`) and onnxruntime-web's WebGPU
// MatMulNBits agree on the same weights (`pkg-scripts/bench-peers.mjs`, its exit status and JSON).
// Needs `npm run build` and onnxruntime-web (a devDependency; or ORT_WEB_DIR=<its folder>).
//
//   node --test tests/e2e/peers.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../pkg-scripts/serve.mjs';
import { matmulNBitsModel, randomInt4, referenceRows } from '../../pkg-scripts/peers/onnx-matmulnbits.mjs';

async function ortNode() {
  // The package's `exports` hide its package.json from require.resolve, so look in node_modules.
  const dir = process.env.ORT_WEB_DIR || join(REPO_ROOT, 'node_modules', 'onnxruntime-web');
  return import(pathToFileURL(join(dir, 'dist', 'ort.node.min.mjs')).href);
}

test('the MatMulNBits graph runs in onnxruntime-web (wasm) and matches the f64 reference', async () => {
  const ort = await ortNode();
  ort.env.wasm.numThreads = 1;
  // 3 blocks per row: an odd count, so the last zero-point byte holds one nibble.
  const w = randomInt4({ rows: 40, cols: 384, batch: 3, seed: 7 });
  const session = await ort.InferenceSession.create(matmulNBitsModel(w), { executionProviders: ['wasm'] });
  const out = await session.run({ A: new ort.Tensor('float32', w.x, [3, 384]) });
  assert.deepEqual(out.Y.dims, [3, 40]);
  const ref = referenceRows(w);
  for (const [r, y] of ref) {
    for (let t = 0; t < 3; t++) {
      const got = out.Y.data[t * 40 + r];
      assert.ok(Math.abs(got - y[t]) <= 1e-4 * Math.max(1, Math.abs(y[t])), `Y[${t}][${r}] = ${got}, reference ${y[t]}`);
    }
  }
  await session.release();
  // The same weights in tritium's AWQ4_G128 layout decode to the same numbers.
  const dv = new DataView(w.awq.buffer);
  const f16 = (bits) => {
    const e = (bits >> 10) & 31;
    const m = bits & 1023;
    return (bits & 0x8000 ? -1 : 1) * (e ? (1 + m / 1024) * 2 ** (e - 15) : m * 2 ** -24);
  };
  for (let i = 0; i < 40 * 3; i++) {
    assert.equal(f16(dv.getUint16(i * 68 + 64, true)), w.scales[i], `scale of block ${i}`);
    assert.equal(f16(dv.getUint16(i * 68 + 66, true)), w.zeroCodes[i], `zero of block ${i}`);
  }
});

test('bench:peers at a tiny shape: tritium and onnxruntime-web WebGPU agree', { timeout: 240_000 }, () => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'pkg-scripts', 'bench-peers.mjs'), '--shapes', '64x384', '--batch', '1,3', '--iters', '1', '--reps', '1'],
    { encoding: 'utf8', timeout: 230_000 });
  assert.equal(r.status, 0, `bench-peers exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(j.results.length, 2);
  for (const row of j.results) {
    assert.ok(row.check.ok, `64x384 batch ${row.batch}: ${JSON.stringify(row.check)}`);
    assert.ok(row.check.maxAbsErrTritium <= 1e-3 * Math.max(1, row.check.maxAbsRef), `tritium vs f64 reference: ${JSON.stringify(row.check)}`);
    assert.ok(row.tritium.ms > 0 && row.ort.ms > 0, JSON.stringify(row));
  }
});
