import type { BBox, DefectKind, Family } from '../../manifest.schema.js';

/** A defect drawn into the scene, with the exact pixels its label covers. */
export interface PixelDefect {
  family: Family;
  kind: DefectKind;
  pixels: Int32Array;
  /** Length for lines (scratches, tool marks); null: derived from the pixels (pores: equivalent diameter, patches:
   * largest extent). */
  lengthMm: number | null;
  group?: number;
}

export function bboxOf(pixels: Int32Array, width: number): BBox {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let k = 0; k < pixels.length; k++) {
    const i = pixels[k];
    const x = i % width;
    const y = (i - x) / width;
    if (x < x0) x0 = x;
    if (y < y0) y0 = y;
    if (x > x1) x1 = x;
    if (y > y1) y1 = y;
  }
  return [x0, y0, x1 + 1, y1 + 1];
}

/** Equivalent diameter (px) of a region: the diameter of the disc with the same area. */
export function equivalentDiameterPx(area: number): number {
  return 2 * Math.sqrt(area / Math.PI);
}

/** Largest extent (px): the widest projection over 32 directions, a close lower bound of the Feret diameter. */
export function largestExtentPx(pixels: Int32Array, width: number): number {
  let best = 0;
  for (let k = 0; k < 32; k++) {
    const a = (k / 32) * Math.PI;
    const ca = Math.cos(a);
    const sa = Math.sin(a);
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < pixels.length; j++) {
      const i = pixels[j];
      const x = i % width;
      const y = (i - x) / width;
      const p = x * ca + y * sa;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}
