import { describe, expect, it } from 'vitest';
import type { PolishCalibration } from '../../pipeline/model-manifest.schema.js';
import { calibratedKindScore, polishFamilyGate, polishFamilyScore } from '../../pipeline/polish-family.js';

// Haze scores high on clean photos and needs a high score to mean anything; orange peel scores low on clean photos.
const calibration: PolishCalibration = {
  method: 'balanced-platt',
  logitClip: 12,
  kinds: {
    haze: { slope: 2, intercept: -3, positives: 40, negatives: 160 },
    orange_peel: { slope: 1.5, intercept: 2, positives: 40, negatives: 160 },
  },
  calibratedOn: ['val'],
};

describe('polish family score', () => {
  it('is the largest kind score when the model carries no calibration', () => {
    const kinds = [{ kind: 'haze', score: 0.6 }, { kind: 'orange_peel', score: 0.3 }, { kind: 'scratch', score: 0.1 }];
    expect(polishFamilyScore(kinds, undefined)).toBe(0.6);
    expect(polishFamilyGate([{ kind: 'haze', gate: 0.8 }, { kind: 'scratch', gate: 0.7 }], undefined)).toBe(0.7);
  });

  it('lets a kind that is rare on clean photos outrank one that is common there', () => {
    // Raw, the photo with an ordinary haze score (0.6) ranks above the one with an unusual orange-peel score (0.3).
    const hazy = [{ kind: 'haze', score: 0.6 }, { kind: 'orange_peel', score: 0.05 }];
    const peel = [{ kind: 'haze', score: 0.3 }, { kind: 'orange_peel', score: 0.3 }];
    expect(polishFamilyScore(hazy, undefined)).toBeGreaterThan(polishFamilyScore(peel, undefined));
    expect(polishFamilyScore(peel, calibration)).toBeGreaterThan(polishFamilyScore(hazy, calibration));
  });

  it('keeps every kind in order, finite at scores of exactly 0 and 1, and leaves uncalibrated kinds raw', () => {
    const xs = [0, 1e-9, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9, 1];
    for (const kind of ['haze', 'orange_peel']) {
      const ys = xs.map((x) => calibratedKindScore(kind, x, calibration));
      for (const y of ys) expect(y).toBeGreaterThan(0), expect(y).toBeLessThan(1);
      for (let i = 1; i < ys.length; i++) expect(ys[i]!).toBeGreaterThanOrEqual(ys[i - 1]!);
    }
    expect(calibratedKindScore('scratch', 0.42, calibration)).toBe(0.42);
  });

  it('reaches the family gate whenever some kind reaches its own gate', () => {
    const gates = [{ kind: 'haze', gate: 0.76 }, { kind: 'orange_peel', gate: 0.88 }, { kind: 'scratch', gate: 0.91 }];
    const familyGate = polishFamilyGate(gates, calibration);
    for (const g of gates) {
      const kinds = gates.map((o) => ({ kind: o.kind, score: o.kind === g.kind ? o.gate : 0 }));
      expect(polishFamilyScore(kinds, calibration)).toBeGreaterThanOrEqual(familyGate);
    }
  });
});
