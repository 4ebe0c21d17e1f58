import { describe, expect, it } from 'vitest';
import { ManifestEntrySchema, POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS } from '../../datasets/manifest.schema.js';
import { gapsFromStones } from '../../datasets/synth/stone-row.js';
import { coverSet, maskPixelsIn } from './synth-fixture.js';

describe('synth labels (cover plan, rendered)', () => {
  it('writes entries that validate against the manifest schema, with boxes inside the image', async () => {
    for (const { sample } of await coverSet()) {
      const e = ManifestEntrySchema.parse(sample.entry);
      expect(e.source).toBe('synth');
      for (const d of e.defects) {
        const [x0, y0, x1, y1] = d.bbox;
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(y0).toBeGreaterThanOrEqual(0);
        expect(x1).toBeLessThanOrEqual(e.width);
        expect(y1).toBeLessThanOrEqual(e.height);
        expect(x1).toBeGreaterThan(x0);
        expect(y1).toBeGreaterThan(y0);
      }
    }
  });

  it('realises every porosity, spacing and polish kind', async () => {
    const kinds = new Set((await coverSet()).flatMap(({ sample }) => sample.entry.defects.map((d) => d.kind)));
    for (const k of [...POROSITY_KINDS, ...SPACING_KINDS, ...POLISH_KINDS]) expect(kinds, k).toContain(k);
  });

  it('sets a label exactly when a defect of that family is present, with a mask for pixel families', async () => {
    for (const { sample, masks } of await coverSet()) {
      const e = sample.entry;
      for (const fam of ['porosity', 'stone_spacing', 'polish'] as const) {
        expect(e.labels[fam], `${e.file} ${fam}`).toBe(e.defects.some((d) => d.family === fam));
      }
      expect(e.masks.porosity !== null).toBe(e.labels.porosity);
      expect(e.masks.polish !== null).toBe(e.labels.polish);
      if (e.masks.porosity) expect(masks.porosity.some((v) => v === 255)).toBe(true);
      const polishKinds = new Set(e.defects.filter((d) => d.family === 'polish').map((d) => d.kind));
      expect(new Set(Object.keys(e.kindMasks ?? {}))).toEqual(polishKinds);
    }
  });

  it('keeps a clean image clean: all labels false, no masks, no defects', async () => {
    const clean = (await coverSet()).filter(({ sample }) => sample.entry.defects.length === 0);
    expect(clean.length).toBeGreaterThanOrEqual(6);
    for (const { sample } of clean) {
      const e = sample.entry;
      expect(e.labels).toEqual({ porosity: false, stone_spacing: false, polish: false });
      expect(e.masks).toEqual({ porosity: null, polish: null });
      expect(e.kindMasks).toBeUndefined();
      expect(Object.keys(sample.masks)).toEqual([]);
    }
  });

  it('every mask pixel belongs to some defect box of its family', async () => {
    for (const { sample, masks } of await coverSet()) {
      const e = sample.entry;
      for (const fam of ['porosity', 'polish'] as const) {
        const m = masks[fam];
        if (!m) continue;
        let inBoxes = 0;
        const seen = new Set<number>();
        for (const d of e.defects.filter((x) => x.family === fam)) for (const i of maskPixelsIn(m, e.width, d.bbox)) seen.add(i);
        inBoxes = seen.size;
        const total = m.reduce((a, v) => a + (v ? 1 : 0), 0);
        expect(inBoxes, `${e.file} ${fam}`).toBe(total);
      }
    }
  });

  it('records gapsMm that recompute exactly from stones, clean gaps within ±0.02 mm of nominal', async () => {
    let rows = 0;
    for (const { sample } of await coverSet()) {
      const e = sample.entry;
      if (!e.stoneRow) {
        expect(e.stones).toEqual([]);
        continue;
      }
      rows++;
      const row = e.stoneRow;
      expect(gapsFromStones(e.stones, e.mmPerPx!)).toEqual(row.gapsMm);
      expect(e.stones.length + row.missing.length).toBe(row.expectedCount);
      const spacing = e.defects.filter((d) => d.family === 'stone_spacing');
      const flagged = new Set<number>();
      for (const d of spacing) {
        if (d.kind === 'gap_wide' || d.kind === 'gap_narrow') {
          const dev = row.gapsMm[d.gapIndex!] - row.nominalGapMm;
          expect(d.kind === 'gap_wide' ? dev : -dev).toBeGreaterThanOrEqual(0.08 - 0.02);
          expect(Math.abs(dev)).toBeLessThanOrEqual(0.4 + 0.02);
          flagged.add(d.gapIndex!);
        } else if (d.kind === 'missing_stone') {
          flagged.add(d.gapIndex!);
        } else if (d.kind === 'undersized_stone') {
          flagged.add(d.stoneIndex! - 1);
          flagged.add(d.stoneIndex!);
        }
      }
      row.gapsMm.forEach((g, i) => {
        if (!flagged.has(i)) expect(Math.abs(g - row.nominalGapMm), `${e.file} gap ${i}`).toBeLessThanOrEqual(0.02);
      });
    }
    expect(rows).toBeGreaterThanOrEqual(8);
  });
});
