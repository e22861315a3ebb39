// The demo's Quantization card: quantize the loaded model in the engine (rtn4, awq4, PTQTP, a
// mixed recipe), keep each variant, and switch the weights that generation and spectra use.

import { clearError, demo, els, fmtBytes, setState, showError, tableRow } from './demo-page.js';
import { renderInfo } from './demo-model.js';

const VARIANT_LABELS = {
  source: 'source',
  rtn4: 'int4 RTN',
  awq4: 'int4 AWQ',
  ptqtp: 'ternary PTQTP',
  'attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0': 'mixed AWQ4 / PTQTP',
};

/** The label of a weights spec ('source', 'rtn4', …). */
export const variantLabel = (v) => VARIANT_LABELS[v] || v;

let quantAbort = null;

/** Free every variant (a new model is being loaded). */
export function freeVariants() {
  for (const { model } of demo.variants.values()) model.free();
  demo.variants.clear();
  demo.variant = 'source';
  demo.spectraByVariant = new Map();
  renderVariants();
}

/** A model was loaded: it is the 'source' variant, in use. */
export function useSource(model) {
  demo.variants.set('source', { model, seconds: null });
  demo.variant = 'source';
  els.quantMethod.value = 'source';
  renderVariants();
}

function renderVariants() {
  const frag = document.createDocumentFragment();
  for (const [v, { model, seconds }] of demo.variants) {
    const info = model.info();
    const tr = tableRow([
      [variantLabel(v)],
      [fmtBytes(info.fileBytes || model.sizeBytes), 'num'],
      [info.bitsPerWeight.toFixed(2), 'num'],
      [seconds === null ? '–' : `${seconds.toFixed(1)} s`, 'num'],
      [v === demo.variant ? '●' : ''],
    ]);
    tr.dataset.variant = v;
    frag.append(tr);
  }
  els.quantBody.replaceChildren(frag);
}

const AWQ_CALIB_TOKENS = 128;
let calibText = null;
async function calibrationText() {
  if (calibText) return calibText;
  const r = await fetch('models/corpus/calib.txt').catch(() => null);
  if (!r || !r.ok) {
    throw Object.assign(new Error('no calibration text at models/corpus/calib.txt'), { code: 'E_CALIBRATION' });
  }
  calibText = await r.text();
  return calibText;
}

/** Use the weights picked in the select: quantize them first when they are not there yet. */
async function applyVariant() {
  const v = els.quantMethod.value;
  if (!demo.model || demo.state !== 'ready') return;
  clearError();
  if (demo.variants.has(v)) {
    demo.variant = v;
    demo.model = demo.variants.get(v).model;
    renderInfo(demo.model);
    renderVariants();
    els.quantText.textContent = `Generating with the ${variantLabel(v)} weights.`;
    return;
  }
  const source = demo.variants.get('source').model;
  quantAbort = new AbortController();
  setState('quantizing');
  demo.quantProgress = [];
  els.quantProgress.value = 0;
  els.quantText.textContent = `Quantizing to ${variantLabel(v)}…`;
  const t0 = performance.now();
  try {
    const opts = { signal: quantAbort.signal };
    if (v.includes('awq4')) {
      // AWQ's search runs single-threaded in wasm: a small calibration set keeps it to minutes
      opts.calibText = await calibrationText();
      opts.calibTokens = AWQ_CALIB_TOKENS;
      opts.calibBlock = AWQ_CALIB_TOKENS;
    }
    const q = await source.quantize(v, {
      ...opts,
      onProgress: (p) => {
        demo.quantProgress.push(p);
        els.quantProgress.max = p.total;
        els.quantProgress.value = p.done;
        els.quantText.textContent = `Quantizing to ${variantLabel(v)}: ${p.done} of ${p.total} (${p.what}), ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    demo.variants.set(v, { model: q, seconds });
    demo.variant = v;
    demo.model = q;
    const info = q.info();
    els.quantText.textContent =
      `${variantLabel(v)}: ${fmtBytes(info.fileBytes || q.sizeBytes)}, ${info.bitsPerWeight.toFixed(2)} bits per weight, in ${seconds.toFixed(1)} s; generation now uses these weights.`;
    renderInfo(q);
    renderVariants();
  } catch (e) {
    if (e && e.code === 'E_ABORTED') els.quantText.textContent = 'Quantization stopped.';
    else {
      els.quantText.textContent = '';
      showError(e, `Quantization to ${variantLabel(v)} failed`);
    }
    els.quantMethod.value = demo.variant;
  } finally {
    quantAbort = null;
    setState('ready');
  }
}

/** Wire the card. */
export function setupQuantizeCard() {
  els.quantApply.addEventListener('click', applyVariant);
  els.quantStop.addEventListener('click', () => quantAbort && quantAbort.abort());
}
