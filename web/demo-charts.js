// The demo's charts, drawn with Observable Plot (npm dependency @observablehq/plot; its browser
// bundle and d3's are served from node_modules by pkg-scripts/serve.mjs and loaded on first use).

const SCRIPTS = ['node_modules/d3/dist/d3.min.js', 'node_modules/@observablehq/plot/dist/plot.umd.min.js'];
const BASE = new URL('../', import.meta.url);

let plotPromise = null;

/** Observable Plot (the UMD bundle's global), loaded once. */
export function loadPlot() {
  if (!plotPromise) {
    plotPromise = (async () => {
      for (const src of SCRIPTS) {
        await new Promise((resolve, reject) => {
          const s = document.createElement('script');
          s.src = new URL(src, BASE).href;
          s.onload = resolve;
          s.onerror = () =>
            reject(
              Object.assign(new Error(`could not load ${src}: the charts need the npm dependencies (run \`npm install\` and serve with \`npm start\`)`), {
                code: 'E_CHARTS',
              }),
            );
          document.head.append(s);
        });
      }
      return window.Plot;
    })();
    plotPromise.catch(() => {
      plotPromise = null;
    });
  }
  return plotPromise;
}

export const KINDS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

const width = (el) => Math.max(300, Math.floor(el.clientWidth || el.parentElement.clientWidth || 600));
const pct = (x) => `${(100 * x).toFixed(0)}%`;

/**
 * Retention bars: per layer, the kept share of the target tokens (bar), the target ratio R(l)
 * (tick) and the share of KV entries saved against a dense cache (line + dots).
 */
export async function retentionBars(el, retention) {
  const Plot = await loadPlot();
  const rows = retention.map((r) => ({
    layer: r.layer,
    kept: r.targetTokens ? r.keptTarget / r.targetTokens : 1,
    target: r.ratio,
    kvSaved: r.kvBytesDense ? 1 - r.kvBytes / r.kvBytesDense : 0,
    mode: r.modLayer ? 'MoD' : 'dense',
  }));
  const chart = Plot.plot({
    width: width(el),
    height: 220,
    marginLeft: 40,
    x: { type: 'band', label: 'layer', tickFormat: (l) => (l % 5 === 0 ? String(l) : '') },
    y: { domain: [0, 1], grid: true, label: 'share', tickFormat: pct },
    color: { domain: ['MoD', 'dense'], range: ['#4b3fd8', '#b9b4f0'], legend: true },
    marks: [
      Plot.barY(rows, { x: 'layer', y: 'kept', fill: 'mode', title: (d) => `layer ${d.layer} (${d.mode}): kept ${pct(d.kept)} of target tokens, R(l) ${d.target.toFixed(2)}, KV saved ${pct(d.kvSaved)}` }),
      Plot.tickY(rows, { x: 'layer', y: 'target', stroke: 'currentColor', strokeWidth: 2 }),
      Plot.lineY(rows, { x: 'layer', y: 'kvSaved', stroke: '#e8590c', strokeWidth: 1.5 }),
      Plot.dot(rows, { x: 'layer', y: 'kvSaved', fill: '#e8590c', r: 2 }),
      Plot.ruleY([0]),
    ],
  });
  el.replaceChildren(chart);
}

/**
 * Heatmap of the kept mask: one row per layer, one column per prompt token (labelled with its
 * text); tokens outside the target span are always processed.
 */
export async function retentionHeatmap(el, retention, tokens, span) {
  const Plot = await loadPlot();
  const n = tokens.length;
  const label = (i) => `${i}:${JSON.stringify(tokens[i]).slice(1, -1).slice(0, 12)}`;
  const cells = [];
  for (const r of retention) {
    for (let i = 0; i < n; i++) {
      const kept = r.keptMask[i] === '1';
      const inSpan = i >= span[0] && i < span[1];
      cells.push({ layer: r.layer, pos: label(i), state: !inSpan ? 'not a target' : kept ? 'kept' : 'skipped' });
    }
  }
  const cw = 18;
  const chart = Plot.plot({
    width: Math.max(width(el), 90 + n * cw),
    height: 10 + 110 + retention.length * 12,
    marginTop: 10,
    marginLeft: 44,
    marginBottom: 110,
    x: { domain: tokens.map((_, i) => label(i)), label: null, tickRotate: -60, padding: 0.05 },
    y: { domain: retention.map((r) => r.layer), label: 'layer', tickFormat: (l) => (l % 5 === 0 ? String(l) : ''), padding: 0.05 },
    color: { domain: ['kept', 'skipped', 'not a target'], range: ['#4b3fd8', '#e4e2f7', '#9aa3ad'], legend: true },
    marks: [Plot.cell(cells, { x: 'pos', y: 'layer', fill: 'state', title: (d) => `layer ${d.layer}, token ${d.pos}: ${d.state}` })],
  });
  el.replaceChildren(chart);
}

