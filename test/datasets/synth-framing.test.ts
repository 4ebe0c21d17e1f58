import { describe, expect, it } from 'vitest';
import { mmRange } from '../../cli/command-line.js';
import { DomainSchema } from '../../datasets/synth/options.schema.js';
import { renderSample } from '../../datasets/synth/render-sample.js';

// Close-ups (`--fov-mm 5-10`) are a framing shift for evaluation: they must be what they say (the field of view drawn
// from the range) and keep their labels inside the frame when the piece overfills it.
describe('synth field of view', () => {
  it('draws close-ups from the range asked for, with every stone and defect label inside the frame', async () => {
    const domain = DomainSchema.parse({ fovMm: [5, 10] });
    let overfilled = 0;
    for (let index = 0; index < 8; index++) {
      const { entry } = await renderSample({ seed: 9, index, size: 512, domain });
      const fov = entry.mmPerPx! * entry.width;
      expect(fov, entry.file).toBeGreaterThanOrEqual(5 * 0.999);
      expect(fov, entry.file).toBeLessThanOrEqual(10 * 1.001);
      expect((entry.render as { domain: { fovMm: number[] } }).domain.fovMm).toEqual([5, 10]);
      for (const s of entry.stones) {
        expect(s.cx - s.r, entry.file).toBeGreaterThanOrEqual(0);
        expect(s.cy - s.r, entry.file).toBeGreaterThanOrEqual(0);
        expect(s.cx + s.r, entry.file).toBeLessThanOrEqual(entry.width);
        expect(s.cy + s.r, entry.file).toBeLessThanOrEqual(entry.height);
      }
      for (const d of entry.defects) {
        const [x0, y0, x1, y1] = d.bbox;
        expect(Math.min(x0, y0), `${entry.file} ${d.kind}`).toBeGreaterThanOrEqual(0);
        expect(x1, `${entry.file} ${d.kind}`).toBeLessThanOrEqual(entry.width);
        expect(y1, `${entry.file} ${d.kind}`).toBeLessThanOrEqual(entry.height);
      }
      const piece = entry.render as { piece: { radiusMm?: number; halfWidthMm?: number } };
      const spanMm = piece.piece.radiusMm !== undefined ? 2 * piece.piece.radiusMm : 2 * (piece.piece.halfWidthMm ?? 0);
      if (spanMm > fov) overfilled++;
    }
    // The point of the range: most pieces are wider than the frame.
    expect(overfilled).toBeGreaterThanOrEqual(4);
  });

  it('leaves the default framing (10-30 mm) as every earlier set was rendered', async () => {
    const implicit = await renderSample({ seed: 7, index: 2, size: 384 });
    const explicit = await renderSample({ seed: 7, index: 2, size: 384, domain: DomainSchema.parse({ fovMm: [10, 30] }) });
    expect(explicit.jpeg.equals(implicit.jpeg)).toBe(true);
    const fov = implicit.entry.mmPerPx! * implicit.entry.width;
    expect(fov).toBeGreaterThanOrEqual(10 * 0.999);
    expect(fov).toBeLessThanOrEqual(30 * 1.001);
    const close = await renderSample({ seed: 7, index: 2, size: 384, domain: DomainSchema.parse({ fovMm: [5, 10] }) });
    expect(close.entry.mmPerPx!).toBeLessThan(implicit.entry.mmPerPx!);
  });

  it('refuses a range that is not LOW-HIGH in mm', () => {
    expect(mmRange('--fov-mm', '5-10')).toEqual([5, 10]);
    expect(mmRange('--fov-mm', '7.5 - 12')).toEqual([7.5, 12]);
    for (const bad of ['10-5', '0-10', '5', 'five-ten', '5-300']) expect(() => mmRange('--fov-mm', bad)).toThrow('--fov-mm must be LOW-HIGH');
    expect(() => DomainSchema.parse({ fovMm: [10, 5] })).toThrow('low-high');
  });
});
