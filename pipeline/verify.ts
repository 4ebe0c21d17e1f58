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

export function patchTensorData(rgb: DecodedRgb, candidates: readonly PolishCandidate[], spec: Verifier, norm: ModelManifest['input']['normalisation']): Float32Array {
  const P = spec.patchPx;
  const f = spec.contextFactor;
  const big = P * f;
  const plane = P * P;
  const out = new Float32Array(candidates.length * 6 * plane);
  const { data, width, height } = rgb;
  const inv = 1 / norm.scale;
  const ctxInv = inv / (f * f);
  const { mean, std } = norm;
  for (const [n, c] of candidates.entries()) {
    const base = n * 6 * plane;
    const cx0 = c.x - (P >> 1);
    const cy0 = c.y - (P >> 1);
    const bx0 = c.x - (big >> 1);
    const by0 = c.y - (big >> 1);
    for (let py = 0; py < P; py++) {
      for (let px = 0; px < P; px++) {
        const o = base + py * P + px;
        // Centre patch; outside the photo the pixel is zero.
        const x = cx0 + px;
        const y = cy0 + py;
        const si = (y * width + x) * 3;
        const inside = x >= 0 && y >= 0 && x < width && y < height;
        for (let ch = 0; ch < 3; ch++) out[o + ch * plane] = ((inside ? data[si + ch]! * inv : 0) - mean[ch]!) / std[ch]!;
        // Context patch: the mean of an f x f block, pixels outside the photo counting as zero.
        let r = 0;
        let g = 0;
        let b = 0;
        for (let dy = 0; dy < f; dy++) {
          const yy = by0 + py * f + dy;
          if (yy < 0 || yy >= height) continue;
          for (let dx = 0; dx < f; dx++) {
            const xx = bx0 + px * f + dx;
            if (xx < 0 || xx >= width) continue;
            const j = (yy * width + xx) * 3;
            r += data[j]!;
            g += data[j + 1]!;
            b += data[j + 2]!;
          }
        }
        out[o + 3 * plane] = (r * ctxInv - mean[0]!) / std[0]!;
        out[o + 4 * plane] = (g * ctxInv - mean[1]!) / std[1]!;
        out[o + 5 * plane] = (b * ctxInv - mean[2]!) / std[2]!;
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
