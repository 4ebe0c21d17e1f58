import type { OperatingPoint } from '../model-manifest.schema.js';
import type { PolishTolerance } from '../profile.schema.js';
import { LENGTH_POLISH_KINDS, type PolishFinding, type PolishKind } from '../report.schema.js';
import { bboxToPhoto, round, type ToPhoto } from './coords.js';
import { findRegions, paintRegions, regionsOn, type PieceGate } from './regions.js';

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
  /** The image-level score, computed by the caller (see `channelImageScore` in `inspect.ts`). */
  score: number;
}

export interface PolishKindAnalysis {
  kind: PolishKind;
  score: number;
  findings: PolishFinding[];
}

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
  const { kind, plane, op, gate } = input;
  const found = regionsOn(findRegions(plane, width, height, op.pixelThreshold, op.minAreaPx), gate.onPiece, gate.minShare);
  const { regions } = found;
  const limits = polishLimits(kind, tolerance);
  const mm = scale.mmPerPx;
  const findings = regions.map((r): PolishFinding => {
    const base = { kind, bbox: bboxToPhoto(r, scale.scaleToPhoto), confidence: round(r.maxProb) };
    if (isLengthKind(kind)) {
      const lengthMm = r.majorExtent * mm;
      return { ...base, lengthMm: round(lengthMm), severity: round(Math.min(1, limits.fail > 0 ? lengthMm / limits.fail : 1)) };
    }
    const areaMm2 = r.area * mm * mm;
    return { ...base, areaMm2: round(areaMm2, 6), severity: round(Math.min(1, limits.fail > 0 ? areaMm2 / limits.fail : 1)) };
  });
  if (mask) paintRegions(found, mask);
  return { kind, score: input.score, findings };
}
