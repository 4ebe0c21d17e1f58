import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedRgb } from '../../pipeline/decode.js';
import { runModel } from '../../pipeline/infer.js';
import { createModelRegistry, type ModelLease, type ModelRegistry } from '../../pipeline/registry.js';
import { DIHEDRAL8, runModelWithTta, turnedSize, turnIndex, turnRgb } from '../../pipeline/tta.js';

/** The shipped model: a fixture's symmetric toy weights would make the average equal to one run. */
const SHIPPED_MODELS = fileURLToPath(new URL('../../models', import.meta.url));

let registry: ModelRegistry;
let lease: ModelLease;

beforeAll(async () => {
  registry = await createModelRegistry(SHIPPED_MODELS, { intraOpThreads: 1 });
  lease = await registry.lease();
});

afterAll(async () => {
  lease.release();
  await registry.close();
});

/** A photo with no symmetry: a gradient, a bright off-centre square and a dark dot. */
function photo(width: number, height: number): DecodedRgb {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const square = x > width * 0.2 && x < width * 0.45 && y > height * 0.1 && y < height * 0.4;
      const dot = (x - width * 0.7) ** 2 + (y - height * 0.75) ** 2 < 9;
      const v = dot ? 10 : square ? 235 : 60 + Math.round((120 * x) / width + (40 * y) / height);
      data[i] = v;
      data[i + 1] = Math.min(255, v + 8);
      data[i + 2] = Math.max(0, v - 12);
    }
  }
  return { data, width, height };
}

describe('turns and mirrors', () => {
  it('maps every pixel to a distinct place, and a quarter turn moves the top-left corner to the top-right', () => {
    for (const t of DIHEDRAL8) {
      const index = turnIndex(5, 3, t);
      expect(new Set(index).size).toBe(15);
      expect(Math.max(...index)).toBe(14);
    }
    const q = turnIndex(5, 3, { quarter: 1, mirror: false });
    expect(turnedSize(5, 3, { quarter: 1, mirror: false })).toEqual({ width: 3, height: 5 });
    expect(q[0]).toBe(2); // (0,0) -> (2,0) in a 3-wide image
    expect(q[4]).toBe(14); // (4,0), the top-right corner, -> the bottom-right
  });

  it('moves the pixels with their colour', () => {
    const rgb = photo(7, 4);
    for (const t of DIHEDRAL8) {
      const index = turnIndex(7, 4, t);
      const turned = turnRgb(rgb, index, t);
      for (let i = 0; i < index.length; i++) {
        expect([...turned.data.subarray(index[i]! * 3, index[i]! * 3 + 3)]).toEqual([...rgb.data.subarray(i * 3, i * 3 + 3)]);
      }
    }
  });
});

describe('runModelWithTta', () => {
  it("'none' is the plain run", async () => {
    const rgb = photo(96, 64);
    const model = lease.models[0]!;
    const plain = await runModel(model, rgb, { batchSize: 4 }, { preprocessMs: 0, inferenceMs: 0 });
    const none = await runModelWithTta(model, rgb, { batchSize: 4 }, { preprocessMs: 0, inferenceMs: 0 }, 'none');
    for (const [name, plane] of plain.planes) expect(none.planes.get(name)).toEqual(plane);
  });

  it('dihedral8 averages over the eight turns: the maps of a turned photo are the maps of the photo, turned', async () => {
    const rgb = photo(96, 64);
    const model = lease.models[0]!;
    const timings = { preprocessMs: 0, inferenceMs: 0 };
    const base = await runModelWithTta(model, rgb, { batchSize: 4 }, timings, 'dihedral8');
    const plain = await runModel(model, rgb, { batchSize: 4 }, { preprocessMs: 0, inferenceMs: 0 });
    const t = { quarter: 1, mirror: true } as const;
    const index = turnIndex(96, 64, t);
    const turned = await runModelWithTta(model, turnRgb(rgb, index, t), { batchSize: 4 }, timings, 'dihedral8');
    expect([turned.width, turned.height]).toEqual([64, 96]);
    let worst = 0;
    let differsFromPlain = 0;
    for (const [name, plane] of base.planes) {
      const other = turned.planes.get(name)!;
      const single = plain.planes.get(name)!;
      for (let i = 0; i < plane.length; i++) {
        worst = Math.max(worst, Math.abs(plane[i]! - other[index[i]!]!));
        differsFromPlain = Math.max(differsFromPlain, Math.abs(plane[i]! - single[i]!));
      }
    }
    expect(worst).toBeLessThan(1e-4);
    // The model itself is not symmetric, so the average is not the single run.
    expect(differsFromPlain).toBeGreaterThan(1e-3);
    expect(timings.inferenceMs).toBeGreaterThan(0);
  });
});
