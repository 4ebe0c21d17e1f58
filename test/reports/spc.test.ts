import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../core/reports/buckets.js';
import { binEdges, pareto, pChart, runRules, uChart } from '../../core/reports/spc.js';

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 8);

describe('p-chart', () => {
  it('gives per-subgroup limits p̄ ± 3√(p̄(1−p̄)/nᵢ) for varying subgroup sizes, clamped at 0', () => {
    // Hand-computed: p̄ = 51 / 600 = 0.085.
    const c = pChart([
      { key: 'a', n: 50, count: 5 },
      { key: 'b', n: 100, count: 6 },
      { key: 'c', n: 25, count: 10 },
      { key: 'd', n: 400, count: 30 },
      { key: 'e', n: 25, count: 0 },
    ]);
    close(c.centre, 0.085);
    expect([c.totalN, c.totalCount]).toEqual([600, 51]);
    const expected = [
      // value, sigma, ucl, lcl
      [0.1, 0.039439828, 0.203319483, 0],
      [0.06, 0.02788817, 0.168664509, 0.001335491],
      [0.4, 0.055776339, 0.252329017, 0],
      [0.075, 0.013944085, 0.126832254, 0.043167746],
      [0, 0.055776339, 0.252329017, 0],
    ];
    c.points.forEach((p, i) => {
      const [v, s, u, l] = expected[i]!;
      close(p.value, v!);
      close(p.sigma, s!);
      close(p.ucl, u!);
      close(p.lcl, l!);
    });
    expect(c.signals.map((s) => [s.rule, s.key, s.direction])).toEqual([['beyond-limits', 'c', 'above']]);
    expect(c.points.map((p) => p.signals)).toEqual([[], [], ['beyond-limits'], [], []]);
  });

  it('clamps the upper limit at 1 for a small subgroup and leaves out empty subgroups', () => {
    // p̄ = 3/7; n = 3: 3/7 + 3·√(3/7·4/7/3) = 1.2857 → 1.
    const c = pChart([
      { key: 'A', n: 3, count: 1 },
      { key: 'none', n: 0, count: 0 },
      { key: 'B', n: 4, count: 2 },
    ]);
    close(c.centre, 3 / 7);
    expect(c.points.map((p) => p.key)).toEqual(['A', 'B']);
    expect(c.points[0]!.ucl).toBe(1);
    expect(c.points[0]!.lcl).toBe(0);
    close(c.points[1]!.ucl, 1);
    expect(c.signals).toEqual([]);
  });

  it('has zero-width limits and no signal when nothing is ever defective', () => {
    const c = pChart([{ key: 'a', n: 10, count: 0 }, { key: 'b', n: 5, count: 0 }]);
    expect(c.centre).toBe(0);
    expect(c.points.every((p) => p.ucl === 0 && p.lcl === 0)).toBe(true);
    expect(c.signals).toEqual([]);
  });
});

describe('u-chart', () => {
  it('gives limits ū ± 3√(ū/nᵢ), the lower one clamped at 0', () => {
    // Hand-computed: ū = 60 / 270 = 0.2222…
    const c = uChart([
      { key: 'w1', n: 10, count: 3 },
      { key: 'w2', n: 40, count: 4 },
      { key: 'w3', n: 20, count: 13 },
      { key: 'w4', n: 200, count: 40 },
    ]);
    close(c.centre, 60 / 270);
    const expected = [
      [0.3, 0.149071198, 0.669435818, 0],
      [0.1, 0.074535599, 0.44582902, 0],
      [0.65, 0.105409255, 0.538449988, 0],
      [0.2, 0.033333333, 0.322222222, 0.122222222],
    ];
    c.points.forEach((p, i) => {
      const [v, s, u, l] = expected[i]!;
      close(p.value, v!);
      close(p.sigma, s!);
      close(p.ucl, u!);
      close(p.lcl, l!);
    });
    expect(c.signals.map((s) => [s.rule, s.key])).toEqual([['beyond-limits', 'w3']]);
  });
});

