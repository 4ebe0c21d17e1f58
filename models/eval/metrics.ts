/**
 * Metric definitions used by `loupe eval`. Each follows the pipeline issue's definitions so figures in model cards
 * are comparable across runs: a metric without positives or negatives is `null`, never 0 or 1.
 */

export interface BinaryCounts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface ClassificationMetrics {
  auroc: number | null;
  ap: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Image-level share of correct flags ((tp + tn) / n, flagged = verdict other than `pass`); null without images. */
  accuracy: number | null;
  positives: number;
  negatives: number;
}

/** Mann-Whitney AUROC with ties counted as half, O(n log n). */
export function auroc(scores: readonly number[], labels: readonly boolean[]): number | null {
  const n = scores.length;
  const pos = labels.filter(Boolean).length;
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  const order = scores.map((s, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]]) rankSumPos += avgRank;
    i = j + 1;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** `auroc` of two groups of scores: positives against negatives (null when either is empty). */
export function aurocOf(positives: readonly number[], negatives: readonly number[]): number | null {
  return auroc([...positives, ...negatives], [...positives.map(() => true), ...negatives.map(() => false)]);
}

/** Average precision (area under the step precision-recall curve, as scikit-learn computes it). */
export function averagePrecision(scores: readonly number[], labels: readonly boolean[]): number | null {
  const pos = labels.filter(Boolean).length;
  if (pos === 0 || pos === labels.length) return null;
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  let i = 0;
  while (i < order.length) {
    // A block of tied scores enters the curve as one threshold.
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    for (let k = i; k <= j; k++) labels[order[k]] ? tp++ : fp++;
    const recall = tp / pos;
    const precision = tp / (tp + fp);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
    i = j + 1;
  }
  return ap;
}

export function countFlags(flagged: readonly boolean[], labels: readonly boolean[]): BinaryCounts {
  const c: BinaryCounts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  flagged.forEach((f, i) => {
    if (f && labels[i]) c.tp++;
    else if (f) c.fp++;
    else if (labels[i]) c.fn++;
    else c.tn++;
  });
  return c;
}

export function precisionRecallF1(c: BinaryCounts): { precision: number | null; recall: number | null; f1: number | null } {
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : null;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : null;
  const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : precision === 0 || recall === 0 ? 0 : null;
  return { precision, recall, f1 };
}

export function classificationMetrics(scores: readonly number[], flagged: readonly boolean[], labels: readonly boolean[]): ClassificationMetrics {
  const positives = labels.filter(Boolean).length;
  const negatives = labels.length - positives;
  const counts = countFlags(flagged, labels);
  const prf = precisionRecallF1(counts);
  return {
    auroc: auroc(scores, labels),
    ap: averagePrecision(scores, labels),
    // With no positives recall is undefined; with no negatives precision still is (only true positives possible).
    precision: positives === 0 ? null : prf.precision,
    recall: positives === 0 ? null : prf.recall,
    f1: positives === 0 ? null : prf.f1,
    accuracy: labels.length > 0 ? (counts.tp + counts.tn) / labels.length : null,
    positives,
    negatives,
  };
}

/**
 * Pixel AUROC pooled over millions of pixels, by histogram: probabilities fall into `bins` equal bins and ties within
 * a bin count as half. With 4096 bins the error against the exact statistic is below 1e-3 for smooth score maps.
 */
export class PooledPixelAuroc {
  private readonly pos: Float64Array;
  private readonly neg: Float64Array;
  private inter = 0;
  private union = 0;

  constructor(private readonly bins = 4096) {
    this.pos = new Float64Array(bins);
    this.neg = new Float64Array(bins);
  }

  /** `prob` in [0,1] and `truth` (non-zero = defect) of equal length; `threshold` for the IoU of the binary mask. */
  add(prob: Float32Array | Uint8Array, truth: Uint8Array, threshold: number, probScale = 1): void {
    const last = this.bins - 1;
    for (let i = 0; i < prob.length; i++) {
      const p = prob[i] / probScale;
      const b = Math.min(last, Math.max(0, Math.floor(p * this.bins)));
      const isDefect = truth[i] > 0;
      if (isDefect) this.pos[b]++;
      else this.neg[b]++;
      const predicted = p >= threshold;
      if (predicted && isDefect) this.inter++;
      if (predicted || isDefect) this.union++;
    }
  }

