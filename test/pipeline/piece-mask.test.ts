import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { computePieceMask, pieceGatesAt, pieceMaskAt, SILHOUETTE_EDGE_PX } from '../../pipeline/piece-mask.js';
import { ringProfile } from './helpers.js';

const limits = ringProfile().quality;

type Rgb = [number, number, number];

/**
 * A small generated photo: a backdrop with a left-to-right gradient and a vignette (as a lightbox or a lit card has), a
 * shaded piece drawn by `inPiece`, optional dark specks, and pixel noise.
 */
function photo(
  w: number,
  h: number,
  inPiece: (x: number, y: number) => boolean,
  opts: { backdrop?: Rgb; metal?: Rgb; specks?: Array<[number, number, number]>; seed?: number } = {},
) {
  const backdrop = opts.backdrop ?? [200, 200, 206];
  const metal = opts.metal ?? [222, 190, 120];
  let seed = opts.seed ?? 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = (2 * x) / (w - 1) - 1;
      const v = (2 * y) / (h - 1) - 1;
      const onPiece = inPiece(x, y);
      const base = onPiece ? metal : backdrop;
      // Backdrop: 12 % gradient and 10 % vignette; metal: shading across the piece.
      const shade = onPiece ? 0.85 + 0.15 * Math.cos(3 * u + 2 * v) : 1 + 0.06 * u - 0.05 * (u * u + v * v);
      let speck = false;
      for (const [sx, sy, r] of opts.specks ?? []) if ((x - sx) ** 2 + (y - sy) ** 2 <= r * r) speck = true;
      for (let c = 0; c < 3; c++) {
        const value = speck ? 40 : base[c]! * shade + (rand() - 0.5) * 6;
        data[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return { data, width: w, height: h };
}

const W = 480;
const H = 360;
const pendant = (x: number, y: number) => Math.abs(x - 240) < 110 && Math.abs(y - 180) < 80;
const ring = (x: number, y: number) => {
  const d = Math.hypot(x - 240, y - 180);
  return d >= 90 && d <= 130;
};

function share(mask: Uint8Array, w: number, h: number, inside: (x: number, y: number) => boolean): number {
  let n = 0;
  let on = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!inside(x, y)) continue;
      n++;
      on += mask[y * w + x]!;
    }
  }
  return on / n;
}

