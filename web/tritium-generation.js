// Generation: one run of a model on a prompt, as an async iterator of text pieces. The core's
// CoreGeneration is a synchronous token stepper; Generation drives it, yielding to the event loop
// between tokens so the page stays responsive and an AbortSignal (or stop(), or `break`) can end it.
// Also here: the generate() options (defaults and checks) and the MoD / stats reports.

import { TritiumError } from './tritium-errors.js';
import { call, callAsync } from './tritium-wasm.js';
import { camel, camelize, now, yieldToEventLoop } from './tritium-util.js';

/** Default generation options (the facade's; the core's defaults agree). */
export const DEFAULT_GENERATE_OPTIONS = Object.freeze({
  maxTokens: 64,
  temperature: 0,
  topK: 40,
  topP: 0.95,
  seed: 0,
  chat: false,
});

const GENERATE_KEYS = ['maxTokens', 'temperature', 'topK', 'topP', 'seed', 'chat', 'system', 'mod'];
const MOD_KEYS = ['schedule', 'max', 'min', 'mean', 'router', 'span', 'calibText'];

/** Check `generate`'s `mod` option and copy the keys the core reads (it reports bad values). */
function modOptions(mod) {
  if (mod === undefined || mod === null || mod === false) return undefined;
  if (mod === true) return {};
  if (typeof mod !== 'object') {
    throw new TritiumError('E_INVALID_ARGUMENT', `generate: mod must be an object like { schedule: 'shiftedcos', max: 0.85, min: 0.15, mean: 0.5, router: 'auto' }, got ${typeof mod}`);
  }
  const out = {};
  for (const k of Object.keys(mod)) {
    if (!MOD_KEYS.includes(k)) throw new TritiumError('E_INVALID_ARGUMENT', `generate: unknown mod option '${k}' (known: ${MOD_KEYS.join(', ')})`);
    if (mod[k] !== undefined) out[k] = mod[k];
  }
  for (const k of ['max', 'min', 'mean']) {
    if (k in out && (typeof out[k] !== 'number' || !Number.isFinite(out[k]))) {
      throw new TritiumError('E_INVALID_ARGUMENT', `generate: mod.${k} must be a finite number, got ${out[k]}`);
    }
  }
  if ('span' in out) {
    const s = out.span;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new TritiumError('E_INVALID_ARGUMENT', `generate: mod.span must be [start, end] prompt positions, got ${JSON.stringify(s)}`);
    }
    out.span = [s[0], s[1]];
  }
  return out;
}

/** `generate`'s options, checked, with the defaults filled in: what the core reads. */
export function generateOptions(options) {
  const opts = { ...DEFAULT_GENERATE_OPTIONS };
  for (const k of GENERATE_KEYS) if (options && options[k] !== undefined) opts[k] = options[k];
  for (const k of ['maxTokens', 'topK', 'seed']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 0) {
      throw new TritiumError('E_INVALID_ARGUMENT', `generate: ${k} must be a non-negative integer, got ${opts[k]}`);
    }
  }
  for (const k of ['temperature', 'topP']) {
    if (typeof opts[k] !== 'number' || !Number.isFinite(opts[k]) || opts[k] < 0) {
      throw new TritiumError('E_INVALID_ARGUMENT', `generate: ${k} must be a non-negative number, got ${opts[k]}`);
    }
  }
  const mod = modOptions(opts.mod);
  if (mod) opts.mod = mod;
  else delete opts.mod;
  return opts;
}

const STAT_NAMES = {
  prompt_tokens: 'promptTokens',
  generated_tokens: 'generatedTokens',
  prefill_ms: 'prefillMs',
  decode_ms: 'decodeMs',
  prefill_tokens_per_s: 'prefillTokensPerSecond',
  tokens_per_s: 'tokensPerSecond',
  kv_bytes: 'kvBytes',
};

/** The core's stats → GenerationStats. */
function convertStats(raw) {
  const out = {};
  for (const [k, v] of Object.entries(raw || {})) out[STAT_NAMES[k] || camel(k)] = v;
  return out;
}

/** A core MoD report → camelCase; `keptMask` stays a string of '0'/'1' per prompt position. */
function convertRetention(raw) {
  return raw ? camelize(raw, new Set()) : null;
}

/**
 * Run a generation (this one or the Worker proxy's) to the end; resolves to
 * { text, tokenIds, promptTokenIds, stats, finishReason }.
 */
export async function completeGeneration(gen) {
  for await (const _ of gen) {
    /* drain */
  }
  return {
    text: gen.text,
    tokenIds: [...gen.tokenIds],
    promptTokenIds: [...gen.promptTokenIds],
    stats: { ...gen.stats },
    finishReason: gen.finishReason,
  };
}

