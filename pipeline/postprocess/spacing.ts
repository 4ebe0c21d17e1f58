import type { SpacingTolerance } from '../profile.schema.js';
import type { BBox, FamilyVerdict, SpacingFinding, StoneOut } from '../report.schema.js';
import { round } from './coords.js';
import { median } from './median.js';

/**
 * Stone-row geometry, in photo pixels and mm. Pure: hand-made layouts test it directly.
 *
 * - Overlaps: stones in a row never overlap, so of two detections overlapping by most of a radius the weaker (lower
 *   heat) is not a stone and is dropped before anything is measured (`dropOverlapping`).
 * - Surplus: a row never holds more stones than the design has seats, so detections beyond the design's count are not
 *   the row's stones (a reflection, a prong, a stone of another row); those whose removal leaves the most regular row
 *   are dropped (`dropSurplus`).
 * - Order: a nearest-neighbour chain starting from one end of the row's farthest pair, which follows curved rows
 *   (a ring's shoulder seen from above) where a projection on one axis would fold them.
 * - Gaps: edge to edge, (centre distance - r1 - r2) x mm/px.
 * - Missing stones: the pitch is the median centre distance (or 2 x median radius + the nominal gap when the profile
 *   fixes one); a pair about k + 1 pitches apart has k stones missing between them, placed evenly on the segment. If
 *   the design's count is still not reached, the rest are placed one pitch beyond the ends, alternately.
 * - Statistics (mean, spread, deviations) use only gaps that do not span a missing stone: a missing stone is its own
 *   finding, not a "wide gap".
 */

export interface SpacingInput {
  /** Detected stones, photo pixels (any order). */
  stones: StoneOut[];
  mmPerPx: number;
  tolerance: SpacingTolerance;
  /** Stones the design has (metadata, else profile); null: unknown. */
  expectedCount: number | null;
}

export interface SpacingAnalysis {
  stones: StoneOut[];
  gapsMm: number[];
  meanGapMm: number | null;
  spreadMm: number | null;
  worstDeviationMm: number | null;
  nominalGapMm: number | null;
  nominalGapSource: 'profile' | 'median' | 'none';
  missing: Array<{ cx: number; cy: number }>;
  findings: SpacingFinding[];
  expectedCount: number | null;
  found: number;
  verdict: FamilyVerdict;
  /** Monotone in the worst deviation relative to the review tolerance: x / (1 + x); 1 for a missing stone. */
  score: number;
}

const dist = (a: StoneOut, b: StoneOut): number => Math.hypot(a.cx - b.cx, a.cy - b.cy);

/**
 * Overlap allowed between two detections before the weaker is dropped, as a share of their mean radius: two peaks on
 * one stone (a large stone, or a prong beside it) overlap by most of a radius (0.76-1.13 on the dev and sample
 * photos). Not less, because radii that come from loupe-seg's radius plane rather than the photo read up to ~1.7 x the
 * girdle; the bound below absorbs that in a dense row, but beside a missing or undetected stone it cannot, and there
 * real neighbours overlapped by up to ~0.6 of a radius (0.25 dropped 9 real stones of 533 on the dev photos, 0.75 none).
 */
const OVERLAP_TOLERANCE = 0.75;

/**
 * The detections that are stones: strongest first, each kept unless it overlaps one already kept by more than
 * OVERLAP_TOLERANCE (stones in a row never overlap, so one of the two is not a stone). Each radius is bounded by half
 * the distance to the stone's nearest other neighbour, so that a radius plane overshooting the pitch does not make
 * every neighbour "overlap" and thin out the row.
 */
