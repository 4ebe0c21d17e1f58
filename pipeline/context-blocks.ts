import type { DecodedRgb } from './decode.js';

/**
 * The verifier's context view reads, for each of its P x P cells, the sum of an f x f block of the photo. Candidates
 * on the verifier's grid (96 px apart, a multiple of f) share one phase of the block grid, and their 256 px context
 * squares overlap about seven times over, so summing each block once per photo and looking it up is most of the
 * patch building's work saved (a whole 12 MP frame holds ~475 grid points). Sums of 8-bit values are integers, so a
 * looked-up block gives the same float as the direct sum in any order: the patches are bit for bit the same.
 */

export interface ContextBlocks {
  f: number;
  /** Block (0, 0) starts at photo pixel (x0, y0); a block index outside [0, nx) x [0, ny) lies outside the photo. */
  x0: number;
  y0: number;
  nx: number;
  ny: number;
  /** Interleaved RGB sums per block, row-major. */
  sums: Int32Array;
}

/** `x`'s phase on a grid of `f` px: the offset in [0, f) of the grid line at or below it. */
const phase = (x: number, f: number): number => ((x % f) + f) % f;

/**
 * Block sums for the candidates whose context squares (`big` = P x f px, from `c - big/2`) share a phase, where
 * summing the blocks under their squares' bounding box once costs less than summing each square's pixels; the rest
 * get none and are summed directly.
 */
export function contextBlocksFor(
  rgb: DecodedRgb,
  candidates: readonly { x: number; y: number }[],
  P: number,
  f: number,
): Map<number, ContextBlocks> {
  const big = P * f;
  const groups = new Map<number, { x0: number; y0: number; x1: number; y1: number; n: number }>();
  for (const c of candidates) {
    const bx0 = c.x - (big >> 1);
    const by0 = c.y - (big >> 1);
    const key = phaseKey(bx0, by0, f);
    const g = groups.get(key);
    if (g) {
      g.x0 = Math.min(g.x0, bx0);
      g.y0 = Math.min(g.y0, by0);
      g.x1 = Math.max(g.x1, bx0 + big);
      g.y1 = Math.max(g.y1, by0 + big);
      g.n++;
    } else groups.set(key, { x0: bx0, y0: by0, x1: bx0 + big, y1: by0 + big, n: 1 });
  }
  const out = new Map<number, ContextBlocks>();
  for (const [key, g] of groups) {
    // Clipped to the photo: blocks beyond it sum to zero and need no storage.
    const x0 = Math.max(g.x0, phase(g.x0, f) - f);
    const y0 = Math.max(g.y0, phase(g.y0, f) - f);
    const x1 = Math.min(g.x1, rgb.width + f);
    const y1 = Math.min(g.y1, rgb.height + f);
    const nx = Math.max(0, Math.ceil((x1 - x0) / f));
    const ny = Math.max(0, Math.ceil((y1 - y0) / f));
    if (nx * ny * f * f >= g.n * big * big) continue;
    out.set(key, { f, x0, y0, nx, ny, sums: blockSums(rgb, f, x0, y0, nx, ny) });
  }
  return out;
}

/** The key of a context square's phase (its top-left corner modulo f, both axes). */
export const phaseKey = (bx0: number, by0: number, f: number): number => phase(by0, f) * f + phase(bx0, f);

/**
 * Interleaved RGB sums of the `nx` x `ny` blocks of `f` x `f` px whose first starts at photo pixel (x0, y0); pixels
 * outside the photo count as zero. Integer sums (at most f^2 x 255 per block), so exact.
 */
export function blockSums(rgb: DecodedRgb, f: number, x0: number, y0: number, nx: number, ny: number): Int32Array {
  const { data, width, height } = rgb;
  const sums = new Int32Array(nx * ny * 3);
  const ya = Math.max(0, y0);
  const yb = Math.min(height, y0 + ny * f);
  const xa = Math.max(0, x0);
  const xb = Math.min(width, x0 + nx * f);
  for (let y = ya; y < yb; y++) {
    const rowBase = Math.floor((y - y0) / f) * nx * 3;
    let x = xa;
    while (x < xb) {
      const bx = Math.floor((x - x0) / f);
      const end = Math.min(xb, x0 + (bx + 1) * f);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = (y * width + x) * 3; x < end; x++, j += 3) {
        r += data[j]!;
        g += data[j + 1]!;
        b += data[j + 2]!;
      }
      const o = rowBase + bx * 3;
      sums[o] += r;
      sums[o + 1] += g;
      sums[o + 2] += b;
    }
  }
  return sums;
}
