import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { blockSums, contextBlocksFor, phaseKey, type ContextBlocks } from './context-blocks.js';
import type { DecodedRgb } from './decode.js';
import type { ModelManifest, Verifier } from './model-manifest.schema.js';
import type { PolishCandidate } from './postprocess/polish-candidates.js';

/**
 * The polish verifier's pass (see `VerifierSchema`): for each candidate, a `patchPx` square of the working-scale photo
 * centred on it and the `contextFactor` times wider square around it box-averaged to the same size, stacked as six
 * channels and normalised as the seg model's input, then (with `wideFactor`) the wide view. Must match
 * `models/training/verifier.py` `crop_region`, `patch_pair`, `wide_image` and `wide_crop`: zero outside the photo,
 * centre patch from `x - patchPx/2`.
 */

export interface VerifiedCandidate extends PolishCandidate {
  /** Probability per verifier kind, in `Verifier.kinds` order. */
  probs: number[];
}

/** Most candidates per `session.run` (each as `Verifier.tta` views): 64 x 9 x 64 x 64 floats is 9 MB per view. */
export const VERIFIER_BATCH = 64;

/** The photo's block means for the wide view: `verifier.py` `wide_image`, 0-255 per channel, interleaved RGB. */
export interface WideImage {
  data: Float32Array;
  width: number;
  height: number;
  factor: number;
}

/** Block means of `factor` x `factor` px on the grid from (0, 0); pixels outside the photo count as zero. */
export function wideImage(rgb: DecodedRgb, factor: number): WideImage {
  const w = Math.ceil(rgb.width / factor);
  const h = Math.ceil(rgb.height / factor);
  // One pass over the photo (a 12 MP photo's working image in ~10 ms), once per photo.
  const sums = blockSums(rgb, factor, 0, 0, w, h);
  const out = new Float32Array(sums.length);
  const inv = 1 / (factor * factor);
  for (let i = 0; i < sums.length; i++) out[i] = sums[i]! * inv;
  return { data: out, width: w, height: h, factor };
}

/** Channels per patch: centre and context, plus the wide view when the verifier reads one. */
export const patchChannels = (spec: Verifier): number => (spec.wideFactor ? 9 : 6);

/** Looks per candidate: the patches as built plus `Verifier.tta - 1` mirrored copies (`patchTensorData`'s `views`). */
export const patchViews = (spec: Verifier): number => spec.tta ?? 1;

