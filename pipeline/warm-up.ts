import { Tensor } from 'onnxruntime-node';
import type { StoneRefiner, Verifier } from './model-manifest.schema.js';
import type { LoadedModel } from './registry.js';
import { patchChannels, patchViews, VERIFIER_BATCH } from './verify.js';

/**
 * A fresh onnxruntime session's first runs at a new input size are several times slower than the ones after (its
 * memory arena grows and its buffers are touched for the first time), so a worker that took photos straight away would
 * give its first inspections seconds more each (`npm run bench -- pipeline`, row "first photo, cold session").
 * Running each network on its largest input first (one full tile; the verifier's largest batch) leaves the arena big
 * enough for every smaller input.
 */

/** Runs the model's networks `runs` times on zeros of their largest input; resolves to the wall time in ms. */
export async function warmUpModel(model: LoadedModel, runs: number): Promise<number> {
  const t0 = performance.now();
  const { input } = model.manifest;
  const side = input.tile.size;
  const image = new Tensor('float32', new Float32Array(3 * side * side), [1, 3, side, side]);
  const spec = model.manifest.verifier;
  const verifier = spec && model.verifier ? { session: model.verifier, feed: { [spec.input]: zeroPatches(spec) } } : null;
  const refinerSpec = model.manifest.stoneRefiner;
  const refiner = refinerSpec && model.stoneRefiner ? { session: model.stoneRefiner, feed: { [refinerSpec.input]: zeroCrops(refinerSpec) } } : null;
  for (let i = 0; i < runs; i++) {
    const out = await model.session.run({ [input.name]: image });
    for (const t of Object.values(out)) t.dispose?.();
    for (const part of [verifier, refiner]) {
      if (!part) continue;
      const v = await part.session.run(part.feed);
      for (const t of Object.values(v)) t.dispose?.();
    }
  }
  return performance.now() - t0;
}

/** A few stones' crops: the refiner's input size is fixed but for the stone count, which varies by photo. */
function zeroCrops(spec: StoneRefiner): Tensor {
  const dims = [8, 3, spec.cropPx, spec.cropPx];
  return new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
}

/** The verifier's largest input: a full batch of candidates, each in all its `tta` views. */
function zeroPatches(spec: Verifier): Tensor {
  const dims = [VERIFIER_BATCH * patchViews(spec), patchChannels(spec), spec.patchPx, spec.patchPx];
  return new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
}
