import type { PolishCalibration } from '../../pipeline/model-manifest.schema.js';
import { clippedLogit } from '../../pipeline/polish-family.js';
import { POLISH_KINDS } from '../../pipeline/report.schema.js';
import type { ImageOutcome } from './run-eval.js';

/** Logits beyond this are as sure as the verifier's float32 output gets; clipping keeps 0 and 1 finite. */
export const LOGIT_CLIP = 12;
/** A small pull on the slope keeps the fit finite when validation separates a kind perfectly. */
const SLOPE_PENALTY = 1e-4;

export interface PlattFit {
  slope: number;
  intercept: number;
}

/**
 * Logistic regression of the class on x (one feature), the two classes weighted equally so the result does not move
 * with the validation split's share of each kind; Newton's method, which converges in a few steps on a two-parameter
 * convex problem.
 */
export function fitBalancedPlatt(positives: readonly number[], negatives: readonly number[]): PlattFit {
  if (positives.length === 0 || negatives.length === 0) throw new Error('fitBalancedPlatt: needs both classes');
  const rows = [...positives.map((x) => ({ x, y: 1, w: 0.5 / positives.length })), ...negatives.map((x) => ({ x, y: 0, w: 0.5 / negatives.length }))];
  let a = 0;
  let b = 0;
  for (let it = 0; it < 100; it++) {
    let ga = SLOPE_PENALTY * a;
    let gb = 0;
    let haa = SLOPE_PENALTY;
    let hab = 0;
    let hbb = 0;
    for (const { x, y, w } of rows) {
      const p = 1 / (1 + Math.exp(-(a * x + b)));
      const e = w * (p - y);
      const v = w * p * (1 - p);
      ga += e * x;
      gb += e;
      haa += v * x * x;
      hab += v * x;
      hbb += v;
    }
    const det = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-12) break;
  }
  return { slope: a, intercept: b };
}

/**
 * Per polish kind, the calibration fitted on scored validation photos: photos holding the kind against jewelry photos
 * clean of polish (non-jewelry sets such as magnetic tiles say nothing about polish). Kinds without both are left out,
 * and keep their raw score in the family's maximum.
 */
export function fitPolishCalibration(images: readonly ImageOutcome[], calibratedOn: readonly string[]): PolishCalibration {
  const logit = (o: ImageOutcome, kind: string) => clippedLogit(o.report.families.polish.kindScores[kind] ?? 0, LOGIT_CLIP);
  const clean = images.filter((o) => o.entry.piece !== null && !o.entry.labels.polish);
  const kinds: PolishCalibration['kinds'] = {};
  for (const kind of POLISH_KINDS) {
    const holding = images.filter((o) => (o.entry.defects ?? []).some((d) => d.family === 'polish' && d.kind === kind));
    if (holding.length === 0 || clean.length === 0) continue;
    const fit = fitBalancedPlatt(holding.map((o) => logit(o, kind)), clean.map((o) => logit(o, kind)));
    kinds[kind] = { slope: round6(fit.slope), intercept: round6(fit.intercept), positives: holding.length, negatives: clean.length };
  }
  return { method: 'balanced-platt', logitClip: LOGIT_CLIP, kinds, calibratedOn: [...calibratedOn] };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
