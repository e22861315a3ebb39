// The demo page's logic (index.html). Imports the built package from /pkg/, never crate/.
//
// URL parameters: ?model=URL (load another GGUF), ?autoload=0 (don't load on start),
// ?prompt=TEXT, ?backend=cpu|webgpu, ?worker=0 (run the engine in the page thread, not a Worker),
// ?cache=0 (don't use the model cache). State for tests and debugging: document.body.dataset.state
// ('starting' | 'loading' | 'ready' | 'generating' | 'spectra' | 'quantizing' | 'error') and
// window.tritiumDemo.

import { Engine } from '../pkg/tritium.js';
import { KINDS, alphaChart, esdChart, retentionBars, retentionHeatmap } from './demo-charts.js';

const $ = (id) => document.getElementById(id);
const els = {
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

const demo = {
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
window.tritiumDemo = demo;

let loadAbort = null;
let genAbort = null;
let spectraAbort = null;
let quantAbort = null;
let shownRetention = null; // the MoD report the retention card shows (kept across later generations)

function setState(state) {
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
      return 'This model or tensor type is not supported: use a Llama-family model in F32/F16/BF16/Q8_0/Q4_0/Q4_1/TQ1_0/TQ2_0 or AutoAWQ int4.';
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

function showError(err, context) {
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

function clearError() {
  demo.error = null;
  els.error.hidden = true;
  els.error.replaceChildren();
}

const fmtBytes = (n) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
const fmtCount = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
const fmtRate = (x) => (x > 0 ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');

function renderInfo(model) {
  const info = model.info();
  demo.info = info;
  const c = info.config;
  const t = info.tokenizer;
  const rows = [
    ['name', c.name || model.name],
    ['architecture', c.architecture],
    ['parameters', fmtCount(info.nParams)],
    ['file size', fmtBytes(info.fileBytes)],
    ['bits / weight', info.bitsPerWeight.toFixed(2)],
    ['tensor types', Object.entries(info.tensorTypes).map(([k, v]) => `${k}×${v}`).join(' ')],
    ['layers', c.nLayers],
    ['hidden / FFN', `${c.dim} / ${c.ffnDim}`],
    ['heads (q / kv)', `${c.nHeads} / ${c.nKvHeads} × ${c.headDim}`],
    ['RoPE base', c.ropeBase],
    ['context', c.contextLength],
    ['vocabulary', `${c.vocabSize} (${t.pre}, ${t.merges} merges)`],
    ['chat template', t.hasChatTemplate ? 'yes' : 'no (ChatML)'],
    ['output', info.tiedOutput ? 'tied to embeddings' : 'separate'],
  ];
  els.infoList.replaceChildren(
    ...rows.map(([k, v]) => {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = String(v);
      div.append(dt, dd);
      return div;
    }),
  );
  els.tensorCount.textContent = String(info.tensors.length);
  const frag = document.createDocumentFragment();
  for (const row of info.tensors) {
    const tr = document.createElement('tr');
    for (const [v, cls] of [[row.name], [row.type], [row.shape.join(' × ')], [row.bytes.toLocaleString('en-US'), 'num']]) {
      const td = document.createElement('td');
      td.textContent = v;
      if (cls) td.className = cls;
      tr.append(td);
    }
    frag.append(tr);
  }
  els.tensorBody.replaceChildren(frag);
  els.info.hidden = false;
}

async function loadModel(source, label) {
  if (!demo.engine) return;
  clearError();
  if (loadAbort) loadAbort.abort();
  loadAbort = new AbortController();
  const signal = loadAbort.signal;
  freeVariants();
  demo.model = null;
  demo.loadSeconds = null;
  demo.loadedFromCache = null;
  els.info.hidden = true;
  setState('loading');
  els.progress.value = 0;
  els.progress.removeAttribute('max');
  els.progressText.textContent = `Loading ${label}…`;
  const t0 = performance.now();
  let frame = 0;
  try {
    const model = await demo.engine.load(source, {
      signal,
      cache: demo.useCache,
      onProgress: ({ phase, loaded, total, fromCache }) => {
        if (frame) return; // update at most once per animation frame
        frame = requestAnimationFrame(() => {
          frame = 0;
          if (phase === 'download') {
            const verb = fromCache ? 'Reading from the cache' : 'Downloading';
            if (total) {
              els.progress.max = 1;
              els.progress.value = loaded / total;
              els.progressText.textContent = `${verb} ${label}: ${fmtBytes(loaded)} of ${fmtBytes(total)}`;
            } else {
              els.progressText.textContent = `${verb} ${label}: ${fmtBytes(loaded)}`;
            }
          } else if (phase === 'parse') {
            els.progress.max = 1;
            els.progress.value = 1;
            els.progressText.textContent = `Parsing ${label} (${fmtBytes(loaded)})…`;
          } else if (phase === 'upload') {
            els.progressText.textContent = `Uploading ${label} to the GPU…`;
          }
        });
      },
    });
    if (frame) cancelAnimationFrame(frame);
    demo.model = model;
    demo.loadSeconds = (performance.now() - t0) / 1000;
    demo.loadedFromCache = !!model.fromCache;
    demo.variants.set('source', { model, seconds: null });
    demo.variant = 'source';
    els.quantMethod.value = 'source';
    els.progress.max = 1;
    els.progress.value = 1;
    els.progressText.textContent =
      `Loaded ${label} (${fmtBytes(model.sizeBytes)}) ${model.fromCache ? 'from the browser cache ' : ''}in ${demo.loadSeconds.toFixed(1)} s (${model.backend}).`;
    renderInfo(model);
    renderVariants();
    refreshCacheList();
    setState('ready');
  } catch (e) {
    if (frame) cancelAnimationFrame(frame);
    els.progress.max = 1;
    els.progress.value = 0;
    els.progressText.textContent = 'No model loaded.';
    showError(e, `Could not load ${label}`);
    setState('error');
  }
}

function readOptions() {
  const num = (el, fallback) => {
    const v = Number(el.value);
    return el.value !== '' && Number.isFinite(v) ? v : fallback;
  };
  return {
    maxTokens: Math.max(1, Math.floor(num(els.maxTokens, 32))),
    temperature: Math.max(0, num(els.temperature, 0)),
    topK: Math.max(0, Math.floor(num(els.topK, 40))),
    topP: Math.min(1, Math.max(0.01, num(els.topP, 0.95))),
    seed: Math.max(0, Math.floor(num(els.seed, 0))),
    chat: els.chat.checked,
    mod: els.modOn.checked
      ? {
          schedule: els.modSchedule.value,
          mean: num(els.modMean, 0.5),
          max: num(els.modMax, 0.85),
          min: num(els.modMin, 0.15),
          router: els.modRouter.value,
        }
      : undefined,
  };
}

async function generate() {
  if (!demo.model || demo.state === 'generating') return;
  clearError();
  genAbort = new AbortController();
  const prompt = els.prompt.value;
  const opts = readOptions();
  demo.pieces = [];
  demo.stats = null;
  demo.finishReason = null;
  demo.mod = null;
  els.outPrompt.textContent = opts.chat ? '' : prompt;
  els.outText.textContent = '';
  els.stats.textContent = 'prefilling…';
  setState('generating');
  let gen = null;
  try {
    gen = demo.model.generate(prompt, { ...opts, signal: genAbort.signal });
    for await (const piece of gen) {
      demo.pieces.push(piece);
      els.outText.textContent += piece;
      const s = gen.stats;
      els.stats.textContent = `${s.generatedTokens} tokens · prefill ${fmtRate(s.prefillTokensPerSecond)} tok/s · decode ${fmtRate(s.tokensPerSecond)} tok/s`;
    }
    const s = gen.stats;
    const kv = s.kvBytesDense ? ` · KV ${fmtBytes(s.kvBytes)} of ${fmtBytes(s.kvBytesDense)} dense` : '';
    els.stats.textContent =
      `${s.generatedTokens} tokens (prompt ${s.promptTokens}) · prefill ${fmtRate(s.prefillTokensPerSecond)} tok/s · ` +
      `decode ${fmtRate(s.tokensPerSecond)} tok/s · ${((s.wallMs || 0) / 1000).toFixed(2)} s · ${gen.finishReason}` +
      (opts.mod ? `${kv} · MoD (CPU path)` : '');
    if (gen.mod) await renderRetention(gen.mod, gen.promptTokenIds);
    demo.stats = s;
    demo.finishReason = gen.finishReason;
    setState('ready');
  } catch (e) {
    els.stats.textContent = '';
    showError(e, 'Generation failed');
    setState(demo.model ? 'ready' : 'error');
  } finally {
    genAbort = null;
  }
}

function stop() {
  if (genAbort) genAbort.abort();
}

// --- weight spectra ----------------------------------------------------------------------------

function renderSpectraTable(recs) {
  const byLayer = new Map();
  for (const r of recs) {
    if (!byLayer.has(r.layer)) byLayer.set(r.layer, {});
    byLayer.get(r.layer)[r.kind] = r;
  }
  // table: one row per layer, alpha per kind
  els.spectraHead.replaceChildren(
    ...['layer', ...KINDS].map((k, i) => {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = i ? `α ${k}` : k;
      if (i) th.className = 'num';
      return th;
    }),
  );
  const frag = document.createDocumentFragment();
  for (const [layer, row] of byLayer) {
    const tr = document.createElement('tr');
    const td0 = document.createElement('td');
    td0.textContent = String(layer);
    tr.append(td0);
    for (const k of KINDS) {
      const td = document.createElement('td');
      td.className = 'num';
      td.textContent = row[k] ? row[k].alpha.toFixed(2) : '';
      if (row[k]) td.title = `${row[k].name}: α ${row[k].alpha.toFixed(3)}, xmin ${row[k].xmin.toExponential(2)}, D ${(row[k].D ?? row[k].d).toFixed(3)}, spikes ${row[k].spikes}`;
      tr.append(td);
    }
    frag.append(tr);
  }
  els.spectraBody.replaceChildren(frag);
}

function fillSelect(sel, values, label = (v) => String(v)) {
  const keep = sel.value;
  sel.replaceChildren(
    ...values.map((v) => {
      const o = document.createElement('option');
      o.value = String(v);
      o.textContent = label(v);
      return o;
    }),
  );
  if (values.map(String).includes(keep)) sel.value = keep;
}

async function renderSpectra() {
  const shown = demo.spectraShownVariants || [...demo.spectraByVariant.keys()];
  const byVariant = new Map(shown.filter((v) => demo.spectraByVariant.has(v)).map((v) => [v, demo.spectraByVariant.get(v)]));
  demo.spectraShownMap = new Map([...byVariant].map(([v, recs]) => [variantLabel(v), recs]));
  renderSpectraTable(byVariant.get(demo.spectraShown) || [...byVariant.values()][0]);
  els.spectraOut.hidden = false;
  fillSelect(els.esdModel, [...byVariant.keys()], variantLabel);
  if (byVariant.has(demo.spectraShown)) els.esdModel.value = demo.spectraShown; // the table's weights
  const layers = [...new Set([...byVariant.values()][0].map((r) => r.layer))];
  fillSelect(els.esdLayer, layers);
  fillSelect(els.esdKind, KINDS);
  try {
    await alphaChart(els.spectraPlot, demo.spectraShownMap);
    demo.charts.alpha = true;
    await renderEsd();
  } catch (e) {
    showError(e, 'Could not draw the spectra charts');
  }
}

async function renderEsd() {
  const recs = demo.spectraByVariant.get(els.esdModel.value);
  if (!recs) return;
  const rec = recs.find((r) => r.layer === Number(els.esdLayer.value) && r.kind === els.esdKind.value);
  if (!rec) return;
  els.esdPlot.setAttribute('aria-label', `log-log histogram of the eigenvalues of ${rec.name} (${variantLabel(els.esdModel.value)}): α ${rec.alpha.toFixed(2)}, xmin ${rec.xmin.toExponential(2)}, MP edge ${Number.isFinite(rec.mpEdge) ? rec.mpEdge.toExponential(2) : 'n/a'}`);
  await esdChart(els.esdPlot, rec);
  demo.charts.esd = rec.name;
}

async function runSpectra() {
  if (!demo.model || demo.state !== 'ready') return;
  clearError();
  setState('spectra');
  spectraAbort = new AbortController();
  demo.spectra = null;
  demo.spectraProgress = [];
  demo.spectraSeconds = null;
  demo.charts.alpha = false;
  // the source weights, and the weights in use when they are a quantized variant; spectra
  // already computed for these weights are kept
  const wanted = demo.variant === 'source' ? ['source'] : ['source', demo.variant];
  const todo = wanted.filter((v) => !demo.spectraByVariant.has(v));
  if (!todo.length) todo.push(demo.variant); // asked again: compute again
  const total = demo.model.info().config.nLayers * todo.length;
  els.spectraProgress.max = total;
  els.spectraProgress.value = 0;
  els.spectraText.textContent = `Weight spectra: 0 of ${total} layers…`;
  const t0 = performance.now();
  try {
    const out = new Map();
    for (const [i, v] of todo.entries()) {
      const model = demo.variants.get(v).model;
      const n = model.info().config.nLayers;
      const recs = await model.spectra({
        signal: spectraAbort.signal,
        onProgress: (p) => {
          if (v === 'source') demo.spectraProgress.push(p);
          els.spectraProgress.max = total;
          els.spectraProgress.value = i * n + p.done;
          const how = p.workers ? `${p.workers} worker${p.workers === 1 ? '' : 's'}` : 'this thread';
          els.spectraText.textContent = `Weight spectra (${v}): ${p.done} of ${p.total} layers (${how}, ${((performance.now() - t0) / 1000).toFixed(1)} s)…`;
        },
      });
      out.set(v, recs);
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const v of wanted) if (!out.has(v)) out.set(v, demo.spectraByVariant.get(v));
    const computed = [...out.keys()].filter((v) => todo.includes(v));
    for (const v of [...out.keys()]) if (!wanted.includes(v)) out.delete(v);
    demo.spectraByVariant = new Map([...demo.spectraByVariant, ...out]);
    demo.spectraShown = demo.variant;
    const n = computed.reduce((a, v) => a + out.get(v).length, 0);
    els.spectraText.textContent = `Weight spectra of ${n} matrices (${computed.join(' and ')}) in ${seconds.toFixed(1)} s.`;
    demo.spectraShownVariants = wanted;
    await renderSpectra();
    demo.spectraSeconds = seconds;
    demo.spectra = demo.spectraByVariant.get('source'); // set last: tests wait for it
  } catch (e) {
    if (e && e.code === 'E_ABORTED') els.spectraText.textContent = 'Weight spectra stopped.';
    else {
      els.spectraText.textContent = '';
      showError(e, 'Weight spectra failed');
    }
  } finally {
    spectraAbort = null;
    setState(demo.model ? 'ready' : 'error');
  }
}

// --- Mixture-of-Depths retention ---------------------------------------------------------------

async function renderRetention(report, promptTokenIds) {
  const retention = report.retention;
  const tokens = await Promise.all(promptTokenIds.map((id) => demo.model.detokenize([id])));
  demo.mod = { ...report, tokens };
  shownRetention = demo.mod;
  const kept = retention.reduce((a, r) => a + r.keptTarget, 0);
  const target = retention.reduce((a, r) => a + r.targetTokens, 0);
  const kvSaved = report.kvBytesDense ? 1 - report.kvBytes / report.kvBytesDense : 0;
  const flopsSaved = report.flopsDense ? 1 - report.flops / report.flopsDense : 0;
  els.retentionSummary.textContent =
    `${report.spec}, router ${report.router}: ${report.promptTokens} prompt tokens, target span ${report.span[0]}–${report.span[1]}; ` +
    `kept ${((100 * kept) / Math.max(1, target)).toFixed(0)}% of target tokens over all layers; ` +
    `KV cache ${fmtBytes(report.kvBytes)} of ${fmtBytes(report.kvBytesDense)} dense (${(100 * kvSaved).toFixed(0)}% saved), ` +
    `prefill FLOPs ${(100 * flopsSaved).toFixed(0)}% saved.`;
  const frag = document.createDocumentFragment();
  for (const r of retention) {
    const tr = document.createElement('tr');
    const cells = [
      [String(r.layer)],
      [r.modLayer ? 'MoD' : 'dense'],
      [r.ratio.toFixed(2), 'num'],
      [`${r.keptTarget} / ${r.targetTokens}`, 'num'],
      [String(r.keptTokens), 'num'],
      [r.kvBytes.toLocaleString('en-US'), 'num'],
      [`${(100 * (r.kvBytesDense ? 1 - r.kvBytes / r.kvBytesDense : 0)).toFixed(0)}%`, 'num'],
    ];
    for (const [v, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = v;
      if (cls) td.className = cls;
      tr.append(td);
    }
    frag.append(tr);
  }
  els.retentionBody.replaceChildren(frag);
  els.retention.hidden = false;
  try {
    await retentionBars(els.retentionBars, retention);
    demo.charts.retention = true;
    await retentionHeatmap(els.retentionHeatmap, retention, tokens, report.span);
    demo.charts.heatmap = true;
  } catch (e) {
    showError(e, 'Could not draw the retention charts');
  }
}

// --- quantization ------------------------------------------------------------------------------

const VARIANT_LABELS = {
  source: 'source',
  rtn4: 'int4 RTN',
  awq4: 'int4 AWQ',
  ptqtp: 'ternary PTQTP',
  'attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0': 'mixed AWQ4 / PTQTP',
};
const variantLabel = (v) => VARIANT_LABELS[v] || v;

function freeVariants() {
  for (const { model } of demo.variants.values()) model.free();
  demo.variants.clear();
  demo.variant = 'source';
  demo.spectraByVariant = new Map();
  renderVariants();
}

function renderVariants() {
  const frag = document.createDocumentFragment();
  for (const [v, { model, seconds }] of demo.variants) {
    const info = model.info();
    const tr = document.createElement('tr');
    const cells = [
      [variantLabel(v)],
      [fmtBytes(info.fileBytes || model.sizeBytes), 'num'],
      [info.bitsPerWeight.toFixed(2), 'num'],
      [seconds === null ? '–' : `${seconds.toFixed(1)} s`, 'num'],
      [v === demo.variant ? '●' : ''],
    ];
    for (const [val, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = val;
      if (cls) td.className = cls;
      tr.append(td);
    }
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

// --- model cache -------------------------------------------------------------------------------

async function refreshCacheList() {
  if (!demo.engine) return;
  let list = [];
  try {
    list = await demo.engine.cachedModels();
  } catch {
    list = [];
  }
  demo.cached = list;
  els.cacheCount.textContent = String(list.length);
  els.cacheList.replaceChildren(
    ...list.map((m) => {
      const li = document.createElement('li');
      const span = document.createElement('span');
      span.textContent = `${m.url.replace(location.origin + '/', '')} · ${m.bytes ? fmtBytes(m.bytes) : 'size unknown'}${m.cachedAt ? ` · ${m.cachedAt.toLocaleString()}` : ''}`;
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete ${m.url} from the cache`);
      del.addEventListener('click', async () => {
        await demo.engine.deleteCachedModel(m.url);
        refreshCacheList();
      });
      li.append(span, del);
      return li;
    }),
  );
}

// --- wiring ------------------------------------------------------------------------------------

els.loadForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = els.url.value.trim();
  if (url) loadModel(url, url.split('/').pop() || url);
});
els.file.addEventListener('change', () => {
  const files = els.file.files ? Array.from(els.file.files) : [];
  if (files.length === 1) loadModel(files[0], files[0].name);
  else if (files.length > 1) loadModel(files, `${files.length} files (${files.map((f) => f.name).join(', ')})`);
  els.file.value = '';
});
els.genForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  generate();
});
els.stop.addEventListener('click', stop);
els.spectraRun.addEventListener('click', runSpectra);
els.quantApply.addEventListener('click', applyVariant);
els.quantStop.addEventListener('click', () => quantAbort && quantAbort.abort());
for (const el of [els.esdModel, els.esdLayer, els.esdKind]) {
  el.addEventListener('change', () => renderEsd().catch((e) => showError(e, 'Could not draw the spectrum')));
}
els.esdModel.addEventListener('change', () => {
  const recs = demo.spectraByVariant.get(els.esdModel.value);
  if (recs) renderSpectraTable(recs);
});
els.spectraStop.addEventListener('click', () => spectraAbort && spectraAbort.abort());
els.prompt.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    generate();
  }
});
// Charts are drawn for the width they have: redraw them when the window is resized.
let resizeTimer = 0;
let redraws = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(async () => {
    const turn = ++redraws;
    try {
      if (shownRetention) {
        await retentionBars(els.retentionBars, shownRetention.retention);
        await retentionHeatmap(els.retentionHeatmap, shownRetention.retention, shownRetention.tokens, shownRetention.span);
      }
      if (demo.charts.alpha) await alphaChart(els.spectraPlot, demo.spectraShownMap);
      if (demo.charts.esd) await renderEsd();
    } catch (e) {
      showError(e, 'Could not redraw the charts');
    }
    if (turn === redraws) demo.chartsWidth = window.innerWidth; // the latest redraw is done
  }, 150);
});

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && demo.state === 'generating') stop();
});

async function main() {
  setState('starting');
  const params = new URLSearchParams(location.search);
  if (params.has('model')) els.url.value = params.get('model');
  if (params.has('prompt')) els.prompt.value = params.get('prompt');
  try {
    demo.useCache = params.get('cache') !== '0';
    demo.engine = await Engine.create({ backend: params.get('backend') || 'auto', worker: params.get('worker') !== '0' });
  } catch (e) {
    els.backend.textContent = 'engine failed to start';
    showError(e, 'Could not start the engine');
    setState('error');
    return;
  }
  const caps = demo.engine.capabilities();
  const strong = document.createElement('strong');
  strong.textContent = `tritium ${caps.version} · backend: ${caps.backend}${caps.worker ? ' · in a Web Worker' : ''}`;
  const why = document.createElement('span');
  why.className = 'why';
  why.textContent = caps.backendReason;
  els.backend.replaceChildren(strong, why);
  if (caps.backend === 'cpu' && caps.requestedBackend === 'auto') {
    const tip = document.createElement('span');
    tip.className = 'why';
    tip.textContent = 'For WebGPU (faster), use a recent Chrome or Edge, or Firefox/Safari with WebGPU enabled.';
    els.backend.append(tip);
  }
  if (caps.gpu) {
    const g = caps.gpu;
    const line = document.createElement('span');
    line.className = 'why';
    line.textContent = `f16 ${g.shader_f16 ? 'yes' : 'no'} · subgroups ${g.subgroups ? 'yes' : 'no'} · storage binding ${fmtBytes(g.max_storage_buffer_binding_size)} · workgroup memory ${fmtBytes(g.max_compute_workgroup_storage_size)}`;
    els.backend.append(line);
  }
  refreshCacheList();
  setState('ready');
  if (params.get('autoload') !== '0') {
    const url = els.url.value.trim();
    await loadModel(url, url.split('/').pop() || url);
  }
}

main();
