import { Tensor } from 'onnxruntime-node';
import type { DecodedRgb } from './decode.js';
import { PipelineError } from './errors.js';
import type { CropRect } from './piece-crop.js';
import { fillBatch, normalisationTables, planTiles } from './preprocess.js';
import type { LoadedModel } from './registry.js';

/** One model's outputs stitched back to the working image: one full-size plane per named channel. */
export interface ChannelMaps {
  modelId: string;
  width: number;
  height: number;
  /** Channel name (from `model.json`) -> plane of width x height, row major. */
  planes: Map<string, Float32Array>;
}

export interface InferTimings {
  preprocessMs: number;
  inferenceMs: number;
}

export interface InferOptions {
  /** Most tiles per `session.run`; bigger batches amortise per-call overhead at the cost of memory. */
  batchSize: number;
  /**
   * Output channels the caller never reads: not stitched into planes, which at 12 MP cost a full-size allocation and
   * copy each. An output all of whose channels are skipped is not fetched either, which saves copying it out of
   * onnxruntime; its nodes still run (onnxruntime runs the whole graph: models/training/prune_outputs.py cuts them).
   */
  skipChannels?: ReadonlySet<string>;
}

/**
 * Input pixels per `session.run` at most: 16 tiles of 256², 4 of 512², one 2048² tile. Past ~1 MP a batch gains
 * nothing on CPU, and a batch of large tiles costs hundreds of MB of input and output tensors.
 */
const BATCH_PIXEL_BUDGET = 1 << 20;

/** Where `rgb` sits in a larger image whose planes the outputs go into (`pipeline/piece-crop.ts`). */
export interface Placement {
  rect: CropRect;
  width: number;
  height: number;
}

/**
 * Tiles the working image per `model.json`, runs batched inference and stitches each tile's centre region into
 * full-size planes. Tiles are cut from the one decoded buffer; nothing is re-decoded. With `place`, `rgb` is a crop
 * and the planes are the whole image's, zero outside the crop, so the crop costs no second copy of the outputs.
 */
export async function runModel(model: LoadedModel, rgb: DecodedRgb, options: InferOptions, timings: InferTimings, place?: Placement): Promise<ChannelMaps> {
  const { manifest, session } = model;
  const plan = planTiles(rgb.width, rgb.height, manifest.input);
  const luts = normalisationTables(manifest.input.normalisation);
  const tw = plan.x.size;
  const th = plan.y.size;
  const batch = Math.max(1, Math.min(options.batchSize, plan.tiles.length, Math.floor(BATCH_PIXEL_BUDGET / (tw * th))));
  const input = new Float32Array(batch * 3 * tw * th);
  const outW = place?.width ?? rgb.width;
  const outH = place?.height ?? rgb.height;
  const offX = place?.rect.x ?? 0;
  const offY = place?.rect.y ?? 0;
  const planes = new Map<string, Float32Array>();
  const fetched = manifest.outputs.filter((out) => out.channels.some((ch) => !options.skipChannels?.has(ch)));
  for (const out of fetched) {
    for (const ch of out.channels) if (!options.skipChannels?.has(ch)) planes.set(ch, new Float32Array(outW * outH));
  }
  const fetchNames = fetched.map((out) => out.name);

  for (let first = 0; first < plan.tiles.length; first += batch) {
    const count = Math.min(batch, plan.tiles.length - first);
    let t0 = performance.now();
    fillBatch(rgb, plan, first, count, luts, input);
    timings.preprocessMs += performance.now() - t0;

    t0 = performance.now();
    const feed = new Tensor('float32', count === batch ? input : input.subarray(0, count * 3 * tw * th), [count, 3, th, tw]);
    const results = await session.run({ [manifest.input.name]: feed }, fetchNames);
    timings.inferenceMs += performance.now() - t0;

    t0 = performance.now();
    for (const out of fetched) {
      const tensor = results[out.name];
      const dims = tensor?.dims ?? [];
      const channels = out.channels.length;
      if (!tensor || dims[0] !== count || dims[1] !== channels || dims[2] !== th || dims[3] !== tw) {
        throw new PipelineError('model_invalid', `${model.id}@${model.version}: output "${out.name}" has shape [${dims.join(',')}], expected [${count},${channels},${th},${tw}]`, {
          model: model.id,
          output: out.name,
        });
      }
      const data = tensor.data as Float32Array;
      for (let t = 0; t < count; t++) {
        const { col, row } = plan.tiles[first + t]!;
        const x0 = plan.x.starts[col]!;
        const y0 = plan.y.starts[row]!;
        const fromX = plan.x.ownFrom[col]!;
        const toX = plan.x.ownTo[col]!;
        const fromY = plan.y.ownFrom[row]!;
        const toY = plan.y.ownTo[row]!;
        for (let c = 0; c < channels; c++) {
          const plane = planes.get(out.channels[c]!);
          if (!plane) continue;
          const tileBase = (t * channels + c) * th * tw;
          for (let y = fromY; y < toY; y++) {
            const srcStart = tileBase + (y - y0) * tw + (fromX - x0);
            plane.set(data.subarray(srcStart, srcStart + (toX - fromX)), (y + offY) * outW + fromX + offX);
          }
        }
      }
      tensor.dispose?.();
    }
    feed.dispose?.();
    timings.inferenceMs += performance.now() - t0;
  }
  return { modelId: model.id, width: outW, height: outH, planes };
}
