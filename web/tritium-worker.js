// The Web Worker behind `Engine.create()` on a page (web/tritium-remote.js starts it as a module
// worker next to itself). It runs the in-thread engine of tritium.js (`worker: false`) and answers
// the page's calls by message passing, so generation, loading, quantization and spectra never
// block the page. Protocol (every message carries the call's `id`):
//   page → worker  { id, op, args }             op: create, load, call (a model method), generate,
//                                                tinyTestModel, benchMatmul, free
//                  { op: 'abort', target: id }   abort that call (its AbortSignal) / stop a generation
//   worker → page  { id, event, data }           progress ('progress'), generation pieces ('start', 'piece')
//                  { id, ok: true, value }       the call's result (models as { handle, ... })
//                  { id, ok: false, error: { code, message } }

import { Engine } from './tritium.js';

let engine = null;
const models = new Map(); // handle → Model
const running = new Map(); // call id → AbortController or Generation
let nextHandle = 1;

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

function errorData(e) {
  return {
    code: e && typeof e.code === 'string' ? e.code : e instanceof RangeError ? 'E_OUT_OF_MEMORY' : 'E_INTERNAL',
    message: e && e.message ? e.message : String(e),
  };
}

/** What the page keeps of a model: its handle and everything its sync getters return. */
function describe(model) {
  const handle = nextHandle++;
  models.set(handle, model);
  return { handle, name: model.name, sizeBytes: model.sizeBytes, backend: model.backend, fromCache: !!model.fromCache, info: model.info() };
}

function model(handle) {
  const m = models.get(handle);
  if (!m) throw Object.assign(new Error(`no model with handle ${handle} (freed?)`), { code: 'E_FREED' });
  return m;
}

/** Typed arrays / buffers in a result are transferred, not copied. */
function transferables(v) {
  const out = new Set();
  const add = (x) => {
    if (ArrayBuffer.isView(x) && x.byteLength === x.buffer.byteLength && !(typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer)) out.add(x.buffer);
  };
  add(v);
  if (Array.isArray(v)) for (const x of v) if (Array.isArray(x)) x.forEach(add);
  return [...out];
}

const MODEL_METHODS = new Set(['tokenize', 'detokenize', 'forwardLogits', 'toGguf', 'toAutoAwq', 'spectra', 'quantize', 'compareSpectra']);

async function handle(id, op, args) {
  const withSignal = (opts, progress) => {
    const ctl = new AbortController();
    running.set(id, ctl);
    const out = { ...(opts || {}), signal: ctl.signal };
    if (progress) out.onProgress = (p) => post({ id, event: 'progress', data: p });
    return out;
  };
  switch (op) {
    case 'create': {
      engine = await Engine.create({ ...args.options, worker: false });
      return engine.capabilities();
    }
    case 'load': {
      const m = await engine.load(args.source, withSignal(args.options, args.progress));
      return describe(m);
    }
    case 'tinyTestModel':
      return engine.tinyTestModel(args.seed);
    case 'benchMatmul':
      return engine.benchMatmul(args.spec);
    case 'call': {
      const { handle: h, method } = args;
      if (!MODEL_METHODS.has(method)) throw Object.assign(new Error(`unknown model method ${method}`), { code: 'E_INVALID_ARGUMENT' });
      const m = model(h);
      if (method === 'spectra') return m.spectra(withSignal(args.args[0], args.progress));
      if (method === 'quantize') return describe(await m.quantize(args.args[0], withSignal(args.args[1], args.progress)));
      if (method === 'compareSpectra') return m.compareSpectra(model(args.args[0]), args.args[1]);
      return m[method](...args.args);
    }
    case 'generate': {
      const m = model(args.handle);
      const gen = m.generate(args.prompt, args.options);
      running.set(id, gen);
      post({ id, event: 'start', data: { promptTokenIds: gen.promptTokenIds, stats: gen.stats } });
      let sentMod = false;
      for await (const piece of gen) {
        const data = { piece, stats: gen.stats, tokenIds: gen.tokenIds };
        if (gen.mod && !sentMod) {
          data.mod = gen.mod;
          sentMod = true;
        }
        post({ id, event: 'piece', data });
      }
      return {
        text: gen.text,
        tokenIds: gen.tokenIds,
        promptTokenIds: gen.promptTokenIds,
        stats: gen.stats,
        finishReason: gen.finishReason,
        mod: gen.mod,
      };
    }
    case 'free': {
      const m = models.get(args.handle);
      if (m) {
        m.free();
        models.delete(args.handle);
      }
      return null;
    }
    default:
      throw Object.assign(new Error(`unknown operation ${op}`), { code: 'E_INVALID_ARGUMENT' });
  }
}

self.onmessage = async (ev) => {
  const { id, op, args, target } = ev.data;
  if (op === 'abort') {
    const r = running.get(target);
    if (r && typeof r.abort === 'function') r.abort();
    else if (r && typeof r.stop === 'function') r.stop();
    return;
  }
  try {
    const value = await handle(id, op, args || {});
    post({ id, ok: true, value }, transferables(value));
  } catch (e) {
    post({ id, ok: false, error: errorData(e) });
  } finally {
    running.delete(id);
  }
};
