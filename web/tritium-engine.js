// Engine: the entry point. `Engine.create()` starts the wasm core and picks a backend; on a page's
// main thread it returns the Worker-backed engine of tritium-remote.js instead (same API, by
// message passing). `engine.load()` reads a model (tritium-loading.js) and wraps it
// (tritium-model.js). tinyTestModel, benchMatmul and runMatmul are generated from the method
// table (tritium-methods.js).

import { TritiumError, abortError } from './tritium-errors.js';
import { call, callAsync, checkCore, core, loadCore } from './tritium-wasm.js';
import { deleteCached, listCached } from './tritium-cache.js';
import { describeSource, isFolderSource, loadProgress, openSource, readFolder, readModel } from './tritium-loading.js';
import { wrapModel } from './tritium-model.js';
import { checkImplements, installCoreMethods } from './tritium-methods.js';

const ENGINE_TOKEN = Symbol('Engine');

/** Engines run in a Worker by default on a page's main thread (not in Node.js, not in a worker). */
function workerByDefault() {
  return typeof Worker === 'function' && typeof window !== 'undefined' && typeof document !== 'undefined';
}

/**
 * The entry point. `Engine.create({ backend })` picks a backend: 'auto' (default: WebGPU when
 * the browser has an adapter, else the CPU path, saying why in `engine.backendReason`),
 * 'webgpu' (fails with E_NO_ADAPTER / E_BACKEND_UNAVAILABLE when it can't) or 'cpu'.
 */
export class Engine {
  #backend;
  #requested;
  #reason;
  #buildInfo;
  #webgpu;
  #gpu;
  #forceF32;

