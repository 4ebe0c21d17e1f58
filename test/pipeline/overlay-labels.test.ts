import { describe, expect, it } from 'vitest';
import { placeLabel, type LabelBox } from '../../pipeline/overlay-labels.js';

const overlap = (a: LabelBox, b: LabelBox) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('overlay label placement', () => {
  it('keeps a label where it is wanted when that spot is free', () => {
    const placed: LabelBox[] = [{ x: 10, y: 10, w: 40, h: 12 }];
    expect(placeLabel(placed, { x: 200, y: 100, w: 40, h: 12 }, 800, 600)).toEqual({ x: 200, y: 100, w: 40, h: 12 });
    expect(placed).toHaveLength(2);
  });

  it('moves the size labels of pores that want one spot apart, a line at a time, all readable', () => {
    // Five pores a few pixels apart (the session-7 overlay: 0.09 and 0.07 mm labels drawn over each other).
    const placed: LabelBox[] = [];
    const got = [0, 4, 8, 12, 16].map((dx) => placeLabel(placed, { x: 300 + dx, y: 200, w: 44, h: 12 }, 800, 600));
    for (let i = 0; i < got.length; i++) for (let j = i + 1; j < got.length; j++) expect(overlap(got[i]!, got[j]!), `${i} and ${j}`).toBe(false);
    expect(got[0]).toMatchObject({ x: 300, y: 200 });
    // The second goes one line (12 + 3 px) down, the third one line up: near the pore they name.
    expect(got[1]).toMatchObject({ x: 304, y: 215 });
    expect(got[2]).toMatchObject({ x: 308, y: 185 });
  });

  it('keeps labels inside the picture', () => {
    const placed: LabelBox[] = [];
    const a = placeLabel(placed, { x: 790, y: -5, w: 44, h: 12 }, 800, 600);
    expect(a).toMatchObject({ x: 800 - 44 - 2, y: 2 });
    const b = placeLabel(placed, { x: 790, y: -5, w: 44, h: 12 }, 800, 600);
    expect(overlap(a, b)).toBe(false);
    expect(b.x + b.w).toBeLessThanOrEqual(798);
    expect(b.y).toBeGreaterThanOrEqual(2);
  });
});
