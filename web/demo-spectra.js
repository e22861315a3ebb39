// The demo's Weight spectra card: the power-law α of every linear weight (computed in Web
// Workers by the engine) for the source weights and, once quantized, the weights in use: a chart
// per layer and kind, one matrix's eigenvalue histogram, and a table.

import { clearError, demo, els, setState, showError } from './demo-page.js';
import { KINDS, alphaChart, esdChart } from './demo-charts.js';
import { variantLabel } from './demo-quantize.js';

let spectraAbort = null;

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

/** Draw the card's charts again (the window was resized). */
export async function redrawSpectra() {
  if (demo.charts.alpha) await alphaChart(els.spectraPlot, demo.spectraShownMap);
  if (demo.charts.esd) await renderEsd();
}

/** Wire the card: Compute / Stop, and the matrix pickers. */
export function setupSpectraCard() {
  els.spectraRun.addEventListener('click', runSpectra);
  els.spectraStop.addEventListener('click', () => spectraAbort && spectraAbort.abort());
  for (const el of [els.esdModel, els.esdLayer, els.esdKind]) {
    el.addEventListener('change', () => renderEsd().catch((e) => showError(e, 'Could not draw the spectrum')));
  }
  els.esdModel.addEventListener('change', () => {
    const recs = demo.spectraByVariant.get(els.esdModel.value);
    if (recs) renderSpectraTable(recs);
  });
}
