import type { CastingReport } from './casting-report.schema.js';

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =+-@ is neutralised for spreadsheets. */
function field(v: string | number | null): string {
  if (v === null) return '';
  let s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, '')) : v;
  if (typeof v === 'string' && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The report's table by group as CSV, one row per group (per time bucket when grouping by time), with each group's
 * p- and u-chart limits from the chart it is a point of.
 */
export function castingReportCsv(r: CastingReport): string {
  const chart = r.byGroup ?? { p: r.series[0]?.p, u: r.series[0]?.u };
  const pAt = new Map((chart.p?.points ?? []).map((p) => [p.key, p]));
  const uAt = new Map((chart.u?.points ?? []).map((p) => [p.key, p]));
  const head = [
    r.groupBy, 'pieces', 'defective', 'p', 'p_centre', 'p_ucl', 'p_lcl', 'defects', 'u', 'u_centre', 'u_ucl', 'u_lcl',
    'accepted', 'rework', 'scrap', 'rejected', 'pending', 'first_pass', 'first_pass_yield', 'signals', 'point_signals',
  ];
  const lines = [head.join(',')];
  for (const g of r.groups) {
    const p = pAt.get(g.key);
    const u = uAt.get(g.key);
    lines.push(
      [
        g.key, g.pieces, g.defective, g.p, chart.p?.centre ?? null, p?.ucl ?? null, p?.lcl ?? null, g.defects, g.u, chart.u?.centre ?? null,
        u?.ucl ?? null, u?.lcl ?? null, g.accepted, g.rework, g.scrap, g.rejected, g.pending, g.firstPass, g.firstPassYield, g.signals,
        [...new Set([...(p?.signals ?? []), ...(u?.signals ?? [])])].join(' '),
      ]
        .map(field)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
