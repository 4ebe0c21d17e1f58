import type { MaskRle } from '../report.schema.js';

/**
 * Masks stored in reports: row-major run lengths `[zeros, ones, zeros, ones, ...]` starting with a (possibly empty)
 * run of zeros. A mask whose encoding exceeds `maxRuns` is halved (2x2 OR, so no defect disappears) until it fits:
 * reports stay small even for a large haze patch, at the cost of a coarser overlay.
 */
export const DEFAULT_MAX_RUNS = 20_000;

export function encodeRle(mask: Uint8Array): number[] {
  const runs: number[] = [];
  let current = 0;
  let length = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]! ? 1 : 0;
    if (v === current) {
      length++;
    } else {
      runs.push(length);
      current = v;
      length = 1;
    }
  }
  runs.push(length);
  return runs;
}

export function decodeRle(rle: MaskRle): Uint8Array {
  const out = new Uint8Array(rle.width * rle.height);
  let pos = 0;
  for (let i = 0; i < rle.rle.length; i++) {
    const run = rle.rle[i]!;
    if (i % 2 === 1) out.fill(1, pos, Math.min(out.length, pos + run));
    pos += run;
  }
  return out;
}

function halve(mask: Uint8Array, width: number, height: number): { mask: Uint8Array; width: number; height: number } {
  const w = Math.ceil(width / 2);
  const h = Math.ceil(height / 2);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const orow = (y >> 1) * w;
    for (let x = 0; x < width; x++) if (mask[row + x]) out[orow + (x >> 1)] = 1;
  }
  return { mask: out, width: w, height: h };
}

/** Encodes a working-scale mask; null when empty (nothing to draw). */
export function compactMask(mask: Uint8Array, width: number, height: number, scaleToPhoto: number, maxRuns = DEFAULT_MAX_RUNS): MaskRle | null {
  if (mask.indexOf(1) === -1) return null;
  let current = { mask, width, height };
  let scale = scaleToPhoto;
  let rle = encodeRle(current.mask);
  while (rle.length > maxRuns && current.width > 1 && current.height > 1) {
    current = halve(current.mask, current.width, current.height);
    scale *= 2;
    rle = encodeRle(current.mask);
  }
  return { width: current.width, height: current.height, scaleToPhoto: scale, rle };
}
