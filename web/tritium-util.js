// Small helpers the facade's modules share: yielding to the event loop, timing, key conversion.
// No dependencies.

/**
 * Resolve after letting the event loop run (rendering, input, abort clicks). A plain task
 * (setImmediate in Node, a MessageChannel message in browsers), not `scheduler.yield()`: its
 * prioritized continuation can starve input events, so a Stop click would wait for the end.
 */
export const yieldToEventLoop = (() => {
  if (typeof globalThis.setImmediate === 'function') {
    return () => new Promise((r) => globalThis.setImmediate(r));
  }
  if (typeof MessageChannel === 'function') {
    let channel = null;
    const waiting = [];
    return () =>
      new Promise((r) => {
        if (!channel) {
          channel = new MessageChannel();
          channel.port1.onmessage = () => {
            const next = waiting.shift();
            if (next) next();
          };
        }
        waiting.push(r);
        channel.port2.postMessage(null);
      });
  }
  return () => new Promise((r) => setTimeout(r, 0));
})();

/** Milliseconds (performance.now() where there is one). */
export function now() {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** snake_case → camelCase. */
export const camel = (k) => k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/** snake_case keys → camelCase, recursively; keys listed in `keep` keep their values as is. */
export function camelize(v, keep = new Set()) {
  if (Array.isArray(v)) return v.map((x) => camelize(x, keep));
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const nk = camel(k);
      out[nk] = keep.has(nk) ? x : camelize(x, keep);
    }
    return out;
  }
  return v;
}
