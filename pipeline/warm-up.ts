import { Tensor } from 'onnxruntime-node';
import type { Verifier } from './model-manifest.schema.js';
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
  const { input, verifier, stoneRefiner } = model.manifest;
  const side = input.tile.size;
  const parts = [
    { session: model.session, feed: { [input.name]: zeros([1, 3, side, side]) } },
    verifier && model.verifier ? { session: model.verifier, feed: { [verifier.input]: zeros(patchDims(verifier)) } } : null,
    // A few stones' crops: the refiner's input is fixed in size but for the stone count, which varies by photo.
    stoneRefiner && model.stoneRefiner
      ? { session: model.stoneRefiner, feed: { [stoneRefiner.input]: zeros([8, 3, stoneRefiner.cropPx, stoneRefiner.cropPx]) } }
      : null,
  ];
  for (let i = 0; i < runs; i++) {
    for (const part of parts) {
      if (!part) continue;
      const out = await part.session.run(part.feed);
      for (const t of Object.values(out)) t.dispose?.();
    }
  }
  return performance.now() - t0;
}

function zeros(dims: number[]): Tensor {
  return new Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
}

/** The verifier's largest input: a full batch of candidates, each in all its `tta` views. */
function patchDims(spec: Verifier): number[] {
  return [VERIFIER_BATCH * patchViews(spec), patchChannels(spec), spec.patchPx, spec.patchPx];
}
