// The demo page's logic (index.html): starts the engine and wires one module per card. Imports
// the built package from /pkg/, never crate/.
//   demo-model.js      Model: load (URL, files), info, tensor table, model cache
//   demo-quantize.js   Quantization: variants of the loaded weights
//   demo-generate.js   Generate: prompt, options, streamed output
//   demo-retention.js  Token retention (Mixture-of-Depths) after a generation with MoD on
//   demo-spectra.js    Weight spectra
//   demo-page.js       what the cards share (elements, state, errors, formatting)
//   demo-charts.js     the charts (Observable Plot)
//
// URL parameters: ?model=URL (load another GGUF), ?autoload=0 (don't load on start),
// ?prompt=TEXT, ?backend=cpu|webgpu, ?worker=0 (run the engine in the page thread, not a Worker),
// ?cache=0 (don't use the model cache). State for tests and debugging: document.body.dataset.state
// ('starting' | 'loading' | 'ready' | 'generating' | 'spectra' | 'quantizing' | 'error') and
// window.tritiumDemo.

import { Engine } from '../pkg/tritium.js';
import { demo, els, fmtBytes, setState, showError } from './demo-page.js';
import { loadModel, refreshCacheList, setupModelCard } from './demo-model.js';
import { freeVariants, setupQuantizeCard, useSource } from './demo-quantize.js';
import { setupGenerateCard } from './demo-generate.js';
import { redrawRetention } from './demo-retention.js';
import { redrawSpectra, setupSpectraCard } from './demo-spectra.js';

window.tritiumDemo = demo;

setupModelCard({ unload: freeVariants, loaded: useSource });
setupQuantizeCard();
setupGenerateCard();
setupSpectraCard();

// Charts are drawn for the width they have: redraw them when the window is resized.
let resizeTimer = 0;
let redraws = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(async () => {
    const turn = ++redraws;
    try {
      await redrawRetention();
      await redrawSpectra();
    } catch (e) {
      showError(e, 'Could not redraw the charts');
    }
    if (turn === redraws) demo.chartsWidth = window.innerWidth; // the latest redraw is done
  }, 150);
});

/** The badge: version, backend and why, the GPU's features. */
function showBackend(caps) {
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
}

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
  showBackend(demo.engine.capabilities());
  refreshCacheList();
  setState('ready');
  if (params.get('autoload') !== '0') {
    const url = els.url.value.trim();
    await loadModel(url, url.split('/').pop() || url);
  }
}

main();
