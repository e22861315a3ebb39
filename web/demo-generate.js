// The demo's Generate card: the prompt, the sampling and Mixture-of-Depths options, and the
// streamed output with its speed. A generation with MoD on fills the Token retention card.

import { clearError, demo, els, fmtBytes, fmtRate, setState, showError } from './demo-page.js';
import { renderRetention } from './demo-retention.js';

let genAbort = null;

/** The generate() options from the form. */
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

/** Wire the card: Generate / Stop, Ctrl+Enter in the prompt, Esc anywhere. */
export function setupGenerateCard() {
  els.genForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    generate();
  });
  els.stop.addEventListener('click', stop);
  els.prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      generate();
    }
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && demo.state === 'generating') stop();
  });
}
