// Loading: reading a model source into the wasm core, with progress reports. A GGUF file (a URL,
// read from the model cache or fetched and stored there; a Response, Blob/File, ArrayBuffer, typed
// array or ReadableStream) streams into a core ModelLoader; an AutoAWQ / safetensors folder is
// gathered file by file into a core FolderLoader. Engine.load (tritium-engine.js) puts these
// together and wraps the core model (uploading it to the GPU when the engine has one).

import { TritiumError, abortError } from './tritium-errors.js';
import { call, core } from './tritium-wasm.js';
import { yieldToEventLoop } from './tritium-util.js';
import { absoluteUrl, cacheStorage, cachedResponse, storeResponse } from './tritium-cache.js';

// Bytes handed to the core per push(): each push stages its argument in wasm memory.
const PUSH_SLICE = 8 << 20;

/** A `(phase, loaded, total)` reporter for `onProgress` (a throwing callback is logged, not fatal). */
export function loadProgress(onProgress) {
  return (phase, loaded, total, fromCache = false) => {
    if (typeof onProgress !== 'function') return;
    try {
      onProgress({ phase, loaded, total: total ?? null, fraction: total ? Math.min(1, loaded / total) : null, fromCache });
    } catch (e) {
      console.error('tritium: onProgress threw', e);
    }
  };
}

/** The model's name: a URL, a file name, or what kind of source it is. */
export function describeSource(source) {
  if (typeof source === 'string') return source;
  if (typeof URL !== 'undefined' && source instanceof URL) return source.href;
  if (typeof File !== 'undefined' && source instanceof File) return source.name;
  if (typeof Response !== 'undefined' && source instanceof Response) return source.url || 'response';
  if (typeof Blob !== 'undefined' && source instanceof Blob) return 'blob';
  return 'bytes';
}

/** Sources that are a checkpoint folder rather than one GGUF file. */
export function isFolderSource(source) {
  if (!source || typeof source !== 'object') return false;
  if (Array.isArray(source)) return true;
  if (typeof FileList !== 'undefined' && source instanceof FileList) return true;
  return 'baseUrl' in source || ('files' in source && typeof source.files === 'object');
}

/**
 * A URL source's response: from the model cache (web/tritium-cache.js) when `cache` and it is
 * there, else fetched (and, with `cache`, being stored: `storing` resolves when it is). Other
 * sources: `{ response: null }`.
 * @returns {Promise<{ response: Response|null, cacheUrl: string|null, storing: Promise<boolean>|null, fromCache: boolean }>}
 */
export async function openSource(source, { name, signal, fetchOptions, cache }) {
  const out = { response: null, cacheUrl: null, storing: null, fromCache: false };
  if (!(typeof source === 'string' || (typeof URL !== 'undefined' && source instanceof URL))) return out;
  if (cache !== false && cacheStorage()) {
    out.cacheUrl = absoluteUrl(source);
    out.response = await cachedResponse(out.cacheUrl);
    out.fromCache = out.response !== null;
  }
  if (!out.response) {
    let response;
    try {
      response = await fetch(source, { ...(fetchOptions || {}), signal });
    } catch (e) {
      if (signal && signal.aborted) throw abortError(signal);
      throw new TritiumError('E_FETCH', `could not fetch ${name}: ${e && e.message ? e.message : e}`, { cause: e });
    }
    if (!response.ok) {
      throw new TritiumError('E_FETCH', `could not fetch ${name}: HTTP ${response.status} ${response.statusText}`.trim());
    }
    out.response = response;
    if (out.cacheUrl) out.storing = storeResponse(out.cacheUrl, response);
  }
  return out;
}

/**
 * Stream one GGUF file into a core ModelLoader: from `response` (fetched or cached) or the source
 * itself. `progress(phase, loaded, total)` reports 'download' and 'parse'.
 * @returns {Promise<{ coreModel: object, bytes: number }>}
 */
