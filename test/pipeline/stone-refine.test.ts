import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { DecodedRgb } from '../../pipeline/decode.js';
import { StoneRefinerSchema } from '../../pipeline/model-manifest.schema.js';
import { sessionOptions } from '../../pipeline/registry.js';
import { refineStones, stoneCrop } from '../../pipeline/stone-refine.js';
import { PYTHON, torchSuite } from '../core/support/env.js';
import { H, renderRow, row, W, type Crown } from './stone-row-photos.js';

const TRAINING = join(import.meta.dirname, '../../models/training');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();
const SPEC = { cropPx: 32, cropSide: 3, supersample: 4 };

/** A bright disc (radius r) on mid grey, its centre at (cx, cy), antialiased by 8 x 8 sub-pixels. */
function disc(width: number, height: number, cx: number, cy: number, r: number): DecodedRgb {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let inside = 0;
      for (let a = 0; a < 8; a++) for (let b = 0; b < 8; b++) if (Math.hypot(x - 0.5 + (b + 0.5) / 8 - cx, y - 0.5 + (a + 0.5) / 8 - cy) < r) inside++;
      const v = 90 + (150 * inside) / 64;
      data[(y * width + x) * 3] = v;
      data[(y * width + x) * 3 + 1] = v * 0.8;
      data[(y * width + x) * 3 + 2] = v * 0.6;
    }
  }
  return { data, width, height };
}

/** Largest difference between the crop and its mirror image left-right and up-down. */
function asymmetry(crop: Float32Array, n: number): number {
  let worst = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = crop[c * n * n + i * n + j]!;
        worst = Math.max(worst, Math.abs(v - crop[c * n * n + i * n + (n - 1 - j)]!), Math.abs(v - crop[c * n * n + (n - 1 - i) * n + j]!));
      }
    }
  }
  return worst;
}

describe('stone crop', () => {
  it('centres the crop on the given point, in the photo pixels where pixel (x, y) holds the value at (x, y)', () => {
    // Pixel x of the disc image covers [x - 0.5, x + 0.5], so the disc drawn around (40, 36) is centred at (40, 36).
    const img = disc(80, 72, 40, 36, 11);
    const crop = new Float32Array(3 * 32 * 32);
    stoneCrop(img, 40, 36, 11, SPEC, crop);
    const centred = asymmetry(crop, 32);
    stoneCrop(img, 40.5, 36, 11, SPEC, crop);
    const halfOff = asymmetry(crop, 32);
    expect(centred).toBeLessThan(0.05);
    expect(halfOff).toBeGreaterThan(10 * centred);
  });

  it('normalises each channel to mean 0 over one common spread', () => {
    const crop = new Float32Array(3 * 32 * 32);
    stoneCrop(disc(80, 72, 40, 36, 11), 40, 36, 11, SPEC, crop);
    const plane = 32 * 32;
    for (let c = 0; c < 3; c++) expect(Math.abs(crop.subarray(c * plane, (c + 1) * plane).reduce((a, b) => a + b, 0) / plane)).toBeLessThan(1e-5);
    // Red varies most (the disc is 150 levels brighter in red, 90 in blue): one spread keeps that ratio.
    const range = (c: number) => Math.max(...crop.subarray(c * plane, (c + 1) * plane)) - Math.min(...crop.subarray(c * plane, (c + 1) * plane));
    expect(range(2) / range(0)).toBeCloseTo(0.6, 1);
  });

  it.skipIf(skipTorch)('is the training crop to float precision, at the photo edge too', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const width = 47;
    const height = 39;
    const data = Buffer.alloc(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + ((i * i) % 251)) % 256;
    const stones = [
      [20.3, 17.8, 6.1],
      [2.5, 35.2, 9.7],
      [44.9, 1.2, 4.4],
    ];
    const fromPython = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          `import sys, json, numpy as np; sys.path.insert(0, ${JSON.stringify(TRAINING)})
import stone_refiner as R
img = np.frombuffer(bytes(json.load(sys.stdin)), np.uint8).reshape(${height}, ${width}, 3).astype(np.float32)
print(json.dumps([R.normalise(R.crop(img, *s)).ravel().tolist() for s in ${JSON.stringify(stones)}]))`,
        ],
        { input: JSON.stringify([...data]), encoding: 'utf8', timeout: 60_000 },
      ),
    ) as number[][];
    const crop = new Float32Array(3 * 32 * 32);
    for (const [k, [cx, cy, r]] of stones.entries()) {
      stoneCrop({ data, width, height }, cx!, cy!, r!, SPEC, crop);
      const worst = fromPython[k]!.reduce((m, v, i) => Math.max(m, Math.abs(v - crop[i]!)), 0);
      expect(worst).toBeLessThan(1e-4);
    }
  });
});

