// The method table (web/tritium-methods.js) against the typings (web/tritium.d.ts), and the
// module graph of web/: no browser, no build needed.
//   1. every Engine / Model method in the table is declared in tritium.d.ts, and every method
//      tritium.d.ts declares on Engine and Model is in the table, with the same shape (static,
//      optional, returns a Promise / a Generation / `T | Promise<T>`); the same for properties;
//   2. the table's entries are well formed;
//   3. there is no import cycle among web/*.js (static and dynamic imports).
//
//   node --test tests/e2e/methods.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ARG_KINDS,
  ENGINE_PROPERTIES,
  METHODS,
  MODEL_KEPT_PROPERTIES,
  MODEL_PROPERTIES,
  PROXY_KINDS,
} from '../../web/tritium-methods.js';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const DTS = readFileSync(join(WEB, 'tritium.d.ts'), 'utf8');

/** Comments out of TypeScript source (no string literal in the typings holds comment markers). */
const stripComments = (s) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');

/** The members of `class Name` / `interface Name` in `dts`: { name, kind, static, optional, type }. */
export function declaredMembers(dts, name) {
  const src = stripComments(dts);
  const head = new RegExp(`(?:^|\\n)\\s*(?:export\\s+)?(?:declare\\s+)?(?:class|interface)\\s+${name}\\b[^{]*\\{`).exec(src);
  if (!head) return null;
  // Split the body into members at ';' outside brackets.
  const members = [];
  let depth = 0;
  let cur = '';
  for (let i = head.index + head[0].length; i < src.length; i++) {
    const c = src[i];
    if (depth === 0 && c === '}') break;
    if ('({['.includes(c)) depth++;
    if (')}]'.includes(c)) depth--;
    if (depth === 0 && c === ';') {
      members.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  const out = [];
  for (const m of members) {
    const h = /^((?:(?:static|readonly|private|public|protected)\s+)*)(\[[^\]]*\]|[A-Za-z_$][\w$]*)(\??)\s*([(<:])/.exec(m);
    if (!h || h[2] === 'constructor') continue;
    const isMethod = h[4] !== ':';
    let type = '';
    if (isMethod) {
      // the return type: after the parameter list's closing parenthesis
      let d = 0;
      let i = m.indexOf('(');
      for (; i < m.length; i++) {
        if (m[i] === '(') d++;
        if (m[i] === ')' && --d === 0) break;
      }
      type = m.slice(i + 1).replace(/^\s*:\s*/, '').replace(/\s+/g, ' ').trim();
    } else {
      type = m.slice(h[0].length).replace(/\s+/g, ' ').trim();
    }
    out.push({ name: h[2], kind: isMethod ? 'method' : 'property', static: /\bstatic\b/.test(h[1]), optional: h[3] === '?', type });
  }
  return out;
}

/** Every disagreement between the method table and the typings (empty: they agree). */
export function driftReport(methods, properties, dts) {
  const problems = [];
  for (const [on, cls] of [['engine', 'Engine'], ['model', 'Model']]) {
    const declared = declaredMembers(dts, cls);
    if (!declared) {
      problems.push(`tritium.d.ts declares no class or interface ${cls}`);
      continue;
    }
    const dMethods = new Map(declared.filter((m) => m.kind === 'method').map((m) => [m.name, m]));
    const table = methods.filter((m) => m.on === on);
    for (const e of table) {
      const d = dMethods.get(e.name);
      if (!d) {
        problems.push(`${cls}.${e.name} is in the method table but not declared in tritium.d.ts`);
        continue;
      }
      if (d.static !== e.static) problems.push(`${cls}.${e.name}: static in ${e.static ? 'the table' : 'tritium.d.ts'} only`);
      // Optional in the typings ⇔ only one kind of engine has it (in-thread or Worker-backed).
      const onOneSide = e.thread === false || e.proxy === null;
      if (d.optional !== onOneSide) {
        problems.push(`${cls}.${e.name}: ${onOneSide ? 'only on one kind of engine, so tritium.d.ts must mark it optional (?)' : 'on both kinds of engine, so tritium.d.ts must not mark it optional'}`);
      }
      const promise = /^Promise</.test(d.type);
      const either = /\|\s*Promise</.test(d.type);
      if (e.stream && d.type !== 'Generation') problems.push(`${cls}.${e.name} streams: tritium.d.ts must return Generation, not ${d.type}`);
      else if (e.async && !promise) problems.push(`${cls}.${e.name} is async: tritium.d.ts must return a Promise, not ${d.type}`);
      else if (!e.async && !e.stream && e.proxy === 'worker' && !either) {
        problems.push(`${cls}.${e.name} is sync in-thread and answered by the worker: tritium.d.ts must return T | Promise<T>, not ${d.type}`);
      } else if (!e.async && !e.stream && e.proxy !== 'worker' && (promise || either)) {
        problems.push(`${cls}.${e.name} is sync on both kinds of engine: tritium.d.ts must not return a Promise (${d.type})`);
      }
    }
    for (const name of dMethods.keys()) {
      if (!table.some((e) => e.name === name)) problems.push(`${cls}.${name} is declared in tritium.d.ts but missing from the method table`);
    }
    const dProps = declared.filter((m) => m.kind === 'property').map((m) => m.name).sort();
    const tProps = [...properties[on]].sort();
    for (const p of tProps) if (!dProps.includes(p)) problems.push(`${cls}.${p} is a property in the method table but not declared in tritium.d.ts`);
    for (const p of dProps) if (!tProps.includes(p)) problems.push(`${cls}.${p} is declared in tritium.d.ts but missing from the table's properties`);
  }
  return problems;
}

const PROPERTIES = { engine: ENGINE_PROPERTIES, model: MODEL_PROPERTIES };

test('the method table and tritium.d.ts declare the same Engine and Model methods', () => {
  const problems = driftReport(METHODS, PROPERTIES, DTS);
  assert.deepEqual(problems, [], `the typings drifted from web/tritium-methods.js:\n  ${problems.join('\n  ')}`);
  // the parser sees what it should (else an empty report would prove nothing)
  const engine = declaredMembers(DTS, 'Engine').filter((m) => m.kind === 'method').map((m) => m.name);
  const model = declaredMembers(DTS, 'Model').filter((m) => m.kind === 'method').map((m) => m.name);
  assert.ok(engine.includes('create') && engine.includes('load') && engine.length >= 8, engine.join(', '));
  assert.ok(model.includes('generate') && model.includes('spectra') && model.length >= 10, model.join(', '));
});

test('the drift check catches a missing, an extra and a reshaped method', () => {
  const without = (name) => METHODS.filter((e) => e.name !== name);
  assert.match(driftReport(without('tokenize'), PROPERTIES, DTS).join('\n'), /Model\.tokenize is declared in tritium\.d\.ts but missing from the method table/);
  assert.match(driftReport(without('load'), PROPERTIES, DTS).join('\n'), /Engine\.load is declared in tritium\.d\.ts but missing/);
  const dtsWithout = DTS.replace(/\n\s*toGguf\(\)[^\n]*/, '');
  assert.notEqual(dtsWithout, DTS);
  assert.match(driftReport(METHODS, PROPERTIES, dtsWithout).join('\n'), /Model\.toGguf is in the method table but not declared in tritium\.d\.ts/);
  const syncSpectra = METHODS.map((e) => (e.name === 'spectra' ? { ...e, async: false } : e));
  assert.match(driftReport(syncSpectra, PROPERTIES, DTS).join('\n'), /Model\.spectra is sync in-thread/);
  const dtsProp = DTS.replace('readonly sizeBytes: number;', '');
  assert.match(driftReport(METHODS, PROPERTIES, dtsProp).join('\n'), /Model\.sizeBytes is a property in the method table/);
});

test('the method table is well formed', () => {
  const seen = new Set();
  for (const e of METHODS) {
    const id = `${e.on}.${e.name}`;
    assert.ok(!seen.has(id), `${id} listed twice`);
    seen.add(id);
    assert.ok(['engine', 'model'].includes(e.on), `${id}: on`);
    assert.ok(PROXY_KINDS.includes(e.proxy), `${id}: proxy ${e.proxy}`);
    for (const k of e.args) assert.ok(ARG_KINDS.includes(k), `${id}: argument kind ${k}`);
    if (e.proxy !== 'worker') assert.equal(e.args.length, 0, `${id}: args are for proxy 'worker' entries`);
    assert.ok(e.args.filter((k) => k === 'progress').length <= 1, `${id}: one progress argument at most`);
    assert.ok(!(e.async && e.stream), `${id}: async or stream, not both`);
    assert.ok(['value', 'model'].includes(e.returns), `${id}: returns ${e.returns}`);
    if (e.direct) {
      assert.ok(['model', 'gpu', 'module'].includes(e.direct.target), `${id}: direct.target`);
      assert.equal(typeof e.direct.method, 'string', `${id}: direct.method`);
      assert.equal(typeof e.direct.args, 'function', `${id}: direct.args`);
      assert.ok(e.core && e.core.includes(e.direct.method), `${id}: core names the method it calls`);
    }
    assert.ok(e.thread || e.proxy !== null, `${id}: on no kind of engine`);
  }
  for (const p of MODEL_KEPT_PROPERTIES) assert.ok(MODEL_PROPERTIES.includes(p), `kept property ${p}`);
  // direct mappings produce the core's arguments
  const tokenize = METHODS.find((e) => e.name === 'tokenize').direct;
  assert.deepEqual(tokenize.args('hi'), ['hi', true]);
  assert.deepEqual(tokenize.args(7, { addSpecial: false }), ['7', false]);
  assert.deepEqual(tokenize.result(new Uint32Array([1, 2])), [1, 2]);
  assert.deepEqual(METHODS.find((e) => e.name === 'detokenize').direct.args([3, 4]), [Uint32Array.from([3, 4])]);
  assert.deepEqual(METHODS.find((e) => e.name === 'tinyTestModel').direct.args(), [1]);
  assert.deepEqual(METHODS.find((e) => e.name === 'benchMatmul').direct.args({ type: 'Q4_1', rows: 8, cols: 32 }), ['Q4_1', 8, 32, 1, 5]);
});

/** The relative imports of each web/*.js module (static `import … from`, `export … from`, `import()`). */
function importGraph() {
  const graph = new Map();
  for (const f of readdirSync(WEB).filter((f) => f.endsWith('.js'))) {
    const src = stripComments(readFileSync(join(WEB, f), 'utf8'));
    const deps = new Set();
    for (const m of src.matchAll(/(?:\bimport|\bexport)\s[^'"`;]*?\bfrom\s*['"]\.\/([^'"]+)['"]|\bimport\s*\(\s*['"]\.\/([^'"]+)['"]\s*\)|\bimport\s*['"]\.\/([^'"]+)['"]/g)) {
      deps.add(m[1] || m[2] || m[3]);
    }
    graph.set(f, [...deps]);
  }
  return graph;
}

/** A cycle in `graph` as a list of modules, or null. */
function findCycle(graph) {
  const state = new Map(); // 1 visiting, 2 done
  const stack = [];
  const visit = (n) => {
    if (state.get(n) === 2) return null;
    if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 1);
    stack.push(n);
    for (const d of graph.get(n) || []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

test('no import cycle among web/*.js', () => {
  const graph = importGraph();
  assert.ok(graph.get('tritium.js').includes('tritium-engine.js'), `the parser reads imports: ${JSON.stringify(graph.get('tritium.js'))}`);
  assert.ok(graph.get('tritium-engine.js').includes('tritium-remote.js'), 'dynamic imports are edges too');
  const cycle = findCycle(graph);
  assert.equal(cycle, null, `import cycle: ${cycle && cycle.join(' → ')}`);
  // the check finds one when there is one
  const withCycle = new Map(graph);
  withCycle.set('tritium-remote.js', [...graph.get('tritium-remote.js'), 'tritium.js']);
  assert.ok(findCycle(withCycle), 'a cycle through tritium-remote.js → tritium.js is found');
  // the method table stands alone: the worker, the proxy and this test import it without the core
  assert.deepEqual(graph.get('tritium-methods.js'), []);
});

test('every web/*.js module is under 600 lines', () => {
  for (const f of readdirSync(WEB).filter((f) => f.endsWith('.js'))) {
    const lines = readFileSync(join(WEB, f), 'utf8').split('\n').length;
    assert.ok(lines < 600, `web/${f}: ${lines} lines`);
  }
});
