/**
 * Small SVG charts drawn by the project (no library, no network): control charts with stepped limits, bars with a
 * cumulative line, histograms and a line over time. Every text is escaped; colours are paired with shapes and dash
 * patterns so a black-and-white print still reads.
 */
import type { CastingReport } from './casting-report.schema.js';
import { RULE_TEXT, type SignalRule } from './spc.js';

type Chart = CastingReport['series'][number]['p'];

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const f = (v: number) => (Math.round(v * 10) / 10).toString();

export const pct = (v: number | null, digits = 1) => (v === null ? '–' : `${(v * 100).toFixed(digits)} %`);
export const num = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

function yAxis(fr: Frame, max: number, fmt: (v: number) => string, side: 'left' | 'right' = 'left'): string {
  const out: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    const y = fr.height - fr.bottom - ((fr.height - fr.top - fr.bottom) * k) / 4;
    if (side === 'left') {
      out.push(`<line class="grid" x1="${fr.left}" x2="${fr.width - fr.right}" y1="${f(y)}" y2="${f(y)}"/>`);
      out.push(`<text class="tick" x="${fr.left - 4}" y="${f(y + 3)}" text-anchor="end">${esc(fmt(v))}</text>`);
    } else {
      out.push(`<text class="tick" x="${fr.width - fr.right + 4}" y="${f(y + 3)}">${esc(fmt(v))}</text>`);
    }
  }
  return out.join('');
}

function xLabels(fr: Frame, keys: string[], xOf: (i: number) => number, short: (k: string) => string): string {
  if (keys.length === 0) return '';
  const every = Math.max(1, Math.ceil(keys.length / 10));
  return keys
    .map((k, i) =>
      i % every === 0 || i === keys.length - 1
        ? `<text class="tick" x="${f(xOf(i))}" y="${fr.height - fr.bottom + 14}" text-anchor="middle">${esc(short(k))}</text>`
        : '',
    )
    .join('');
}

const shortKey = (k: string) => (/^\d{4}-\d\d-\d\d$/.test(k) ? k.slice(5) : k.length > 12 ? `${k.slice(0, 11)}…` : k);

/**
 * A p- or u-chart: points joined in subgroup order, the centre line, UCL/LCL as steps (they widen where a subgroup
 * is small), and every point a rule fired on drawn as a red diamond with the rules in its tooltip.
 */
export function controlChartSvg(chart: Chart, opts: { title: string; group?: string; width?: number; height?: number }): string {
  const fr: Frame = { width: opts.width ?? 640, height: opts.height ?? 220, left: 48, right: 12, top: 22, bottom: 24 };
  const pts = chart.points;
  const percent = chart.kind === 'p';
  const fmt = (v: number) => (percent ? `${(v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0)}%` : v.toFixed(2));
  const max = niceMax(Math.max(chart.centre, ...pts.map((p) => Math.max(p.value, p.ucl))) * 1.05);
  const plotW = fr.width - fr.left - fr.right;
  const plotH = fr.height - fr.top - fr.bottom;
  const step = pts.length > 0 ? plotW / pts.length : plotW;
  const xOf = (i: number) => fr.left + step * (i + 0.5);
  const yOf = (v: number) => fr.height - fr.bottom - (Math.min(v, max) / max) * plotH;
  const stepPath = (sel: (p: (typeof pts)[number]) => number) =>
    pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(xOf(i) - step / 2)},${f(yOf(sel(p)))}H${f(xOf(i) + step / 2)}`).join('');
  const line = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(xOf(i))},${f(yOf(p.value))}`).join('');
  const dots = pts
    .map((p, i) => {
      const x = xOf(i);
      const y = yOf(p.value);
      const tip = `${p.key}: ${fmt(p.value)} (${p.count} of n=${p.n}), UCL ${fmt(p.ucl)}, LCL ${fmt(p.lcl)}${p.signals.length ? ` — ${p.signals.map((s) => RULE_TEXT[s as SignalRule]).join('; ')}` : ''}`;
      const data = `data-key="${esc(p.key)}" data-value="${p.value}" data-signals="${esc(p.signals.join(' '))}"`;
      if (p.signals.length === 0) return `<circle class="pt" cx="${f(x)}" cy="${f(y)}" r="2.6" ${data}><title>${esc(tip)}</title></circle>`;
      const r = 5;
      return `<path class="pt sig" d="M${f(x)},${f(y - r)}L${f(x + r)},${f(y)}L${f(x)},${f(y + r)}L${f(x - r)},${f(y)}Z" ${data}><title>${esc(tip)}</title></path>`;
    })
    .join('');
  const label = chart.kind === 'p' ? `p̄ = ${fmt(chart.centre)}` : `ū = ${fmt(chart.centre)}`;
  return `<svg class="chart control" viewBox="0 0 ${fr.width} ${fr.height}" role="img" aria-label="${esc(opts.title)}" data-chart="${chart.kind}"${opts.group === undefined ? '' : ` data-group="${esc(opts.group)}"`} data-signals="${chart.signals.length}">
<text class="title" x="${fr.left}" y="14">${esc(opts.title)}</text><text class="legend" x="${fr.width - fr.right}" y="14" text-anchor="end">${esc(label)} · n=${chart.totalN}</text>
${yAxis(fr, max, fmt)}
<path class="limit" d="${stepPath((p) => p.ucl)}"/><path class="limit" d="${stepPath((p) => p.lcl)}"/>
<line class="centre" x1="${fr.left}" x2="${fr.width - fr.right}" y1="${f(yOf(chart.centre))}" y2="${f(yOf(chart.centre))}"/>
<path class="series" d="${line}"/>${dots}
${xLabels(fr, pts.map((p) => p.key), xOf, shortKey)}
</svg>`;
}

