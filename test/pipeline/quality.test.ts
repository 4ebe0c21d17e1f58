import { describe, expect, it } from 'vitest';
import { decodePhoto } from '../../pipeline/decode.js';
import { assessQuality } from '../../pipeline/quality.js';
import { renderPhoto, type PhotoSpec } from './photos.js';
import { ringProfile } from './helpers.js';

const profile = ringProfile();

async function gate(spec: PhotoSpec) {
  const bytes = await renderPhoto(spec, 'jpeg');
  const rgb = await decodePhoto(bytes, profile.decode);
  return assessQuality(rgb, rgb, profile.quality);
}

describe('photo-quality gate', () => {
  it('accepts a sharp, well exposed photo of a piece', async () => {
    const q = await gate({ width: 800, height: 600, pores: [{ cx: 300, cy: 300, r: 10 }] });
    expect(q.reasons).toEqual([]);
    expect(q.ok).toBe(true);
    expect(q.metrics.pieceFraction).toBeGreaterThan(0.3);
  });

  it('flags a blurred photo', async () => {
    const q = await gate({ width: 800, height: 600, blur: 4 });
    expect(q.ok).toBe(false);
    expect(q.reasons.map((r) => r.code)).toContain('blurred');
    const blurred = q.reasons.find((r) => r.code === 'blurred')!;
    expect(blurred.measured).toBeGreaterThan(blurred.limit);
  });

  it('flags a black photo as underexposed with no piece', async () => {
    const q = await gate({ width: 800, height: 600, gain: 0 });
    expect(q.ok).toBe(false);
    expect(q.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['underexposed', 'no_piece']));
  });

  it('flags an overexposed photo', async () => {
    const q = await gate({ width: 800, height: 600, gain: 3 });
    expect(q.ok).toBe(false);
    expect(q.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['overexposed']));
  });

  it('flags a photo too small to measure on', async () => {
    const q = await gate({ width: 400, height: 300 });
    expect(q.reasons.map((r) => r.code)).toContain('low_resolution');
  });
});
