// Weight spectra (Model.spectra): the eigen-spectrum of every linear weight, computed either in a
// pool of Web Workers (tritium-spectra-worker.js; this thread dequantizes the matrices, layer by
// layer, and sends them over) or, without module workers (Node.js) or with `workers: 0`, in this
// thread layer by layer, yielding to the event loop between layers.

import { TritiumError, abortError } from './tritium-errors.js';
import { call, checkCore, compiledCore } from './tritium-wasm.js';
import { camelize, yieldToEventLoop } from './tritium-util.js';

/** One Web Worker running tritium-spectra-worker.js: `run()` sends a matrix, resolves to its record. */
class SpectraWorker {
  #worker;
  #pending = new Map();
  #next = 0;
  #broken = null;

  constructor(module) {
    this.#worker = new Worker(new URL('./tritium-spectra-worker.js', import.meta.url), {
      type: 'module',
      name: 'tritium-spectra',
    });
    this.#worker.onmessage = (ev) => {
      const { id, record, error } = ev.data;
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      if (error) p.reject(new TritiumError(error.code || 'E_INTERNAL', error.message));
      else p.resolve(record);
    };
    this.#worker.onerror = (ev) => {
      if (ev && typeof ev.preventDefault === 'function') ev.preventDefault();
      this.#broken = new TritiumError('E_WORKER', `spectra worker failed: ${(ev && ev.message) || 'could not start'}`);
      for (const p of this.#pending.values()) p.reject(this.#broken);
      this.#pending.clear();
    };
    this.ready = this.#send({ type: 'init', module });
  }

  #send(msg, transfer = []) {
    return new Promise((resolve, reject) => {
      if (this.#broken) return reject(this.#broken);
      const id = this.#next++;
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** `w`: one entry of CoreModel.layerLinears (its data buffer is transferred). */
  run(w, opts) {
    const { name, layer, kind, rows, cols, data } = w;
    return this.#send({ type: 'job', name, layer, kind, rows, cols, data, opts }, [data.buffer]);
  }

  terminate() {
    this.#worker.terminate();
  }
}

/** Start `n` spectra workers; null when Web Workers (module workers) are unavailable here. */
async function startSpectraWorkers(n) {
  if (n < 1 || typeof Worker !== 'function' || typeof WebAssembly === 'undefined') return null;
  let workers = [];
  try {
    const module = await compiledCore();
    workers = Array.from({ length: n }, () => new SpectraWorker(module));
    await Promise.all(workers.map((w) => w.ready));
    return workers;
  } catch {
    for (const w of workers) w.terminate();
    return null;
  }
}

/**
 * The spectra of a core model with Model.spectra's options (see there): camelCase records in
 * layer order, then q, k, v, o, gate, up, down. `live()` returns the core model (or throws
 * E_FREED); `nLayers`: its layer count.
 */
export async function computeSpectra(live, nLayers, options = {}) {
  const { farms = false, layers, onProgress, signal } = options || {};
  const m = live();
  const list = layers ? Array.from(layers) : [...Array(nLayers).keys()];
  for (const l of list) {
    if (!Number.isInteger(l) || l < 0 || l >= nLayers) {
      throw new TritiumError('E_INVALID_ARGUMENT', `spectra: layer ${l} does not exist (the model has ${nLayers} layers, 0..${nLayers - 1})`);
    }
  }
  const hc = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
  let nWorkers = options && options.workers !== undefined ? Number(options.workers) : Math.min(hc, 4);
  if (!Number.isInteger(nWorkers) || nWorkers < 0) throw new TritiumError('E_INVALID_ARGUMENT', 'spectra: workers must be a non-negative integer');
  nWorkers = Math.min(nWorkers, list.length * 7);
  const opts = { farms: !!farms };
  if (nWorkers > 0) {
    checkCore();
    const pool = await startSpectraWorkers(nWorkers);
    if (pool) {
      try {
        return await spectraInWorkers(live(), pool, list, opts, onProgress, signal);
      } finally {
        for (const w of pool) w.terminate();
      }
    }
  }
  const out = [];
  for (let i = 0; i < list.length; i++) {
    if (signal && signal.aborted) throw abortError(signal);
    const recs = call(() => m.spectra({ ...opts, layers: [list[i] >>> 0] }));
    out.push(...camelize(recs, new Set()));
    if (onProgress) onProgress({ done: i + 1, total: list.length, workers: 0 });
    await yieldToEventLoop();
  }
  return out;
}

async function spectraInWorkers(m, pool, list, opts, onProgress, signal) {
  const results = [];
  const remaining = [];
  const queue = [];
  let nextLayer = 0;
  let done = 0;
  let stop = null;
  // Next matrix; a layer is dequantized (here) only when the queue runs dry.
  const take = () => {
    if (stop) return null;
    if (signal && signal.aborted) {
      stop = abortError(signal);
      return null;
    }
    if (!queue.length && nextLayer < list.length) {
      const i = nextLayer++;
      const ws = call(() => m.layerLinears(list[i] >>> 0));
      results[i] = new Array(ws.length);
      remaining[i] = ws.length;
      ws.forEach((w, j) => queue.push({ i, j, w }));
    }
    return queue.shift() || null;
  };
  // Two runners per worker, so each worker has the next matrix queued while it computes one.
  const runner = async (worker) => {
    for (let job = take(); job; job = take()) {
      let rec;
      try {
        rec = await worker.run(job.w, opts);
      } catch (e) {
        stop = stop || e;
        throw e;
      }
      results[job.i][job.j] = rec;
      if (--remaining[job.i] === 0) {
        done++;
        if (onProgress) onProgress({ done, total: list.length, workers: pool.length });
      }
    }
  };
  await Promise.all([...pool, ...pool].map(runner));
  if (stop) throw stop;
  return camelize(results.flat(), new Set());
}