export async function readModel(source, response, { name, progress, signal }) {
  if (!response && typeof Response !== 'undefined' && source instanceof Response) response = source;

  let stream = null;
  let total = null;
  let bytes = null;
  if (response) {
    const len = Number(response.headers.get('content-length'));
    const encoded = response.headers.get('content-encoding');
    total = Number.isFinite(len) && len > 0 && !encoded ? len : null;
    if (!response.body) bytes = new Uint8Array(await response.arrayBuffer());
    else stream = response.body;
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    total = source.size;
    stream = source.stream();
  } else if (source instanceof ArrayBuffer) {
    bytes = new Uint8Array(source);
  } else if (ArrayBuffer.isView(source)) {
    bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  } else if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) {
    stream = source;
  } else {
    throw new TritiumError(
      'E_INVALID_ARGUMENT',
      'load(source): source must be a URL string, URL, Response, Blob/File, ArrayBuffer, typed array or ReadableStream',
    );
  }

  let loader = call(() => new core.ModelLoader(bytes ? bytes.byteLength : total ?? undefined));
  try {
    let loaded = 0;
    progress('download', 0, bytes ? bytes.byteLength : total);
    if (bytes) {
      // In slices: each push() stages its argument in wasm memory before appending it.
      total = bytes.byteLength;
      for (let off = 0; off < total; off += PUSH_SLICE) {
        const slice = bytes.subarray(off, Math.min(total, off + PUSH_SLICE));
        call(() => loader.push(slice));
        loaded += slice.byteLength;
        progress('download', loaded, total);
      }
    } else {
      const reader = stream.getReader();
      const onAbort = () => reader.cancel(signal.reason).catch(() => {});
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      try {
        for (;;) {
          let step;
          try {
            step = await reader.read();
          } catch (e) {
            if (signal && signal.aborted) throw abortError(signal);
            throw new TritiumError('E_FETCH', `reading ${name} failed: ${e && e.message ? e.message : e}`, { cause: e });
          }
          if (signal && signal.aborted) throw abortError(signal);
          if (step.done) break;
          const chunk = step.value instanceof Uint8Array ? step.value : new Uint8Array(step.value);
          call(() => loader.push(chunk));
          loaded += chunk.byteLength;
          progress('download', loaded, total);
        }
      } finally {
        if (signal) signal.removeEventListener('abort', onAbort);
        reader.releaseLock?.();
      }
      total = loaded;
    }
    progress('parse', loaded, total);
    await yieldToEventLoop(); // let the page show "parsing" before the synchronous parse
    if (signal && signal.aborted) throw abortError(signal);
    const l = loader;
    loader = null; // finish() consumes the loader, even when it throws
    const coreModel = call(() => l.finish());
    return { coreModel, bytes: loaded };
  } finally {
    if (loader) {
      try {
        loader.free();
      } catch {
        /* already consumed */
      }
    }
  }
}

/**
 * An AutoAWQ (or plain HF safetensors) checkpoint into a core FolderLoader: an array / FileList
 * of Files, an object `{ files: { name: Blob|ArrayBuffer|Uint8Array } }`, or `{ baseUrl }`
 * (config.json, model.safetensors or model.safetensors.index.json and its shards, tokenizer.json,
 * tokenizer_config.json are fetched from it).
 * @returns {Promise<{ coreModel: object, name: string, bytes: number }>}
 */
export async function readFolder(source, { progress, signal, fetchOptions }) {
  const files = new Map();
  const bytesOf = async (v) => {
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (typeof Blob !== 'undefined' && v instanceof Blob) return new Uint8Array(await v.arrayBuffer());
    throw new TritiumError('E_INVALID_ARGUMENT', 'folder files must be Blob/File, ArrayBuffer or Uint8Array');
  };
  let loaded = 0;
  if (source && typeof source === 'object' && 'baseUrl' in source) {
    const base = String(source.baseUrl).replace(/\/?$/, '/');
    const get = async (name, optional) => {
      if (signal && signal.aborted) throw abortError(signal);
      let r;
      try {
        r = await fetch(base + name, { ...(fetchOptions || {}), signal });
      } catch (e) {
        if (signal && signal.aborted) throw abortError(signal);
        throw new TritiumError('E_FETCH', `could not fetch ${base + name}: ${e && e.message ? e.message : e}`, { cause: e });
      }
      if (!r.ok) {
        if (optional) return null;
        throw new TritiumError('E_FETCH', `could not fetch ${base + name}: HTTP ${r.status}`);
      }
      const b = new Uint8Array(await r.arrayBuffer());
      loaded += b.byteLength;
      progress('download', loaded, null);
      files.set(name, b);
      return b;
    };
    await get('config.json');
    await get('tokenizer.json');
    await get('tokenizer_config.json', true);
    await get('generation_config.json', true);
    const index = await get('model.safetensors.index.json', true);
    if (index) {
      const map = JSON.parse(new TextDecoder().decode(index)).weight_map || {};
      for (const shard of new Set(Object.values(map))) await get(shard);
    } else {
      await get('model.safetensors');
    }
  } else {
    const entries =
      source && typeof source === 'object' && 'files' in source
        ? Object.entries(source.files)
        : Array.from(source).map((f) => [f.name, f]);
    for (const [name, v] of entries) {
      if (signal && signal.aborted) throw abortError(signal);
      const b = await bytesOf(v);
      loaded += b.byteLength;
      progress('download', loaded, null);
      files.set(String(name).split('/').pop(), b);
    }
  }
  progress('parse', loaded, loaded);
  await yieldToEventLoop();
  const folder = call(() => new core.FolderLoader());
  for (const [name, b] of files) call(() => folder.addFile(name, b));
  const coreModel = call(() => folder.finish());
  const name = source && source.baseUrl ? String(source.baseUrl) : `AutoAWQ folder (${[...files.keys()].join(', ')})`;
  return { coreModel, name, bytes: loaded };
}
