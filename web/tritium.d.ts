// Type definitions for tritium (the ES-module facade, tritium.js).

/** Stable error codes. Core (Rust) codes and facade codes. */
export type TritiumErrorCode =
  | 'E_TRUNCATED'
  | 'E_BAD_MAGIC'
  | 'E_UNSUPPORTED_VERSION'
  | 'E_LIMIT'
  | 'E_OUT_OF_BOUNDS'
  | 'E_OVERFLOW'
  | 'E_UNSUPPORTED_TENSOR_TYPE'
  | 'E_MALFORMED'
  | 'E_MISSING_KEY'
  | 'E_WRONG_KEY_TYPE'
  | 'E_MISSING_TENSOR'
  | 'E_BAD_TENSOR'
  | 'E_UNSUPPORTED_MODEL'
  | 'E_TOKENIZER'
  | 'E_TEMPLATE'
  | 'E_INVALID_ARGUMENT'
  | 'E_IO'
  | 'E_FETCH'
  | 'E_ABORTED'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_FREED'
  | 'E_WASM_INIT'
  | 'E_PANIC'
  | 'E_INTERNAL'
  /** The engine's Web Worker (or a spectra worker) stopped or could not start. */
  | 'E_WORKER'
  /** A Worker-backed engine: the worker ran out of memory (a RangeError there). */
  | 'E_OUT_OF_MEMORY'
  | 'E_BUSY'
  | 'E_NO_ADAPTER'
  | 'E_GPU_LOST'
  | 'E_GPU_VALIDATION'
  | 'E_GPU_OOM'
  | 'E_GPU_READBACK'
  | (string & {});