/** Alpha per layer, one colour per matrix kind, one panel per weights variant (source, quantized). */
export async function alphaChart(el, byVariant) {
  const Plot = await loadPlot();
  const rows = [];
  for (const [variant, recs] of byVariant) for (const r of recs) rows.push({ variant, layer: r.layer, kind: r.kind, alpha: r.alpha, name: r.name });
  const variants = [...byVariant.keys()];
  const w = width(el);
  const chart = Plot.plot({
    width: w,
    height: variants.length > 1 && w < 700 ? 420 : 260,
    marginLeft: 40,
    fx: variants.length > 1 && w >= 700 ? { domain: variants, label: null } : undefined,
    fy: variants.length > 1 && w < 700 ? { domain: variants, label: null } : undefined,
    x: { label: 'layer', domain: [-1, Math.max(...rows.map((r) => r.layer)) + 1] },
    y: { type: 'log', label: 'α (power-law exponent)', grid: true, clamp: true, domain: [1, Math.max(20, ...rows.map((r) => Math.min(r.alpha, 100)))] },
    color: { domain: KINDS, legend: true, scheme: 'tableau10' },
    marks: [
      Plot.ruleY([2, 6], { stroke: '#9aa3ad', strokeDasharray: '3,3' }),
      Plot.dot(rows, {
        x: 'layer',
        y: 'alpha',
        fill: 'kind',
        r: 2.6,
        fx: variants.length > 1 && w >= 700 ? 'variant' : undefined,
        fy: variants.length > 1 && w < 700 ? 'variant' : undefined,
        title: (d) => `${d.variant} ${d.name}: α ${d.alpha.toFixed(3)}`,
      }),
    ],
  });
  el.replaceChildren(chart);
}

/**
 * Log-log ESD histogram of one matrix with the fitted power law p(λ) ∝ λ^−α above xmin (as
 * expected counts per bin for the `numPlSpikes` eigenvalues of the tail), xmin and the
 * Marchenko–Pastur bulk edge λ+.
 */
export async function esdChart(el, rec) {
  const Plot = await loadPlot();
  const h = rec.histogram;
  const bins = [];
  for (let i = 0; i < h.counts.length; i++) {
    bins.push({ x1: 10 ** h.log10Edges[i], x2: 10 ** h.log10Edges[i + 1], count: h.counts[i] });
  }
  const a = rec.alpha;
  const xmin = rec.xmin;
  const nTail = rec.numPlSpikes;
  const fit = [];
  const tailCdf = (x) => (x <= xmin ? 1 : (x / xmin) ** (1 - a));
  for (const b of bins) {
    if (b.x2 <= xmin) continue;
    const lo = Math.max(b.x1, xmin);
    const expected = nTail * (tailCdf(lo) - tailCdf(b.x2));
    if (expected >= 0.5) fit.push({ x: Math.sqrt(lo * b.x2), y: expected }); // the y axis starts at 0.5
  }
  const marks = [
    Plot.rect(
      bins.filter((b) => b.count > 0),
      { x1: 'x1', x2: 'x2', y1: 0.5, y2: 'count', fill: '#8fa8d8', title: (b) => `λ ${b.x1.toExponential(2)}–${b.x2.toExponential(2)}: ${b.count}` },
    ),
    Plot.line(fit, { x: 'x', y: 'y', stroke: '#d6336c', strokeWidth: 2 }),
    Plot.ruleX([xmin], { stroke: '#d6336c', strokeDasharray: '4,3' }),
    Plot.text([xmin], { x: (d) => d, frameAnchor: 'top', dy: 6, dx: 4, textAnchor: 'start', text: () => `xmin, α = ${a.toFixed(2)}`, fill: '#d6336c' }),
  ];
  if (Number.isFinite(rec.mpEdge) && rec.mpEdge > 0) {
    marks.push(
      Plot.ruleX([rec.mpEdge], { stroke: '#2b8a3e', strokeDasharray: '2,2' }),
      Plot.text([rec.mpEdge], { x: (d) => d, frameAnchor: 'bottom', dy: -6, dx: -4, textAnchor: 'end', text: () => 'MP edge λ+', fill: '#2b8a3e' }),
    );
  }
  const chart = Plot.plot({
    width: width(el),
    height: 260,
    marginLeft: 44,
    x: { type: 'log', label: 'eigenvalue λ', grid: true },
    y: { type: 'log', label: 'eigenvalues per bin', grid: true, domain: [0.5, Math.max(2, ...h.counts) * 1.5] },
    marks,
  });
  el.replaceChildren(chart);
}
