import { describe, expect, it } from 'vitest';
import { auroc, averagePrecision, classificationMetrics, matchStones, PooledPixelAuroc } from '../../models/eval/metrics.js';
import { photoTimeSpread } from '../../models/eval/run-eval.js';

describe('eval metrics', () => {
  it('computes AUROC as the probability a positive outranks a negative, ties as half', () => {
    expect(auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.75, 10);
    expect(auroc([0.5, 0.5], [true, false])).toBe(0.5);
    expect(auroc([0.2, 0.3], [true, true])).toBeNull();
  });

  it('computes average precision like scikit-learn', () => {
    // sklearn.metrics.average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333...
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.83333, 4);
  });

  it('reports null, not zero, for recall without positives', () => {
    const m = classificationMetrics([0.1, 0.9], [false, true], [false, false]);
    expect(m.recall).toBeNull();
    expect(m.auroc).toBeNull();
    expect(m.negatives).toBe(2);
  });

  it('pools pixel AUROC by histogram close to the exact statistic, and IoU at the threshold', () => {
    const n = 20_000;
    const prob = new Float32Array(n);
    const truth = new Uint8Array(n);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const scores: number[] = [];
    const labels: boolean[] = [];
    for (let i = 0; i < n; i++) {
      truth[i] = rand() < 0.1 ? 255 : 0;
      prob[i] = Math.min(1, Math.max(0, (truth[i] ? 0.6 : 0.4) + (rand() - 0.5) * 0.6));
      scores.push(prob[i]);
      labels.push(truth[i] > 0);
    }
    const pooled = new PooledPixelAuroc();
    pooled.add(prob, truth, 0.5);
    expect(pooled.auroc()!).toBeCloseTo(auroc(scores, labels)!, 3);
    const iou = pooled.iou()!;
    expect(iou).toBeGreaterThan(0);
    expect(iou).toBeLessThan(1);
  });

  it('matches stones one-to-one within half the true radius, closest first', () => {
    const truth = [
      { cx: 10, cy: 10, r: 4 },
      { cx: 20, cy: 10, r: 4 },
    ];
    const predicted = [
      { cx: 11, cy: 10, r: 4 },
      { cx: 10.5, cy: 10, r: 4 },
      { cx: 24, cy: 10, r: 4 },
    ];
    expect(matchStones(truth, predicted)).toEqual([[0, 1]]);
  });
});

describe('the per-photo time spread in an eval', () => {
  // The mean hides the slow framings; the report's slowest photo is what a shop floor waits for.
  it('gives the median, 90th percentile and slowest photo by nearest rank, and nothing without photos', () => {
    expect(photoTimeSpread([5, 1, 3, 2, 4, 10, 6, 7, 8, 9])).toEqual({ msMedian: 5, msP90: 9, msMax: 10 });
    expect(photoTimeSpread([700])).toEqual({ msMedian: 700, msP90: 700, msMax: 700 });
    expect(photoTimeSpread([])).toEqual({});
  });
});
