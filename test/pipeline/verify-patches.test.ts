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
