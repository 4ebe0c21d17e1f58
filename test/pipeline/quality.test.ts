import { describe, expect, it } from 'vitest';
import { decodePhoto } from '../../pipeline/decode.js';
import { computePieceMask } from '../../pipeline/piece-mask.js';
import { assessQuality } from '../../pipeline/quality.js';
import { synthDomain } from '../../datasets/synth/cli.js';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { TRAINING_DOMAIN } from '../../models/eval/suite.js';
import { renderPhoto, type PhotoSpec } from './photos.js';
import { ringProfile } from './helpers.js';

const profile = ringProfile();

async function gate(spec: PhotoSpec) {
  const bytes = await renderPhoto(spec, 'jpeg');
  const rgb = await decodePhoto(bytes, profile.decode);
  return assessQuality(rgb, rgb, profile.quality, await computePieceMask(rgb, profile.quality));
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

  it('sends a flat pendant face that fills the frame back with how to reshoot it, and passes the same piece framed', async () => {
    // Close-up dev seed 204, #73: a white-gold pendant's face overfilling a 5 mm field, no edge in view (the macro shot
    // the close-up test set found sent to retake as an empty backdrop).
    const domain = synthDomain({ ...TRAINING_DOMAIN, fovMm: [5, 10] });
    const { jpeg, entry } = await renderSample({ seed: 204, index: 73, size: 1024, domain });
    expect(entry.piece).toBe('pendant');
    const rgb = await decodePhoto(jpeg, profile.decode);
    const q = await assessQuality(rgb, rgb, profile.quality, await computePieceMask(rgb, profile.quality));
    const noPiece = q.reasons.find((r) => r.code === 'no_piece');
    expect(noPiece?.message).toMatch(/step back until one of its edges shows/);

    const framed = await renderSample({ seed: 204, index: 73, size: 1024, domain: { ...domain, fovMm: [20, 20] } });
    const framedRgb = await decodePhoto(framed.jpeg, profile.decode);
    const again = await assessQuality(framedRgb, framedRgb, profile.quality, await computePieceMask(framedRgb, profile.quality));
    expect(again.reasons.map((r) => r.code)).not.toContain('no_piece');
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

  it('judges clipping on the piece, not on a lightbox whose gradient runs into white', async () => {
    // Backdrop from grey 190 on the left to blown-out 255 on the right; a mid-grey piece in the middle.
    const width = 800;
    const height = 600;
    const data = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const piece = Math.abs(x - 400) < 150 && Math.abs(y - 300) < 100;
        const v = piece ? 110 + 30 * Math.sin(x / 40) : Math.min(255, 190 + (90 * x) / width);
        data.fill(Math.round(v), (y * width + x) * 3, (y * width + x) * 3 + 3);
      }
    }
    const rgb = { data, width, height };
    const piece = await computePieceMask(rgb, profile.quality);
    expect(piece.source).toBe('piece');
    const q = await assessQuality(rgb, rgb, profile.quality, piece);
    expect(q.reasons.map((r) => r.code)).not.toContain('clipped');
    expect(q.metrics.clippedHigh).toBeLessThan(0.05);
    expect(q.metrics.meanLuma).toBeGreaterThan(0.35);
    expect(q.metrics.meanLuma).toBeLessThan(0.52);
  });
});
