// The Web Worker of `Model.spectra()` (web/tritium.js starts it as a module worker next to
// itself). It instantiates the wasm core from the compiled WebAssembly.Module the page sends
// (shared, not recompiled), then computes the spectrum of each matrix it is given: messages
//   { type: 'init', id, module }                                   → { id }
//   { type: 'job', id, name, layer, kind, rows, cols, data, opts }  → { id, record }
// (`data`: a transferred row-major Float32Array; `record`: the core's snake_case record), or
// { id, error: { code, message } } on failure.

import initCore, { matrixSpectrum, lastPanicMessage } from './tritium_core.js';

let ready = null;

function fail(id, e) {
  let message = e && e.message ? e.message : String(e);
  let code = e && typeof e.code === 'string' ? e.code : 'E_INTERNAL';
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    code = 'E_PANIC';
    try {
      message = `internal error in the tritium wasm core (${lastPanicMessage() || message})`;
    } catch {
      /* the instance may be unusable */
    }
  }
  self.postMessage({ id, error: { code, message } });
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  if (msg.type === 'init') {
    ready = initCore({ module_or_path: msg.module });
    try {
      await ready;
      self.postMessage({ id: msg.id });
    } catch (e) {
      fail(msg.id, { code: 'E_WASM_INIT', message: `spectra worker: could not instantiate the wasm core: ${e && e.message ? e.message : e}` });
    }
    return;
  }
  if (msg.type === 'job') {
    try {
      await ready;
      const record = matrixSpectrum(msg.name, msg.layer, msg.kind, msg.data, msg.rows, msg.cols, msg.opts);
      self.postMessage({ id: msg.id, record });
    } catch (e) {
      fail(msg.id, e);
    }
  }
};
