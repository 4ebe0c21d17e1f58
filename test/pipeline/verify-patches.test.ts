import { describe, expect, it } from 'vitest';
import type { Verifier } from '../../pipeline/model-manifest.schema.js';
import type { PolishCandidate } from '../../pipeline/postprocess/polish-candidates.js';
import { patchTensorData } from '../../pipeline/verify.js';

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

function expectContract(at: number[][], P: number, f: number): void {
  const cands = at.map(([x, y]) => ({ x, y, value: 1, source: 0 }) as unknown as PolishCandidate);
  const spec = { patchPx: P, contextFactor: f } as Verifier;
  const got = patchTensorData({ data: Buffer.from(data), width, height }, cands, spec, { scale: 255, mean: mean as [number, number, number], std: std as [number, number, number] });
  expect(got.length).toBe(cands.length * 6 * P * P);
  for (const [n, c] of cands.entries()) {
    const want = reference(data, width, height, c, P, f, mean, std);
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
});
