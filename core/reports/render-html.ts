import type { CastingReport } from './casting-report.schema.js';
import { RULE_TEXT } from './spc.js';
import { controlChartSvg, esc, histogramSvg, num, paretoSvg, pct, rateLineSvg } from './svg.js';

/**
 * The casting report as one self-contained HTML page (inline CSS and SVG, no script, no network): what
 * `GET /reports/casting` serves and `loupe report casting --out` writes.
 */

const CSS = `
:root { --ink: #1b1f24; --muted: #5b6470; --line: #d5d9de; --accent: #1f5fa8; --bad: #c0262d; --ok: #1d7a46; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; } .kpi b { display: block; font-size: 20px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
figure { margin: 0 0 10px; break-inside: avoid; page-break-inside: avoid; } figcaption { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; height: auto; display: block; font-size: 10px; }
svg .title { font-size: 12px; font-weight: 600; fill: var(--ink); } svg .legend, svg .tick { fill: var(--muted); }
svg .grid { stroke: #eef0f2; } svg .centre { stroke: var(--ink); stroke-width: 1; }
svg .limit { fill: none; stroke: var(--bad); stroke-width: 1; stroke-dasharray: 5 3; }
svg .series { fill: none; stroke: var(--accent); stroke-width: 1.4; } svg .pt { fill: var(--accent); }
svg .pt.sig { fill: var(--bad); stroke: #000; stroke-width: 0.8; }
svg .bar { fill: #8fb3dc; stroke: var(--accent); stroke-width: 0.6; } svg .cum { fill: none; stroke: var(--bad); stroke-width: 1.5; } svg .cum-pt { fill: var(--bad); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: right; } th:first-child, td:first-child { text-align: left; }
th { background: #f5f6f8; font-weight: 600; } tr.flag td { background: #fdecec; }
.alerts li { margin: 2px 0; } .alerts .rule { color: var(--bad); font-weight: 600; }
.none { color: var(--muted); font-style: italic; }
.note { color: var(--muted); font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .grid2 { grid-template-columns: 1fr 1fr; }
  th { background: none; } tr.flag td { background: none; font-weight: 600; }
  a { color: inherit; text-decoration: none; }
  @page { size: A4 landscape; margin: 12mm; }
}
`;

function outcomesCells(o: CastingReport['overall']): string {
  return [o.pieces, o.defective, pct(o.p), o.defects, num(o.u), o.accepted, o.rework, o.scrap, o.rejected + o.pending, pct(o.firstPassYield)]
    .map((v) => `<td>${esc(String(v))}</td>`)
    .join('');
}

