import { describe, expect, it } from 'vitest';
import { gapErrorsMm } from '../../models/eval/metrics.js';

// Three true stones of radius 10 px at 0.01 mm/px, 25 px apart: true gaps 0.05 mm.
const truth = [
  { cx: 0, cy: 0, r: 10 },
  { cx: 25, cy: 0, r: 10 },
  { cx: 50, cy: 0, r: 10 },
];

describe('gap error against the reported gaps', () => {
  it('scores each true gap against the gap the report states between the matched stones', () => {
    const predicted = truth.map((t) => ({ ...t, cx: t.cx + 0.5 }));
    const g = gapErrorsMm(truth, predicted, [0.06, 0.04], 0.01);
    expect(g.trueGaps).toBe(2);
    expect(g.matchedPairs).toBe(2);
    expect(g.errorsMm.map((e) => Number(e.toFixed(6)))).toEqual([0.01, 0.01]);
  });

  it('follows the report when its row order runs the other way', () => {
    const predicted = [...truth].reverse();
    const g = gapErrorsMm(truth, predicted, [0.07, 0.05], 0.01);
    // Reversed order: reported gap 0 is between truth stones 2 and 1, reported gap 1 between 1 and 0.
    expect(g.errorsMm.map((e) => Number(e.toFixed(6)))).toEqual([0, 0.02]);
  });

  it('does not impute a gap the report never states when a spurious stone splits the pair', () => {
    const predicted = [truth[0]!, { cx: 12, cy: 12, r: 10 }, truth[1]!, truth[2]!];
    // Report order: 0, spurious, 1, 2: gaps (0-spurious), (spurious-1), (1-2).
    const g = gapErrorsMm(truth, predicted, [0.9, 0.9, 0.05], 0.01);
    expect(g.matchedPairs).toBe(2);
    expect(g.errorsMm).toHaveLength(1);
    expect(g.errorsMm[0]).toBeCloseTo(0, 9);
  });

  it('counts a gap with an unmatched stone as neither matched nor stated', () => {
    const g = gapErrorsMm(truth, [truth[0]!, truth[1]!], [0.05], 0.01);
    expect(g).toEqual({ errorsMm: [0], trueGaps: 2, matchedPairs: 1 });
  });
});
