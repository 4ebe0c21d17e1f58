import type { PolishCalibration } from './model-manifest.schema.js';

/** log(p / (1 - p)) clipped to +-clip: a kind with no candidate scores 0, a saturated one 1. */
export function clippedLogit(p: number, clip: number): number {
  return Math.max(-clip, Math.min(clip, Math.log(p / (1 - p))));
}

/** A kind's score on the family's common scale; unchanged without a calibration for the kind. */
export function calibratedKindScore(kind: string, score: number, calibration: PolishCalibration | undefined): number {
  const c = calibration?.kinds[kind];
  if (!calibration || !c) return score;
  return 1 / (1 + Math.exp(-(c.slope * clippedLogit(score, calibration.logitClip) + c.intercept)));
}

/**
 * The polish family's image score: the largest of its kinds' scores, each first put on the common scale when the model
 * carries a calibration (`PolishCalibrationSchema`). Monotone in every kind's score, so a kind's own ranking and gate
 * are untouched; only how the kinds compete for the family's score changes.
 */
export function polishFamilyScore(kinds: ReadonlyArray<{ kind: string; score: number }>, calibration: PolishCalibration | undefined): number {
  return kinds.reduce((m, k) => Math.max(m, calibratedKindScore(k.kind, k.score, calibration)), 0);
}

/** The family's gate on the same scale: the lowest of the kinds' gates, each put on the common scale. */
export function polishFamilyGate(kinds: ReadonlyArray<{ kind: string; gate: number }>, calibration: PolishCalibration | undefined): number {
  return Math.min(...kinds.map((k) => calibratedKindScore(k.kind, k.gate, calibration)));
}
