import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { DecodedRgb } from './decode.js';
import type { ModelManifest, Verifier } from './model-manifest.schema.js';
import type { PolishCandidate } from './postprocess/polish-candidates.js';

/**
 * The polish verifier's pass (see `VerifierSchema`): for each candidate, a `patchPx` square of the working-scale photo
 * centred on it and the `contextFactor` times wider square around it box-averaged to the same size, stacked as six
 * channels and normalised as the seg model's input. Must match `models/training/verifier.py` `crop_region` and
 * `patch_pair`: zero outside the photo, centre patch from `x - patchPx/2`.
 */

export interface VerifiedCandidate extends PolishCandidate {
  /** Probability per verifier kind, in `Verifier.kinds` order. */
  probs: number[];
}

/** Most patches per `session.run`: 64 x 6 x 64 x 64 floats is 6 MB. */
const BATCH = 64;

/**
 * Summed-area tables of the photo's three channels over `[x0, x1) x [y0, y1)`: entry `(y - y0) * (x1 - x0 + 1) + (x - x0)`
 * of channel c (stride `(w + 1) * (h + 1)`) holds the sum of that channel over `[x0, x) x [y0, y)`. Uint32 wraps
 * past 2^32, but a box sum taken from four entries comes out exact modulo 2^32, and no box here reaches it.
 */
function summedAreas(rgb: DecodedRgb, x0: number, y0: number, x1: number, y1: number): { sat: Uint32Array; stride: number; plane: number } {
  const w = x1 - x0;
  const h = y1 - y0;
  const stride = w + 1;
  const plane = stride * (h + 1);
  const sat = new Uint32Array(3 * plane);
  const { data, width } = rgb;
  for (let y = 0; y < h; y++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let si = ((y + y0) * width + x0) * 3;
    const above = y * stride + 1;
    const row = above + stride;
    for (let x = 0; x < w; x++, si += 3) {
      r += data[si]!;
      g += data[si + 1]!;
      b += data[si + 2]!;
      sat[row + x] = r + sat[above + x]!;
      sat[plane + row + x] = g + sat[plane + above + x]!;
      sat[2 * plane + row + x] = b + sat[2 * plane + above + x]!;
    }
  }
  return { sat, stride, plane };
}

export function patchTensorData(rgb: DecodedRgb, candidates: readonly PolishCandidate[], spec: Verifier, norm: ModelManifest['input']['normalisation']): Float32Array {
  const P = spec.patchPx;
  const f = spec.contextFactor;
  const big = P * f;
  const plane = P * P;
  const out = new Float32Array(candidates.length * 6 * plane);
  if (candidates.length === 0) return out;
  const { data, width, height } = rgb;
  const inv = 1 / norm.scale;
  const ctxInv = inv / (f * f);
  const { mean, std } = norm;
  // Context blocks are box sums: one summed-area table over the squares the candidates reach, four reads per block
  // instead of f x f (f = 4: the patch builder read each pixel 16 times per candidate otherwise).
  let ax0 = width;
  let ay0 = height;
  let ax1 = 0;
  let ay1 = 0;
  for (const c of candidates) {
    ax0 = Math.min(ax0, c.x - (big >> 1));
    ay0 = Math.min(ay0, c.y - (big >> 1));
    ax1 = Math.max(ax1, c.x - (big >> 1) + big);
    ay1 = Math.max(ay1, c.y - (big >> 1) + big);
  }
  ax0 = Math.max(0, ax0);
  ay0 = Math.max(0, ay0);
  ax1 = Math.min(width, ax1);
  ay1 = Math.min(height, ay1);
  const { sat, stride, plane: satPlane } = summedAreas(rgb, ax0, ay0, Math.max(ax0, ax1), Math.max(ay0, ay1));
  const xs0 = new Int32Array(P);
  const xs1 = new Int32Array(P);
  for (const [n, c] of candidates.entries()) {
    const base = n * 6 * plane;
    const cx0 = c.x - (P >> 1);
    const cy0 = c.y - (P >> 1);
    const bx0 = c.x - (big >> 1);
    const by0 = c.y - (big >> 1);
    // Each block's columns clipped to the photo, as table columns; an empty block (wholly outside) sums to zero.
    for (let px = 0; px < P; px++) {
      const a = Math.min(ax1, Math.max(ax0, bx0 + px * f));
      xs0[px] = a - ax0;
      xs1[px] = Math.max(a, Math.min(ax1, bx0 + px * f + f)) - ax0;
    }
    for (let py = 0; py < P; py++) {
      const ya = Math.min(ay1, Math.max(ay0, by0 + py * f));
      const yb = Math.max(ya, Math.min(ay1, by0 + py * f + f));
      const top = (ya - ay0) * stride;
      const bottom = (yb - ay0) * stride;
      const y = cy0 + py;
      for (let px = 0; px < P; px++) {
        const o = base + py * P + px;
        // Centre patch; outside the photo the pixel is zero.
        const x = cx0 + px;
        const si = (y * width + x) * 3;
        const inside = x >= 0 && y >= 0 && x < width && y < height;
        for (let ch = 0; ch < 3; ch++) out[o + ch * plane] = ((inside ? data[si + ch]! * inv : 0) - mean[ch]!) / std[ch]!;
        // Context patch: the mean of an f x f block, pixels outside the photo counting as zero.
        const l = xs0[px]!;
        const r = xs1[px]!;
        for (let ch = 0; ch < 3; ch++) {
          const q = ch * satPlane;
          const sum = (sat[q + bottom + r]! - sat[q + top + r]! - sat[q + bottom + l]! + sat[q + top + l]!) >>> 0;
          out[o + (3 + ch) * plane] = (sum * ctxInv - mean[ch]!) / std[ch]!;
        }
      }
    }
  }
  return out;
}

