import { describe, expect, it } from 'vitest';
import { analyseSpacing, orderRow } from '../../pipeline/postprocess/spacing.js';
import type { StoneOut } from '../../pipeline/report.schema.js';
import { spacingTolerance } from './helpers.js';

// 0.01 mm/px; stones of radius 0.6 mm (60 px) at a 0.25 mm gap: pitch 1.45 mm = 145 px.
const MM = 0.01;
const R = 60;
const PITCH = 145;

function row(count: number, shift: (i: number) => number = () => 0): StoneOut[] {
  let x = 100;
  return Array.from({ length: count }, (_, i) => {
    x += i === 0 ? 0 : PITCH + shift(i);
    return { cx: x, cy: 500, r: R, confidence: 0.9 };
  });
}

describe('stone spacing geometry', () => {
  it('passes an even row, with its gaps in mm', () => {
    const a = analyseSpacing({ stones: row(8), mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: null });
    expect(a.verdict).toBe('pass');
    expect(a.gapsMm).toHaveLength(7);
    for (const g of a.gapsMm) expect(g).toBeCloseTo(0.25, 6);
    expect(a.meanGapMm).toBeCloseTo(0.25, 6);
    expect(a.spreadMm).toBeCloseTo(0, 6);
    expect(a.worstDeviationMm).toBeCloseTo(0, 6);
    expect(a.missing).toEqual([]);
    expect(a.findings).toEqual([]);
    expect(a.score).toBe(0);
  });

  it('flags one gap 0.2 mm wider than the others, naming the gap and its size', () => {
    // Stone 4 onwards moved 20 px = 0.2 mm right: only gap 3 (stones 3-4) widens.
    const a = analyseSpacing({ stones: row(8, (i) => (i === 4 ? 20 : 0)), mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: null });
    expect(a.verdict).not.toBe('pass');
    const wide = a.findings.filter((f) => f.kind === 'gap_wide');
    expect(wide).toHaveLength(1);
    expect(wide[0]!.gapIndex).toBe(3);
    expect(wide[0]!.gapMm).toBeCloseTo(0.45, 6);
    expect(wide[0]!.deviationMm).toBeCloseTo(0.2, 6);
    expect(a.gapsMm[3]).toBeCloseTo(0.45, 6);
    expect(a.worstDeviationMm).toBeCloseTo(0.2, 6);
    expect(a.nominalGapMm).toBeCloseTo(0.25, 6);
    expect(a.score).toBeGreaterThan(0.5);
    expect(a.findings.filter((f) => f.kind !== 'gap_wide')).toEqual([]);
  });

  it('flags a crowded gap as narrow', () => {
    const a = analyseSpacing({ stones: row(8, (i) => (i === 5 ? -12 : 0)), mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: null });
    const narrow = a.findings.filter((f) => f.kind === 'gap_narrow');
    expect(narrow.map((f) => f.gapIndex)).toEqual([4]);
    expect(narrow[0]!.gapMm).toBeCloseTo(0.13, 6);
  });

  it('finds a missing stone at the right place, not as a wide gap', () => {
    const full = row(9);
    const stones = full.filter((_, i) => i !== 5);
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: null });
    expect(a.verdict).toBe('fail');
    expect(a.score).toBe(1);
    expect(a.missing).toHaveLength(1);
    expect(a.missing[0]!.cx).toBeCloseTo(full[5]!.cx, 0);
    expect(a.missing[0]!.cy).toBeCloseTo(full[5]!.cy, 0);
    expect(a.findings.map((f) => f.kind)).toEqual(['missing_stone']);
    // The gap spanning the hole is listed but does not distort the statistics.
    expect(a.gapsMm[4]).toBeCloseTo(0.25 + 1.45, 6);
    expect(a.meanGapMm).toBeCloseTo(0.25, 6);
  });

  it('places stones missing off the end when the design has more', () => {
    const a = analyseSpacing({ stones: row(6), mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 7 });
    expect(a.verdict).toBe('fail');
    expect(a.missing).toHaveLength(1);
    expect(a.missing[0]!.cx).toBeCloseTo(100 + 6 * PITCH, 0);
  });

  it('orders a curved row along the curve and measures its gaps', () => {
    // 9 stones on an arc of radius 1000 px, pitch 145 px along the chord, given in shuffled order.
    const stones: StoneOut[] = [];
    const step = 2 * Math.asin(PITCH / 2 / 1000);
    for (let i = 0; i < 9; i++) {
      const t = -Math.PI / 2 + (i - 4) * step;
      stones.push({ cx: 1200 + 1000 * Math.cos(t), cy: 1100 + 1000 * Math.sin(t), r: R, confidence: 0.9 });
    }
    const shuffled = [stones[4]!, stones[0]!, stones[7]!, stones[2]!, stones[8]!, stones[1]!, stones[6]!, stones[3]!, stones[5]!];
    const ordered = orderRow(shuffled);
    expect(ordered.map((s) => stones.indexOf(s))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const a = analyseSpacing({ stones: shuffled, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 9 });
    expect(a.verdict).toBe('pass');
    for (const g of a.gapsMm) expect(g).toBeCloseTo(0.25, 4);
  });

  it('uses the profile nominal gap when it sets one', () => {
    const a = analyseSpacing({ stones: row(6), mmPerPx: MM, tolerance: spacingTolerance({ nominalGapMm: 0.4 }), expectedCount: null });
    expect(a.nominalGapSource).toBe('profile');
    expect(a.worstDeviationMm).toBeCloseTo(0.15, 6);
    expect(a.verdict).toBe('fail');
    expect(a.findings.every((f) => f.kind === 'gap_narrow')).toBe(true);
  });

  it('flags an undersized stone for review', () => {
    const stones = row(7);
    stones[3] = { ...stones[3]!, r: R * 0.7 };
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance({ reviewDeviationMm: 1, failDeviationMm: 2 }), expectedCount: null });
    expect(a.findings.map((f) => [f.kind, f.stoneIndex])).toEqual([['undersized_stone', 3]]);
    expect(a.verdict).toBe('review');
  });

  it('drops the weaker of two detections on one stone instead of reporting a negative gap', () => {
    // A second, weaker peak 25 px from stone 3's centre (a large stone's second peak, or a prong on its girdle).
    const stones = [...row(8), { cx: 100 + 3 * PITCH + 25, cy: 510, r: 45, confidence: 0.35 }];
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 8 });
    expect(a.found).toBe(8);
    expect(a.stones.every((s) => s.confidence === 0.9)).toBe(true);
    for (const g of a.gapsMm) expect(g).toBeCloseTo(0.25, 6);
    expect(a.findings).toEqual([]);
    expect(a.verdict).toBe('pass');
  });

  it('keeps every stone when the radii overshoot the pitch, as an uncalibrated radius map does', () => {
    // Radius 1.5 x the girdle: every neighbour "overlaps" by 0.35 mm, one stone undetected, and the row is still whole.
    const stones = row(9)
      .filter((_, i) => i !== 6)
      .map((s, i) => ({ ...s, r: 1.5 * R, confidence: i % 2 ? 0.4 : 0.9 }));
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 9 });
    expect(a.found).toBe(8);
    expect(a.missing).toHaveLength(1);
    expect(a.missing[0]!.cx).toBeCloseTo(100 + 6 * PITCH, 0);
  });

  it.each([
    // A reflection well off the row, at a sharp turn from its last stone: it used to bring two "missing" stones.
    ['off the row', { cx: 100 + 5 * PITCH, cy: 500 - 2.2 * PITCH }],
    // A prong or seat edge overlapping the last stone by a quarter of a radius: it used to read as a negative gap.
    ['overlapping an end stone', { cx: 100 + 6 * PITCH + 60, cy: 500 + 75 }],
  ])('ignores a detection beyond the design count %s', (_, at) => {
    const stones = [...row(7), { ...at, r: R, confidence: 0.6 }];
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 7 });
    expect(a.found).toBe(7);
    expect(a.stones.every((s) => s.confidence === 0.9)).toBe(true);
    expect(a.findings).toEqual([]);
    expect(a.verdict).toBe('pass');
  });

  it('still flags a wide gap in a row that also holds a detection beyond the design count', () => {
    const stones = [...row(7, (i) => (i === 3 ? 20 : 0)), { cx: 100 + 5 * PITCH, cy: 500 - 2.2 * PITCH, r: R, confidence: 0.95 }];
    const a = analyseSpacing({ stones, mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: 7 });
    expect(a.found).toBe(7);
    expect(a.findings.map((f) => [f.kind, f.gapIndex])).toEqual([['gap_wide', 2]]);
  });

  it('has no row with fewer than two stones', () => {
    const a = analyseSpacing({ stones: row(1), mmPerPx: MM, tolerance: spacingTolerance(), expectedCount: null });
    expect(a.verdict).toBe('pass');
    expect(a.gapsMm).toEqual([]);
    expect(a.worstDeviationMm).toBeNull();
  });
});