/** Pareto: bars largest first, the cumulative share as a line on the right axis, 80 % marked. */
export function paretoSvg(rows: CastingReport['pareto'], opts: { title: string; width?: number; height?: number }): string {
  const fr: Frame = { width: opts.width ?? 640, height: opts.height ?? 240, left: 48, right: 40, top: 22, bottom: 56 };
  const plotW = fr.width - fr.left - fr.right;
  const plotH = fr.height - fr.top - fr.bottom;
  const max = niceMax(Math.max(1, ...rows.map((r) => r.count)));
  const step = rows.length > 0 ? plotW / rows.length : plotW;
  const xOf = (i: number) => fr.left + step * (i + 0.5);
  const yOf = (v: number) => fr.height - fr.bottom - (v / max) * plotH;
  const yPct = (v: number) => fr.height - fr.bottom - v * plotH;
  const bars = rows
    .map(
      (r, i) =>
        `<rect class="bar" x="${f(xOf(i) - step * 0.35)}" y="${f(yOf(r.count))}" width="${f(step * 0.7)}" height="${f(fr.height - fr.bottom - yOf(r.count))}" data-kind="${esc(`${r.family}/${r.kind}`)}"><title>${esc(`${r.family} / ${r.kind}: ${r.count} (${pct(r.share)}), cumulative ${pct(r.cumulative)}`)}</title></rect>` +
        `<text class="tick" transform="translate(${f(xOf(i))},${fr.height - fr.bottom + 10}) rotate(30)">${esc(r.kind)}</text>`,
    )
    .join('');
  const cum = rows.map((r, i) => `${i === 0 ? 'M' : 'L'}${f(xOf(i))},${f(yPct(r.cumulative))}`).join('');
  const cumDots = rows.map((r, i) => `<circle class="cum-pt" cx="${f(xOf(i))}" cy="${f(yPct(r.cumulative))}" r="2.5"/>`).join('');
  return `<svg class="chart pareto" viewBox="0 0 ${fr.width} ${fr.height}" role="img" aria-label="${esc(opts.title)}">
<text class="title" x="${fr.left}" y="14">${esc(opts.title)}</text>
${yAxis(fr, max, (v) => String(Math.round(v)))}${yAxis(fr, 1, (v) => `${Math.round(v * 100)}%`, 'right')}
<line class="centre" x1="${fr.left}" x2="${fr.width - fr.right}" y1="${f(yPct(0.8))}" y2="${f(yPct(0.8))}"/>
${bars}<path class="cum" d="${cum}"/>${cumDots}
</svg>`;
}

