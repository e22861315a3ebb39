// The Worker-backed engine: `Engine.create()` on a page returns a RemoteEngine, which runs the
// in-thread engine (tritium-engine.js) inside a module Web Worker (tritium-worker.js) and mirrors
// its API by message passing, so the page never freezes while a model loads, generates, quantizes
// or computes spectra. The methods the worker answers are generated from the method table
// (tritium-methods.js: proxy 'worker', and how each argument crosses); the ones answered on the
// page (proxy 'page'), generate (the stream protocol) and free are written out here.
// Differences from the in-thread API (see tritium.d.ts): every method the worker answers returns
// a Promise (also tokenize, detokenize, forwardLogits, toGguf, toAutoAwq and tinyTestModel, which
// return a value there), and its errors reject it; `generate()` validates its options in the
// worker, so a bad option rejects the first `next()` instead of throwing. `info()`, `retention()`,
// `name`, `sizeBytes`, `backend` and `capabilities()` stay synchronous (kept on this side).

import { TritiumError, errorFromData } from './tritium-errors.js';
import { completeGeneration } from './tritium-generation.js';
import { absoluteUrl, deleteCached, listCached } from './tritium-cache.js';
import { checkImplements, methodsOf } from './tritium-methods.js';

const TOKEN = Symbol('remote');

/** One worker and its pending calls. */
class Channel {
  #worker;
  #calls = new Map();
  #next = 1;
  #broken = null;