describe('run rules', () => {
  const pts = (values: number[]) => values.map((value, i) => ({ key: `k${i}`, value, ucl: 1, lcl: 0 }));

  it('fires "8 in a row on one side" at the 8th point, once per run, extended while the run lasts', () => {
    const s = runRules(pts([0.4, 0.6, 0.6, 0.7, 0.6, 0.9, 0.6, 0.8, 0.6, 0.7, 0.3]), 0.5);
    expect(s).toEqual([
      { rule: 'run-8-one-side', index: 8, key: 'k8', startIndex: 1, startKey: 'k1', endIndex: 9, endKey: 'k9', direction: 'above' },
    ]);
  });

  it('does not count 7 on one side, nor a run broken by a point on the centre line', () => {
    expect(runRules(pts([0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4]), 0.5)).toEqual([]);
    expect(runRules(pts([0.2, 0.3, 0.2, 0.3, 0.5, 0.2, 0.3, 0.2, 0.3]), 0.5)).toEqual([]);
  });

  it('finds 8 in a row below the centre line too', () => {
    const s = runRules(pts([0.2, 0.3, 0.2, 0.3, 0.2, 0.3, 0.2, 0.3]), 0.5);
    expect(s.map((x) => [x.rule, x.index, x.direction])).toEqual([['run-8-one-side', 7, 'below']]);
  });

  it('fires "6 in a row rising" at the 6th point and "falling" likewise; a tie breaks a trend', () => {
    const rising = runRules(pts([0.5, 0.1, 0.2, 0.3, 0.4, 0.45, 0.46, 0.47, 0.2]), 0.5);
    // k1..k8 are also 8 below the centre line.
    expect(rising.map((x) => [x.rule, x.startKey, x.key, x.endKey, x.direction])).toEqual([
      ['trend-6', 'k1', 'k6', 'k7', 'rising'],
      ['run-8-one-side', 'k1', 'k8', 'k8', 'below'],
    ]);
    const falling = runRules(pts([0.9, 0.8, 0.7, 0.6, 0.55, 0.52]), 0.5);
    expect(falling.map((x) => [x.rule, x.index, x.direction])).toEqual([['trend-6', 5, 'falling']]);
    expect(runRules(pts([0.1, 0.2, 0.3, 0.3, 0.4, 0.45, 0.46]), 0.5)).toEqual([]);
    expect(runRules(pts([0.1, 0.2, 0.3, 0.4, 0.45]), 0.5)).toEqual([]);
  });

  it('marks a point beyond either limit', () => {
    const s = runRules([
      { key: 'a', value: 0.5, ucl: 0.9, lcl: 0.1 },
      { key: 'b', value: 0.95, ucl: 0.9, lcl: 0.1 },
      { key: 'c', value: 0.05, ucl: 0.9, lcl: 0.1 },
      { key: 'd', value: 0.9, ucl: 0.9, lcl: 0.1 },
    ], 0.5);
    expect(s.map((x) => [x.rule, x.key, x.direction])).toEqual([
      ['beyond-limits', 'b', 'above'],
      ['beyond-limits', 'c', 'below'],
    ]);
  });
});

describe('Pareto', () => {
  it('sorts largest first and gives shares and cumulative shares ending at exactly 1', () => {
    const p = pareto([
      { family: 'polish', kind: 'scratch', count: 15 },
      { family: 'porosity', kind: 'pinhole', count: 50 },
      { family: 'porosity', kind: 'cluster', count: 5 },
      { family: 'porosity', kind: 'gas_void', count: 30 },
      { family: 'polish', kind: 'haze', count: 0 },
    ]);
    expect(p.map((r) => r.kind)).toEqual(['pinhole', 'gas_void', 'scratch', 'cluster']);
    p.forEach((r, i) => {
      close(r.share, [0.5, 0.3, 0.15, 0.05][i]!);
      close(r.cumulative, [0.5, 0.8, 0.95, 1][i]!);
    });
    expect(p.at(-1)!.cumulative).toBe(1);
  });

  it('breaks ties by family then kind', () => {
    const p = pareto([
      { family: 'porosity', kind: 'b', count: 2 },
      { family: 'polish', kind: 'z', count: 2 },
      { family: 'porosity', kind: 'a', count: 2 },
    ]);
    expect(p.map((r) => `${r.family}/${r.kind}`)).toEqual(['polish/z', 'porosity/a', 'porosity/b']);
  });
});

describe('buckets and bins', () => {
  it('maps a day to itself, the Monday of its ISO week, or its month', () => {
    expect(bucketOf('2025-03-05', 'day')).toBe('2025-03-05');
    expect(bucketOf('2025-03-05', 'week')).toBe('2025-03-03');
    expect(bucketOf('2025-03-09', 'week')).toBe('2025-03-03');
    expect(bucketOf('2025-03-10', 'week')).toBe('2025-03-10');
    expect(bucketOf('2025-03-05', 'month')).toBe('2025-03');
  });
  it('makes exact histogram edges', () => {
    expect(binEdges(0.05, 0.3)).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]);
  });
});
