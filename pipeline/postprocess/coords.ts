import type { BBox } from '../report.schema.js';
import type { Region } from './regions.js';

/**
 * Working pixels -> original photo pixels. Centres use the pixel-centre convention (pixel i is at i), boxes are
 * pixel edges (end exclusive), so both survive the round trip through any scale.
 */
export interface ToPhoto {
  scaleToPhoto: number;
  /** mm per WORKING pixel. */
  mmPerPx: number;
}

export const centreToPhoto = (v: number, s: number): number => (v + 0.5) * s - 0.5;

export function bboxToPhoto(r: Pick<Region, 'x0' | 'y0' | 'x1' | 'y1'>, s: number): BBox {
  return [r.x0 * s, r.y0 * s, r.x1 * s, r.y1 * s].map((v) => Math.round(v * 100) / 100) as BBox;
}

/** Rounding for the report: enough digits for a micrometre, few enough to keep JSON small. */
export const round = (v: number, digits = 4): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
