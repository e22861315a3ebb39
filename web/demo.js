// The demo page's logic (index.html). Imports the built package from /pkg/, never crate/.
//
// URL parameters: ?model=URL (load another GGUF), ?autoload=0 (don't load on start),
// ?prompt=TEXT. State for tests and debugging: document.body.dataset.state
// ('starting' | 'loading' | 'ready' | 'generating' | 'spectra' | 'error') and window.tritiumDemo.

import { Engine } from '../pkg/tritium.js';

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
};
window.tritiumDemo = demo;

let loadAbort = null;
let genAbort = null;
let spectraAbort = null;

function setState(state) {
  demo.state = state;
  document.body.dataset.state = state;
  const busy = state === 'loading' || state === 'generating' || state === 'starting' || state === 'spectra';
  els.loadUrl.disabled = busy;
  els.file.disabled = busy;
  els.url.disabled = busy;
  els.generate.disabled = !demo.model || busy;
  els.stop.disabled = state !== 'generating';
  els.spectraRun.disabled = !demo.model || busy;
  els.spectraStop.disabled = state !== 'spectra';
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
  if (demo.model) {
    demo.model.free();
    demo.model = null;
  }
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
      onProgress: ({ phase, loaded, total }) => {
        if (frame) return; // update at most once per animation frame
        frame = requestAnimationFrame(() => {
          frame = 0;
          if (phase === 'download') {
            if (total) {
              els.progress.max = 1;
              els.progress.value = loaded / total;
              els.progressText.textContent = `Downloading ${label}: ${fmtBytes(loaded)} of ${fmtBytes(total)}`;
            } else {
              els.progressText.textContent = `Downloading ${label}: ${fmtBytes(loaded)}`;
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
    els.progress.max = 1;
    els.progress.value = 1;
    els.progressText.textContent = `Loaded ${label} (${fmtBytes(model.sizeBytes)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s (${model.backend}).`;
    renderInfo(model);
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
    demo.stats = s;
    demo.finishReason = gen.finishReason;
    els.stats.textContent =
      `${s.generatedTokens} tokens (prompt ${s.promptTokens}) · prefill ${fmtRate(s.prefillTokensPerSecond)} tok/s · ` +
      `decode ${fmtRate(s.tokensPerSecond)} tok/s · ${(s.wallMs / 1000).toFixed(2)} s · ${gen.finishReason}`;
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

const KINDS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const KIND_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

function renderSpectra(recs) {
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
  // plot: alpha (log scale, clipped to [1, 20]) against layer, one colour per kind
  const svg = els.spectraPlot;
  const W = Math.max(300, svg.clientWidth || 600);
  const H = Math.max(120, svg.clientHeight || 190);
  const pad = { l: 34, r: 8, t: 8, b: 30 };
  const layers = [...byLayer.keys()];
  const lo = Math.min(...layers);
  const hi = Math.max(...layers);
  const x = (l) => pad.l + ((l - lo) / Math.max(1, hi - lo)) * (W - pad.l - pad.r);
  const clip = (a) => Math.min(20, Math.max(1, a));
  const y = (a) => pad.t + (1 - Math.log(clip(a)) / Math.log(20)) * (H - pad.t - pad.b);
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const parts = [];
  for (const a of [1, 2, 4, 6, 10, 20]) {
    parts.push(el('line', { class: 'axis', x1: pad.l, x2: W - pad.r, y1: y(a), y2: y(a) }));
    parts.push(el('text', { x: pad.l - 4, y: y(a) + 3, 'text-anchor': 'end' }, String(a)));
  }
  for (const l of layers) {
    if (l % 5 === 0 || l === hi) parts.push(el('text', { x: x(l), y: H - pad.b + 12, 'text-anchor': 'middle' }, String(l)));
  }
  parts.push(el('text', { x: (pad.l + W - pad.r) / 2, y: H - 4, 'text-anchor': 'middle' }, 'layer'));
  KINDS.forEach((k, i) => {
    for (const [l, row] of byLayer) {
      if (!row[k]) continue;
      const c = el('circle', { cx: x(l) + (i - 3) * 1.5, cy: y(row[k].alpha), r: 2.5, fill: KIND_COLORS[i] });
      c.append(el('title', {}, `${row[k].name}: α ${row[k].alpha.toFixed(2)}`));
      parts.push(c);
    }
    parts.push(el('text', { x: W - pad.r - (KINDS.length - i) * 38, y: pad.t + 8, fill: KIND_COLORS[i], style: `fill:${KIND_COLORS[i]}` }, k));
  });
  svg.replaceChildren(...parts);
  els.spectraOut.hidden = false;
}

async function runSpectra() {
  if (!demo.model || demo.state !== 'ready') return;
  clearError();
  setState('spectra');
  spectraAbort = new AbortController();
  demo.spectra = null;
  demo.spectraProgress = [];
  demo.spectraSeconds = null;
  const total = demo.model.info().config.nLayers;
  els.spectraProgress.max = total;
  els.spectraProgress.value = 0;
  els.spectraText.textContent = `Weight spectra: 0 of ${total} layers…`;
  const t0 = performance.now();
  try {
    const recs = await demo.model.spectra({
      signal: spectraAbort.signal,
      onProgress: (p) => {
        demo.spectraProgress.push(p);
        els.spectraProgress.max = p.total;
        els.spectraProgress.value = p.done;
        const how = p.workers ? `${p.workers} worker${p.workers === 1 ? '' : 's'}` : 'this thread';
        els.spectraText.textContent = `Weight spectra: ${p.done} of ${p.total} layers (${how}, ${((performance.now() - t0) / 1000).toFixed(1)} s)…`;
      },
    });
    demo.spectraSeconds = (performance.now() - t0) / 1000;
    demo.spectra = recs;
    els.spectraText.textContent = `Weight spectra of ${recs.length} matrices in ${demo.spectraSeconds.toFixed(1)} s.`;
    renderSpectra(recs);
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

// --- wiring ------------------------------------------------------------------------------------

els.loadForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = els.url.value.trim();
  if (url) loadModel(url, url.split('/').pop() || url);
});
els.file.addEventListener('change', () => {
  const f = els.file.files && els.file.files[0];
  if (f) loadModel(f, f.name);
  els.file.value = '';
});
els.genForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  generate();
});
els.stop.addEventListener('click', stop);
els.spectraRun.addEventListener('click', runSpectra);
els.spectraStop.addEventListener('click', () => spectraAbort && spectraAbort.abort());
els.prompt.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    generate();
  }
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
    demo.engine = await Engine.create({ backend: params.get('backend') || 'auto' });
  } catch (e) {
    els.backend.textContent = 'engine failed to start';
    showError(e, 'Could not start the engine');
    setState('error');
    return;
  }
  const caps = demo.engine.capabilities();
  const strong = document.createElement('strong');
  strong.textContent = `tritium ${caps.version} · backend: ${caps.backend}`;
  const why = document.createElement('span');
  why.className = 'why';
  why.textContent = caps.backendReason;
  els.backend.replaceChildren(strong, why);
  setState('ready');
  if (params.get('autoload') !== '0') {
    const url = els.url.value.trim();
    await loadModel(url, url.split('/').pop() || url);
  }
}

main();
