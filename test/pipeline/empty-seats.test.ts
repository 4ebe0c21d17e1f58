import { describe, expect, it } from 'vitest';
import { centreToPhoto } from '../../pipeline/postprocess/coords.js';
import { emptySeatDiscs, maskOutsideDiscs, outsideDiscs, SEAT_MARGIN } from '../../pipeline/postprocess/empty-seats.js';

describe('empty seats for porosity', () => {
  it('places each missing stone in working px with the row median radius widened by the margin', () => {
    const scale = 2.5;
    const stones = [{ r: 20 }, { r: 22 }, { r: 30 }];
    const seatAt = { x: 41, y: 17 };
    const missing = [{ cx: centreToPhoto(seatAt.x, scale), cy: centreToPhoto(seatAt.y, scale) }];
    const [disc] = emptySeatDiscs(missing, stones, scale);
    expect(disc!.x).toBeCloseTo(seatAt.x, 9);
    expect(disc!.y).toBeCloseTo(seatAt.y, 9);
    expect(disc!.r).toBeCloseTo((SEAT_MARGIN * 22) / scale, 9);
  });

  it('gives no discs without missing stones or without a measured radius', () => {
    expect(emptySeatDiscs([], [{ r: 10 }], 1)).toEqual([]);
    expect(emptySeatDiscs([{ cx: 5, cy: 5 }], [], 1)).toEqual([]);
  });

  it('clears the mask inside a disc only, leaving the input untouched', () => {
    const w = 20;
    const h = 10;
    const mask = new Uint8Array(w * h).fill(1);
    const out = maskOutsideDiscs(mask, w, h, [{ x: 5, y: 5, r: 2 }]);
    expect(mask.every((v) => v === 1)).toBe(true);
    const cleared: string[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (out[y * w + x] === 0) cleared.push(`${x},${y}`);
    // Pixel (x, y) sits at (x, y): the 13 lattice points within 2 px of (5, 5).
    expect(cleared.sort()).toEqual(
      ['5,3', '4,4', '5,4', '6,4', '3,5', '4,5', '5,5', '6,5', '7,5', '4,6', '5,6', '6,6', '5,7'].sort(),
    );
  });

  it('drops the candidates inside a seat and keeps those outside', () => {
    const points = [
      { x: 10, y: 10, id: 'in the seat' },
      { x: 14.9, y: 10, id: 'on the rim' },
      { x: 15.1, y: 10, id: 'beside it' },
      { x: 40, y: 40, id: 'far' },
    ];
    expect(outsideDiscs(points, [{ x: 10, y: 10, r: 5 }]).map((p) => p.id)).toEqual(['beside it', 'far']);
    expect(outsideDiscs(points, []).length).toBe(4);
  });
});
