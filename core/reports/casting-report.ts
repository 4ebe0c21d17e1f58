import type { Db } from '../store/db.js';
import { listAlerts } from './alerts.js';
import { bucketOf, defaultInterval } from './buckets.js';
import {
  agreement,
  countsByGroupDay,
  DIMENSIONS,
  findingKinds,
  poreSizes,
  withReportSession,
  type CastingQuery,
  type DayRow,
  type DefectScope,
  type Dimension,
  type TimeUnit,
} from './casting-query.js';
import type { CastingReport, GroupBy, Outcomes } from './casting-report.schema.js';
import { binEdges, pareto, pChart, ratio, uChart, type ControlChart } from './spc.js';

export interface CastingReportParams {
  from: string;
  to: string;
  groupBy: GroupBy;
  /** Time subgroup of the charts over time; default from the period's length (day ≤ 92 days < week ≤ 550 < month). */
  interval?: TimeUnit;
  scope?: DefectScope;
  filters?: Partial<Record<Dimension, string[]>>;
  /** Pore-size histogram: bin width and the edge where the open last bin starts, in mm. */
  poreBinMm?: number;
  poreMaxMm?: number;
}

type Counts = Omit<DayRow, 'group' | 'day'>;
const ZERO: Counts = { n: 0, defective: 0, defects: 0, accepted: 0, rework: 0, scrap: 0, rejected: 0, pending: 0, firstPass: 0 };

function add(a: Counts, b: Counts): Counts {
  return {
    n: a.n + b.n,
    defective: a.defective + b.defective,
    defects: a.defects + b.defects,
    accepted: a.accepted + b.accepted,
    rework: a.rework + b.rework,
    scrap: a.scrap + b.scrap,
    rejected: a.rejected + b.rejected,
    pending: a.pending + b.pending,
    firstPass: a.firstPass + b.firstPass,
  };
}

export function outcomes(c: Counts): Outcomes {
  return {
    pieces: c.n,
    defective: c.defective,
    defects: c.defects,
    p: ratio(c.defective, c.n),
    u: ratio(c.defects, c.n),
    accepted: c.accepted,
    rework: c.rework,
    scrap: c.scrap,
    rejected: c.rejected,
    pending: c.pending,
    firstPass: c.firstPass,
    firstPassYield: ratio(c.firstPass, c.n - c.pending),
  };
}

/** Sums day rows into buckets, in key order. */
export function rollUp(rows: readonly DayRow[], keyOf: (r: DayRow) => string): Array<{ key: string; counts: Counts }> {
  const m = new Map<string, Counts>();
  for (const r of rows) {
    const k = keyOf(r);
    m.set(k, add(m.get(k) ?? ZERO, r));
  }
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, counts]) => ({ key, counts }));
}

/** `bucketOf` once per distinct day (a year by caster is ~18 000 rows over 365 days). */
function bucketsOf(unit: TimeUnit): (r: DayRow) => string {
  const seen = new Map<string, string>();
  return (r) => {
    let b = seen.get(r.day);
    if (b === undefined) seen.set(r.day, (b = bucketOf(r.day, unit)));
    return b;
  };
}

export function chartsOver(buckets: Array<{ key: string; counts: Counts }>): { p: ControlChart; u: ControlChart } {
  return {
    p: pChart(buckets.map((b) => ({ key: b.key, n: b.counts.n, count: b.counts.defective }))),
    u: uChart(buckets.map((b) => ({ key: b.key, n: b.counts.n, count: b.counts.defects }))),
  };
}

const isDimension = (g: GroupBy): g is Dimension => (DIMENSIONS as readonly string[]).includes(g);

export function castingQuery(params: CastingReportParams): CastingQuery {
  return { from: params.from, to: params.to, filters: params.filters ?? {}, scope: params.scope ?? 'porosity' };
}

