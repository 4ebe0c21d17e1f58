import type { OperatingPoint } from '../model-manifest.schema.js';
import type { PorosityTolerance } from '../profile.schema.js';
import type { PorosityFinding, PorosityKind } from '../report.schema.js';
import { bboxToPhoto, centreToPhoto, round, type ToPhoto } from './coords.js';
import { findRegions, paintRegions, regionsOn, type PieceGate } from './regions.js';

/**
 * Pores: regions of the porosity map measured in mm and given a kind. The kind rule, in order:
 *   1. `cluster`: the pore belongs to a group of at least `clusterMinCount` pores, where two pores are linked when
 *      their centres are within `clusterLinkDiameters` x their mean diameter (single linkage; the mean, so one big
 *      void does not swallow the small pores around it);
 *   2. `pinhole`: else, its equivalent diameter is below `pinholeMaxDiameterMm`;
 *   3. `shrinkage_pit`: else, it is elongated (major/minor axis >= `shrinkageMinElongation`): shrinkage follows the
 *      dendrites and is irregular, where gas porosity is round;
 *   4. `gas_void`: else.
 */

export interface PorosityAnalysis {
  score: number;
  findings: PorosityFinding[];
  /** Working-scale mask of the kept pores. */
  mask: Uint8Array;
}

export function analysePorosity(
  plane: Float32Array,
  width: number,
  height: number,
  op: OperatingPoint,
  tolerance: PorosityTolerance,
  scale: ToPhoto,
  gate: PieceGate,
  /** The image-level score, computed by the caller (see `channelImageScore` in `inspect.ts`). */
  score: number,
): PorosityAnalysis {
  // Pores off the piece (backdrop texture, dust on the card) are not the piece's; they are dropped before clustering, so
  // they cannot make a cluster of the piece's own pores either.
  const found = regionsOn(findRegions(plane, width, height, op.pixelThreshold, op.minAreaPx), gate.onPiece, gate.minShare);
  const { regions } = found;
  const mmPerPx = scale.mmPerPx;
  const pores = regions.map((r) => {
    const diameterMm = 2 * Math.sqrt(r.area / Math.PI) * mmPerPx;
    return { r, diameterMm, elongation: Math.sqrt(r.majorVar / r.minorVar) };
  });

  // Single-linkage groups by union-find over pairs; pores per photo are few (tens), so O(n^2) is fine.
  const parent = pores.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let i = 0; i < pores.length; i++) {
    for (let j = i + 1; j < pores.length; j++) {
      const a = pores[i]!;
      const b = pores[j]!;
      const distMm = Math.hypot(a.r.cx - b.r.cx, a.r.cy - b.r.cy) * mmPerPx;
      if (distMm <= (tolerance.kinds.clusterLinkDiameters * (a.diameterMm + b.diameterMm)) / 2) parent[root(i)] = root(j);
    }
  }
  const groupSize = new Map<number, number>();
  for (let i = 0; i < pores.length; i++) groupSize.set(root(i), (groupSize.get(root(i)) ?? 0) + 1);
  const groupIds = new Map<number, number>();

  const s = scale.scaleToPhoto;
  const findings: PorosityFinding[] = pores.map((p, i) => {
    const inCluster = groupSize.get(root(i))! >= tolerance.kinds.clusterMinCount;
    let kind: PorosityKind;
    if (inCluster) kind = 'cluster';
    else if (p.diameterMm < tolerance.kinds.pinholeMaxDiameterMm) kind = 'pinhole';
    else if (p.elongation >= tolerance.kinds.shrinkageMinElongation) kind = 'shrinkage_pit';
    else kind = 'gas_void';
    const finding: PorosityFinding = {
      kind,
      bbox: bboxToPhoto(p.r, s),
      diameterMm: round(p.diameterMm),
      areaMm2: round(p.r.area * mmPerPx * mmPerPx, 6),
      confidence: round(p.r.maxProb),
      cx: round(centreToPhoto(p.r.cx, s), 2),
      cy: round(centreToPhoto(p.r.cy, s), 2),
      elongation: round(p.elongation, 3),
    };
    if (inCluster) {
      if (!groupIds.has(root(i))) groupIds.set(root(i), groupIds.size + 1);
      finding.group = groupIds.get(root(i))!;
    }
    return finding;
  });

  const mask = new Uint8Array(width * height);
  paintRegions(found, mask);
  return { score, findings, mask };
}
