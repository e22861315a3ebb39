// The demo's Model card: load a model (URL or files), show its info and tensor table, and the
// browser's model cache.

import { clearError, demo, els, fmtBytes, fmtCount, setState, showError, tableRow } from './demo-page.js';

let loadAbort = null;
// Set by setupModelCard: what the other cards do when a model is replaced or loaded.
let hooks = { unload: () => {}, loaded: () => {} };

/** Show a model's info and tensor table. */
export function renderInfo(model) {
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
    frag.append(tableRow([[row.name], [row.type], [row.shape.join(' × ')], [row.bytes.toLocaleString('en-US'), 'num']]));
  }
  els.tensorBody.replaceChildren(frag);
  els.info.hidden = false;
}

/** Load `source` (a URL, a File or an array of Files) as the page's model. */
export async function loadModel(source, label) {
  if (!demo.engine) return;
  clearError();
  if (loadAbort) loadAbort.abort();
  loadAbort = new AbortController();
  const signal = loadAbort.signal;
  hooks.unload();
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
    els.progress.max = 1;
    els.progress.value = 1;
    els.progressText.textContent =
      `Loaded ${label} (${fmtBytes(model.sizeBytes)}) ${model.fromCache ? 'from the browser cache ' : ''}in ${demo.loadSeconds.toFixed(1)} s (${model.backend}).`;
    renderInfo(model);
    hooks.loaded(model);
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

/** List the browser's cached models, each with a Delete button. */
export async function refreshCacheList() {
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

/**
 * Wire the card. `unload()` runs before a new model loads (the old one is dropped), `loaded(model)`
 * once it is in, before the page is 'ready' again.
 */
export function setupModelCard({ unload, loaded }) {
  hooks = { unload, loaded };
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
}
