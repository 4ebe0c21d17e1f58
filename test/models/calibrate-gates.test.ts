import { describe, expect, it } from 'vitest';
import { gateAtFpr } from '../../models/eval/calibrate-gates.js';

const rows = (neg: number[], pos: number[]) => [
  ...neg.map((score) => ({ score, positive: false })),
  ...pos.map((score) => ({ score, positive: true })),
];

describe('image gate at a bounded false-positive rate', () => {
  // 20 negatives 0.01..0.20, positives spread over the same range and above.
  const neg = Array.from({ length: 20 }, (_, i) => (i + 1) / 100);
  const pos = [0.05, 0.15, 0.19, 0.2, 0.5, 0.9];

  it('lets at most floor(maxFpr x negatives) negatives reach the gate, and no fewer than that bound requires', () => {
    const g = gateAtFpr(rows(neg, pos), 0.1)!; // 2 of 20 negatives may pass: 0.20 and 0.19
    expect(g.threshold).toBeCloseTo(0.1801, 4);
    expect(g.falsePositiveRate).toBe(0.1);
    expect(g.recall).toBeCloseTo(4 / 6, 6);
    expect(g.negatives).toBe(20);
    expect(g.positives).toBe(6);
  });

  it('puts the gate just above the highest negative at FPR 0, and records the trade-off at other rates', () => {
    const g = gateAtFpr(rows(neg, pos), 0)!;
    expect(g.threshold).toBeCloseTo(0.2001, 4);
    expect(g.falsePositiveRate).toBe(0);
    expect(g.recall).toBeCloseTo(2 / 6, 6);
    expect(g.recallAtFpr['0.05']).toBe(0.5); // gate 0.1901: 0.2, 0.5, 0.9
    expect(g.recallAtFpr['0.2']).toBeCloseTo(0.667, 3); // gate 0.1601: 0.19 too
  });

  it('has nothing to calibrate without negatives', () => {
    expect(gateAtFpr(rows([], pos), 0.05)).toBeNull();
  });
});