  constructor() {
    this.#worker = new Worker(new URL('./tritium-worker.js', import.meta.url), { type: 'module', name: 'tritium' });
    this.#worker.onmessage = (ev) => {
      const msg = ev.data;
      const c = this.#calls.get(msg.id);
      if (!c) return;
      if (msg.event) {
        if (c.onEvent) c.onEvent(msg.event, msg.data);
        return;
      }
      this.#calls.delete(msg.id);
      if (c.cleanup) c.cleanup();
      if (msg.ok) c.resolve(msg.value);
      else c.reject(errorFromData(msg.error));
    };
    const fail = (what) => (ev) => {
      if (ev && typeof ev.preventDefault === 'function') ev.preventDefault();
      const detail = ev && ev.message ? `: ${ev.message}` : '';
      this.#broken = new TritiumError(
        'E_WORKER',
        `the tritium worker ${what}${detail}; reload the page (out of memory? close other tabs or use a smaller model)`,
      );
      for (const c of this.#calls.values()) {
        if (c.cleanup) c.cleanup();
        c.reject(this.#broken);
      }
      this.#calls.clear();
    };
    this.#worker.onerror = fail('stopped');
    this.#worker.onmessageerror = fail('sent a message that could not be read');
  }

  /**
   * Call `op`; `onEvent(event, data)` receives progress and generation events; `signal` aborts.
   * Resolves to the worker's value. `started(id)` runs once the call has its id.
   */
  call(op, args, { onEvent, signal, transfer, started } = {}) {
    return new Promise((resolve, reject) => {
      if (this.#broken) return reject(this.#broken);
      if (signal && signal.aborted) return reject(new TritiumError('E_ABORTED', 'aborted'));
      const id = this.#next++;
      let cleanup = null;
      if (signal) {
        const onAbort = () => this.abort(id);
        signal.addEventListener('abort', onAbort, { once: true });
        cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.#calls.set(id, { resolve, reject, onEvent, cleanup });
      try {
        this.#worker.postMessage({ id, op, args }, transfer || []);
      } catch (e) {
        this.#calls.delete(id);
        if (cleanup) cleanup();
        return reject(new TritiumError('E_INVALID_ARGUMENT', `${op}: could not send the arguments to the worker (${e.message})`));
      }
      if (started) started(id);
    });
  }

  abort(id) {
    if (!this.#broken) this.#worker.postMessage({ op: 'abort', target: id });
  }

  terminate() {
    this.#worker.terminate();
  }
}

/** Make a load source cloneable: URLs absolute (the worker's base is its script), Responses as Blobs. */
async function portableSource(source) {
  if (typeof source === 'string') return absoluteUrl(source);
  if (source instanceof URL) return source.href;
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new TritiumError('E_FETCH', `could not fetch ${source.url || 'response'}: HTTP ${source.status}`);
    return source.blob();
  }
  if (typeof FileList !== 'undefined' && source instanceof FileList) return Array.from(source);
  if (source && typeof source === 'object' && 'baseUrl' in source) return { baseUrl: absoluteUrl(source.baseUrl) };
  return source;
}

function splitOptions(options) {
  const { onProgress, signal, ...rest } = options || {};
  if (rest.fetchOptions) {
    const { signal: _s, ...fo } = rest.fetchOptions;
    if (fo.headers && typeof Headers !== 'undefined') fo.headers = Object.fromEntries(new Headers(fo.headers));
    rest.fetchOptions = fo;
  }
  return { onProgress: typeof onProgress === 'function' ? onProgress : null, signal: signal || null, rest };
}

const progressEvents = (onProgress) =>
  onProgress
    ? (event, data) => {
        if (event !== 'progress') return;
        try {
          onProgress(data);
        } catch (e) {
          console.error('tritium: onProgress threw', e);
        }
      }
    : undefined;

// The handle of a RemoteModel of `channel`, or null (set by RemoteModel, which owns the field).
let handleOf = () => null;

/**
 * One argument as it crosses to the worker (by its kind in the method table); 'source' gives a
 * Promise. `call` collects the progress callback, the signal and what to transfer.
 */
function encodeArg(kind, value, { method, channel, call }) {
  switch (kind) {
    case 'string':
      return String(value);
    case 'ids':
      return Array.from(value);
    case 'model': {
      const handle = handleOf(value, channel);
      if (handle === null) throw new TritiumError('E_INVALID_ARGUMENT', `${method}: other must be a model of the same engine`);
      return handle;
    }
    case 'source':
      return portableSource(value).then((src) => {
        if (typeof ReadableStream !== 'undefined' && src instanceof ReadableStream) call.transfer.push(src);
        return src;
      });
    case 'progress': {
      const { onProgress, signal, rest } = splitOptions(value);
      call.onProgress = onProgress;
      call.signal = signal;
      return rest;
    }
    case 'data': {
      const { onProgress: _p, signal: _s, ...rest } = value || {};
      return rest;
    }
    default:
      return value;
  }
}

/**
 * The proxy method of a method-table entry with proxy 'worker': it encodes the arguments, sends
 * `{ handle, method, args }` to the worker and resolves to its answer (a new RemoteModel for
 * entries that return a model). Errors, a freed model's E_FREED included, reject the Promise.
 * `reach(self)` gives `{ channel, handle }` (or throws E_FREED).
 */
function proxyMethod(entry, reach) {
  const fn = async function (...args) {
    const { channel, handle } = reach(this);
    const call = { onProgress: null, signal: null, transfer: [] };
    const encoded = entry.args.map((kind, index) => encodeArg(kind, args[index], { method: entry.name, channel, call }));
    const values = await Promise.all(encoded);
    const v = await channel.call(
      'call',
      { handle, method: entry.name, args: values, progress: !!call.onProgress },
      { onEvent: progressEvents(call.onProgress), signal: call.signal, transfer: call.transfer },
    );
    return entry.returns === 'model' ? new RemoteModel(TOKEN, channel, v) : v;
  };
  Object.defineProperty(fn, 'name', { value: entry.name });
  return fn;
}

/** Install the proxy methods of `on` on `cls.prototype`. */
function installProxyMethods(cls, on, reach) {
  for (const e of methodsOf(on)) {
    if (e.proxy !== 'worker') continue;
    Object.defineProperty(cls.prototype, e.name, { value: proxyMethod(e, reach), writable: true, configurable: true, enumerable: false });
  }
}

export class RemoteEngine {
  #channel;
  #caps;

  // load, tinyTestModel, benchMatmul, runMatmul: generated from the method table.
  static {
    installProxyMethods(this, 'engine', (self) => ({ channel: self.#channel, handle: 0 }));
  }

  constructor(token, channel, caps) {
    if (token !== TOKEN) throw new TypeError('use `await Engine.create()` to make an Engine');
    this.#channel = channel;
    this.#caps = { ...caps, worker: true };
  }

  static async create(options = {}) {
    const { worker: _w, ...rest } = options || {};
    let wasm = rest.wasm !== undefined ? await rest.wasm : undefined;
    if (typeof wasm === 'string') wasm = absoluteUrl(wasm);
    else if (wasm instanceof URL) wasm = wasm.href;
    else if (typeof Response !== 'undefined' && wasm instanceof Response) wasm = await wasm.arrayBuffer();
    if (wasm !== undefined) rest.wasm = wasm;
    if (typeof Worker !== 'function') {
      throw new TritiumError('E_BACKEND_UNAVAILABLE', 'Web Workers are not available here: use Engine.create({ worker: false })');
    }
    const channel = new Channel();
    try {
      const caps = await channel.call('create', { options: rest });
      return new RemoteEngine(TOKEN, channel, caps);
    } catch (e) {
      channel.terminate();
      throw e;
    }
  }

  get backend() {
    return this.#caps.backend;
  }

  get backendReason() {
    return this.#caps.backendReason;
  }

  get version() {
    return this.#caps.version;
  }

  capabilities() {
    return structuredClone(this.#caps);
  }

  /** The model cache is the origin's Cache Storage: read here, not in the worker. */
  async cachedModels() {
    return listCached();
  }

  async deleteCachedModel(url) {
    return deleteCached(url);
  }

  /** Stop the worker; every model of this engine is gone. */
  terminate() {
    this.#channel.terminate();
  }

  static {
    checkImplements(this, 'engine', 'proxy');
  }
}

export class RemoteModel {
  #channel;
  #handle;
  #d;
  #retention = null;
  #freed = false;

  // tokenize, detokenize, forwardLogits, toGguf, toAutoAwq, spectra, quantize, compareSpectra:
  // generated from the method table.
  static {
    handleOf = (m, channel) => (m instanceof RemoteModel && m.#channel === channel ? m.#handle : null);
    installProxyMethods(this, 'model', (self) => {
      self.#live();
      return { channel: self.#channel, handle: self.#handle };
    });
  }

  constructor(token, channel, d) {
    if (token !== TOKEN) throw new TypeError('models come from `engine.load()`');
    this.#channel = channel;
    this.#handle = d.handle;
    this.#d = d;
    this.fromCache = d.fromCache;
  }

  get name() {
    return this.#d.name;
  }

  get sizeBytes() {
    return this.#d.sizeBytes;
  }

  get backend() {
    return this.#d.backend;
  }

  get freed() {
    return this.#freed;
  }

  #live() {
    if (this.#freed) throw new TritiumError('E_FREED', 'this model has been freed');
  }

  info() {
    this.#live();
    return structuredClone(this.#d.info);
  }

  retention() {
    return this.#retention ? structuredClone(this.#retention) : null;
  }

  generate(prompt, options = {}) {
    this.#live();
    const { signal, ...rest } = options || {};
    const p = ArrayBuffer.isView(prompt) || Array.isArray(prompt) ? Array.from(prompt) : String(prompt);
    return new RemoteGeneration(TOKEN, this.#channel, this.#handle, p, rest, signal || null, (r) => {
      this.#retention = r;
    });
  }

  free() {
    if (this.#freed) return;
    this.#freed = true;
    this.#channel.call('free', { handle: this.#handle }).catch(() => {});
  }

  static {
    checkImplements(this, 'model', 'proxy');
  }
}

/** A generation in the worker: pieces arrive as events and wait in a queue for `next()`. */
export class RemoteGeneration {
  #queue = [];
  #waiting = null;
  #end = null; // { error } or { value }
  #id = null;
  #channel;
  #onRetention;

  constructor(token, channel, handle, prompt, options, signal, onRetention) {
    if (token !== TOKEN) throw new TypeError('generations come from `model.generate()`');
    this.#channel = channel;
    this.#onRetention = onRetention;
    this.text = '';
    this.promptTokenIds = [];
    this.tokenIds = [];
    this.stats = {};
    this.finishReason = null;
    this.mod = null;
    channel
      .call('generate', { handle, prompt, options }, { signal, onEvent: (e, d) => this.#event(e, d), started: (id) => (this.#id = id) })
      .then(
        (v) => {
          Object.assign(this, { tokenIds: v.tokenIds, promptTokenIds: v.promptTokenIds, stats: v.stats });
          this.#setMod(v.mod);
          this.finishReason = v.finishReason;
          this.#finish({ value: v });
        },
        (error) => {
          this.finishReason = error.code === 'E_ABORTED' ? 'aborted' : 'error';
          this.#finish({ error });
        },
      );
  }

  #setMod(mod) {
    if (mod && !this.mod) {
      this.mod = mod;
      this.#onRetention(mod.retention);
    }
  }

  #event(event, d) {
    if (event === 'start') {
      this.promptTokenIds = d.promptTokenIds;
      this.stats = d.stats;
      return;
    }
    if (event !== 'piece') return;
    this.stats = d.stats;
    this.tokenIds = d.tokenIds;
    this.#setMod(d.mod);
    this.#queue.push(d.piece);
    this.#wake();
  }

  #finish(end) {
    this.#end = end;
    this.#wake();
  }

  #wake() {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = null;
      w();
    }
  }

  get done() {
    return this.finishReason !== null;
  }

  stop() {
    if (this.#id !== null) this.#channel.abort(this.#id);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    for (;;) {
      if (this.#queue.length) {
        const piece = this.#queue.shift();
        this.text += piece;
        return { done: false, value: piece };
      }
      if (this.#end) {
        if (this.#end.error && this.finishReason === 'error') throw this.#end.error;
        if (this.#end.value) this.text = this.#end.value.text;
        return { done: true, value: undefined };
      }
      await new Promise((r) => (this.#waiting = r));
    }
  }

  async return(value) {
    if (!this.#end) {
      this.stop();
      await new Promise((r) => {
        const check = () => (this.#end ? r() : (this.#waiting = check));
        check();
      });
    }
    this.#queue.length = 0;
    return { done: true, value };
  }

  /** Run to the end: the in-thread Generation's `complete()` over this iterator. */
  complete() {
    return completeGeneration(this);
  }

  retention() {
    return this.mod ? structuredClone(this.mod.retention) : null;
  }
}
