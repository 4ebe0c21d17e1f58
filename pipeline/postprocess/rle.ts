import type { MaskRle } from '../report.schema.js';

/**
 * Masks stored in reports: row-major run lengths `[zeros, ones, zeros, ones, ...]` starting with a (possibly empty)
 * run of zeros. A mask whose encoding exceeds `maxRuns` is halved (2x2 OR, so no defect disappears) until it fits:
 * reports stay small even for a large haze patch, at the cost of a coarser overlay.
 */
export const DEFAULT_MAX_RUNS = 20_000;

export function encodeRle(mask: Uint8Array): number[] {
  const runs: number[] = [];
  const n = mask.length;
  // A defect mask is almost all zeros: skip them a 32-bit word at a time where the buffer allows a word view.
  const words = mask.byteOffset % 4 === 0 ? new Uint32Array(mask.buffer, mask.byteOffset, n >> 2) : null;
  let i = 0;
  for (;;) {
    const zerosFrom = i;
    if (words) {
      while ((i & 3) !== 0 && i < n && mask[i] === 0) i++;
      if ((i & 3) === 0) {
        let w = i >> 2;
        while (w < words.length && words[w] === 0) w++;
        i = w << 2;
      }
    }
    while (i < n && mask[i] === 0) i++;
    runs.push(i - zerosFrom);
    if (i === n) return runs;
    const onesFrom = i;
    while (i < n && mask[i] !== 0) i++;
    runs.push(i - onesFrom);
    if (i === n) return runs;
  }
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
