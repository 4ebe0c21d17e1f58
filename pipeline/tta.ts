import type { DecodedRgb } from './decode.js';
import { runModel, type ChannelMaps, type InferOptions, type InferTimings, type Placement } from './infer.js';
import { uncropMaps } from './piece-crop.js';
import type { TtaMode } from './profile.schema.js';
import type { LoadedModel } from './registry.js';

/**
 * Test-time augmentation: the model run on the photo turned and mirrored, each output mapped back and averaged.
 * Every output channel is a scalar field (probabilities, stone heat, radius in px), so the mean of the mapped-back
 * planes is the same quantity. `dihedral8` costs eight inferences: worth it where a photo is small and the verdict
 * hangs on a few pixels (300 px station photos of castings: validation AUROC 0.981 → 0.996), not for 12 MP jewelry
 * photos, where it would break the one-second budget.
 */

/** Quarter turns clockwise, then an optional left-right mirror. */
export interface Turn {
  quarter: 0 | 1 | 2 | 3;
  mirror: boolean;
}

export const DIHEDRAL8: readonly Turn[] = ([0, 1, 2, 3] as const).flatMap((quarter) => [
  { quarter, mirror: false },
  { quarter, mirror: true },
]);

/** Size of the turned image. */
export function turnedSize(width: number, height: number, t: Turn): { width: number; height: number } {
  return t.quarter % 2 === 0 ? { width, height } : { width: height, height: width };
}

/** For each original pixel (row major), its index in the turned image. */
export function turnIndex(width: number, height: number, t: Turn): Int32Array {
  const out = new Int32Array(width * height);
  const tw = turnedSize(width, height, t).width;
  let i = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      let tx: number;
      let ty: number;
      switch (t.quarter) {
        case 0: tx = x; ty = y; break;
        case 1: tx = height - 1 - y; ty = x; break;
        case 2: tx = width - 1 - x; ty = height - 1 - y; break;
        default: tx = y; ty = width - 1 - x;
      }
      if (t.mirror) tx = tw - 1 - tx;
      out[i] = ty * tw + tx;
    }
  }
  return out;
}

export function turnRgb(rgb: DecodedRgb, index: Int32Array, t: Turn): DecodedRgb {
  const size = turnedSize(rgb.width, rgb.height, t);
  const data = Buffer.allocUnsafe(rgb.data.length);
  const src = rgb.data;
  for (let i = 0; i < index.length; i++) {
    const s = i * 3;
    const d = index[i]! * 3;
    data[d] = src[s]!;
    data[d + 1] = src[s + 1]!;
    data[d + 2] = src[s + 2]!;
  }
  return { data, ...size };
}

/**
 * `runModel`, or the mean of its outputs over the eight turns and mirrors, mapped back to the photo's pixels. With
 * `place`, `rgb` is a crop and the maps come back at the whole image's size (`runModel`).
 */
export async function runModelWithTta(
  model: LoadedModel,
  rgb: DecodedRgb,
  options: InferOptions,
  timings: InferTimings,
  mode: TtaMode,
  place?: Placement,
): Promise<ChannelMaps> {
  if (mode === 'none') return runModel(model, rgb, options, timings, place);
  const maps = await runDihedral(model, rgb, options, timings);
  if (!place) return maps;
  const t0 = performance.now();
  const full = uncropMaps(maps, place.rect, place.width, place.height);
  timings.inferenceMs += performance.now() - t0;
  return full;
}

async function runDihedral(model: LoadedModel, rgb: DecodedRgb, options: InferOptions, timings: InferTimings): Promise<ChannelMaps> {
  const sums = new Map<string, Float32Array>();
  for (const t of DIHEDRAL8) {
    let t0 = performance.now();
    const index = turnIndex(rgb.width, rgb.height, t);
    const turned = turnRgb(rgb, index, t);
    timings.preprocessMs += performance.now() - t0;
    const maps = await runModel(model, turned, options, timings);
    t0 = performance.now();
    for (const [name, plane] of maps.planes) {
      let sum = sums.get(name);
      if (!sum) sums.set(name, (sum = new Float32Array(rgb.width * rgb.height)));
      for (let i = 0; i < index.length; i++) sum[i]! += plane[index[i]!]!;
    }
    timings.inferenceMs += performance.now() - t0;
  }
  for (const sum of sums.values()) for (let i = 0; i < sum.length; i++) sum[i]! /= DIHEDRAL8.length;
  return { modelId: model.id, width: rgb.width, height: rgb.height, planes: sums };
}
