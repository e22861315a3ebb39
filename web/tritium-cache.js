// Model cache for `Engine.load(url)`: downloaded model files kept in the browser's Cache Storage
// (the `caches` global of windows and workers; same origin), so a reload does not download again.
// One cache, `tritium-models-v1`, keyed by the model's absolute URL; each entry stores the file
// with its Content-Length and an `X-Tritium-Cached-At` header (ms since the epoch).
// Best effort: where Cache Storage is missing (Node.js, an insecure origin) or a write fails (quota),
// loading works as without a cache.

export const MODEL_CACHE_NAME = 'tritium-models-v1';
const CACHED_AT = 'X-Tritium-Cached-At';

/** Cache Storage of this realm, or null (Node.js, http:// on a non-local host, …). */
export function cacheStorage() {
  try {
    return typeof globalThis.caches === 'object' && globalThis.caches && typeof globalThis.caches.open === 'function'
      ? globalThis.caches
      : null;
  } catch {
    return null; // some browsers throw on access in opaque origins
  }
}

/** The absolute URL of a model source (a string is resolved against the realm's location). */
export function absoluteUrl(source) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  return new URL(String(source), base).href;
}

/** The cached response for `url`, or null. */
export async function cachedResponse(url) {
  const storage = cacheStorage();
  if (!storage) return null;
  try {
    const cache = await storage.open(MODEL_CACHE_NAME);
    return (await cache.match(url)) || null;
  } catch {
    return null;
  }
}

/**
 * Store `response` (a fresh 200 response of `url`; its body is read through a clone, so the caller
 * keeps reading `response`) and resolve when the whole file is stored, to true, or false when it
 * could not be (quota, an interrupted download: the entry is then removed).
 */
export async function storeResponse(url, response) {
  const storage = cacheStorage();
  if (!storage || response.status !== 200 || !response.body) return false;
  const copy = response.clone(); // now, before the caller starts reading the body
  let cache;
  try {
    cache = await storage.open(MODEL_CACHE_NAME);
    const headers = new Headers();
    for (const h of ['content-type', 'content-length', 'etag', 'last-modified']) {
      const v = response.headers.get(h);
      if (v !== null) headers.set(h, v);
    }
    if (response.headers.get('content-encoding')) headers.delete('content-length');
    headers.set(CACHED_AT, String(Date.now()));
    await cache.put(url, new Response(copy.body, { status: 200, headers }));
    return true;
  } catch (e) {
    copy.body.cancel().catch(() => {});
    if (cache) await cache.delete(url).catch(() => {});
    if (typeof console !== 'undefined') console.warn(`tritium: could not cache ${url}: ${e && e.message ? e.message : e}`);
    return false;
  }
}

/** Remove `url` from the cache; resolves to true when an entry was removed. */
export async function deleteCached(url) {
  const storage = cacheStorage();
  if (!storage) return false;
  const cache = await storage.open(MODEL_CACHE_NAME);
  return cache.delete(absoluteUrl(url));
}

/** The cached models: `[{ url, bytes, cachedAt }]` (bytes null when unknown; cachedAt a Date or null). */
export async function listCached() {
  const storage = cacheStorage();
  if (!storage) return [];
  const cache = await storage.open(MODEL_CACHE_NAME);
  const out = [];
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    if (!res) continue;
    const len = Number(res.headers.get('content-length'));
    const at = Number(res.headers.get(CACHED_AT));
    out.push({ url: req.url, bytes: Number.isFinite(len) && len > 0 ? len : null, cachedAt: at > 0 ? new Date(at) : null });
  }
  return out;
}