function dropOverlapping(stones: StoneOut[]): StoneOut[] {
  // Two detections alone cannot bound each other's radius: an overshooting radius plane would drop a real stone.
  if (stones.length < 3) return stones;
  // A stone is no wider than half the distance to its nearest other neighbour.
  const bound = (s: StoneOut, partner: StoneOut): number => {
    let nearest = Infinity;
    for (const o of stones) if (o !== s && o !== partner) nearest = Math.min(nearest, dist(s, o));
    return Math.min(s.r, nearest / 2);
  };
  const kept: StoneOut[] = [];
  for (const s of [...stones].sort((a, b) => b.confidence - a.confidence)) {
    const overlaps = kept.some((k) => {
      const rk = bound(k, s);
      const rs = bound(s, k);
      return rk + rs - dist(k, s) > (OVERLAP_TOLERANCE * (rk + rs)) / 2;
    });
    if (!overlaps) kept.push(s);
  }
  return kept.length === stones.length ? stones : stones.filter((s) => kept.includes(s));
}

/**
 * How far a row departs from an evenly pitched, smoothly curving one: the squared log of each centre distance against
 * the median, plus each squared turn between consecutive directions (radians). A row of set stones bends gradually
 * (a ring's shank in view turns it by tens of degrees per stone at most), so a detection off its line costs a turn
 * of a radian or more, and one overlapping a stone or far off an end a distance far from the pitch.
 */
function rowMisfit(ordered: StoneOut[]): number {
  const d = ordered.slice(1).map((s, i) => dist(ordered[i]!, s));
  const m = median(d);
  let misfit = 0;
  for (const v of d) misfit += Math.log(v / m) ** 2;
  for (let i = 2; i < ordered.length; i++) {
    const [a, b, c] = [ordered[i - 2]!, ordered[i - 1]!, ordered[i]!];
    const turn = Math.atan2(c.cy - b.cy, c.cx - b.cx) - Math.atan2(b.cy - a.cy, b.cx - a.cx);
    misfit += Math.atan2(Math.sin(turn), Math.cos(turn)) ** 2;
  }
  return misfit;
}

/**
 * The row reduced to the design's count (see the module comment): one detection at a time, the one whose removal
 * leaves the most regular row (`rowMisfit`), the weaker on a tie. Without a design count nothing is dropped.
 */
function dropSurplus(stones: StoneOut[], expectedCount: number | null): StoneOut[] {
  let kept = stones;
  while (expectedCount !== null && kept.length > Math.max(2, expectedCount)) {
    let best: { rest: StoneOut[]; misfit: number; confidence: number } | null = null;
    for (const s of kept) {
      const rest = kept.filter((o) => o !== s);
      const misfit = rowMisfit(orderRow(rest));
      if (!best || misfit < best.misfit || (misfit === best.misfit && s.confidence < best.confidence)) best = { rest, misfit, confidence: s.confidence };
    }
    kept = best!.rest;
  }
  return kept;
}

/** Row order: nearest-neighbour chain from an end of the farthest pair (left-most / top-most end first). */
export function orderRow(stones: StoneOut[]): StoneOut[] {
  if (stones.length <= 2) return [...stones].sort((a, b) => a.cx - b.cx || a.cy - b.cy);
  let ia = 0;
  let ib = 1;
  let best = -1;
  for (let i = 0; i < stones.length; i++) {
    for (let j = i + 1; j < stones.length; j++) {
      const d = dist(stones[i]!, stones[j]!);
      if (d > best) {
        best = d;
        ia = i;
        ib = j;
      }
    }
  }
  const a = stones[ia]!;
  const b = stones[ib]!;
  const start = a.cx < b.cx || (a.cx === b.cx && a.cy <= b.cy) ? ia : ib;
  const left = new Set(stones.keys());
  const order: StoneOut[] = [];
  let current = start;
  while (true) {
    left.delete(current);
    order.push(stones[current]!);
    if (left.size === 0) break;
    let next = -1;
    let nd = Infinity;
    for (const j of left) {
      const d = dist(stones[current]!, stones[j]!);
      if (d < nd) {
        nd = d;
        next = j;
      }
    }
    current = next;
  }
  return order;
}

