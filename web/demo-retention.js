// The demo's Token retention card (Mixture-of-Depths): after a generation with MoD on, which
// prompt tokens each layer kept, as bars per layer, a token × layer heat map and a table.

import { demo, els, fmtBytes, showError, tableRow } from './demo-page.js';
import { retentionBars, retentionHeatmap } from './demo-charts.js';

let shownRetention = null; // the MoD report the card shows (kept across later generations)

/** Show a generation's MoD report (`promptTokenIds`: its prompt, for the heat map's labels). */
export async function renderRetention(report, promptTokenIds) {
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
    frag.append(
      tableRow([
        [String(r.layer)],
        [r.modLayer ? 'MoD' : 'dense'],
        [r.ratio.toFixed(2), 'num'],
        [`${r.keptTarget} / ${r.targetTokens}`, 'num'],
        [String(r.keptTokens), 'num'],
        [r.kvBytes.toLocaleString('en-US'), 'num'],
        [`${(100 * (r.kvBytesDense ? 1 - r.kvBytes / r.kvBytesDense : 0)).toFixed(0)}%`, 'num'],
      ]),
    );
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

/** Draw the card's charts again (the window was resized). */
export async function redrawRetention() {
  if (!shownRetention) return;
  await retentionBars(els.retentionBars, shownRetention.retention);
  await retentionHeatmap(els.retentionHeatmap, shownRetention.retention, shownRetention.tokens, shownRetention.span);
}
