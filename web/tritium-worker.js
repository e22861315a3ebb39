// The Web Worker behind `Engine.create()` on a page (web/tritium-remote.js starts it as a module
// worker next to itself). It runs the in-thread engine (tritium-engine.js, `worker: false`) and
// answers the page's calls by message passing, so generation, loading, quantization and spectra
// never block the page. Protocol (every message carries the call's `id`):
//   page → worker  { id, op: 'create', args: { options } }        start the engine
//                  { id, op: 'call', args: { handle, method, args, progress } }
//                                              an Engine (handle 0) or Model method that the method
//                                              table (tritium-methods.js) marks proxy 'worker'; its
//                                              arguments are decoded by the table's kinds
//                  { id, op: 'generate', args: { handle, prompt, options } }
//                  { id, op: 'free', args: { handle } }
//                  { op: 'abort', target: id }   abort that call (its AbortSignal) / stop a generation
//   worker → page  { id, event, data }           progress ('progress'), generation pieces ('start', 'piece')
//                  { id, ok: true, value }       the call's result (models as { handle, ... })
//                  { id, ok: false, error: { code, message } }

import { Engine } from './tritium-engine.js';
import { errorToData } from './tritium-errors.js';
import { MODEL_KEPT_PROPERTIES, workerMethod } from './tritium-methods.js';

let engine = null;
const models = new Map(); // handle → Model
const running = new Map(); // call id → AbortController or Generation
let nextHandle = 1;

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

/** What the page keeps of a model: its handle, its kept properties and its info(). */
function describe(model) {
  const handle = nextHandle++;
  models.set(handle, model);
  const d = { handle, info: model.info() };
  for (const p of MODEL_KEPT_PROPERTIES) d[p] = model[p];
  d.fromCache = !!d.fromCache;
  return d;
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

/** A method call from the page: the method table says which methods and how to decode them. */
async function callMethod(id, { handle, method, args = [], progress }) {
  const entry = workerMethod(handle ? 'model' : 'engine', method);
  if (!entry) throw Object.assign(new Error(`unknown ${handle ? 'model' : 'engine'} method ${method}`), { code: 'E_INVALID_ARGUMENT' });
  const target = handle ? model(handle) : engine;
  const decoded = entry.args.map((kind, i) => {
    const v = args[i];
    if (kind === 'model') return model(v);
    if (kind !== 'progress') return v;
    // options: an AbortSignal for 'abort' messages, progress as events
    const ctl = new AbortController();
    running.set(id, ctl);
    const out = { ...(v || {}), signal: ctl.signal };
    if (progress) out.onProgress = (p) => post({ id, event: 'progress', data: p });
    return out;
  });
  const value = await target[method](...decoded);
  return entry.returns === 'model' ? describe(value) : value;
}

async function generate(id, { handle, prompt, options }) {
  const m = model(handle);
  const gen = m.generate(prompt, options);
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

async function handle(id, op, args) {
  switch (op) {
    case 'create': {
      engine = await Engine.create({ ...args.options, worker: false });
      return engine.capabilities();
    }
    case 'call':
      return callMethod(id, args);
    case 'generate':
      return generate(id, args);
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
    post({ id, ok: false, error: errorToData(e) });
  } finally {
    running.delete(id);
  }
};