export async function buildCastingReport(store: Db, params: CastingReportParams, now = new Date()): Promise<CastingReport> {
  const q = castingQuery(params);
  const dimension = isDimension(params.groupBy) ? params.groupBy : null;
  const interval: TimeUnit = dimension ? (params.interval ?? defaultInterval(q.from, q.to)) : (params.groupBy as TimeUnit);
  const edges = binEdges(params.poreBinMm ?? 0.05, params.poreMaxMm ?? 1);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((performance.now() - t) * 10) / 10;
    }
  };

  const t0 = performance.now();
  const data = await withReportSession(store, async (db) => ({
    rows: await timed('days', () => countsByGroupDay(db, q, dimension)),
    kinds: await timed('kinds', () => findingKinds(db, q)),
    pores: await timed('pores', () => poreSizes(db, q, edges)),
    agreement: await timed('agreement', () => agreement(db, q)),
    alerts: await timed('alerts', () => listAlerts(db, { from: q.from, to: q.to })),
  }));

  const bucket = bucketsOf(interval);
  const byTime = rollUp(data.rows, bucket);
  let groups: CastingReport['groups'];
  let byGroup: CastingReport['byGroup'] = null;
  let series: CastingReport['series'];
  if (dimension) {
    const perGroup = rollUp(data.rows, (r) => r.group);
    const rowsOf = new Map<string, DayRow[]>();
    for (const r of data.rows) {
      const list = rowsOf.get(r.group);
      if (list) list.push(r);
      else rowsOf.set(r.group, [r]);
    }
    series = perGroup.map(({ key }) => ({ group: key, ...chartsOver(rollUp(rowsOf.get(key) ?? [], bucket)) }));
    const signalsOf = new Map(series.map((s) => [s.group, s.p.signals.length + s.u.signals.length]));
    groups = perGroup.map(({ key, counts }) => ({ key, ...outcomes(counts), signals: signalsOf.get(key) ?? 0 }));
    byGroup = chartsOver(perGroup);
    series.sort((a, b) => b.p.signals.length + b.u.signals.length - (a.p.signals.length + a.u.signals.length) || (a.group < b.group ? -1 : 1));
  } else {
    const charts = chartsOver(byTime);
    series = [{ group: 'all', ...charts }];
    const perPoint = new Map(charts.p.points.map((p, k) => [p.key, p.signals.length + (charts.u.points[k]?.signals.length ?? 0)]));
    groups = byTime.map(({ key, counts }) => ({ key, ...outcomes(counts), signals: perPoint.get(key) ?? 0 }));
  }

  const total = data.rows.reduce<Counts>((a, r) => add(a, r), ZERO);
  // The period is [from, to); people read the last day included.
  const title = `Casting quality by ${params.groupBy}, ${q.from.slice(0, 10)} – ${new Date(Date.parse(q.to) - 1).toISOString().slice(0, 10)}`;
  timings.total = Math.round((performance.now() - t0) * 10) / 10;
  return {
    title,
    generatedAt: now.toISOString(),
    period: { from: q.from, to: q.to },
    groupBy: params.groupBy,
    interval,
    scope: q.scope,
    filters: Object.fromEntries(Object.entries(q.filters).filter(([, v]) => v && v.length > 0)) as Record<string, string[]>,
    overall: outcomes(total),
    groups,
    byGroup,
    series,
    yield: byTime.map(({ key, counts }) => ({
      key,
      pieces: counts.n,
      decided: counts.n - counts.pending,
      firstPass: counts.firstPass,
      firstPassYield: ratio(counts.firstPass, counts.n - counts.pending),
    })),
    pareto: pareto(data.kinds),
    poreSizes: { edgesMm: data.pores.edges, counts: data.pores.counts, n: data.pores.n, meanMm: data.pores.meanMm, maxMm: data.pores.maxMm },
    agreement: data.agreement.map((a) => {
      const judged = a.confirmed + a.rejected + a.missed;
      return { ...a, confirmedShare: ratio(a.confirmed, judged), rejectedShare: ratio(a.rejected, judged), missedShare: ratio(a.missed, judged) };
    }),
    alerts: data.alerts,
    timingsMs: timings,
  };
}
