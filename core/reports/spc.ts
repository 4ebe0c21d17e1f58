/**
 * Statistical process control for attribute data (Montgomery, "Introduction to Statistical Quality Control",
 * ch. 7: p- and u-charts with variable subgroup size) and the Western Electric / Nelson run rules. Pure functions:
 * the queries give counts per subgroup, these give centre lines, limits and signals.
 */

/** One subgroup: `n` pieces inspected, `count` defective pieces (p-chart) or defects (u-chart). */
export interface Subgroup {
  key: string;
  n: number;
  count: number;
}

export const SIGNAL_RULES = ['beyond-limits', 'run-8-one-side', 'trend-6'] as const;
export type SignalRule = (typeof SIGNAL_RULES)[number];

export const RULE_TEXT: Record<SignalRule, string> = {
  'beyond-limits': 'a point beyond the 3σ limits',
  'run-8-one-side': '8 points in a row on one side of the centre line',
  'trend-6': '6 points in a row steadily rising or falling',
};

export interface ChartPoint extends Subgroup {
  /** p = count / n, or u = count / n. */
  value: number;
  sigma: number;
  ucl: number;
  lcl: number;
  /** Rules this point fires or keeps firing (the run's later points carry the rule too). */
  signals: SignalRule[];
}

export interface Signal {
  rule: SignalRule;
  /** Where the rule fired (the 8th point of a run, the 6th of a trend, the point itself beyond the limits). */
  index: number;
  key: string;
  /** Where the run began; for `beyond-limits` the point itself. */
  startIndex: number;
  startKey: string;
  /** Last point of the run (a run keeps going while points stay on its side / keep the direction). */
  endIndex: number;
  endKey: string;
  /** above / below the centre line (beyond-limits, run-8), rising / falling (trend-6). */
  direction: 'above' | 'below' | 'rising' | 'falling';
}