  auroc(): number | null {
    let totalPos = 0;
    let totalNeg = 0;
    for (let b = 0; b < this.bins; b++) {
      totalPos += this.pos[b];
      totalNeg += this.neg[b];
    }
    if (totalPos === 0 || totalNeg === 0) return null;
    let negBelow = 0;
    let sum = 0;
    for (let b = 0; b < this.bins; b++) {
      sum += this.pos[b] * (negBelow + this.neg[b] / 2);
      negBelow += this.neg[b];
    }
    return sum / (totalPos * totalNeg);
  }

  iou(): number | null {
    return this.union > 0 ? this.inter / this.union : null;
  }
}

export interface Point {
  cx: number;
  cy: number;
  r: number;
}

/**
 * One-to-one greedy matching by distance: the closest (truth, prediction) pair is matched first, and a pair only
 * counts when the centres are within half the true radius.
 */
export function matchStones(truth: readonly Point[], predicted: readonly Point[]): Array<[number, number]> {
  const pairs: Array<{ t: number; p: number; d: number }> = [];
  truth.forEach((t, ti) =>
    predicted.forEach((p, pi) => {
      const d = Math.hypot(t.cx - p.cx, t.cy - p.cy);
      if (d <= t.r / 2) pairs.push({ t: ti, p: pi, d });
    }),
  );
  pairs.sort((a, b) => a.d - b.d);
  const usedT = new Set<number>();
  const usedP = new Set<number>();
  const matches: Array<[number, number]> = [];
  for (const { t, p } of pairs) {
    if (usedT.has(t) || usedP.has(p)) continue;
    usedT.add(t);
    usedP.add(p);
    matches.push([t, p]);
  }
  return matches;
}

export function edgeGapPx(a: Point, b: Point): number {
  return Math.hypot(a.cx - b.cx, a.cy - b.cy) - a.r - b.r;
}

export interface GapErrors {
  /** |reported - true| in mm, one per true gap the report states. */
  errorsMm: number[];
  /** Gaps between consecutive true stones (`stones[t]`, `stones[t + 1]` of the manifest). */
  trueGaps: number;
  /** True gaps whose two stones are both matched to predicted stones. */
  matchedPairs: number;
}

/**
 * Gap error as the report states gaps. True gap t lies between manifest stones t and t + 1 (a missing seat between
 * them makes it span the hole, as the generator records it). It is stated when both stones are matched and the
 * report's row order puts their predicted stones side by side (either direction): the error is |reportedGapsMm[i] -
 * true|. When a spurious stone sits between two matched stones the report has no such gap, and the pair is counted in
 * `matchedPairs` but not imputed from the stones' radii (the report's radius rule, e.g. the row's median, is not what
 * an edge-to-edge recomputation would use, so an imputed value measures neither).
 */
export function gapErrorsMm(truth: readonly Point[], predicted: readonly Point[], reportedGapsMm: readonly number[], mmPerPx: number): GapErrors {
  const byTruth = new Map(matchStones(truth, predicted));
  const errorsMm: number[] = [];
  let matchedPairs = 0;
  for (let t = 0; t + 1 < truth.length; t++) {
    const a = byTruth.get(t);
    const b = byTruth.get(t + 1);
    if (a === undefined || b === undefined) continue;
    matchedPairs++;
    const gap = b === a + 1 ? reportedGapsMm[a] : a === b + 1 ? reportedGapsMm[b] : undefined;
    if (gap === undefined) continue;
    errorsMm.push(Math.abs(gap - edgeGapPx(truth[t]!, truth[t + 1]!) * mmPerPx));
  }
  return { errorsMm, trueGaps: Math.max(0, truth.length - 1), matchedPairs };
}

export function mean(values: readonly number[]): number | null {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : null;
}