export function patchTensorData(
  rgb: DecodedRgb,
  candidates: readonly PolishCandidate[],
  spec: Verifier,
  norm: ModelManifest['input']['normalisation'],
  /** The photo's `wideImage` when the verifier reads one; made here when not given. */
  wide?: WideImage,
  /**
   * Looks per candidate (`patchViews`): view v is a block of every candidate's planes after view v - 1's, mirrored
   * left-right (v = 1, 3) and up-down (v = 2, 3). Mirrored within the one buffer: copying the built patches into a
   * second one took ~15 ms and 16 MB per 12 MP photo.
   */
  views = 1,
  /** `contextBlocksFor` over the photo's candidates (these or more); made for these when not given. */
  blocks?: Map<number, ContextBlocks>,
): Float32Array {
  const P = spec.patchPx;
  const f = spec.contextFactor;
  const big = P * f;
  const plane = P * P;
  const C = patchChannels(spec);
  const perView = candidates.length * C * plane;
  const out = new Float32Array(views * perView);
  const { data, width, height } = rgb;
  const inv = 1 / norm.scale;
  const ctxInv = inv / (f * f);
  const { mean, std } = norm;
  const [m0, m1, m2] = mean as [number, number, number];
  const [s0, s1, s2] = std as [number, number, number];
  const view = spec.wideFactor ? (wide ?? wideImage(rgb, spec.wideFactor)) : null;
  const sums = blocks ?? contextBlocksFor(rgb, candidates, P, f);
  const luts = sums.size > 0 ? patchLuts(f, inv, ctxInv, mean, std) : null;
  for (const [n, c] of candidates.entries()) {
    const base = n * C * plane;
    if (view) writeWideView(out, base + 6 * plane, view, c, P, inv, mean, std);
    const cx0 = c.x - (P >> 1);
    const cy0 = c.y - (P >> 1);
    const bx0 = c.x - (big >> 1);
    const by0 = c.y - (big >> 1);
    const shared = sums.get(phaseKey(bx0, by0, f));
    if (shared && luts) {
      writeFromBlocks(out, base, data, width, height, shared, luts, cx0, cy0, bx0, by0, P);
      continue;
    }
    // The context square holds the centre one: when it lies inside the photo no pixel needs a bounds test (most
    // candidates; the same sums in the same order as below, so the same floats).
    const inside = bx0 >= 0 && by0 >= 0 && bx0 + big <= width && by0 + big <= height;
    for (let py = 0; py < P; py++) {
      for (let px = 0; px < P; px++) {
        const o = base + py * P + px;
        const x = cx0 + px;
        const y = cy0 + py;
        let cr = 0;
        let cg = 0;
        let cb = 0;
        let r = 0;
        let g = 0;
        let b = 0;
        if (inside) {
          const si = (y * width + x) * 3;
          cr = data[si]! * inv;
          cg = data[si + 1]! * inv;
          cb = data[si + 2]! * inv;
          for (let dy = 0, j0 = ((by0 + py * f) * width + bx0 + px * f) * 3; dy < f; dy++, j0 += width * 3) {
            for (let dx = 0, j = j0; dx < f; dx++, j += 3) {
              r += data[j]!;
              g += data[j + 1]!;
              b += data[j + 2]!;
            }
          }
        } else {
          // Centre patch; outside the photo the pixel is zero.
          if (x >= 0 && y >= 0 && x < width && y < height) {
            const si = (y * width + x) * 3;
            cr = data[si]! * inv;
            cg = data[si + 1]! * inv;
            cb = data[si + 2]! * inv;
          }
          // Context patch: the mean of an f x f block, pixels outside the photo counting as zero.
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
        }
        out[o] = (cr - m0) / s0;
        out[o + plane] = (cg - m1) / s1;
        out[o + 2 * plane] = (cb - m2) / s2;
        out[o + 3 * plane] = (r * ctxInv - m0) / s0;
        out[o + 4 * plane] = (g * ctxInv - m1) / s1;
        out[o + 5 * plane] = (b * ctxInv - m2) / s2;
      }
    }
  }
  mirrorViews(out, perView / plane, P, views);
  return out;
}

/**
 * Each channel's normalised value per 8-bit level (centre) and per block sum (context): the same expressions as the
 * direct path's, evaluated once per level instead of once per cell, so the same floats.
 */
interface PatchLuts {
  centre: Float64Array[];
  context: Float64Array[];
}

function patchLuts(f: number, inv: number, ctxInv: number, mean: readonly number[], std: readonly number[]): PatchLuts {
  const centre: Float64Array[] = [];
  const context: Float64Array[] = [];
  for (let ch = 0; ch < 3; ch++) {
    const m = mean[ch]!;
    const s = std[ch]!;
    const c = new Float64Array(256);
    for (let v = 0; v < 256; v++) c[v] = (v * inv - m) / s;
    const x = new Float64Array(f * f * 255 + 1);
    for (let v = 0; v < x.length; v++) x[v] = (v * ctxInv - m) / s;
    centre.push(c);
    context.push(x);
  }
  return { centre, context };
}

/** One candidate's centre and context planes at `base`, its context cells looked up in `blocks` (its phase's). */
function writeFromBlocks(
  out: Float32Array,
  base: number,
  data: Buffer,
  width: number,
  height: number,
  blocks: ContextBlocks,
  luts: PatchLuts,
  cx0: number,
  cy0: number,
  bx0: number,
  by0: number,
  P: number,
): void {
  const plane = P * P;
  const [c0, c1, c2] = luts.centre as [Float64Array, Float64Array, Float64Array];
  const [k0, k1, k2] = luts.context as [Float64Array, Float64Array, Float64Array];
  const { sums, nx, ny, f } = blocks;
  const kx0 = (bx0 - blocks.x0) / f;
  const ky0 = (by0 - blocks.y0) / f;
  for (let py = 0; py < P; py++) {
    const y = cy0 + py;
    const rowIn = y >= 0 && y < height;
    const ky = ky0 + py;
    const blockRowIn = ky >= 0 && ky < ny;
    const row = base + py * P;
    for (let px = 0; px < P; px++) {
      const o = row + px;
      const x = cx0 + px;
      if (rowIn && x >= 0 && x < width) {
        const si = (y * width + x) * 3;
        out[o] = c0[data[si]!]!;
        out[o + plane] = c1[data[si + 1]!]!;
        out[o + 2 * plane] = c2[data[si + 2]!]!;
      } else {
        out[o] = c0[0]!;
        out[o + plane] = c1[0]!;
        out[o + 2 * plane] = c2[0]!;
      }
      const kx = kx0 + px;
      if (blockRowIn && kx >= 0 && kx < nx) {
        const j = (ky * nx + kx) * 3;
        out[o + 3 * plane] = k0[sums[j]!]!;
        out[o + 4 * plane] = k1[sums[j + 1]!]!;
        out[o + 5 * plane] = k2[sums[j + 2]!]!;
      } else {
        out[o + 3 * plane] = k0[0]!;
        out[o + 4 * plane] = k1[0]!;
        out[o + 5 * plane] = k2[0]!;
      }
    }
  }
}

