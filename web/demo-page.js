// What every card of the demo page (index.html) shares: its elements, the page state
// (window.tritiumDemo, document.body.dataset.state), error display and number formatting.

const $ = (id) => document.getElementById(id);

/** The page's elements, by role. */
export const els = {
  backend: $('backend'),
  error: $('error'),
  loadForm: $('load-form'),
  url: $('model-url'),
  loadUrl: $('load-url'),
  file: $('model-file'),
  progress: $('progress'),
  progressText: $('progress-text'),
  info: $('info'),
  infoList: $('info-list'),
  tensorCount: $('tensor-count'),
  tensorBody: $('tensor-body'),
  genForm: $('gen-form'),
  prompt: $('prompt'),
  maxTokens: $('max-tokens'),
  temperature: $('temperature'),
  topK: $('top-k'),
  topP: $('top-p'),
  seed: $('seed'),
  chat: $('chat'),
  generate: $('generate'),
  stop: $('stop'),
  stats: $('stats'),
  outPrompt: $('out-prompt'),
  outText: $('out-text'),
  spectraRun: $('spectra-run'),
  spectraStop: $('spectra-stop'),
  spectraProgress: $('spectra-progress'),
  spectraText: $('spectra-text'),
  spectraOut: $('spectra-out'),
  spectraPlot: $('spectra-plot'),
  spectraHead: $('spectra-head'),
  spectraBody: $('spectra-body'),
  esdModel: $('esd-model'),
  esdLayer: $('esd-layer'),
  esdKind: $('esd-kind'),
  esdPlot: $('esd-plot'),
  cacheCount: $('cache-count'),
  cacheList: $('cache-list'),
  quantMethod: $('quant-method'),
  quantApply: $('quant-apply'),
  quantStop: $('quant-stop'),
  quantProgress: $('quant-progress'),
  quantText: $('quant-text'),
  quantBody: $('quant-body'),
  modOn: $('mod-on'),
  modSchedule: $('mod-schedule'),
  modMean: $('mod-mean'),
  modMax: $('mod-max'),
  modMin: $('mod-min'),
  modRouter: $('mod-router'),
  retention: $('retention'),
  retentionSummary: $('retention-summary'),
  retentionBars: $('retention-bars'),
  retentionHeatmap: $('retention-heatmap'),
  retentionBody: $('retention-body'),
};

/** The page state; window.tritiumDemo (for tests and debugging). */
export const demo = {
  state: 'starting',
  engine: null,
  model: null,
  info: null,
  pieces: [],
  stats: null,
  finishReason: null,
  error: null,
  spectra: null,
  spectraProgress: [],
  spectraSeconds: null,
  spectraByVariant: new Map(), // weights label → records
  loadSeconds: null,
  loadedFromCache: null,
  variants: new Map(), // weights spec ('source', 'rtn4', …) → { model, seconds }
  variant: 'source',
  quantProgress: [],
  mod: null, // the latest MoD report, with `tokens` (prompt token texts)
  charts: { retention: false, heatmap: false, alpha: false, esd: false },
};

/** Set the page state and enable / disable the controls for it. */
export function setState(state) {
  demo.state = state;
  document.body.dataset.state = state;
  const busy = ['loading', 'generating', 'starting', 'spectra', 'quantizing'].includes(state);
  els.loadUrl.disabled = busy;
  els.file.disabled = busy;
  els.url.disabled = busy;
  els.generate.disabled = !demo.model || busy;
  els.stop.disabled = state !== 'generating';
  els.spectraRun.disabled = !demo.model || busy;
  els.spectraStop.disabled = state !== 'spectra';
  els.quantApply.disabled = !demo.model || busy;
  els.quantMethod.disabled = !demo.model || busy;
  els.quantStop.disabled = state !== 'quantizing';
}

/** What to do about an error, by its code (shown under the message). */
function hintFor(err) {
  const code = err && err.code;
  const msg = String((err && err.message) || err).toLowerCase();
  if (err instanceof RangeError || code === 'E_OUT_OF_MEMORY' || /out of memory|memory access out of bounds|could not allocate|allocation failed/.test(msg)) {
    return 'The browser ran out of memory: close other tabs, reload the page, and use a smaller or more strongly quantized model.';
  }
  switch (code) {
    case 'E_BAD_MAGIC':
    case 'E_UNSUPPORTED_VERSION':
      return 'This is not a GGUF file. Open a .gguf file, or all files of an AutoAWQ folder (config.json, model.safetensors, tokenizer.json) at once.';
    case 'E_TRUNCATED':
    case 'E_OUT_OF_BOUNDS':
      return 'The file is incomplete or damaged: download it again and check its size.';
    case 'E_FETCH':
      return 'Check the URL and that the server is running (npm start serves models/ next to the page); run `npm run fetch-model` for the default model.';
    case 'E_UNSUPPORTED_TENSOR_TYPE':
    case 'E_UNSUPPORTED_MODEL':
      return 'This model or tensor type is not supported: use a Llama-family model in F32/F16/BF16/Q8_0/Q4_*/Q5_*/Q2_K–Q6_K/IQ4_NL/IQ4_XS/TQ1_0/TQ2_0 or AutoAWQ int4.';
    case 'E_BACKEND_UNAVAILABLE':
    case 'E_NO_ADAPTER':
      return 'WebGPU is not available in this browser: use a recent Chrome or Edge (or Firefox/Safari with WebGPU on), or open the page with ?backend=cpu for the CPU path.';
    case 'E_PANIC':
    case 'E_WORKER':
    case 'E_WASM_INIT':
      return 'Reload the page. If it happens again, try ?backend=cpu, and report the message.';
    case 'E_CHARTS':
      return 'Run `npm install` in the repository and serve the page with `npm start`.';
    case 'E_CALIBRATION':
      return 'AWQ needs calibration text: run `npm run fetch-corpus` (models/corpus/calib.txt), or pick rtn4 or PTQTP.';
    default:
      return '';
  }
}

/** Show an error (its code, message and what to do) above the cards. */
export function showError(err, context) {
  const code = err && err.code ? err.code : 'E_UNKNOWN';
  const message = err && err.message ? err.message : String(err);
  demo.error = { code, message, context };
  els.error.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = `${context}: `;
  const c = document.createElement('code');
  c.textContent = code;
  els.error.append(strong, c, document.createTextNode(` — ${message}`));
  const hint = hintFor(err);
  demo.error.hint = hint;
  if (hint) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = `What to do: ${hint}`;
    els.error.append(p);
  }
  els.error.hidden = false;
  console.error(`tritium demo: ${context}`, err);
}

export function clearError() {
  demo.error = null;
  els.error.hidden = true;
  els.error.replaceChildren();
}

export const fmtBytes = (n) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
export const fmtCount = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
export const fmtRate = (x) => (x > 0 ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');

/** A table row of text cells: `[[text, className?], …]`. */
export function tableRow(cells) {
  const tr = document.createElement('tr');
  for (const [v, cls] of cells) {
    const td = document.createElement('td');
    td.textContent = v;
    if (cls) td.className = cls;
    tr.append(td);
  }
  return tr;
}
