import type { OperatingPoint } from '../model-manifest.schema.js';
import type { PolishTolerance } from '../profile.schema.js';
import { LENGTH_POLISH_KINDS, type PolishFinding, type PolishKind } from '../report.schema.js';
import { bboxToPhoto, round, type ToPhoto } from './coords.js';
import { filterRegions, findRegions, paintRegions, regionsOn, type PieceGate, type Region } from './regions.js';

/**
 * Polish findings by kind. Scratches and tool marks are lines, measured by their length: the region's extent along
 * its principal axis (exact for a straight line, the chord for a curved one). Haze and orange peel are patches,
 * measured by area. Severity is the size relative to the profile's fail tolerance for the kind, capped at 1.
 */

export interface PolishKindInput {
  kind: PolishKind;
  plane: Float32Array;
  op: OperatingPoint;
  /** Where this kind's findings may be (for patch kinds, the piece eroded from its silhouette). */
  gate: PieceGate;
  /** The image-level score, computed by the caller (see `channelImageScore` and `kindScore` in `inspect.ts`). */
  score: number;
  /**
   * The polish verifier's view of this kind, when the model has one: each candidate's position (working px) and its
   * probability for this kind, and the kind's gate. A region then counts only where a candidate at or above the gate
   * lies on it; a confirmed candidate on no region becomes a finding of its own (see `analysePolishKind`).
   */
  verified?: { points: ReadonlyArray<{ x: number; y: number; p: number }>; gate: number; patchPx: number };
}

export interface PolishKindAnalysis {
  kind: PolishKind;
  score: number;
  findings: PolishFinding[];
}

/** A candidate confirms a region when it lies within this many working px of the region's box (the verifier's
 * training label radius, `models/training/verifier.py` LABEL_RADIUS). */
const CONFIRM_REACH_PX = 12;

const near = (r: Region, x: number, y: number): boolean =>
  x >= r.x0 - CONFIRM_REACH_PX && x < r.x1 + CONFIRM_REACH_PX && y >= r.y0 - CONFIRM_REACH_PX && y < r.y1 + CONFIRM_REACH_PX;

const isLengthKind = (kind: PolishKind): boolean => (LENGTH_POLISH_KINDS as readonly string[]).includes(kind);

/** Size of a finding in the unit its tolerance uses (mm for lines, mm² for patches). */
export function polishSize(finding: PolishFinding): number {
  return isLengthKind(finding.kind) ? (finding.lengthMm ?? 0) : (finding.areaMm2 ?? 0);
}

export function polishLimits(kind: PolishKind, tolerance: PolishTolerance): { review: number; fail: number } {
  if (kind === 'scratch' || kind === 'tool_mark') {
    const t = tolerance[kind];
    return { review: t.reviewLengthMm, fail: t.failLengthMm };
  }
  const t = tolerance[kind];
  return { review: t.reviewAreaMm2, fail: t.failAreaMm2 };
}

export function analysePolishKind(
  input: PolishKindInput,
  width: number,
  height: number,
  tolerance: PolishTolerance,
  scale: ToPhoto,
  /** Where the kind's regions are painted; null leaves them out (a kind below its gate: see `inspect.ts`). */
  mask: Uint8Array | null,
): PolishKindAnalysis {
  const { kind, plane, op, gate, verified } = input;
  const found = regionsOn(findRegions(plane, width, height, op.pixelThreshold, op.minAreaPx), gate.onPiece, gate.minShare);
  const limits = polishLimits(kind, tolerance);
  const mm = scale.mmPerPx;
  const toFinding = (r: Region, confidence: number, belowGate?: boolean): PolishFinding => {
    const base = { kind, bbox: bboxToPhoto(r, scale.scaleToPhoto), confidence: round(confidence), ...(belowGate !== undefined ? { belowGate } : {}) };
    if (isLengthKind(kind)) {
      const lengthMm = r.majorExtent * mm;
      return { ...base, lengthMm: round(lengthMm), severity: round(Math.min(1, limits.fail > 0 ? lengthMm / limits.fail : 1)) };
    }
    const areaMm2 = r.area * mm * mm;
    return { ...base, areaMm2: round(areaMm2, 6), severity: round(Math.min(1, limits.fail > 0 ? areaMm2 / limits.fail : 1)) };
  };
  if (!verified) {
    if (mask) paintRegions(found, mask);
    return { kind, score: input.score, findings: found.regions.map((r) => toFinding(r, r.maxProb)) };
  }
  // Per region, the strongest verifier probability on it.
  const best = found.regions.map((r) => verified.points.reduce((m, q) => (near(r, q.x, q.y) ? Math.max(m, q.p) : m), 0));
  const confirmed = filterRegions(found, (_, k) => best[k]! >= verified.gate);
  if (mask) paintRegions(confirmed, mask);
  const findings = found.regions.map((r, k) => toFinding(r, best[k]!, best[k]! < verified.gate));
  // A defect the verifier confirms where the seg map has no region at its pixel threshold: located (the verifier's
  // patch) but not measured, so its severity is the kind's review size, never a fail.
  const half = verified.patchPx / 2;
  const added: Array<{ x: number; y: number }> = [];
  for (const q of [...verified.points].sort((a, b) => b.p - a.p)) {
    if (q.p < verified.gate || found.regions.some((r) => near(r, q.x, q.y))) continue;
    // Neighbouring candidates on one defect: the strongest speaks for it.
    if (added.some((a) => Math.abs(a.x - q.x) < half && Math.abs(a.y - q.y) < half)) continue;
    added.push(q);
    const box = { x0: Math.max(0, q.x - half), y0: Math.max(0, q.y - half), x1: Math.min(width, q.x + half), y1: Math.min(height, q.y + half) };
    findings.push({
      kind,
      bbox: bboxToPhoto(box, scale.scaleToPhoto),
      confidence: round(q.p),
      severity: round(limits.fail > 0 ? Math.min(1, limits.review / limits.fail) : 1),
      belowGate: false,
    });
  }
  return { kind, score: input.score, findings };
}