export function histogramSvg(edges: number[], counts: number[], opts: { title: string; width?: number; height?: number }): string {
  const fr: Frame = { width: opts.width ?? 640, height: opts.height ?? 200, left: 48, right: 12, top: 22, bottom: 28 };
  const plotW = fr.width - fr.left - fr.right;
  const plotH = fr.height - fr.top - fr.bottom;
  // Trailing empty bins carry no information; keep one for the open end.
  let last = counts.length - 1;
  while (last > 0 && counts[last] === 0) last--;
  const shown = Math.min(counts.length, last + 2);
  const max = niceMax(Math.max(1, ...counts));
  const step = plotW / shown;
  const bars = counts
    .slice(0, shown)
    .map((c, i) => {
      const h = (c / max) * plotH;
      const lo = edges[i]!;
      const hi = edges[i + 1];
      const label = hi === undefined ? `≥ ${lo} mm` : `${lo}–${hi} mm`;
      return `<rect class="bar" x="${f(fr.left + i * step + 1)}" y="${f(fr.height - fr.bottom - h)}" width="${f(step - 2)}" height="${f(h)}"><title>${esc(`${label}: ${c}`)}</title></rect>`;
    })
    .join('');
  const ticks = edges
    .slice(0, shown)
    .map((e, i) => (i % 2 === 0 ? `<text class="tick" x="${f(fr.left + i * step)}" y="${fr.height - fr.bottom + 14}" text-anchor="middle">${e}</text>` : ''))
    .join('');
  return `<svg class="chart hist" viewBox="0 0 ${fr.width} ${fr.height}" role="img" aria-label="${esc(opts.title)}">
<text class="title" x="${fr.left}" y="14">${esc(opts.title)}</text>${yAxis(fr, max, (v) => String(Math.round(v)))}${bars}${ticks}
<text class="tick" x="${fr.width - fr.right}" y="${fr.height - 2}" text-anchor="end">diameter, mm</text>
</svg>`;
}

/** A rate over time (first-pass yield), 0–100 %, points with their subgroup in the tooltip. */
export function rateLineSvg(points: Array<{ key: string; value: number | null; n: number }>, opts: { title: string; width?: number; height?: number }): string {
  const fr: Frame = { width: opts.width ?? 640, height: opts.height ?? 200, left: 48, right: 12, top: 22, bottom: 24 };
  const pts = points.filter((p): p is { key: string; value: number; n: number } => p.value !== null);
  const plotW = fr.width - fr.left - fr.right;
  const plotH = fr.height - fr.top - fr.bottom;
  const lo = Math.max(0, Math.floor((Math.min(1, ...pts.map((p) => p.value)) - 0.05) * 10) / 10);
  const step = pts.length > 0 ? plotW / pts.length : plotW;
  const xOf = (i: number) => fr.left + step * (i + 0.5);
  const yOf = (v: number) => fr.height - fr.bottom - ((v - lo) / (1 - lo || 1)) * plotH;
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((1 - lo) * k) / 4;
    ticks.push(`<line class="grid" x1="${fr.left}" x2="${fr.width - fr.right}" y1="${f(yOf(v))}" y2="${f(yOf(v))}"/><text class="tick" x="${fr.left - 4}" y="${f(yOf(v) + 3)}" text-anchor="end">${Math.round(v * 100)}%</text>`);
  }
  const line = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(xOf(i))},${f(yOf(p.value))}`).join('');
  const dots = pts.map((p, i) => `<circle class="pt" cx="${f(xOf(i))}" cy="${f(yOf(p.value))}" r="2.6"><title>${esc(`${p.key}: ${pct(p.value)} of ${p.n}`)}</title></circle>`).join('');
  return `<svg class="chart rate" viewBox="0 0 ${fr.width} ${fr.height}" role="img" aria-label="${esc(opts.title)}">
<text class="title" x="${fr.left}" y="14">${esc(opts.title)}</text>${ticks.join('')}<path class="series" d="${line}"/>${dots}
${xLabels(fr, pts.map((p) => p.key), xOf, shortKey)}
</svg>`;
}