  // tinyTestModel(seed), benchMatmul(spec), runMatmul(spec): generated from the method table.
  // benchMatmul / runMatmul need the WebGPU backend; runMatmul computes `y = W · x` for `n` tokens
  // on given weights (`data`: `rows × cols` of `type` in tritium's block layout, for "AWQ4_G128"
  // per row blocks of 64 code bytes, low nibble first, f16 scale, f16 zero; `x`: `[n, cols]`) and
  // resolves to the `[n, rows]` output (used by `npm run bench:peers` to cross-check other engines).
  static {
    installCoreMethods(this, 'engine', {
      target: (self, entry) => (entry.direct.target === 'gpu' ? self.#needGpu(entry.name) : core),
      call,
      callAsync,
    });
  }

  constructor(token, fields) {
    if (token !== ENGINE_TOKEN) throw new TypeError('use `await Engine.create()` to make an Engine');
    this.#backend = fields.backend;
    this.#requested = fields.requested;
    this.#reason = fields.reason;
    this.#buildInfo = fields.buildInfo;
    this.#webgpu = fields.webgpu;
    this.#gpu = fields.gpu || null;
    this.#forceF32 = !!fields.forceF32;
  }

  #needGpu(what) {
    if (!this.#gpu) throw new TritiumError('E_BACKEND_UNAVAILABLE', `${what} needs the WebGPU backend`);
    return this.#gpu;
  }

  // --- reliability: device loss (issue 8) ---
  /**
   * The engine's WebGPU device for a new model: when the previous one was lost (driver reset,
   * `GPUDevice.destroy()`), a new device is requested, so a model can be loaded again without
   * reloading the page; if that fails the engine continues on the CPU and says why.
   */
  async #liveGpu() {
    if (!this.#gpu || !this.#gpu.isLost()) return this.#gpu;
    const lost = this.#gpu;
    this.#gpu = null;
    try {
      lost.free();
    } catch {
      /* already gone */
    }
    try {
      this.#gpu = await callAsync(() => core.CoreGpu.create(this.#forceF32));
      const caps = this.#gpu.capabilities();
      this.#reason = `WebGPU device was lost and re-created: ${caps.adapter || 'adapter'} (${caps.backend})`;
    } catch (e) {
      this.#backend = 'cpu';
      this.#reason = `the WebGPU device was lost and a new one could not be created (${e.message}): using the CPU reference path`;
    }
    return this.#gpu;
  }

  /** Test hook: destroy the engine's WebGPU device now, as a lost GPU would (no-op on the CPU). */
  loseDeviceForTesting() {
    if (this.#gpu) this.#gpu.loseDevice();
  }
  // --- end reliability ---

  /**
   * @param {{ backend?: 'auto'|'cpu'|'webgpu', forceF32?: boolean, wasm?: any }} [options]
   *   forceF32: use only the f32 / no-subgroup WebGPU paths.
   *   int8: int8 activations (MXINT8 blocks, dot4I8Packed) for quantized weights: faster matmuls,
   *   logits moved by the activations' rounding.
   *   wasm: where to get the core's .wasm (URL, Response, BufferSource or WebAssembly.Module);
   *   default: tritium_core_bg.wasm next to this module.
   */
  static async create(options = {}) {
    const { backend = 'auto', wasm, forceF32 = false, int8 = false, worker } = options || {};
    if (worker === true || (worker === undefined && workerByDefault())) {
      // The same API by message passing to a module Worker (web/tritium-remote.js).
      const { RemoteEngine } = await import('./tritium-remote.js');
      return RemoteEngine.create(options);
    }
    if (!['auto', 'cpu', 'webgpu', 'gpu'].includes(backend)) {
      throw new TritiumError('E_INVALID_ARGUMENT', `unknown backend '${backend}': use 'auto', 'webgpu' or 'cpu'`);
    }
    const webgpu = typeof navigator !== 'undefined' && !!navigator.gpu;
    const wantGpu = backend === 'webgpu' || backend === 'gpu';
    if (wantGpu && !webgpu) {
      throw new TritiumError(
        'E_BACKEND_UNAVAILABLE',
        'WebGPU is not available here (navigator.gpu is missing): use a WebGPU browser, or backend \'cpu\' or \'auto\'',
      );
    }
    await loadCore(wasm);
    const buildInfo = call(() => core.buildInfo());
    const simd = buildInfo.simd128 ? 'wasm SIMD128' : 'wasm';
    let gpu = null;
    let gpuError = null;
    if (backend !== 'cpu' && webgpu) {
      try {
        gpu = await callAsync(() => core.CoreGpu.create(!!forceF32, !!int8));
      } catch (e) {
        if (wantGpu) throw e;
        gpuError = e;
      }
    }
    let reason;
    if (gpu) {
      const caps = gpu.capabilities();
      reason = `${wantGpu ? 'WebGPU requested' : 'WebGPU available'}: ${caps.adapter || 'adapter'} (${caps.backend})`;
    } else if (backend === 'cpu') {
      reason = `CPU backend requested (${simd}, single thread)`;
    } else if (gpuError) {
      reason = `WebGPU failed to start (${gpuError.message}): using the CPU reference path (${simd}, single thread)`;
    } else {
      reason = `WebGPU is not available here (navigator.gpu is missing): using the CPU reference path (${simd}, single thread)`;
    }
    return new Engine(ENGINE_TOKEN, {
      backend: gpu ? 'webgpu' : 'cpu',
      requested: backend,
      reason,
      buildInfo,
      webgpu,
      gpu,
      forceF32,
    });
  }

  /** The backend in use: 'webgpu' or 'cpu'. */
  get backend() {
    return this.#backend;
  }

  /** Why this backend was chosen. */
  get backendReason() {
    return this.#reason;
  }

  /** The library version. */
  get version() {
    return this.#buildInfo.version;
  }

  /** What this engine and this browser offer. */
  capabilities() {
    return {
      version: this.#buildInfo.version,
      backend: this.#backend,
      requestedBackend: this.#requested,
      backendReason: this.#reason,
      backends: [...this.#buildInfo.backends],
      simd128: this.#buildInfo.simd128,
      threads: this.#buildInfo.threads,
      webgpuInBrowser: this.#webgpu,
      gpu: this.#gpu ? this.#gpu.capabilities() : null,
      worker: false,
    };
  }

  /**
   * Load a GGUF model, or an AutoAWQ / safetensors folder (see tritium-loading.js).
   * @param {string|URL|Response|Blob|File|ArrayBuffer|ArrayBufferView|ReadableStream} source
   * @param {{ onProgress?: (p: {phase: string, loaded: number, total: number|null}) => void,
   *           signal?: AbortSignal, fetchOptions?: RequestInit, maxContext?: number }} [options]
   *   maxContext: positions the GPU KV caches hold (default 2048, at most the model's).
   *   cache (default true): a URL is read from the browser's model cache (Cache Storage) when it
   *   is there, else downloaded and stored (web/tritium-cache.js); `model.fromCache` tells which.
   */
  async load(source, options = {}) {
    const { onProgress, signal, fetchOptions, maxContext = 2048, cache = true } = options || {};
    checkCore();
    if (isFolderSource(source)) {
      const progress = loadProgress(onProgress);
      const { coreModel, name, bytes } = await readFolder(source, { progress, signal, fetchOptions });
      return wrapModel(coreModel, { name, bytes, gpu: await this.#liveGpu(), maxContext, progress });
    }
    const name = describeSource(source);
    if (signal && signal.aborted) throw abortError(signal);

    // Model cache (web/tritium-cache.js): URL sources are read from / written to Cache Storage.
    const { response, cacheUrl, storing, fromCache } = await openSource(source, { name, signal, fetchOptions, cache });
    const report = loadProgress(onProgress);
    const progress = (phase, loaded, total) => report(phase, loaded, total, fromCache);
    try {
      const { coreModel, bytes } = await readModel(source, response, { name, progress, signal });
      const model = await wrapModel(coreModel, { name, bytes, gpu: await this.#liveGpu(), maxContext, progress });
      model.fromCache = fromCache;
      if (storing) await storing; // the download is complete, so this is the last write
      return model;
    } catch (e) {
      // Never keep a file that did not load (interrupted, or not a model).
      if (storing) storing.then(() => deleteCached(cacheUrl)).catch(() => {});
      else if (fromCache) await deleteCached(cacheUrl).catch(() => {});
      throw e;
    }
  }

  /** The models in the browser's model cache: `[{ url, bytes, cachedAt }]` ([] without Cache Storage). */
  async cachedModels() {
    return listCached();
  }

  /** Remove a model (its URL, as given to load()) from the cache; resolves to whether one was removed. */
  async deleteCachedModel(url) {
    return deleteCached(url);
  }

  static {
    checkImplements(this, 'engine', 'thread');
  }
}
