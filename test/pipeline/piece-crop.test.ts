import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspect, type PipelineMaps } from '../../pipeline/inspect.js';
import { cropRgb, pieceCropRect, uncropMaps } from '../../pipeline/piece-crop.js';
import type { PieceMask } from '../../pipeline/piece-mask.js';
import type { InspectionReport } from '../../pipeline/report.schema.js';
import { loadProfiles } from '../../pipeline/profiles.js';
import { SAMPLES_DIR, useShippedModel } from './helpers.js';

function maskWithBox(w: number, h: number, box: { x0: number; y0: number; x1: number; y1: number }, source: 'piece' | 'frame' = 'piece'): PieceMask {
  const mask = new Uint8Array(w * h);
  for (let y = box.y0; y <= box.y1; y++) for (let x = box.x0; x <= box.x1; x++) mask[y * w + x] = 1;
  return { mask, width: w, height: h, source, fallback: source === 'frame' ? 'low_contrast' : null, coverage: 0, borderInliers: 1, outlineOnEdges: 1, contrast: 3 };
}

describe('pieceCropRect', () => {
  it("scales the mask's box to the image, widens it by the margin and aligns it outward to the stride", () => {
    // Mask at 1/4 of a 2000 x 1600 image; the piece spans mask px 150..249 x 100..199 -> image 600..1000 x 400..800.
    const r = pieceCropRect(maskWithBox(500, 400, { x0: 150, y0: 100, x1: 249, y1: 199 }), 2000, 1600, 128, 16)!;
    expect(r).toEqual({ x: 464, y: 272, width: 1136 - 464, height: 928 - 272 });
    for (const v of [r.x, r.y, r.width, r.height]) expect(v % 16).toBe(0);
    expect(r.x).toBeLessThanOrEqual(600 - 128);
    expect(r.x + r.width).toBeGreaterThanOrEqual(1000 + 128);
  });

  it('clamps to the image where the piece runs off the frame', () => {
    const r = pieceCropRect(maskWithBox(400, 300, { x0: 0, y0: 10, x1: 120, y1: 90 }), 1600, 1200)!;
    expect(r.x).toBe(0);
    expect(r.y).toBe(0);
    expect(r.x + r.width).toBeLessThanOrEqual(1600);
  });

  it('keeps the whole frame when the mask fell back to it, finds nothing, or the box is nearly the frame', () => {
    expect(pieceCropRect(maskWithBox(400, 300, { x0: 150, y0: 100, x1: 249, y1: 199 }, 'frame'), 1600, 1200)).toBeNull();
    expect(pieceCropRect(maskWithBox(400, 300, { x0: 1, y0: 1, x1: 0, y1: 0 }), 1600, 1200)).toBeNull();
    expect(pieceCropRect(maskWithBox(400, 300, { x0: 10, y0: 10, x1: 390, y1: 290 }), 1600, 1200)).toBeNull();
  });

  it('places a crop\'s maps back in full-size planes, zero outside (the test-time augmentation path)', () => {
    const crop = { x: 2, y: 1, width: 3, height: 2 };
    const plane = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const full = uncropMaps({ modelId: 'm', width: 3, height: 2, planes: new Map([['porosity', plane]]) }, crop, 6, 4);
    expect([full.width, full.height]).toEqual([6, 4]);
    expect([...full.planes.get('porosity')!]).toEqual([
      0, 0, 0, 0, 0, 0,
      0, 0, 1, 2, 3, 0,
      0, 0, 4, 5, 6, 0,
      0, 0, 0, 0, 0, 0,
    ]);
  });

  it('crops the pixels it names', () => {
    const w = 7;
    const data = Buffer.from(Array.from({ length: w * 5 * 3 }, (_, i) => i % 251));
    const c = cropRgb({ data, width: w, height: 5 }, { x: 2, y: 1, width: 3, height: 2 });
    expect([...c.data.subarray(0, 3)]).toEqual([...data.subarray((1 * w + 2) * 3, (1 * w + 2) * 3 + 3)]);
    expect([...c.data.subarray(3 * 3, 3 * 3 + 3)]).toEqual([...data.subarray((2 * w + 2) * 3, (2 * w + 2) * 3 + 3)]);
  });
});

// The shipped model on committed samples framed with room around the piece: running it on the piece's box must give the
// report the whole frame gives, since nothing off the piece is read.
describe('inspect() on the piece box against the whole frame', () => {
  const shipped = useShippedModel();

  const summary = (r: InspectionReport) => ({
    verdict: r.verdict,
    families: Object.fromEntries(Object.entries(r.families).map(([k, f]) => [k, f.verdict])),
    pores: r.families.porosity.findings.length,
    stones: r.families.stone_spacing.stones.length,
  });

  // Samples 12 (porosity + polish), 14 (spacing) and 17 (spacing + polish): the piece's box is 53-74 % of the frame.
  it.each([12, 14, 17])('sample %i: same verdicts, findings and scores, and the backdrop is not run', async (index) => {
    const model = shipped();
    const lines = (await readFile(join(SAMPLES_DIR, 'manifest.jsonl'), 'utf8')).trim().split('\n');
    const entry = JSON.parse(lines[index]!) as { file: string; mmPerPx: number; metal: string; piece: string };
    const bytes = await readFile(join(SAMPLES_DIR, entry.file));
    const profile = loadProfiles({ env: {} }).get('band', entry.metal);
    const whole = { ...profile, inference: { ...profile.inference, cropToPiece: false } };
    const meta = { mmPerPx: entry.mmPerPx, metal: entry.metal };
    let cropMaps: PipelineMaps | undefined;
    const cropped = await inspect(bytes, meta, profile, { models: [model], onMaps: (m) => (cropMaps = m) });
    const full = await inspect(bytes, meta, whole, { models: [model] });

    expect(summary(cropped)).toEqual(summary(full));
    for (const k of ['porosity', 'stone_spacing', 'polish'] as const) {
      expect(Math.abs(cropped.families[k].score - full.families[k].score), k).toBeLessThan(0.02);
    }
    const gaps = (r: InspectionReport) => r.families.stone_spacing.gapsMm;
    const [a, b] = [gaps(cropped), gaps(full)];
    expect(a.length).toBe(b.length);
    for (const [i, g] of a.entries()) expect(Math.abs(g - b[i]!)).toBeLessThan(0.01);

    // The model's maps are zero along the frame's edge that lies outside the box (the backdrop was not run).
    const m = cropMaps!;
    const plane = m.planes.get('porosity')!;
    const edgeOff = [0, m.height - 1].some((y) => plane.subarray(y * m.width, (y + 1) * m.width).every((v) => v === 0))
      || [0, m.width - 1].some((x) => Array.from({ length: m.height }, (_, y) => plane[y * m.width + x]).every((v) => v === 0));
    expect(edgeOff).toBe(true);
    // Every kind is scored by the verifier, so no evidence plane is read, and none is stitched.
    expect([...m.planes.keys()].filter((k) => k.endsWith('_evidence'))).toEqual([]);
    expect(m.planes.has('haze')).toBe(true);
  }, 60_000);
});
