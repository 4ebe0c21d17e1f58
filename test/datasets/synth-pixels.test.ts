import { describe, expect, it } from 'vitest';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { TEST_SEED, TEST_SIZE, coverSet, decode, maskPixelsIn, mean, ringAround } from './synth-fixture.js';

describe('synth rendered pixels (decoded JPEG)', () => {
  it('draws pores darker than the metal ring around them', async () => {
    const diffs: number[] = [];
    for (const { sample, lum, masks } of await coverSet()) {
      const e = sample.entry;
      for (const d of e.defects.filter((x) => x.family === 'porosity')) {
        const inside = maskPixelsIn(masks.porosity, e.width, d.bbox).map((i) => lum[i]);
        const ring = ringAround(masks.porosity, e.width, e.height, d.bbox, 2, 4).map((i) => lum[i]);
        diffs.push(mean(ring) - mean(inside));
      }
    }
    expect(diffs.length).toBeGreaterThanOrEqual(10);
    expect(mean(diffs)).toBeGreaterThan(8);
    // Faint pores exist on purpose; nearly all must still read darker than their surroundings.
    expect(diffs.filter((d) => d > 0).length / diffs.length).toBeGreaterThanOrEqual(0.9);
  });

  it("measures each pore's equivalent diameter from its mask pixels within 10 %, never below 3 px or 0.05 mm", async () => {
    for (const { sample, masks } of await coverSet()) {
      const e = sample.entry;
      for (const d of e.defects.filter((x) => x.family === 'porosity')) {
        const area = maskPixelsIn(masks.porosity, e.width, d.bbox).length;
        const dMm = 2 * Math.sqrt(area / Math.PI) * e.mmPerPx!;
        expect(Math.abs(dMm - d.sizeMm!) / d.sizeMm!).toBeLessThanOrEqual(0.1);
        expect(d.sizeMm!).toBeGreaterThanOrEqual(Math.max(0.05, 3 * e.mmPerPx!) - 1e-4);
        expect(d.sizeMm!).toBeLessThanOrEqual(1.0001);
      }
    }
  });

  it('draws scratches that differ from their neighbourhood along the mask', async () => {
    const contrasts: number[] = [];
    for (const { sample, lum, masks } of await coverSet()) {
      const e = sample.entry;
      const m = masks.scratch;
      if (!m) continue;
      for (const d of e.defects.filter((x) => x.kind === 'scratch')) {
        // Local contrast: each mask pixel against the mean of nearby non-mask pixels.
        const along = maskPixelsIn(m, e.width, d.bbox);
        let dev = 0;
        for (const i of along) {
          const x = i % e.width;
          const y = (i - x) / e.width;
          const near = ringAround(m, e.width, e.height, [x, y, x + 1, y + 1], 2, 5);
          dev += Math.abs(lum[i] - mean(near.map((j) => lum[j])));
        }
        contrasts.push(dev / along.length);
      }
    }
    expect(contrasts.length).toBeGreaterThanOrEqual(3);
    for (const c of contrasts) expect(c).toBeGreaterThan(2);
    expect(mean(contrasts)).toBeGreaterThan(5);
  });

  it('puts a rendered stone under every stone centre', async () => {
    let checked = 0;
    for (const { sample, lum } of await coverSet()) {
      const e = sample.entry;
      if (e.stones.length === 0) continue;
      // Same scene, same random streams, stones left out: the difference is the stones alone.
      const bare = await decode(await renderSample({ seed: TEST_SEED, index: e.render ? (e.render as { index: number }).index : 0, size: TEST_SIZE, coverKinds: true, omitStones: true }));
      for (const s of e.stones) {
        expect(s.cx).toBeGreaterThanOrEqual(0);
        expect(s.cy).toBeLessThan(e.height);
        const rr = Math.max(1, s.r * 0.85);
        let diff = 0;
        let n = 0;
        for (let y = Math.ceil(s.cy - rr); y <= Math.floor(s.cy + rr); y++) {
          for (let x = Math.ceil(s.cx - rr); x <= Math.floor(s.cx + rr); x++) {
            if (Math.hypot(x - s.cx, y - s.cy) > rr) continue;
            diff += Math.abs(lum[y * e.width + x] - bare.lum[y * e.width + x]);
            n++;
          }
        }
        expect(diff / n, `${e.file} stone at ${s.cx},${s.cy}`).toBeGreaterThan(8);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
