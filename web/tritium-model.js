// Model: a loaded model (a core CoreModel, and its GPU copy when the engine has WebGPU). The
// methods that are one core call (tokenize, detokenize, forwardLogits, toGguf, toAutoAwq) are
// generated from the method table (tritium-methods.js); generate, spectra, quantize and
// compareSpectra are written out here.

import { TritiumError, abortError } from './tritium-errors.js';
import { call, callAsync, core } from './tritium-wasm.js';
import { camelize, yieldToEventLoop } from './tritium-util.js';
import { generateOptions, startGeneration } from './tritium-generation.js';
import { computeSpectra } from './tritium-spectra.js';
import { checkImplements, installCoreMethods } from './tritium-methods.js';

const MODEL_TOKEN = Symbol('Model');

/** Wrap a core model, uploading it to the GPU when the engine has one. */
export async function wrapModel(coreModel, { name, bytes, gpu, maxContext = 2048, progress = () => {} }) {
  let gpuModel = null;
  if (gpu) {
    progress('upload', bytes, bytes);
    await yieldToEventLoop();
    try {
      gpuModel = await callAsync(() => coreModel.uploadGpu(gpu, maxContext >>> 0));
    } catch (e) {
      coreModel.free();
      throw e;
    }
  }
  progress('ready', bytes, bytes);
  return new Model(MODEL_TOKEN, coreModel, { name, bytes, gpuModel, engineGpu: gpu, maxContext });
}

/** A loaded model. Generations keep the weights alive until they finish, even after free(). */
export class Model {
  #core;
  #gpu;
  #info = null;
  #name;
  #bytes;

  #engineGpu;
  #maxContext;
  #retention = null;
  /** True when `engine.load(url)` read the file from the browser's model cache. */
  fromCache = false;
  #active = null; // the generation running on this model (issue 8: one at a time)