describe('piece mask', () => {
  it('finds a piece on a graded, vignetted backdrop and leaves the backdrop out', async () => {
    const piece = await computePieceMask(photo(W, H, pendant), limits);
    expect(piece.source).toBe('piece');
    const m = pieceMaskAt(piece, W, H);
    // Well inside the piece, and well outside it (2 % of the frame away from the outline).
    expect(share(m, W, H, (x, y) => Math.abs(x - 240) < 100 && Math.abs(y - 180) < 70)).toBe(1);
    expect(share(m, W, H, (x, y) => Math.abs(x - 240) > 120 || Math.abs(y - 180) > 90)).toBe(0);
    expect(piece.coverage).toBeGreaterThan(0.18);
    expect(piece.coverage).toBeLessThan(0.23);
  });

  it('fills a backdrop-coloured reflection inside the metal but keeps a ring opening as backdrop', async () => {
    const reflection = (x: number, y: number) => Math.hypot(x - 200, y - 170) < 12;
    const piece = await computePieceMask(
      photo(W, H, (x, y) => pendant(x, y) && !reflection(x, y)),
      limits,
    );
    expect(share(pieceMaskAt(piece, W, H), W, H, reflection)).toBe(1);

    const ringed = await computePieceMask(photo(W, H, ring), limits);
    expect(ringed.source).toBe('piece');
    const m = pieceMaskAt(ringed, W, H);
    expect(share(m, W, H, (x, y) => Math.hypot(x - 240, y - 180) < 80)).toBe(0);
    expect(share(m, W, H, (x, y) => Math.abs(Math.hypot(x - 240, y - 180) - 110) < 15)).toBe(1);
  });

  it('does not take dust on the backdrop for the piece', async () => {
    const specks: Array<[number, number, number]> = [
      [40, 40, 3],
      [430, 300, 2],
      [60, 320, 4],
    ];
    const piece = await computePieceMask(photo(W, H, pendant, { specks }), limits);
    const m = pieceMaskAt(piece, W, H);
    for (const [x, y] of specks) expect(m[y * W + x]).toBe(0);
  });

  it('erodes from the silhouette, but not along the frame edge a piece runs off', async () => {
    // A band across the whole width.
    const band = (_x: number, y: number) => y >= 120 && y < 240;
    const piece = await computePieceMask(photo(W, H, band), limits);
    expect(piece.source).toBe('piece');
    const { inner } = pieceGatesAt(piece, W, H, SILHOUETTE_EDGE_PX);
    // The silhouette's rows are out (the mask's own edge is good to a pixel or two), the frame's columns are in.
    expect(share(inner, W, H, (_x, y) => y === 120 || y === 239)).toBe(0);
    expect(share(inner, W, H, (x, y) => (x === 0 || x === W - 1) && y >= 128 && y < 232)).toBe(1);
    expect(share(inner, W, H, (_x, y) => y >= 128 && y < 232)).toBe(1);
  });

  it('falls back to the whole frame for a surface that fills it (a magnetic-tile crop)', async () => {
    // Textured grey surface with a few dark blowholes: all surface, no backdrop.
    const w = 320;
    const h = 240;
    const data = Buffer.alloc(w * h * 3);
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const hole = Math.hypot(x - 100, y - 90) < 6 || Math.hypot(x - 220, y - 160) < 4;
        const v = hole ? 30 : 110 + 25 * Math.sin(x / 9) * Math.cos(y / 13) + (rand() - 0.5) * 30;
        data.fill(Math.max(0, Math.min(255, Math.round(v))), (y * w + x) * 3, (y * w + x) * 3 + 3);
      }
    }
    const piece = await computePieceMask({ data, width: w, height: h }, limits);
    expect(piece.source).toBe('frame');
    expect(piece.fallback).not.toBeNull();
    expect(pieceMaskAt(piece, w, h).every((v) => v === 1)).toBe(true);
    const gates = pieceGatesAt(piece, w, h, SILHOUETTE_EDGE_PX);
    expect(gates.inner.every((v) => v === 1)).toBe(true);
  });

  it('falls back to the whole frame when the piece fills it but for a strip of backdrop', async () => {
    // Metal everywhere except a strip of backdrop down the right edge: the border is mostly metal.
    const piece = await computePieceMask(photo(W, H, (x) => x < W - 30), limits);
    expect(piece.source).toBe('frame');
  });

  it('falls back to the whole frame for a plain backdrop with nothing on it', async () => {
    const piece = await computePieceMask(photo(W, H, () => false), limits);
    expect(piece.source).toBe('frame');
    expect(piece.fallback).toBe('no_piece');
  });

  // Pendant faces that fill the frame: no backdrop shows but a corner of glow or velvet, and the metal matches the
  // backdrop fit, so only the stone setting is outlined. Dropping the unoutlined shading beside an outlined piece
  // (tried in session 21) kept the setting alone on such a face and lost its findings: 11 pore clusters of the
  // second photo here, the orange peel of the third. Seed 501 is rendered for regression tests only (no model is
  // trained, calibrated or evaluated on it); seed 201 is validation.
  const PLAIN = { backgrounds: ['paper', 'grey_card', 'lightbox', 'tinted_card'], metals: ['au750_yellow', 'au750_white', 'ag925', 'pt950'] };
  const SHIFTED = { backgrounds: ['velvet'], metals: ['au750_rose'] };
  it.each([
    { seed: 201, index: 43, domain: PLAIN, what: 'white gold on a lightbox' },
    { seed: 501, index: 263, domain: SHIFTED, what: 'rose gold on velvet, pores' },
    { seed: 501, index: 162, domain: SHIFTED, what: 'rose gold on velvet, orange peel' },
  ])('keeps every defect of a pendant face that fills the frame in the area read ($what)', async ({ seed, index, domain }) => {
    const sample = await renderSample({ seed, index, size: 1024, domain } as Parameters<typeof renderSample>[0]);
    const { data, info } = await sharp(sample.jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const piece = await computePieceMask({ data, width: info.width, height: info.height }, limits);
    const mask = pieceMaskAt(piece, info.width, info.height);
    const defects = sample.entry.defects;
    expect(defects.length).toBeGreaterThan(1);
    for (const d of defects) {
      const [x0, y0, x1, y1] = d.bbox;
      expect(mask[Math.round((y0 + y1) / 2) * info.width + Math.round((x0 + x1) / 2)], `${d.kind} at ${d.bbox.join(',')}`).toBe(1);
    }
  }, 60_000);
});