export function renderCastingReportHtml(r: CastingReport, opts: { csvHref?: string } = {}): string {
  const scope = r.scope === 'all' ? 'any defect' : r.scope.replace('_', ' ');
  const filters = Object.entries(r.filters).map(([k, v]) => `${k} = ${v.join(' or ')}`).join('; ');
  const signalled = r.series.filter((s) => s.p.signals.length + s.u.signals.length > 0);
  const groupTitle = r.byGroup ? r.groupBy : `${r.groupBy} (time)`;

  const alerts =
    r.alerts.length === 0
      ? '<p class="none">No alert recorded for this period.</p>'
      : `<ul class="alerts" id="alerts">${r.alerts
          .map(
            (a) =>
              `<li data-group="${esc(a.group)}" data-rule="${esc(a.rule)}" data-chart="${a.chart}"><span class="rule">${esc(a.chart)}-chart, ${esc(a.dimension)} ${esc(a.group)}</span>: ${esc(RULE_TEXT[a.rule])} at ${esc(a.pointKey)}${a.startKey !== a.pointKey ? ` (run from ${esc(a.startKey)})` : ''} — ${esc(a.chart === 'p' ? pct(a.value) : num(a.value))} against centre ${esc(a.chart === 'p' ? pct(a.centre) : num(a.centre))}, UCL ${esc(a.chart === 'p' ? pct(a.ucl) : num(a.ucl))}, n=${a.n}. <span class="note">detected ${esc(a.detectedAt.slice(0, 16).replace('T', ' '))} UTC${a.notifiedAt ? ', notified' : ''}</span></li>`,
          )
          .join('')}</ul>`;

  const byGroup = r.byGroup
    ? `<h2>${esc(r.groupBy)} against ${esc(r.groupBy)}</h2>
<p class="note">Each point is one ${esc(r.groupBy)} over the whole period; limits are those of a ${esc(r.groupBy)} inspecting that many pieces from the pooled process.</p>
<div class="grid2"><figure>${controlChartSvg(r.byGroup.p, { title: `p-chart: pieces with ${scope} by ${r.groupBy}`, group: '*' })}</figure>
<figure>${controlChartSvg(r.byGroup.u, { title: `u-chart: ${scope} defects per piece by ${r.groupBy}`, group: '*' })}</figure></div>`
    : '';

  const series = r.series
    .map(
      (s) => `<div class="grid2 series" data-group="${esc(s.group)}">
<figure>${controlChartSvg(s.p, { title: `${r.byGroup ? `${r.groupBy} ${s.group}: ` : ''}p-chart, pieces with ${scope} per ${r.interval}`, group: s.group })}<figcaption>${s.p.signals.length ? esc(s.p.signals.map((x) => `${RULE_TEXT[x.rule]} at ${x.key}`).join('; ')) : 'in control'}</figcaption></figure>
<figure>${controlChartSvg(s.u, { title: `${r.byGroup ? `${r.groupBy} ${s.group}: ` : ''}u-chart, ${scope} defects per piece per ${r.interval}`, group: s.group })}<figcaption>${s.u.signals.length ? esc(s.u.signals.map((x) => `${RULE_TEXT[x.rule]} at ${x.key}`).join('; ')) : 'in control'}</figcaption></figure>
</div>`,
    )
    .join('\n');

  const table = `<table id="groups"><thead><tr><th>${esc(groupTitle)}</th><th>pieces</th><th>with ${esc(scope)}</th><th>p</th><th>defects</th><th>u</th><th>accepted</th><th>rework</th><th>scrap</th><th>open</th><th>first-pass yield</th><th>signals</th></tr></thead><tbody>
${r.groups.map((g) => `<tr${g.signals > 0 ? ' class="flag"' : ''} data-key="${esc(g.key)}"><td>${esc(g.key)}</td>${outcomesCells(g)}<td>${g.signals}</td></tr>`).join('\n')}
<tr><th>all</th>${outcomesCells(r.overall).replaceAll('<td>', '<th>').replaceAll('</td>', '</th>')}<th></th></tr></tbody></table>`;

  const agreement =
    r.agreement.length === 0
      ? '<p class="none">No reviewed inspection in this period.</p>'
      : `<table id="agreement"><thead><tr><th>model versions</th><th>family</th><th>reviewed inspections</th><th>confirmed</th><th>rejected</th><th>missed</th><th>undecided</th></tr></thead><tbody>
${r.agreement.map((a) => `<tr><td>${esc(a.modelVersions)}</td><td>${esc(a.family)}</td><td>${a.reviewedInspections}</td><td>${a.confirmed} (${pct(a.confirmedShare)})</td><td>${a.rejected} (${pct(a.rejectedShare)})</td><td>${a.missed} (${pct(a.missedShare)})</td><td>${a.undecided}</td></tr>`).join('\n')}
</tbody></table>`;

  const paretoTable = r.pareto.map((p) => `<tr><td>${esc(p.family)} / ${esc(p.kind)}</td><td>${p.count}</td><td>${pct(p.share)}</td><td>${pct(p.cumulative)}</td></tr>`).join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p class="meta">Pieces at their first inspection from ${esc(r.period.from.slice(0, 16).replace('T', ' '))} to ${esc(r.period.to.slice(0, 16).replace('T', ' '))} UTC${filters ? `; ${esc(filters)}` : ''}; defective = at least one ${esc(scope)} finding (inspectors' decisions override the model). Generated ${esc(r.generatedAt.slice(0, 19).replace('T', ' '))} UTC.${opts.csvHref ? ` <a href="${esc(opts.csvHref)}">CSV</a>` : ''}</p>
<div class="kpis">
<div class="kpi">pieces<b>${r.overall.pieces}</b></div>
<div class="kpi">with ${esc(scope)} (p̄)<b>${pct(r.overall.p)}</b></div>
<div class="kpi">defects per piece (ū)<b>${num(r.overall.u)}</b></div>
<div class="kpi">first-pass yield<b>${pct(r.overall.firstPassYield)}</b></div>
<div class="kpi">groups with signals<b>${signalled.length}</b></div>
</div>
<h2>Alerts</h2>
${alerts}
${byGroup}
<h2>Over time${r.byGroup ? ` by ${esc(r.groupBy)}` : ''} <span class="note">(per ${esc(r.interval)}; groups with signals first; red diamonds: a point beyond the 3σ limits, the 8th+ point of a run on one side, the 6th+ point of a trend)</span></h2>
${series || '<p class="none">No inspection in this period.</p>'}
<h2>Defect kinds (Pareto)</h2>
<div class="grid2"><figure>${paretoSvg(r.pareto, { title: 'Effective findings by kind, with cumulative share' })}</figure>
<table id="pareto"><thead><tr><th>family / kind</th><th>count</th><th>share</th><th>cumulative</th></tr></thead><tbody>${paretoTable}</tbody></table></div>
<h2>Pore sizes</h2>
<figure>${histogramSvg(r.poreSizes.edgesMm, r.poreSizes.counts, { title: `Pore diameters (n=${r.poreSizes.n}, mean ${num(r.poreSizes.meanMm)} mm, largest ${num(r.poreSizes.maxMm)} mm)` })}</figure>
<h2>First-pass yield</h2>
<figure>${rateLineSvg(r.yield.map((y) => ({ key: y.key, value: y.firstPassYield, n: y.decided })), { title: `First-pass yield per ${r.interval} (accepted at the first inspection, never reworked)` })}</figure>
<h2>By ${esc(groupTitle)}</h2>
${table}
<h2>Inspectors and the model</h2>
${agreement}
<p class="note">p-chart limits p̄ ± 3√(p̄(1−p̄)/nᵢ) clamped to [0, 1]; u-chart limits ū ± 3√(ū/nᵢ); centre lines over the subgroups shown. Query ${Object.entries(r.timingsMs).map(([k, v]) => `${k} ${v} ms`).join(', ')}.</p>
</body></html>
`;
}