function boxAround(points: Array<{ cx: number; cy: number; r: number }>): BBox {
  const x0 = Math.min(...points.map((p) => p.cx - p.r));
  const y0 = Math.min(...points.map((p) => p.cy - p.r));
  const x1 = Math.max(...points.map((p) => p.cx + p.r));
  const y1 = Math.max(...points.map((p) => p.cy + p.r));
  return [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)];
}

export function analyseSpacing(input: SpacingInput): SpacingAnalysis {
  const { tolerance, mmPerPx } = input;
  const stones = orderRow(dropSurplus(dropOverlapping(input.stones), input.expectedCount));
  const n = stones.length;
  const expectedCount = input.expectedCount;
  const findings: SpacingFinding[] = [];
  const missing: Array<{ cx: number; cy: number }> = [];
  const gapsMm: number[] = [];
  const spansMissing: boolean[] = [];
  const medianR = n > 0 ? median(stones.map((s) => s.r)) : 0;

  // Stones of one row are cut to one calibre, and a centre is located more precisely than a girdle radius (measured in
  // the photo, radii scatter by ~1 px per stone; from loupe-seg's radius plane alone they err by ~10 px), so gaps use
  // the row's median radius; only a stone judged undersized keeps its own. On the dev photos, each stone's own
  // measured radius gave the same gap error (0.037 vs 0.037 mm).
  const gapRadius = (s: StoneOut): number => (medianR > 0 && s.r / medianR < tolerance.undersizedRadiusRatio ? s.r : medianR);

  if (n >= 2) {
    const centre = stones.slice(1).map((s, i) => dist(stones[i]!, s));
    const pitch = tolerance.nominalGapMm !== null ? 2 * medianR + tolerance.nominalGapMm / mmPerPx : median(centre);
    for (let i = 0; i < n - 1; i++) {
      const a = stones[i]!;
      const b = stones[i + 1]!;
      gapsMm.push((centre[i]! - gapRadius(a) - gapRadius(b)) * mmPerPx);
      const k = pitch > 0 ? Math.round(centre[i]! / pitch) - 1 : 0;
      spansMissing.push(k >= 1);
      for (let m = 1; m <= k; m++) {
        const t = m / (k + 1);
        const pos = { cx: round(a.cx + (b.cx - a.cx) * t, 1), cy: round(a.cy + (b.cy - a.cy) * t, 1) };
        missing.push(pos);
        findings.push({
          kind: 'missing_stone',
          bbox: boxAround([{ ...pos, r: medianR }]),
          gapIndex: i,
          severity: 1,
          message: `a stone is missing between stones ${i} and ${i + 1} (the gap spans ${(k + 1).toFixed(0)} pitches)`,
        });
      }
    }
    // Fewer than the design's count even after the gaps: the rest are off an end of the row.
    if (expectedCount !== null) {
      const first = stones[0]!;
      const second = stones[1]!;
      const last = stones[n - 1]!;
      const beforeLast = stones[n - 2]!;
      for (let extra = 0; n + missing.length < expectedCount; extra++) {
        const atEnd = extra % 2 === 0;
        const [from, towards] = atEnd ? [last, beforeLast] : [first, second];
        const step = Math.floor(extra / 2) + 1;
        const d = dist(from, towards) || 1;
        const pos = {
          cx: round(from.cx + ((from.cx - towards.cx) / d) * pitch * step, 1),
          cy: round(from.cy + ((from.cy - towards.cy) / d) * pitch * step, 1),
        };
        missing.push(pos);
        findings.push({
          kind: 'missing_stone',
          bbox: boxAround([{ ...pos, r: medianR }]),
          severity: 1,
          message: `expected ${expectedCount} stones, found ${n}: one is missing ${atEnd ? 'after the last' : 'before the first'}`,
        });
      }
    }
  } else if (expectedCount !== null && n < expectedCount) {
    // Too few stones to know the row's direction: the shortfall is reported without positions.
    findings.push({
      kind: 'missing_stone',
      bbox: n === 1 ? boxAround([stones[0]!]) : [0, 0, 0, 0],
      severity: 1,
      message: `expected ${expectedCount} stones, found ${n}`,
    });
  }

  const valid = gapsMm.filter((_, i) => !spansMissing[i]);
  let nominal: number | null = null;
  let nominalGapSource: SpacingAnalysis['nominalGapSource'] = 'none';
  if (tolerance.nominalGapMm !== null) {
    nominal = tolerance.nominalGapMm;
    nominalGapSource = 'profile';
  } else if (valid.length > 0) {
    nominal = median(valid);
    nominalGapSource = 'median';
  }

  let worst: number | null = null;
  let meanGap: number | null = null;
  let spread: number | null = null;
  if (valid.length > 0 && nominal !== null) {
    meanGap = valid.reduce((a, b) => a + b, 0) / valid.length;
    spread = Math.sqrt(valid.reduce((a, g) => a + (g - meanGap!) ** 2, 0) / valid.length);
    worst = 0;
    for (let i = 0; i < gapsMm.length; i++) {
      if (spansMissing[i]) continue;
      const gap = gapsMm[i]!;
      const dev = gap - nominal;
      worst = Math.max(worst, Math.abs(dev));
      if (Math.abs(dev) < tolerance.reviewDeviationMm) continue;
      const wide = dev > 0;
      findings.push({
        kind: wide ? 'gap_wide' : 'gap_narrow',
        bbox: boxAround([stones[i]!, stones[i + 1]!]),
        gapIndex: i,
        gapMm: round(gap),
        deviationMm: round(dev),
        severity: round(Math.min(1, tolerance.failDeviationMm > 0 ? Math.abs(dev) / tolerance.failDeviationMm : 1)),
        message: `gap ${i} (stones ${i}-${i + 1}) is ${gap.toFixed(3)} mm, ${Math.abs(dev).toFixed(3)} mm ${wide ? 'wider' : 'narrower'} than the nominal ${nominal.toFixed(3)} mm`,
      });
    }
  }

  // Undersized: against the row's median radius, so a uniformly small row (another design) is not flagged.
  let undersize = 0;
  if (n >= 3) {
    for (const [i, s] of stones.entries()) {
      const ratio = medianR > 0 ? s.r / medianR : 1;
      if (ratio >= tolerance.undersizedRadiusRatio) continue;
      const shortfall = (1 - ratio) / Math.max(1e-9, 1 - tolerance.undersizedRadiusRatio);
      undersize = Math.max(undersize, shortfall);
      findings.push({
        kind: 'undersized_stone',
        bbox: boxAround([s]),
        stoneIndex: i,
        severity: round(Math.min(1, shortfall / 2)),
        message: `stone ${i} has a radius ${(ratio * 100).toFixed(0)} % of the row's median (limit ${(tolerance.undersizedRadiusRatio * 100).toFixed(0)} %)`,
      });
    }
  }

  let verdict: FamilyVerdict = 'pass';
  if (missing.length > 0 || findings.some((f) => f.kind === 'missing_stone') || (worst !== null && worst >= tolerance.failDeviationMm)) verdict = 'fail';
  else if (findings.length > 0) verdict = 'review';

  const x = Math.max(worst !== null && tolerance.reviewDeviationMm > 0 ? worst / tolerance.reviewDeviationMm : 0, undersize);
  const score = verdict === 'fail' && findings.some((f) => f.kind === 'missing_stone') ? 1 : x / (1 + x);

  return {
    stones: stones.map((s) => ({ cx: round(s.cx, 2), cy: round(s.cy, 2), r: round(s.r, 2), confidence: round(s.confidence) })),
    gapsMm: gapsMm.map((g) => round(g)),
    meanGapMm: meanGap === null ? null : round(meanGap),
    spreadMm: spread === null ? null : round(spread),
    worstDeviationMm: worst === null ? null : round(worst),
    nominalGapMm: nominal === null ? null : round(nominal),
    nominalGapSource,
    missing,
    findings,
    expectedCount,
    found: n,
    verdict,
    score: round(score),
  };
}
