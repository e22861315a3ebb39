// The method table: every method of Engine and Model, listed once. It drives
//   - the in-thread classes (tritium-engine.js, tritium-model.js): the methods that are one call
//     into the wasm core (`direct`) are generated from their entry, and both classes check at
//     load time that they have every method listed for them;
//   - the Worker proxy (tritium-remote.js): every method the worker answers (`proxy: 'worker'`)
//     is generated from its entry (how each argument crosses to the worker, what comes back);
//   - the worker's dispatch (tritium-worker.js): it decodes the arguments by the same entry and
//     answers only the methods listed here;
//   - the typings check (tests/e2e/methods.test.mjs): every method here is declared in
//     tritium.d.ts, and every method tritium.d.ts declares on Engine and Model is here.
// No dependencies: the worker, the proxy and the node test import it alone.
//
// An entry:
//   name      the method's name
//   on        'engine' | 'model'
//   static    a static method (Engine.create)
//   async     in-thread it returns a Promise (through the worker every call does)
//   stream    it returns a Generation (an async iterator of text pieces)
//   core      the wasm core classes and methods it runs (tritium_core.js; null: none)
//   direct    the in-thread method is one core call, generated from here:
//               { target: 'model' (the CoreModel) | 'gpu' (the engine's CoreGpu) | 'module' (a
//                 function of tritium_core.js), method, args: (...args) => core arguments,
//                 result?: core value => returned value }
//   proxy     how a Worker-backed engine answers it:
//               'worker'  sent to the worker (`args` below), answered there by the in-thread method
//               'page'    on the page, without the worker (kept data, Cache Storage, the worker itself)
//               'stream'  the generation protocol (events 'start', 'piece'; RemoteGeneration)
//               'release' fire and forget (free)
//               'create'  starts the worker (Engine.create)
//               null      not on a Worker-backed engine
//   args      for proxy 'worker': how each argument crosses to the worker:
//               'value'    structured clone
//               'string'   String(x)
//               'ids'      token ids, as an array
//               'model'    a model of the same engine, sent as its handle
//               'source'   a model source (URLs absolute, a Response as a Blob, a stream transferred)
//               'progress' options: `onProgress` becomes progress events, `signal` aborts the call
//               'data'     options without `onProgress` and `signal`
//   returns   'model': the result is a new model (the worker sends its description)
//   thread    false: only on a Worker-backed engine (terminate)
//
// Properties (getters) are listed in ENGINE_PROPERTIES / MODEL_PROPERTIES: 'kept' ones are sent
// with the engine's capabilities or the model's description and read on the page.

const ENTRY_DEFAULTS = Object.freeze({
  static: false,
  async: false,
  stream: false,
  core: null,
  direct: null,
  proxy: 'worker',
  args: Object.freeze([]),
  returns: 'value',
  thread: true,
});

const entry = (on, name, spec) => Object.freeze({ name, on, ...ENTRY_DEFAULTS, ...spec });
const engine = (name, spec) => entry('engine', name, spec);
const model = (name, spec) => entry('model', name, spec);

const ids = (list) => [Uint32Array.from(list)];