export async function runVerifier(
  session: InferenceSession,
  rgb: DecodedRgb,
  candidates: readonly PolishCandidate[],
  spec: Verifier,
  norm: ModelManifest['input']['normalisation'],
  /** Session time goes to `inferenceMs`, patch building to `preprocessMs`. */
  timings?: { preprocessMs: number; inferenceMs: number },
): Promise<VerifiedCandidate[]> {
  const K = spec.kinds.length;
  const out: VerifiedCandidate[] = [];
  for (let i = 0; i < candidates.length; i += BATCH) {
    const chunk = candidates.slice(i, i + BATCH);
    const t0 = performance.now();
    const data = patchTensorData(rgb, chunk, spec, norm);
    const t1 = performance.now();
    const result = await session.run({ [spec.input]: new Tensor('float32', data, [chunk.length, 6, spec.patchPx, spec.patchPx]) });
    if (timings) {
      timings.preprocessMs += t1 - t0;
      timings.inferenceMs += performance.now() - t1;
    }
    const probs = result[spec.output]!.data as Float32Array;
    for (const [n, c] of chunk.entries()) out.push({ ...c, probs: Array.from(probs.subarray(n * K, n * K + K)) });
    for (const t of Object.values(result)) t.dispose?.();
  }
  return out;
}

/** A kind's image score from the verifier: its largest probability over every candidate (0 without candidates). */
export function verifiedKindScore(verified: readonly VerifiedCandidate[], kindIndex: number): number {
  return verifiedKindPeak(verified, kindIndex).score;
}

/** `verifiedKindScore` and the candidate that holds it (the first of equals; null without candidates). */
export function verifiedKindPeak(verified: readonly VerifiedCandidate[], kindIndex: number): { score: number; at: VerifiedCandidate | null } {
  let m = -1;
  let at: VerifiedCandidate | null = null;
  for (const v of verified) {
    if (v.probs[kindIndex]! > m) {
      m = v.probs[kindIndex]!;
      at = v;
    }
  }
  return { score: Math.max(0, m), at };
}

/**
 * The candidates whose centre patch lies clear of every stone (`stones` in the same working px). A stone's glints and
 * their rays, its seat and prongs read as scratches and tool marks to the verifier (loupe-seg 1.3/1.4 cards, "where it
 * fails"), and the stone is not polished metal: a candidate closer to a stone's centre than its radius plus half a
 * patch has part of the stone in the patch the verifier judges. `inspect.ts` applies it to the line kinds only.
 */
export function clearOfStones<T extends { x: number; y: number }>(
  candidates: readonly T[],
  stones: ReadonlyArray<{ x: number; y: number; r: number }>,
  patchPx: number,
): T[] {
  const half = patchPx / 2;
  return candidates.filter((c) => stones.every((s) => Math.hypot(c.x - s.x, c.y - s.y) >= s.r + half));
}