const GENERATION_TOKEN = Symbol('Generation');

/**
 * A Generation over a core generation (Model.generate). `onRetention(report)` once the MoD
 * report is in; `onEnd()` once it has ended (the model then gets its GPU weights back).
 */
export function startGeneration(coreGen, opts, signal, onRetention, onEnd) {
  return new Generation(GENERATION_TOKEN, coreGen, opts, signal, onRetention, onEnd);
}

/**
 * One generation: `for await (const piece of generation)`. After the loop: `text`, `tokenIds`,
 * `promptTokenIds`, `stats` and `finishReason` ('stop' | 'length' | 'aborted' | 'error').
 * Stopping: abort the AbortSignal passed to generate(), call `stop()`, or `break` out of the loop.
 */
export class Generation {
  #core;
  #signal;
  #maxTokens;
  #started = 0;
  #stopRequested = false;
  #running = false;

  #onRetention;
  #onEnd;

  constructor(token, coreGen, opts, signal, onRetention, onEnd) {
    if (token !== GENERATION_TOKEN) throw new TypeError('generations come from `model.generate()`');
    this.#core = coreGen;
    this.#onRetention = onRetention || null;
    this.#onEnd = onEnd || null;
    /** The MoD report (spec, router, span, per-layer `retention`, KV and FLOP totals), once the prompt is in. */
    this.mod = null;
    this.#signal = signal || null;
    this.#maxTokens = opts.maxTokens;
    /** The text generated so far. */
    this.text = '';
    /** Prompt token ids (after the chat template, if any). */
    this.promptTokenIds = Array.from(coreGen.promptTokenIds());
    /** Generated token ids (including a final end-of-generation token, if any). */
    this.tokenIds = [];
    /** Timing and counts; complete once the iteration ends, updated after every token. */
    this.stats = convertStats(coreGen.stats());
    /** Why generation ended, or null while it runs. */
    this.finishReason = null;
  }

  get done() {
    return this.finishReason !== null;
  }

  /** Ask the generation to stop before its next token. */
  stop() {
    this.#stopRequested = true;
    // No step in flight: end now (and hand back the model), not at the next next().
    if (!this.#running && this.finishReason === null) this.#finish('aborted');
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    if (this.finishReason !== null) return { done: true, value: undefined };
    if (this.#running) throw new TritiumError('E_INVALID_ARGUMENT', 'generation.next() called again before the previous call finished');
    this.#running = true;
    try {
      if (!this.#started) this.#started = now();
      for (;;) {
        await yieldToEventLoop();
        if (this.#stopRequested || (this.#signal && this.#signal.aborted)) {
          this.#finish('aborted');
          return { done: true, value: undefined };
        }
        let piece;
        try {
          piece = await callAsync(() => this.#core.stepAsync());
        } catch (e) {
          this.#finish('error');
          throw e;
        }
        this.#update();
        if (this.#stopRequested) {
          // stop() or model.free() while this step ran.
          this.#finish('aborted');
          return { done: true, value: undefined };
        }
        if (piece === undefined || piece === null) {
          this.#finish(this.tokenIds.length >= this.#maxTokens ? 'length' : 'stop');
          return { done: true, value: undefined };
        }
        if (piece !== '') {
          this.text += piece;
          return { done: false, value: piece };
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Called by `break` in a for-await loop. */
  async return(value) {
    if (this.finishReason === null) this.#finish('aborted');
    return { done: true, value };
  }

  /** Run to the end; resolves to { text, tokenIds, promptTokenIds, stats, finishReason }. */
  async complete() {
    return completeGeneration(this);
  }

  #update() {
    if (!this.#core) return;
    this.tokenIds = Array.from(this.#core.tokenIds());
    this.stats = convertStats(call(() => this.#core.stats()));
    if (this.mod === null) {
      const r = convertRetention(call(() => this.#core.retention()));
      if (r) {
        this.mod = r;
        if (this.#onRetention) this.#onRetention(r);
      }
    }
  }

  /** Per-layer retention records of this generation's MoD prefill (null without `mod` options). */
  retention() {
    return this.mod ? structuredClone(this.mod.retention) : null;
  }

  #finish(reason) {
    this.finishReason = reason;
    if (this.#core) {
      try {
        this.#update();
      } catch {
        /* keep the last stats */
      }
      this.stats.wallMs = this.#started ? now() - this.#started : 0;
      this.stats.finishReason = reason;
      try {
        this.#core.release(); // hands a GPU model back for the next generation
      } catch {
        /* a step is still in flight */
      }
      try {
        this.#core.free();
      } catch {
        /* poisoned core */
      }
      this.#core = null;
    }
    if (this.#onEnd) {
      const end = this.#onEnd;
      this.#onEnd = null;
      end();
    }
  }
}