/** Every error tritium throws; `code` is stable, `message` says what is wrong and where. */
export class TritiumError extends Error {
  constructor(code: TritiumErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'TritiumError';
  readonly code: TritiumErrorCode;
}

export type BackendName = 'auto' | 'cpu' | 'webgpu';

export interface EngineOptions {
  /**
   * 'auto' (default: WebGPU when an adapter is available, else the CPU path), 'webgpu' (rejects
   * with E_BACKEND_UNAVAILABLE / E_NO_ADAPTER when it cannot start) or 'cpu'.
   */
  backend?: BackendName;
  /** Use only the f32 / no-subgroup WebGPU paths. */
  forceF32?: boolean;
  /** Int8 activations (MXINT8 blocks, dot4I8Packed) for quantized weights: faster matmuls; the
   * logits move by the activations' rounding (about +0.9% perplexity on the default model). */
  int8?: boolean;
  /**
   * Where to get the wasm core: a URL, Response, BufferSource or WebAssembly.Module (or a promise
   * of one). Default: tritium_core_bg.wasm next to tritium.js. In Node.js pass the file's bytes.
   */
  wasm?: unknown;
  /**
   * Run the engine in a module Web Worker (tritium-worker.js) and talk to it by message passing,
   * so the page never freezes. Default: true on a page's main thread, false in Node.js and inside
   * workers. `false` runs everything in this thread (tests, Node.js). With a worker, the methods
   * typed `T | Promise<T>` below return a Promise (`await` works for both), and `generate()`
   * reports a bad option from its first `next()`.
   */
  worker?: boolean;
}

export interface Capabilities {
  version: string;
  backend: 'cpu' | 'webgpu';
  requestedBackend: BackendName | 'gpu';
  backendReason: string;
  backends: string[];
  simd128: boolean;
  threads: boolean;
  /** navigator.gpu exists in this browser. */
  webgpuInBrowser: boolean;
  /** The negotiated adapter, features and limits, when the backend is WebGPU. */
  gpu: GpuCapabilities | null;
  /** The engine runs in a Web Worker (the default on a page). */
  worker: boolean;
}

export interface GpuCapabilities {
  adapter: string;
  backend: string;
  device_type: string;
  driver: string;
  shader_f16: boolean;
  subgroups: boolean;
  timestamp_query: boolean;
  forced_f32: boolean;
  /** A software adapter (SwiftShader, lavapipe, WARP): CPU-shaped matmul tiles. */
  software: boolean;
  /** WGSL packed_4x8_integer_dot_product (dot4I8Packed) is available. */
  int8_dot: boolean;
  /** Int8 activations are in use (Engine.create({ int8: true })). */
  int8: boolean;
  max_storage_buffer_binding_size: number;
  max_buffer_size: number;
  max_compute_workgroup_storage_size: number;
  max_compute_workgroups_per_dimension: number;
  max_storage_buffers_per_shader_stage: number;
}

export interface LoadProgress {
  phase: 'download' | 'parse' | 'upload' | 'ready';
  loaded: number;
  /** Total bytes when known (Content-Length, Blob size), else null. */
  total: number | null;
  /** loaded / total when the total is known, else null. */
  fraction: number | null;
  /** The bytes come from the browser's model cache (phase 'download' reads the cache). */
  fromCache: boolean;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /** Extra fetch() options when the source is a URL. */
  fetchOptions?: RequestInit;
  /** Positions the GPU KV caches hold (default 2048, at most the model's context). */
  maxContext?: number;
  /**
   * URL sources: read the file from the browser's model cache (Cache Storage, `tritium-models-v1`,
   * keyed by the absolute URL) when it is there, else download it and store it (default true).
   * A file that fails to load is never kept. Ignored where Cache Storage is missing (Node.js).
   */
  cache?: boolean;
}

/** One model in the browser's model cache. */
export interface CachedModel {
  /** Absolute URL (the cache key). */
  url: string;
  /** File size (Content-Length), or null when unknown. */
  bytes: number | null;
  cachedAt: Date | null;
}

/** The files of an AutoAWQ (or plain HF safetensors) checkpoint folder. */
export type FolderSource =
  | File[]
  | FileList
  | { files: Record<string, Blob | ArrayBuffer | Uint8Array> }
  | { baseUrl: string };

export type ModelSource =
  | FolderSource
  | string
  | URL
  | Response
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | ReadableStream<Uint8Array>;

export declare class Engine {
  private constructor();
  static create(options?: EngineOptions): Promise<Engine>;
  /** The backend in use. */
  readonly backend: 'cpu' | 'webgpu';
  /** Why this backend was chosen (the adapter, or why WebGPU was not used). */
  readonly backendReason: string;
  readonly version: string;
  capabilities(): Capabilities;
  /** Load a GGUF model (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K…Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0 tensors; Llama family). */
  /** Time one WebGPU matmul kernel on random weights (WebGPU backend only). */
  benchMatmul(spec: { type: string; rows: number; cols: number; batch?: number; iters?: number }): Promise<{
    type: string;
    rows: number;
    cols: number;
    batch: number;
    ms: number;
    bytes: number;
    gb_per_s: number;
  }>;
  /**
   * Run one WebGPU matmul kernel on given weights (WebGPU backend only): `y = W · x` for `n`
   * tokens; `data` is `rows × cols` of `type` in tritium's block layout, `x` is `[n, cols]`.
   */
  runMatmul(spec: { type: string; data: Uint8Array; rows: number; cols: number; x: Float32Array; n?: number }): Promise<Float32Array>;
  load(source: ModelSource, options?: LoadOptions): Promise<Model>;
  /** The models in the browser's model cache ([] without Cache Storage). */
  cachedModels(): Promise<CachedModel[]>;
  /** Remove a model (its URL as given to load(), or absolute) from the cache; true when one was removed. */
  deleteCachedModel(url: string): Promise<boolean>;
  /** A tiny random Llama GGUF (2 layers, byte-level vocabulary), for tests and smoke checks. */
  tinyTestModel(seed?: number): Uint8Array | Promise<Uint8Array>;
  /** Worker-backed engines only: stop the worker (every model of the engine is gone). */
  terminate?(): void;
  /** Test hook (in-thread engines): destroy the WebGPU device now, as a lost GPU would; the next load gets a new device. */
  loseDeviceForTesting?(): void;
}

export interface LlamaConfig {
  architecture: string;
  name: string | null;
  nLayers: number;
  dim: number;
  ffnDim: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ropeDim: number;
  ropeBase: number;
  rmsEps: number;
  contextLength: number;
  vocabSize: number;
  [key: string]: unknown;
}

export interface TensorRow {
  name: string;
  /** GGML type name, e.g. "Q4_1". */
  type: string;
  /** Row-major shape, outermost first. */
  shape: number[];
  bytes: number;
  /** Absolute offset of the data in the file. */
  offset: number;
}

export interface TokenizerSummary {
  model: string;
  pre: string;
  vocabSize: number;
  merges: number;
  addedTokens: number;
  bosId: number | null;
  bosText: string | null;
  eosId: number | null;
  eosText: string | null;
  addBos: boolean;
  addEos: boolean;
  eogIds: number[];
  hasChatTemplate: boolean;
  [key: string]: unknown;
}

export interface ModelInfo {
  config: LlamaConfig;
  ggufVersion: number;
  fileBytes: number;
  nParams: number;
  weightBytes: number;
  bitsPerWeight: number;
  tiedOutput: boolean;
  /** Tensor count per GGML type name. */
  tensorTypes: Record<string, number>;
  tensors: TensorRow[];
  tokenizer: TokenizerSummary;
  /** GGUF metadata (tokenizer arrays left out): key → short text. */
  metadata: Record<string, string>;
  [key: string]: unknown;
}

export interface GenerateOptions {
  /** Most tokens to generate (default 64). */
  maxTokens?: number;
  /** 0 = greedy (default 0). */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all; default 40). */
  topK?: number;
  /** Nucleus sampling mass in (0, 1] (default 0.95). */
  topP?: number;
  /** Sampling seed; the same seed gives the same text (default 0). */
  seed?: number;
  /** Wrap the prompt in the model's chat template as a user message (default false). */
  chat?: boolean;
  /** System message in chat mode. */
  system?: string;
  /**
   * Mixture-of-Depths prefill (p-MoD): prune the prompt's target tokens layer by layer.
   * Runs on the model's backend: on WebGPU the routers, the top-k and the gather/scatter of
   * kept tokens stay on the GPU.
   */
  mod?: ModOptions | boolean;
  /** Stop generating when aborted (the iteration ends; finishReason 'aborted'). */
  signal?: AbortSignal;
}