/** Views 1.. of `out` from view 0 (its first `planes` planes of P x P), mirrored as `patchTensorData` says. */
function mirrorViews(out: Float32Array, planes: number, P: number, views: number): void {
  const perView = planes * P * P;
  for (let v = 1; v < views; v++) {
    const flipX = v === 1 || v === 3;
    const flipY = v >= 2;
    for (let p = 0; p < planes; p++) {
      const src = p * P * P;
      for (let y = 0; y < P; y++) {
        const from = src + (flipY ? P - 1 - y : y) * P;
        const to = v * perView + src + y * P;
        if (flipX) for (let x = 0; x < P; x++) out[to + x] = out[from + P - 1 - x]!;
        else out.copyWithin(to, from, from + P);
      }
    }
  }
}

/** `verifier.py` `wide_crop`: P x P cells around the candidate's block (its block at P/2), zero outside. */
function writeWideView(
  out: Float32Array,
  base: number,
  view: WideImage,
  c: { x: number; y: number },
  P: number,
  inv: number,
  mean: readonly number[],
  std: readonly number[],
): void {
  const plane = P * P;
  const x0 = Math.floor(c.x / view.factor) - (P >> 1);
  const y0 = Math.floor(c.y / view.factor) - (P >> 1);
  for (let py = 0; py < P; py++) {
    const y = y0 + py;
    for (let px = 0; px < P; px++) {
      const x = x0 + px;
      const inside = x >= 0 && y >= 0 && x < view.width && y < view.height;
      const j = (y * view.width + x) * 3;
      const o = base + py * P + px;
      for (let ch = 0; ch < 3; ch++) out[o + ch * plane] = ((inside ? view.data[j + ch]! * inv : 0) - mean[ch]!) / std[ch]!;
    }
  }
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
  const views = patchViews(spec);
  const out: VerifiedCandidate[] = [];
  const tWide = performance.now();
  const wide = spec.wideFactor && candidates.length > 0 ? wideImage(rgb, spec.wideFactor) : undefined;
  const blocks = contextBlocksFor(rgb, candidates, spec.patchPx, spec.contextFactor);
  if (timings) timings.preprocessMs += performance.now() - tWide;
  for (let i = 0; i < candidates.length; i += VERIFIER_BATCH) {
    const chunk = candidates.slice(i, i + VERIFIER_BATCH);
    const t0 = performance.now();
    const batch = patchTensorData(rgb, chunk, spec, norm, wide, views, blocks);
    const t1 = performance.now();
    const result = await session.run({ [spec.input]: new Tensor('float32', batch, [views * chunk.length, patchChannels(spec), spec.patchPx, spec.patchPx]) });
    if (timings) {
      timings.preprocessMs += t1 - t0;
      timings.inferenceMs += performance.now() - t1;
    }
    // Row `v * chunk.length + n` holds view v of candidate n: each candidate's probabilities are the mean of its views.
    const probs = result[spec.output]!.data as Float32Array;
    const viewStride = chunk.length * K;
    for (const [n, c] of chunk.entries()) {
      const p = new Array<number>(K).fill(0);
      for (let v = 0; v < views; v++) for (let k = 0; k < K; k++) p[k]! += probs[v * viewStride + n * K + k]! / views;
      out.push({ ...c, probs: p });
    }
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
