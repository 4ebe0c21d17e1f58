import { median } from './median.js';

/**
 * Where a missing stone's empty seat is, for porosity. An empty seat is a round dark hole in the metal, the size of a
 * stone: to the porosity model and its verifier it looks like a gas void (the strongest porosity false alarms of
 * loupe-seg 1.3/1.4 on validation photos were empty seats), and it is already reported once, as the missing stone.
 * Porosity leaves these discs out, so one hole is not counted twice and a clean casting with a lost stone is not
 * failed for porosity.
 */

export interface Disc {
  x: number;
  y: number;
  r: number;
}

/**
 * Seats are placed evenly between their neighbours (spacing.ts), so they sit within ~0.2 of a radius of the real seat,
 * and a seat cut is a little wider than the stone's girdle: SEAT_MARGIN x the row's median radius covers both.
 */
export const SEAT_MARGIN = 1.25;

/**
 * The empty seats as discs in a model's working px. `missing` and `stones` are spacing's output in photo px;
 * `scaleToPhoto` is the model's (working px x scaleToPhoto = photo px). No stones measured, no radius: no discs.
 */
export function emptySeatDiscs(
  missing: ReadonlyArray<{ cx: number; cy: number }>,
  stones: ReadonlyArray<{ r: number }>,
  scaleToPhoto: number,
): Disc[] {
  if (missing.length === 0 || stones.length === 0) return [];
  const r = (SEAT_MARGIN * median(stones.map((s) => s.r))) / scaleToPhoto;
  // Inverse of coords.ts centreToPhoto (pixel i is at i on both grids).
  const toWorking = (v: number) => (v + 0.5) / scaleToPhoto - 0.5;
  return missing.map((m) => ({ x: toWorking(m.cx), y: toWorking(m.cy), r }));
}

/** A copy of the `width` x `height` mask with every pixel inside a disc cleared (pixel (x, y) is at (x, y)). */
export function maskOutsideDiscs(mask: Uint8Array, width: number, height: number, discs: readonly Disc[]): Uint8Array {
  if (discs.length === 0) return mask;
  const out = mask.slice();
  for (const d of discs) {
    const y0 = Math.max(0, Math.floor(d.y - d.r));
    const y1 = Math.min(height - 1, Math.ceil(d.y + d.r));
    const x0 = Math.max(0, Math.floor(d.x - d.r));
    const x1 = Math.min(width - 1, Math.ceil(d.x + d.r));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if ((x - d.x) ** 2 + (y - d.y) ** 2 <= d.r * d.r) out[y * width + x] = 0;
      }
    }
  }
  return out;
}

/** The points (verifier candidates, working px) outside every disc. */
export function outsideDiscs<T extends { x: number; y: number }>(points: readonly T[], discs: readonly Disc[]): T[] {
  if (discs.length === 0) return [...points];
  return points.filter((p) => discs.every((d) => Math.hypot(p.x - d.x, p.y - d.y) > d.r));
}
