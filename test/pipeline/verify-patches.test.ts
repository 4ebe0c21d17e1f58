import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Verifier } from '../../pipeline/model-manifest.schema.js';
import type { PolishCandidate } from '../../pipeline/postprocess/polish-candidates.js';
import { contextBlocksFor, phaseKey } from '../../pipeline/context-blocks.js';
import { sessionOptions } from '../../pipeline/registry.js';
import { patchTensorData, runVerifier } from '../../pipeline/verify.js';
import { REPO_ROOT } from './helpers.js';

/** The patch contract written out plainly (verifier.py `patch_pair`): centre crop, then the f x f box mean of the wider square; zero outside the photo. */
function reference(data: Uint8Array, width: number, height: number, c: { x: number; y: number }, P: number, f: number, mean: number[], std: number[]): Float32Array {
  const out = new Float32Array(6 * P * P);
  const px = (x: number, y: number, ch: number) => (x >= 0 && y >= 0 && x < width && y < height ? data[(y * width + x) * 3 + ch]! : 0);
  const big = P * f;
  for (let y = 0; y < P; y++) {
    for (let x = 0; x < P; x++) {
      for (let ch = 0; ch < 3; ch++) {
        out[ch * P * P + y * P + x] = (px(c.x - (P >> 1) + x, c.y - (P >> 1) + y, ch) / 255 - mean[ch]!) / std[ch]!;
        let sum = 0;
        for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) sum += px(c.x - (big >> 1) + x * f + dx, c.y - (big >> 1) + y * f + dy, ch);
        out[(3 + ch) * P * P + y * P + x] = ((sum * (1 / 255)) / (f * f) - mean[ch]!) / std[ch]!;
      }
    }
  }
  return out;
}

const width = 150;
const height = 110;
const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7919 + (i >> 5) * 31) % 256);
const mean = [0.45, 0.42, 0.4];
const std = [0.25, 0.24, 0.26];

/** The wide view written out plainly (verifier.py `wide_image` + `wide_crop`): block means on the grid from (0, 0), P blocks around the candidate's block. */
function wideReference(c: { x: number; y: number }, P: number, F: number): Float32Array {
  const out = new Float32Array(3 * P * P);
  const bx0 = Math.floor(c.x / F) - (P >> 1);
  const by0 = Math.floor(c.y / F) - (P >> 1);
  for (let y = 0; y < P; y++) {
    for (let x = 0; x < P; x++) {
      for (let ch = 0; ch < 3; ch++) {
        let sum = 0;
        for (let dy = 0; dy < F; dy++) {
          for (let dx = 0; dx < F; dx++) {
            const xx = (bx0 + x) * F + dx;
            const yy = (by0 + y) * F + dy;
            if (bx0 + x >= 0 && by0 + y >= 0 && xx < width && yy < height) sum += data[(yy * width + xx) * 3 + ch]!;
          }
        }
        out[ch * P * P + y * P + x] = (sum / (F * F) / 255 - mean[ch]!) / std[ch]!;
      }
    }
  }
  return out;
}

function expectContract(at: number[][], P: number, f: number, wideFactor?: number): void {
  const cands = at.map(([x, y]) => ({ x, y, value: 1, source: 0 }) as unknown as PolishCandidate);
  const spec = { patchPx: P, contextFactor: f, ...(wideFactor ? { wideFactor } : {}) } as Verifier;
  const got = patchTensorData({ data: Buffer.from(data), width, height }, cands, spec, { scale: 255, mean: mean as [number, number, number], std: std as [number, number, number] });
  const C = wideFactor ? 9 : 6;
  expect(got.length).toBe(cands.length * C * P * P);
  for (const [n, c] of cands.entries()) {
    const pair = reference(data, width, height, c, P, f, mean, std);
    const want = wideFactor ? Float32Array.from([...pair, ...wideReference(c, P, wideFactor)]) : pair;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[n * want.length + i]! - want[i]!));
    expect(worst, `candidate at ${c.x},${c.y}`).toBeLessThan(1e-5);
  }
}

describe('verifier patches', () => {
  it('match the contract for candidates inside the photo and across each edge and corner', () => {
    expectContract([[75, 55], [30, 30], [120, 80], [3, 50], [148, 50], [70, 2], [70, 108], [0, 0], [149, 109]], 16, 3);
  });

  it('match the contract for candidates away from every edge, alone and in a batch', () => {
    expectContract([[75, 55], [60, 40], [81, 62]], 16, 3);
    expectContract([[100, 70]], 8, 4);
  });

  it('add the wide view, on its fixed grid, for a verifier that reads one (1.5.0 on)', () => {
    // 150 x 110 is not a multiple of 7: the last blocks are partial and count the pixels beyond the photo as zero.
    expectContract([[75, 55], [0, 0], [149, 109], [6, 7], [7, 6], [70, 108]], 8, 3, 7);
  });
});