export interface ControlChart {
  kind: 'p' | 'u';
  centre: number;
  totalN: number;
  totalCount: number;
  points: ChartPoint[];
  signals: Signal[];
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Fields named, not spread from the subgroup: a year of daily points for 50 groups is ~40 000 of these per report,
 * and V8's object spread was most of the report's JavaScript time (measured in test/bench/casting-report.bench.ts).
 */
function point(s: Subgroup, sigma: number, ucl: number, lcl: number): ChartPoint {
  return { key: s.key, n: s.n, count: s.count, value: s.count / s.n, sigma, ucl, lcl, signals: [] };
}

/**
 * p-chart: centre p̄ = Σcount / Σn over the chart's subgroups, limits p̄ ± 3√(p̄(1−p̄)/nᵢ) per subgroup, clamped to
 * [0, 1]. Subgroups with n = 0 have no fraction and are left out.
 */
export function pChart(subgroups: readonly Subgroup[]): ControlChart {
  const groups = subgroups.filter((s) => s.n > 0);
  const totalN = groups.reduce((a, s) => a + s.n, 0);
  const totalCount = groups.reduce((a, s) => a + s.count, 0);
  const centre = totalN > 0 ? totalCount / totalN : 0;
  const points = groups.map((s) => {
    const sigma = Math.sqrt((centre * (1 - centre)) / s.n);
    return point(s, sigma, clamp(centre + 3 * sigma, 0, 1), clamp(centre - 3 * sigma, 0, 1));
  });
  return finish('p', centre, totalN, totalCount, points);
}

/** u-chart: centre ū = Σdefects / Σn, limits ū ± 3√(ū/nᵢ), the lower one clamped at 0. */
export function uChart(subgroups: readonly Subgroup[]): ControlChart {
  const groups = subgroups.filter((s) => s.n > 0);
  const totalN = groups.reduce((a, s) => a + s.n, 0);
  const totalCount = groups.reduce((a, s) => a + s.count, 0);
  const centre = totalN > 0 ? totalCount / totalN : 0;
  const points = groups.map((s) => {
    const sigma = Math.sqrt(centre / s.n);
    return point(s, sigma, centre + 3 * sigma, Math.max(0, centre - 3 * sigma));
  });
  return finish('u', centre, totalN, totalCount, points);
}

function finish(kind: 'p' | 'u', centre: number, totalN: number, totalCount: number, points: ChartPoint[]): ControlChart {
  const signals = runRules(points, centre);
  for (const s of signals) for (let i = s.index; i <= s.endIndex; i++) if (!points[i]!.signals.includes(s.rule)) points[i]!.signals.push(s.rule);
  return { kind, centre, totalN, totalCount, points, signals };
}

/**
 * The three rules, over points in subgroup order:
 * - `beyond-limits`: value > UCL or < LCL (each such point is a signal of its own);
 * - `run-8-one-side`: 8 consecutive points strictly above (or strictly below) the centre line; a point on the line
 *   ends the run. One signal per run, firing at its 8th point and extended while the run lasts;
 * - `trend-6`: 6 consecutive points each strictly higher (or lower) than the one before (5 steps); a tie ends it.
 *   Judged on the plotted values (with varying nᵢ a few authors use z-scores; the plotted values are what a reader
 *   checks by eye).
 */
export function runRules(points: ReadonlyArray<{ key: string; value: number; ucl: number; lcl: number }>, centre: number): Signal[] {
  const out: Signal[] = [];
  const at = (rule: SignalRule, start: number, fire: number, end: number, direction: Signal['direction']): Signal => ({
    rule,
    index: fire,
    key: points[fire]!.key,
    startIndex: start,
    startKey: points[start]!.key,
    endIndex: end,
    endKey: points[end]!.key,
    direction,
  });

  points.forEach((p, i) => {
    if (p.value > p.ucl) out.push(at('beyond-limits', i, i, i, 'above'));
    else if (p.value < p.lcl) out.push(at('beyond-limits', i, i, i, 'below'));
  });

  // Runs on one side of the centre line.
  const side = (v: number) => (v > centre ? 1 : v < centre ? -1 : 0);
  for (let i = 0; i < points.length; ) {
    const s = side(points[i]!.value);
    let j = i;
    while (s !== 0 && j + 1 < points.length && side(points[j + 1]!.value) === s) j++;
    if (s !== 0 && j - i + 1 >= 8) out.push(at('run-8-one-side', i, i + 7, j, s > 0 ? 'above' : 'below'));
    i = j + 1;
  }

  // Trends: maximal strictly monotone stretches.
  for (let i = 0; i + 1 < points.length; ) {
    const d = Math.sign(points[i + 1]!.value - points[i]!.value);
    if (d === 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j + 1 < points.length && Math.sign(points[j + 1]!.value - points[j]!.value) === d) j++;
    if (j - i + 1 >= 6) out.push(at('trend-6', i, i + 5, j, d > 0 ? 'rising' : 'falling'));
    i = j;
  }
  return out.sort((a, b) => a.index - b.index || SIGNAL_RULES.indexOf(a.rule) - SIGNAL_RULES.indexOf(b.rule));
}

export interface ParetoRow {
  family: string;
  kind: string;
  count: number;
  share: number;
  cumulative: number;
}

/** Largest first (ties by family, then kind); shares of the total and the running cumulative share (last = 1). */
export function pareto(rows: ReadonlyArray<{ family: string; kind: string; count: number }>): ParetoRow[] {
  const sorted = rows.filter((r) => r.count > 0).sort((a, b) => b.count - a.count || a.family.localeCompare(b.family) || a.kind.localeCompare(b.kind));
  const total = sorted.reduce((a, r) => a + r.count, 0);
  let run = 0;
  return sorted.map((r) => {
    run += r.count;
    return { family: r.family, kind: r.kind, count: r.count, share: r.count / total, cumulative: run / total };
  });
}

/** Histogram edges in mm: [0, w, 2w, …, max] plus an open last bin (≥ max). */
export function binEdges(binMm: number, maxMm: number): number[] {
  const n = Math.max(1, Math.round(maxMm / binMm));
  // Rounded to 1e-9 so 0.1 + 0.05 prints as 0.15, and the SQL parameter is the edge the label says.
  return Array.from({ length: n + 1 }, (_, k) => Math.round(k * binMm * 1e9) / 1e9);
}

export function ratio(num: number, den: number): number | null {
  return den > 0 ? num / den : null;
}