  // tokenize(text, { addSpecial }), detokenize(ids), forwardLogits(ids), toGguf(), toAutoAwq():
  // generated from the method table (see tritium-methods.js and tritium.d.ts).
  static {
    installCoreMethods(this, 'model', { target: (self) => self.#live(), call, callAsync });
  }

  constructor(token, coreModel, { name, bytes, gpuModel, engineGpu = null, maxContext = 2048 }) {
    if (token !== MODEL_TOKEN) throw new TypeError('models come from `engine.load()`');
    this.#core = coreModel;
    this.#gpu = gpuModel || null;
    this.#name = name;
    this.#bytes = bytes;
    this.#engineGpu = engineGpu;
    this.#maxContext = maxContext;
  }

  /**
   * Quantize this model into a new one (this one is kept). `spec`: `rtn4`, `awq4`, `absmean`,
   * `absmean-group`, `ptqtp`, `tq1_0`, `tq2_0`, `q8_0`, `q4_1`, … or a recipe by tensor class,
   * e.g. `attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0`. Runs one layer per step, yielding to the
   * event loop between steps.
   * @param {string} spec
   * @param {{ onProgress?: (p: {done: number, total: number, what: string}) => void, signal?: AbortSignal,
   *           group?: number, calibText?: string, calibTokens?: number, calibBlock?: number }} [options]
   *   AWQ needs `calibText` (real text; `calibTokens` of it are used, default 1024, in blocks of
   *   `calibBlock`, default 512).
   * @returns {Promise<Model>}
   */
  async quantize(spec, options = {}) {
    const { onProgress, signal, group, calibText, calibTokens, calibBlock } = options || {};
    const m = this.#live();
    const opts = {};
    if (group !== undefined) opts.group = group >>> 0;
    if (calibText !== undefined) opts.calibText = String(calibText);
    if (calibTokens !== undefined) opts.calibTokens = calibTokens >>> 0;
    if (calibBlock !== undefined) opts.calibBlock = calibBlock >>> 0;
    const q = call(() => new core.CoreQuantizer(m, String(spec), opts));
    try {
      for (;;) {
        if (signal && signal.aborted) throw abortError(signal);
        const step = call(() => q.step());
        if (step === null || step === undefined) break;
        if (typeof onProgress === 'function') onProgress({ done: step.done, total: step.total, what: step.what });
        await yieldToEventLoop();
      }
      const coreModel = call(() => q.finish());
      const bytes = Number(coreModel.info().file_bytes) || 0;
      return wrapModel(coreModel, {
        name: `${this.#name} [${spec}]`,
        bytes,
        gpu: this.#engineGpu,
        maxContext: this.#maxContext,
      });
    } finally {
      q.free();
    }
  }

  #live() {
    if (!this.#core) throw new TritiumError('E_FREED', 'this model has been freed');
    return this.#core;
  }

  /** Where the model came from (URL or file name). */
  get name() {
    return this.#name;
  }

  /** Size of the model file in bytes. */
  get sizeBytes() {
    return this.#bytes;
  }

  get freed() {
    return this.#core === null;
  }

  /** 'webgpu' when the weights are on the GPU, else 'cpu'. */
  get backend() {
    return this.#gpu ? 'webgpu' : 'cpu';
  }

  /**
   * Architecture and hyperparameters (`config`), parameter count, tensor table, tokenizer summary
   * and GGUF metadata (an object of key → short text). Keys are camelCase.
   */
  info() {
    this.#live();
    if (!this.#info) {
      const raw = call(() => this.#live().info());
      const info = camelize(raw, new Set(['tensorTypes', 'metadata']));
      if (Array.isArray(info.metadata)) info.metadata = Object.fromEntries(info.metadata);
      this.#info = info;
    }
    return structuredClone(this.#info);
  }

  /**
   * Eigen-spectra of every linear weight (dequantized): per matrix `name`, `layer`, `kind`,
   * `shape`, `histogram` of log10 eigenvalues, power-law `alpha`, `xmin`, `D` (KS distance), `sigma`,
   * `alphaHat`, `spectralNorm`, `stableRank`, MP bulk edge and spikes (and `farms` on request),
   * in layer order, then q, k, v, o, gate, up, down.
   * `workers` (default: `navigator.hardwareConcurrency`, at most 4): that many Web Workers share
   * the matrices (this thread dequantizes them, layer by layer, and sends them over); 0, or where
   * module workers are unavailable (Node.js), everything runs here, layer by layer, yielding to
   * the event loop between layers. `onProgress({ done, total, workers })` after each finished
   * layer (`workers`: how many were used). See tritium-spectra.js.
   * @param {{farms?: boolean, layers?: number[], workers?: number,
   *          onProgress?: (p: {done: number, total: number, workers: number}) => void,
   *          signal?: AbortSignal}} [options]
   */
  async spectra(options = {}) {
    this.#live();
    return computeSpectra(() => this.#live(), this.info().config.nLayers, options);
  }

  /**
   * Quantization damage map: the spectra of this model and `other` (e.g. its quantized
   * version) matched by matrix name, with the change of alpha.
   * @returns {Promise<Array<{name: string, layer: number, kind: string, alpha: number,
   *           otherAlpha: number, deltaAlpha: number}>>}
   */
  async compareSpectra(other, options = {}) {
    const a = await this.spectra(options);
    const b = new Map((await other.spectra(options)).map((r) => [r.name, r]));
    return a
      .filter((r) => b.has(r.name))
      .map((r) => ({
        name: r.name,
        layer: r.layer,
        kind: r.kind,
        alpha: r.alpha,
        otherAlpha: b.get(r.name).alpha,
        deltaAlpha: b.get(r.name).alpha - r.alpha,
      }));
  }

  /**
   * Generate from a prompt: an async iterator of text pieces, with `stats` at the end.
   * @param {string|number[]} prompt text, or token ids (no template is applied to ids)
   * @param {{maxTokens?: number, temperature?: number, topK?: number, topP?: number,
   *          seed?: number, chat?: boolean, system?: string, signal?: AbortSignal}} [options]
   */
  generate(prompt, options = {}) {
    const opts = generateOptions(options);
    const m = this.#live();
    // --- reliability: one generation at a time per model (issue 8) ---
    if (this.#active && !this.#active.done) {
      throw new TritiumError(
        'E_BUSY',
        'a generation is already running on this model: finish it (await gen.complete()), stop it (gen.stop()) or break out of its loop first',
      );
    }
    // --- end reliability ---
    const ids = Array.isArray(prompt) || ArrayBuffer.isView(prompt) ? Uint32Array.from(prompt) : null;
    // Mixture-of-Depths (mod) runs on whichever backend the model is on: on WebGPU the routers,
    // the top-k and the gather/scatter of kept tokens stay on the GPU.
    const gpu = this.#gpu;
    const coreGen = ids
      ? call(() => (gpu ? m.generateGpuFromIds(gpu, ids, opts) : m.generateFromIds(ids, opts)))
      : call(() => (gpu ? m.generateGpu(gpu, String(prompt), opts) : m.generate(String(prompt), opts)));
    this.#retention = null;
    const gen = startGeneration(coreGen, opts, options && options.signal, (r) => {
      this.#retention = r;
    }, () => {
      // --- reliability: a model freed during this generation drops its GPU weights now ---
      if (this.#active === gen) this.#active = null;
      if (!this.#core && this.#gpu && this.#gpu.isIdle()) {
        this.#gpu.free();
        this.#gpu = null;
      }
    });
    this.#active = gen;
    return gen;
  }

  /**
   * Per-layer retention of the latest generation with `mod` options, once its prompt is in:
   * `[{ layer, modLayer, ratio, targetTokens, keptTarget, keptTokens, keptMask, kvBytes,
   * kvBytesDense, flops, flopsDense }]` (one record per layer; `keptMask` has one '0'/'1' per
   * prompt position), or null.
   */
  retention() {
    return this.#retention ? structuredClone(this.#retention.retention) : null;
  }

  /**
   * Release the model's memory. A generation in progress ends ('aborted') before its next token
   * and releases the GPU weights when its in-flight step returns; no GPU buffer outlives that.
   */
  free() {
    if (this.#active && !this.#active.done) this.#active.stop(); // --- reliability (issue 8)
    if (this.#gpu && this.#gpu.isIdle()) {
      this.#gpu.free();
      this.#gpu = null;
    }
    if (this.#core) {
      this.#core.free();
      this.#core = null;
    }
  }

  static {
    checkImplements(this, 'model', 'thread');
  }
}
