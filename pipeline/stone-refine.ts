import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { DecodedRgb } from './decode.js';
import type { StoneRefiner } from './model-manifest.schema.js';
import type { DetectedStone } from './postprocess/stones.js';

/**
 * The stone refiner's last word on each stone's centre and radius (loupe-seg 1.14.0 on). The photo measurement
 * (`postprocess/stone-edges.ts`) places most stones within half a pixel, but a sparkle's star or facets ending early
 * put one stone in twenty 2-5 px off, and one such stone turns a clean row's gap into a spacing flag. A crop around
 * each stone, scaled to its estimated radius, goes through a small network that answers the way to the true centre
 * and radius; `iterations` times, each from the crop at the last answer.
 *
 * The crop is `models/training/stone_refiner.py`'s, to the same arithmetic (a test compares the two): the photo's pixel
 * (x, y) holds the value at (x, y); crop pixel (i, j) is the mean of supersample^2 bilinear samples spread evenly over
 * its square, the squares tiling cropSide x r around the centre.
 */

export interface RefinerTimings {
  preprocessMs: number;
  inferenceMs: number;
}

/** Normalised crops, planar (3 x cropPx x cropPx each), into `out` at `offset`. */
export function stoneCrop(rgb: DecodedRgb, cx: number, cy: number, r: number, spec: Pick<StoneRefiner, 'cropPx' | 'cropSide' | 'supersample'>, out: Float32Array, offset = 0): void {
  const { cropPx: n, cropSide: side, supersample: ss } = spec;
  const { data, width: w, height: h } = rgb;
  const step = (side * r) / n;
  const x0 = cx - (side * r) / 2;
  const y0 = cy - (side * r) / 2;
  const subs = n * ss;
  // Each sub-sample's coordinate on one axis, clamped as the Python crop clamps (to w - 1.001, so x0 + 1 exists).
  const coords = (origin: number, limit: number): Float64Array => {
    const c = new Float64Array(subs);
    for (let k = 0; k < subs; k++) c[k] = Math.min(Math.max(origin + ((k + 0.5) / ss) * step, 0), limit - 1.001);
    return c;
  };
  const xs = coords(x0, w);
  const ys = coords(y0, h);
  const sums = new Float64Array(3 * n * n);
  for (let a = 0; a < subs; a++) {
    const y = ys[a]!;
    const yi = Math.floor(y);
    const fy = y - yi;
    const row = Math.floor(a / ss) * n;
    for (let b = 0; b < subs; b++) {
      const x = xs[b]!;
      const xi = Math.floor(x);
      const fx = x - xi;
      const p = (yi * w + xi) * 3;
      const q = p + w * 3;
      const cell = row + Math.floor(b / ss);
      for (let c = 0; c < 3; c++) {
        const top = data[p + c]! * (1 - fx) + data[p + 3 + c]! * fx;
        const bottom = data[q + c]! * (1 - fx) + data[q + 3 + c]! * fx;
        sums[c * n * n + cell] += top * (1 - fy) + bottom * fy;
      }
    }
  }
  const perCell = ss * ss;
  const plane = n * n;
  let total = 0;
  const means = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = sums[c * plane + i]! / perCell;
      sums[c * plane + i] = v;
      means[c]! += v;
    }
    means[c]! /= plane;
    total += means[c]!;
  }
  const grand = total / 3;
  let sq = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) sq += (sums[c * plane + i]! - grand) ** 2;
  // One spread for all three channels (the stone's colour against the metal stays), floored so a flat crop's noise
  // is not blown up.
  const sd = Math.sqrt(sq / (3 * plane)) + 0.25;
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (sums[c * plane + i]! - means[c]!) / sd;
}

/**
 * Each stone refined in the working-scale photo: all stones of a step in one batch; a stone whose step would move it
 * farther than `maxShift` radii or scale its radius outside `radiusRange` stays where the last step left it (the crop
 * shows something the network never saw: another stone cut by the photo's edge, a reflection).
 */
export async function refineStones(
  session: InferenceSession,
  spec: StoneRefiner,
  rgb: DecodedRgb,
  stones: readonly DetectedStone[],
  timings?: RefinerTimings,
): Promise<DetectedStone[]> {
  const out = stones.map((s) => ({ ...s }));
  let active = out.map((_, i) => i).filter((i) => out[i]!.r > 0);
  const size = 3 * spec.cropPx * spec.cropPx;
  for (let it = 0; it < spec.iterations && active.length > 0; it++) {
    const t0 = performance.now();
    const batch = new Float32Array(active.length * size);
    active.forEach((i, k) => stoneCrop(rgb, out[i]!.x, out[i]!.y, out[i]!.r, spec, batch, k * size));
    const t1 = performance.now();
    const result = await session.run({ [spec.input]: new Tensor('float32', batch, [active.length, 3, spec.cropPx, spec.cropPx]) });
    if (timings) {
      timings.preprocessMs += t1 - t0;
      timings.inferenceMs += performance.now() - t1;
    }
    const answer = result[spec.output]!.data as Float32Array;
    const next: number[] = [];
    active.forEach((i, k) => {
      const [dx, dy, logRatio] = [answer[3 * k]!, answer[3 * k + 1]!, answer[3 * k + 2]!];
      const ratio = Math.exp(logRatio);
      if (!(Math.hypot(dx, dy) <= spec.maxShift && ratio >= spec.radiusRange[0] && ratio <= spec.radiusRange[1])) return;
      const s = out[i]!;
      out[i] = { ...s, x: s.x + dx * s.r, y: s.y + dy * s.r, r: s.r * ratio };
      next.push(i);
    });
    active = next;
  }
  return out;
}