/** The newest shipped loupe-seg version with a stone refiner: its folder and model.json section. */
function shippedRefiner(): { dir: string; spec: ReturnType<typeof StoneRefinerSchema.parse> } {
  const root = join(import.meta.dirname, '../../models/loupe-seg');
  const versions = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  for (const v of versions.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))) {
    const json = JSON.parse(readFileSync(join(root, v, 'model.json'), 'utf8')) as { stoneRefiner?: unknown };
    if (json.stoneRefiner) return { dir: join(root, v), spec: StoneRefinerSchema.parse(json.stoneRefiner) };
  }
  throw new Error(`no version under ${root} ships a stone refiner`);
}

describe('stone refiner', () => {
  it('brings stones started off centre and oversized back onto the sample photos\' true stones', async () => {
    const { dir, spec } = shippedRefiner();
    const session = await InferenceSession.create(join(dir, spec.file), sessionOptions(1));
    const samples = join(import.meta.dirname, '../../datasets/samples');
    const entries = readFileSync(join(samples, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; stones: Array<{ cx: number; cy: number; r: number }> });
    const before: number[] = [];
    const after: number[] = [];
    const radius: number[] = [];
    try {
      for (const e of entries.filter((x) => x.stones.length > 0)) {
        const { data, info } = await sharp(join(samples, e.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        // Off by 0.12 r across and 0.08 r down, 12 % too large: a sparkle's pull and a radius read on the seat cut.
        const start = e.stones.map((t) => ({ x: t.cx + 0.12 * t.r, y: t.cy - 0.08 * t.r, r: 1.12 * t.r, confidence: 1 }));
        const refined = await refineStones(session, spec, { data, width: info.width, height: info.height }, start);
        e.stones.forEach((t, i) => {
          before.push(Math.hypot(start[i]!.x - t.cx, start[i]!.y - t.cy) / t.r);
          after.push(Math.hypot(refined[i]!.x - t.cx, refined[i]!.y - t.cy) / t.r);
          radius.push(Math.abs(refined[i]!.r / t.r - 1));
        });
      }
    } finally {
      await session.release();
    }
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(before.length).toBeGreaterThan(20);
    expect(mean(after)).toBeLessThan(0.25 * mean(before));
    expect(mean(radius)).toBeLessThan(0.04);
  }, 60_000);

  it('finds stones another renderer drew (faceted, sparkling, flat, domed) from starts off centre and oversized', async () => {
    // test/pipeline/stone-row-photos.ts draws crowns nothing like the generator's: random facet sectors, a dark girdle
    // band, smooth discs and cabochons the refiner never saw.
    const { dir, spec } = shippedRefiner();
    const session = await InferenceSession.create(join(dir, spec.file), sessionOptions(1));
    try {
      for (const [crown, sparkle] of [['faceted', false], ['faceted', true], ['flat', false], ['dome', false]] as Array<[Crown, boolean]>) {
        const errors: number[] = [];
        const radii: number[] = [];
        for (let seed = 1; seed <= 4; seed++) {
          const seats = row(5, (i) => ({ crown, ...(sparkle && i === 2 ? { sparkle: { dx: 6, dy: -4 } } : {}) }));
          const start = seats.map((s) => ({ x: s.x + 0.1 * s.r!, y: s.y - 0.08 * s.r!, r: 1.1 * s.r!, confidence: 1 }));
          const refined = await refineStones(session, spec, renderRow(W, H, seats, { seed }), start);
          seats.forEach((s, i) => {
            errors.push(Math.hypot(refined[i]!.x - s.x, refined[i]!.y - s.y));
            radii.push(refined[i]!.r / s.r! - 1);
          });
        }
        const label = `${crown}${sparkle ? ' with a sparkle' : ''}`;
        // From 2.6 px off (0.13 r) to within a pixel on average, and no stone left as far off as it started.
        expect(errors.reduce((a, b) => a + b, 0) / errors.length, label).toBeLessThan(1);
        expect(Math.max(...errors), label).toBeLessThan(2);
        // Radii read a few percent large on these crowns (their girdle band and seat cut sit at the rim), none by 10 %.
        expect(radii.reduce((a, b) => a + Math.abs(b), 0) / radii.length, label).toBeLessThan(0.06);
        expect(Math.max(...radii.map(Math.abs)), label).toBeLessThan(0.1);
      }
    } finally {
      await session.release();
    }
  }, 60_000);
});
