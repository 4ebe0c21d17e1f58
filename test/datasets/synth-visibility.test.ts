import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../datasets/manifest-io.js';
import { generateDataset } from '../../datasets/synth/generate.js';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { canMeasureVisibility, channelDelta, defectVisibility, maskVisibility } from '../../datasets/synth/visibility.js';
import { TEST_SEED, TEST_SIZE, coverSet } from './synth-fixture.js';

/** Pixels within `reach` px (4-connected steps) of a set pixel. */
function grown(mask: Uint8Array, w: number, h: number, reach: number): Uint8Array {
  const dist = new Int32Array(w * h).fill(reach + 1);
  const queue: number[] = [];
  for (let i = 0; i < w * h; i++) if (mask[i]) (dist[i] = 0), queue.push(i);
  for (let k = 0; k < queue.length; k++) {
    const i = queue[k]!;
    if (dist[i]! >= reach) continue;
    const x = i % w;
    for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i - w, i + w]) {
      if (j < 0 || j >= w * h || dist[j]! <= dist[i]! + 1) continue;
      dist[j] = dist[i]! + 1;
      queue.push(j);
    }
  }
  return Uint8Array.from(dist, (d) => (d <= reach ? 1 : 0));
}

describe('defect visibility (a synthetic photo against its defect-free twin)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('renders the twin as the same scene: identical without pores or polish, changed only around their masks with them', async () => {
    let withDefects = 0;
    for (const { sample } of await coverSet()) {
      const e = sample.entry;
      const twin = await renderSample({ seed: TEST_SEED, index: sample.index, size: TEST_SIZE, coverKinds: true, omitDefects: true });
      if (!e.labels.porosity && !e.labels.polish) {
        expect(twin.jpeg.equals(sample.jpeg)).toBe(true);
        continue;
      }
      withDefects++;
      const [a, b] = await Promise.all([sharp(sample.jpeg).raw().toBuffer(), sharp(twin.jpeg).raw().toBuffer()]);
      const delta = channelDelta(a, b);
      const union = new Uint8Array(e.width * e.height);
      for (const png of Object.values(sample.masks)) {
        const m = await sharp(png).extractChannel(0).raw().toBuffer();
        for (let i = 0; i < m.length; i++) if (m[i]) union[i] = 1;
      }
      // A haze veil's soft edge reaches ~60 px past its mask at this size; nothing else of the scene may move.
      const near = grown(union, e.width, e.height, 64);
      let strayed = 0;
      for (let i = 0; i < delta.length; i++) if (delta[i] && !near[i]) strayed++;
      expect(strayed).toBe(0);
      expect(maskVisibility(delta, union).p90).toBeGreaterThan(0);
    }
    expect(withDefects).toBeGreaterThanOrEqual(8);
  });

  it('measures every defect mask of a written set, and reads pores as plainly visible', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loupe-vis-'));
    dirs.push(dir);
    await generateDataset({ out: dir, count: 4, seed: TEST_SEED, size: 320, coverKinds: true, workers: 1, progress: false, domain: {} });
    const entries = await loadManifest(dir);
    let pores = 0;
    for (const e of entries) {
      expect(canMeasureVisibility(e)).toBe(true);
      const vis = await defectVisibility(dir, e);
      const names = [...(e.masks.porosity ? ['porosity'] : []), ...Object.keys(e.kindMasks ?? {})].sort();
      expect(Object.keys(vis).sort()).toEqual(names);
      for (const name of names) expect(vis[name]!.pixels).toBeGreaterThan(0);
      if (vis.porosity) {
        pores++;
        expect(vis.porosity.p90).toBeGreaterThan(8);
      }
    }
    expect(pores).toBeGreaterThanOrEqual(3);
  });

  it('refuses what it cannot re-render and takes the 90th percentile over the mask only', () => {
    expect(canMeasureVisibility({ source: 'magnetic-tile' } as never)).toBe(false);
    const delta = Uint8Array.from({ length: 200 }, (_, i) => (i < 100 ? i : 255));
    const mask = Uint8Array.from({ length: 200 }, (_, i) => (i < 100 ? 1 : 0));
    expect(maskVisibility(delta, mask)).toEqual({ p90: 89, mean: 49.5, pixels: 100 });
    expect(maskVisibility(delta, new Uint8Array(200))).toEqual({ p90: 0, mean: 0, pixels: 0 });
  });
});