export type ModSchedule = 'shiftedcos' | 'shiftedlinear' | 'deep_all' | 'deep_all_include_last' | 'interleave' | 'dense';
/** `snapN`: the snap router over the last N queries (default 32). */
export type ModRouter = 'auto' | 'trained' | 'attn' | 'snap' | `snap${number}` | 'lsq' | 'random';

export interface ModOptions {
  /** Default 'shiftedcos' (progressive ratio decay). */
  schedule?: ModSchedule;
  /** Layers whose ratio would exceed `max` stay dense (default 0.85). */
  max?: number;
  /** Floor of the ratio (default 0.15). */
  min?: number;
  /** The decay's r̄ (default 0.5 → mean retention 0.54 over 30 layers); the fixed modes' ratio. */
  mean?: number;
  /** 'auto' (default): trained routers when the model has them, else the best training-free one. */
  router?: ModRouter;
  /** Target tokens: prompt positions [start, end). Default: all but the first and the last 4. */
  span?: [number, number];
  /** Calibration text for the 'lsq' router (a few thousand tokens of prose). */
  calibText?: string;
}

/** One layer after a MoD prefill. */
export interface LayerRetention {
  layer: number;
  modLayer: boolean;
  /** Target ratio R(l) (1 for a dense layer). */
  ratio: number;
  targetTokens: number;
  keptTarget: number;
  /** Prompt tokens the layer processed = its KV cache entries. */
  keptTokens: number;
  /** One character per prompt position: '1' processed, '0' skipped. */
  keptMask: string;
  kvBytes: number;
  kvBytesDense: number;
  /** Analytic prefill FLOPs (linears + attention). */
  flops: number;
  flopsDense: number;
}