describe('verifier patches from shared block sums (grid candidates)', () => {
  const P = 16;
  const f = 3;
  const norm = { scale: 255, mean: mean as [number, number, number], std: std as [number, number, number] };
  const image = { data: Buffer.from(data), width, height };
  // A grid f x 6 px apart shares one phase of the block grid; with candidates off it, and the photo's edges inside
  // most context squares (48 px wide on a 150 x 110 photo).
  const grid = [];
  for (let y = 2; y < height; y += 18) for (let x = 5; x < width; x += 18) grid.push({ x, y, value: 0, source: -1 });
  const cands = [...grid, { x: 70, y: 41, value: 1, source: 0 }, { x: 149, y: 0, value: 1, source: 1 }];

  it('are used for the grid, and give the same floats as summing each square directly', () => {
    const blocks = contextBlocksFor(image, cands, P, f);
    expect(blocks.has(phaseKey(5 - (P * f) / 2, 2 - (P * f) / 2, f))).toBe(true);
    const shared = patchTensorData(image, cands, { patchPx: P, contextFactor: f } as Verifier, norm, undefined, 2, blocks);
    const direct = patchTensorData(image, cands, { patchPx: P, contextFactor: f } as Verifier, norm, undefined, 2, new Map());
    expect(shared).toEqual(direct);
  });

  it('match the contract written out plainly, candidate by candidate', () => {
    expectContract(cands.map((c) => [c.x, c.y]), P, f);
  });
});

/** Every P x P plane of `planes` mirrored left-right (`fx`) and/or up-down (`fy`), written out plainly. */
function mirrored(planes: Float32Array, P: number, fx: boolean, fy: boolean): Float32Array {
  const out = new Float32Array(planes.length);
  for (let p = 0; p < planes.length / (P * P); p++)
    for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) out[p * P * P + y * P + x] = planes[p * P * P + (fy ? P - 1 - y : y) * P + (fx ? P - 1 - x : x)]!;
  return out;
}

describe('verifier test-time augmentation (Verifier.tta)', () => {
  it('stacks the patches as built, then mirrored left-right, up-down and both, inside the photo and across its edges', () => {
    const P = 8;
    const spec = { patchPx: P, contextFactor: 3 } as Verifier;
    const norm = { scale: 255, mean: mean as [number, number, number], std: std as [number, number, number] };
    const image = { data: Buffer.from(data), width, height };
    const cands = [[75, 55], [0, 0], [149, 109], [40, 3]].map(([x, y]) => ({ x: x!, y: y!, value: 1, source: 0 }));
    const plain = patchTensorData(image, cands, spec, norm);
    const views = patchTensorData(image, cands, spec, norm, undefined, 4);
    expect(views.length).toBe(4 * plain.length);
    const want = [plain, mirrored(plain, P, true, false), mirrored(plain, P, false, true), mirrored(plain, P, true, true)];
    for (const [v, view] of want.entries()) expect(views.subarray(v * plain.length, (v + 1) * plain.length), `view ${v}`).toEqual(view);
  });

  it("averages the verifier's probabilities over the mirrored patches, candidate by candidate", async () => {
    const dir = join(REPO_ROOT, 'models/loupe-seg/1.4.0');
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const session = await InferenceSession.create(join(dir, manifest.verifier.file), sessionOptions(1));
    try {
      const spec = { ...manifest.verifier, tta: 4 } as Verifier;
      const norm = manifest.input.normalisation;
      const image = { data: Buffer.from(data), width, height };
      // More candidates than one batch, so views are stacked per batch and matched back to the right candidate.
      const cands = Array.from({ length: 70 }, (_, i) => ({ x: (i * 37) % width, y: (i * 53) % height, source: 0, value: 1 }));
      const got = await runVerifier(session, image, cands, spec, norm);
      const P = spec.patchPx;
      const plain = patchTensorData(image, cands, spec, norm);
      const K = spec.kinds.length;
      const want = new Float64Array(cands.length * K);
      for (const view of [plain, mirrored(plain, P, true, false), mirrored(plain, P, false, true), mirrored(plain, P, true, true)]) {
        const out = await session.run({ [spec.input]: new Tensor('float32', view, [cands.length, 6, P, P]) });
        const probs = out[spec.output]!.data as Float32Array;
        for (let i = 0; i < want.length; i++) want[i]! += probs[i]! / 4;
      }
      let worst = 0;
      for (const [n, v] of got.entries()) for (let k = 0; k < K; k++) worst = Math.max(worst, Math.abs(v.probs[k]! - want[n * K + k]!));
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await session.release();
    }
  });
});
