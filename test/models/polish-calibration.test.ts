import { describe, expect, it } from 'vitest';
import { aurocOf } from '../../models/eval/metrics.js';
import { fitBalancedPlatt, fitPolishCalibration } from '../../models/eval/polish-calibration.js';
import type { ImageOutcome } from '../../models/eval/run-eval.js';
import { polishFamilyScore } from '../../pipeline/polish-family.js';

/** Deterministic standard normals (Box-Muller on a fixed LCG). */
function normals(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('balanced Platt fit', () => {
  it('recovers the log-odds of two equal-variance classes at an even prior', () => {
    // Positives N(2, 1), negatives N(-1, 1): log-odds 3x - 1.5 whatever the classes' counts.
    const pos = normals(4000, 1).map((z) => 2 + z);
    const neg = normals(12000, 2).map((z) => -1 + z);
    const fit = fitBalancedPlatt(pos, neg);
    expect(Math.abs(fit.slope - 3)).toBeLessThan(0.15);
    expect(Math.abs(fit.intercept + 1.5)).toBeLessThan(0.15);
  });

  it('does not move when one class is repeated', () => {
    const pos = normals(50, 3).map((z) => 1 + z);
    const neg = normals(80, 4);
    const once = fitBalancedPlatt(pos, neg);
    const thrice = fitBalancedPlatt(pos, [...neg, ...neg, ...neg]);
    expect(thrice.slope).toBeCloseTo(once.slope, 9);
    expect(thrice.intercept).toBeCloseTo(once.intercept, 9);
  });

  it('stays finite and in order when validation separates the classes', () => {
    const fit = fitBalancedPlatt([3, 4, 5], [-2, -1, 0]);
    expect(Number.isFinite(fit.slope) && Number.isFinite(fit.intercept)).toBe(true);
    expect(fit.slope).toBeGreaterThan(0);
  });
});

describe('polish calibration from scored validation photos', () => {
  const kinds = ['scratch', 'haze', 'tool_mark', 'orange_peel'] as const;
  type Kind = (typeof kinds)[number];
  const photo = (scores: Partial<Record<Kind, number>>, defect?: Kind, piece: string | null = 'ring_band') =>
    ({
      entry: { piece, labels: { porosity: false, stone_spacing: false, polish: defect !== undefined }, defects: defect ? [{ family: 'polish', kind: defect }] : [] },
      report: { families: { polish: { kindScores: { scratch: 0.05, haze: 0.05, tool_mark: 0.05, orange_peel: 0.05, ...scores } } } },
    }) as unknown as ImageOutcome;
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  // Haze reads high on every clean photo (0.35-0.75) and higher on hazy ones (0.65-0.95); orange peel reads low on
  // clean photos (0.02-0.2) and only moderately on peel (0.3-0.5). Raw, clean haze outranks real orange peel.
  const z = normals(400, 7);
  const clean = Array.from({ length: 200 }, (_, i) => photo({ haze: sigmoid(0.2 + 0.5 * z[i]!), orange_peel: sigmoid(-3 + 0.5 * z[200 + i]!) }));
  const hazy = Array.from({ length: 40 }, (_, i) => photo({ haze: sigmoid(1.8 + 0.5 * z[i]!) }, 'haze'));
  const peel = Array.from({ length: 40 }, (_, i) => photo({ orange_peel: sigmoid(-0.4 + 0.5 * z[100 + i]!) }, 'orange_peel'));
  const tiles = Array.from({ length: 30 }, () => photo({ haze: 0.99, orange_peel: 0.99 }, undefined, null));
  const images = [...clean, ...hazy, ...peel, ...tiles];

  it('fits each kind on photos holding it against clean jewelry photos, and leaves out kinds it has no photos of', () => {
    const cal = fitPolishCalibration(images, ['val']);
    expect(Object.keys(cal.kinds).sort()).toEqual(['haze', 'orange_peel']);
    expect(cal.kinds.haze).toMatchObject({ positives: 40, negatives: 200 });
    expect(cal.calibratedOn).toEqual(['val']);
  });

  it('ranks polish photos above clean ones better than the largest raw kind score does', () => {
    const cal = fitPolishCalibration(images, ['val']);
    const family = (o: ImageOutcome, c?: typeof cal) =>
      polishFamilyScore(kinds.map((k) => ({ kind: k, score: o.report.families.polish.kindScores[k]! })), c);
    const auroc = (c?: typeof cal) => aurocOf([...hazy, ...peel].map((o) => family(o, c)), clean.map((o) => family(o, c)))!;
    expect(auroc()).toBeLessThan(0.85);
    expect(auroc(cal)).toBeGreaterThan(0.97);
  });
});