export interface ModReport {
  spec: string;
  router: ModRouter;
  promptTokens: number;
  span: [number, number];
  meanRatio: number;
  retention: LayerRetention[];
  kvBytes: number;
  kvBytesDense: number;
  flops: number;
  flopsDense: number;
  /** Over the target span: kept KV entries / dense, and prefill FLOPs / dense. */
  targetKvRatio: number;
  targetFlopsRatio: number;
  prefillMs: number;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  /** Decode speed: generated tokens after the first, per second of decoding. */
  tokensPerSecond: number;
  kvBytes: number;
  /** KV bytes of a dense cache of the same positions. */
  kvBytesDense: number;
  /** Analytic FLOPs of the generation so far (prefill + decode), and of the dense model. */
  flops: number;
  flopsDense: number;
  /** Wall time from the first next() to the end, including event-loop yields (at the end). */
  wallMs?: number;
  finishReason?: FinishReason;
  [key: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'aborted' | 'error';

export interface GenerationResult {
  text: string;
  tokenIds: number[];
  promptTokenIds: number[];
  stats: GenerationStats;
  finishReason: FinishReason | null;
}

/** One generation: an async iterator of (non-empty) text pieces. */
export declare class Generation implements AsyncIterableIterator<string> {
  private constructor();
  /** Text generated so far. */
  text: string;
  /** Prompt token ids (after the chat template, if any). */
  promptTokenIds: number[];
  /** Generated ids (including a final end-of-generation token, if one was produced). */
  tokenIds: number[];
  /** Updated after every token; complete when the iteration ends. */
  stats: GenerationStats;
  /** Why generation ended, or null while it runs. */
  finishReason: FinishReason | null;
  readonly done: boolean;
  /** Stop before the next token. */
  stop(): void;
  next(): Promise<IteratorResult<string, undefined>>;
  return(value?: unknown): Promise<IteratorResult<string, undefined>>;
  [Symbol.asyncIterator](): Generation;
  /** Run to the end. */
  complete(): Promise<GenerationResult>;
  /** The MoD prefill's report once the prompt is in (null without `mod`). */
  mod: ModReport | null;
  /** Per-layer retention of the MoD prefill (null without `mod`). */
  retention(): LayerRetention[] | null;
}

export declare class Model {
  private constructor();
  /** URL or file name the model came from. */
  readonly name: string;
  readonly sizeBytes: number;
  readonly freed: boolean;
  /** 'webgpu' when the weights were uploaded to the GPU, else 'cpu'. */
  readonly backend: 'cpu' | 'webgpu';
  /** True when `engine.load(url)` read the file from the browser's model cache. */
  readonly fromCache: boolean;
  info(): ModelInfo;
  tokenize(text: string, options?: { addSpecial?: boolean }): number[] | Promise<number[]>;
  detokenize(ids: ArrayLike<number>): string | Promise<string>;
  /** Logits of the last position after a fresh prefill of `ids` (low level). */
  forwardLogits(ids: ArrayLike<number>): Float32Array | Promise<Float32Array>;
  /** Generate from a prompt string, or from token ids (no template applied). */
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): Generation;
  /** Per-layer retention of the latest generation with `mod` options, once its prompt is in. */
  retention(): LayerRetention[] | null;
  /** Release the model's memory (generations in progress keep it until they end). */
  /**
   * Eigen-spectra of every linear weight (see README). `workers` (default
   * `navigator.hardwareConcurrency`, at most 4) Web Workers share the matrices; 0, or without
   * module workers (Node.js), it runs in this thread layer by layer. `onProgress` after each
   * finished layer (`workers`: how many were used).
   */
  spectra(options?: {
    farms?: boolean;
    layers?: number[];
    workers?: number;
    onProgress?: (p: { done: number; total: number; workers: number }) => void;
    signal?: AbortSignal;
  }): Promise<Array<Record<string, any>>>;
  /**
   * Quantize into a new model (this one is kept): `rtn4`, `awq4`, `absmean`, `absmean-group`,
   * `ptqtp`, `tq1_0`, `tq2_0`, `q8_0`, `q4_1`, … or `attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0`.
   * AWQ needs `calibText`.
   */
  quantize(spec: string, options?: QuantizeOptions): Promise<Model>;
  /** The model as a GGUF file (tritium's documented naming for AWQ int4 and trit planes). */
  toGguf(): Uint8Array | Promise<Uint8Array>;
  /** The model as an AutoAWQ folder (every decoder linear must be AWQ int4). */
  toAutoAwq(): Array<[string, Uint8Array]> | Promise<Array<[string, Uint8Array]>>;
  /** Per-matrix change of the power-law alpha between this model and `other`. */
  compareSpectra(
    other: Model,
    options?: { farms?: boolean; layers?: number[]; workers?: number },
  ): Promise<Array<{ name: string; layer: number; kind: string; alpha: number; otherAlpha: number; deltaAlpha: number }>>;
  free(): void;
}

export interface QuantizeOptions {
  onProgress?: (p: { done: number; total: number; what: string }) => void;
  signal?: AbortSignal;
  /** 32, 64 or 128 (default: the largest dividing every quantized width). */
  group?: number;
  /** Calibration text for AWQ (use text other than what you evaluate on). */
  calibText?: string;
  /** Calibration tokens used (default 1024). */
  calibTokens?: number;
  /** Tokens per calibration block (default 512). */
  calibBlock?: number;
}

export declare const DEFAULT_GENERATE_OPTIONS: Readonly<Required<Omit<GenerateOptions, 'system' | 'signal' | 'mod'>>>;

/** Resolve after letting the event loop run. */
export declare function yieldToEventLoop(): Promise<void>;