/** Every Engine and Model method. */
export const METHODS = Object.freeze([
  // --- Engine ---
  engine('create', { static: true, async: true, core: 'init, buildInfo, CoreGpu.create', proxy: 'create' }),
  engine('capabilities', { core: 'buildInfo, CoreGpu.capabilities', proxy: 'page' }),
  engine('load', {
    async: true,
    core: 'ModelLoader.push/finish or FolderLoader.addFile/finish, CoreModel.uploadGpu',
    args: ['source', 'progress'],
    returns: 'model',
  }),
  engine('cachedModels', { async: true, proxy: 'page' }),
  engine('deleteCachedModel', { async: true, proxy: 'page' }),
  engine('tinyTestModel', {
    core: 'syntheticTinyModel',
    direct: { target: 'module', method: 'syntheticTinyModel', args: (seed = 1) => [seed >>> 0] },
    args: ['value'],
  }),
  engine('benchMatmul', {
    async: true,
    core: 'CoreGpu.benchMatmul',
    direct: {
      target: 'gpu',
      method: 'benchMatmul',
      args: ({ type, rows, cols, batch = 1, iters = 5 }) => [String(type), rows >>> 0, cols >>> 0, batch >>> 0, iters >>> 0],
    },
    args: ['value'],
  }),
  engine('runMatmul', {
    async: true,
    core: 'CoreGpu.runMatmul',
    direct: {
      target: 'gpu',
      method: 'runMatmul',
      args: ({ type, data, rows, cols, x, n = 1 }) => [String(type), data, rows >>> 0, cols >>> 0, x, n >>> 0],
    },
    args: ['value'],
  }),
  engine('loseDeviceForTesting', { core: 'CoreGpu.loseDevice', proxy: null }),
  engine('terminate', { proxy: 'page', thread: false }),

  // --- Model ---
  model('info', { core: 'CoreModel.info', proxy: 'page' }),
  model('tokenize', {
    core: 'CoreModel.encode',
    direct: {
      target: 'model',
      method: 'encode',
      args: (text, { addSpecial = true } = {}) => [String(text), !!addSpecial],
      result: (v) => Array.from(v),
    },
    args: ['value', 'value'],
  }),
  model('detokenize', { core: 'CoreModel.decode', direct: { target: 'model', method: 'decode', args: ids }, args: ['ids'] }),
  model('forwardLogits', {
    core: 'CoreModel.forwardLogits',
    direct: { target: 'model', method: 'forwardLogits', args: ids },
    args: ['ids'],
  }),
  model('generate', {
    stream: true,
    core: 'CoreModel.generate/generateFromIds/generateGpu/generateGpuFromIds, CoreGeneration.stepAsync',
    proxy: 'stream',
  }),
  model('retention', { core: 'CoreGeneration.retention', proxy: 'page' }),
  model('spectra', {
    async: true,
    core: 'CoreModel.layerLinears + matrixSpectrum (Web Workers), or CoreModel.spectra',
    args: ['progress'],
  }),
  model('quantize', { async: true, core: 'CoreQuantizer.step/finish', args: ['string', 'progress'], returns: 'model' }),
  model('toGguf', { core: 'CoreModel.toGguf', direct: { target: 'model', method: 'toGguf', args: () => [] } }),
  model('toAutoAwq', { core: 'CoreModel.toAutoAwq', direct: { target: 'model', method: 'toAutoAwq', args: () => [] } }),
  model('compareSpectra', { async: true, core: 'as spectra, on both models', args: ['model', 'data'] }),
  model('free', { core: 'CoreModel.free', proxy: 'release' }),
]);

/** Engine getters ('kept': read on the page from the engine's capabilities). */
export const ENGINE_PROPERTIES = Object.freeze(['backend', 'backendReason', 'version']);

/** Model getters; the 'kept' ones are sent with the model's description by the worker. */
export const MODEL_PROPERTIES = Object.freeze(['name', 'sizeBytes', 'freed', 'backend', 'fromCache']);
export const MODEL_KEPT_PROPERTIES = Object.freeze(['name', 'sizeBytes', 'backend', 'fromCache']);

export const ARG_KINDS = Object.freeze(['value', 'string', 'ids', 'model', 'source', 'progress', 'data']);
export const PROXY_KINDS = Object.freeze(['worker', 'page', 'stream', 'release', 'create', null]);

/** The entries of 'engine' or 'model'. */
export function methodsOf(on) {
  return METHODS.filter((m) => m.on === on);
}

/** The entry of a method the worker answers (proxy 'worker'), or undefined. */
export function workerMethod(on, name) {
  return METHODS.find((m) => m.on === on && m.name === name && m.proxy === 'worker');
}

/**
 * Install the `direct` methods of `on` ('engine' | 'model') on `cls.prototype`: each one is
 * `call(() => target(self, entry)[method](...args(...arguments)))` (callAsync for async entries).
 * `target(self, entry)` returns the core object (or throws: freed model, no GPU).
 */
export function installCoreMethods(cls, on, { target, call, callAsync }) {
  for (const e of methodsOf(on)) {
    if (!e.direct) continue;
    const { method, args, result } = e.direct;
    const fn = e.async
      ? async function (...a) {
          const v = await callAsync(() => target(this, e)[method](...args(...a)));
          return result ? result(v) : v;
        }
      : function (...a) {
          const v = call(() => target(this, e)[method](...args(...a)));
          return result ? result(v) : v;
        };
    Object.defineProperty(fn, 'name', { value: e.name });
    Object.defineProperty(cls.prototype, e.name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

/**
 * Check that `cls` has every method of `on`: the in-thread class (`side` 'thread') every entry
 * with `thread`, the proxy (`side` 'proxy') every entry with a `proxy`. Throws a TypeError naming
 * the missing ones (a programming error: the table and the class disagree).
 */
export function checkImplements(cls, on, side) {
  const missing = methodsOf(on)
    .filter((e) => (side === 'thread' ? e.thread : e.proxy !== null))
    .filter((e) => typeof (e.static ? cls : cls.prototype)[e.name] !== 'function')
    .map((e) => e.name);
  if (missing.length) {
    throw new TypeError(`tritium: ${cls.name} lacks the ${on} method(s) ${missing.join(', ')} of the method table (tritium-methods.js)`);
  }
}
