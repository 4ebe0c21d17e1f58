import { describe, expect, it } from 'vitest';
import { analyseSpacing } from '../../pipeline/postprocess/spacing.js';
import { pitchCandidates } from '../../pipeline/postprocess/stone-edges.js';
import { detectStones, type DetectedStone } from '../../pipeline/postprocess/stones.js';
import { spacingTolerance } from './helpers.js';
import { H, heatMap, nearest, OP, peaksFor, renderRow, row, W, wrongRadius } from './stone-row-photos.js';

describe('stone outlines from the photo', () => {
  it('measures each girdle radius to about a pixel and each centre to under half a pixel when the radius map is wrong', () => {
    const seats = row(8);
    const photo = renderRow(W, H, seats);
    const stones = detectStones(heatMap(W, H, peaksFor(seats)), wrongRadius, W, H, OP, photo);
    expect(stones).toHaveLength(8);
    for (const seat of seats) {
      const s = nearest(stones, seat.x, seat.y);
      // The crown's texture ends where the dark girdle band begins (0.965 r here), so the radius reads a little short.
      expect(Math.abs(s.r - seat.r!)).toBeLessThan(1);
      expect(Math.hypot(s.x - seat.x, s.y - seat.y)).toBeLessThan(0.5);
    }
  });

  it('turns the measured circles into edge-to-edge gaps in mm, where the radius map gives nonsense', () => {
    const seats = row(8);
    const heat = heatMap(W, H, peaksFor(seats));
    const mmPerPx = 0.02;
    const gaps = (stones: DetectedStone[]) =>
      analyseSpacing({
        stones: stones.map((s) => ({ cx: s.x, cy: s.y, r: s.r, confidence: s.confidence })),
        mmPerPx,
        tolerance: spacingTolerance(),
        expectedCount: null,
      }).gapsMm;
    const trueGap = (Math.hypot(44.3, 0.25) - 40) * mmPerPx;
    const measured = gaps(detectStones(heat, wrongRadius, W, H, OP, renderRow(W, H, seats)));
    expect(measured).toHaveLength(7);
    for (const g of measured) expect(Math.abs(g - trueGap)).toBeLessThan(0.05);
    // Without the photo the 40-px radius map makes the stones overlap: every gap comes out about -0.7 mm.
    const blind = gaps(detectStones(heat, wrongRadius, W, H, OP));
    for (const g of blind) expect(g - trueGap).toBeLessThan(-0.5);
  });

  it('drops a weaker peak on a prong beside a stone, which overlaps it', () => {
    const seats = row(8);
    const prong = { x: (seats[3]!.x + seats[4]!.x) / 2, y: seats[3]!.y - 16, h: 0.5 };
    const stones = detectStones(heatMap(W, H, [...peaksFor(seats), prong]), wrongRadius, W, H, OP, renderRow(W, H, seats));
    expect(stones).toHaveLength(8);
    expect(stones.every((s) => Math.hypot(s.x - prong.x, s.y - prong.y) > 10)).toBe(true);
  });

  it('keeps neighbours the radius map would merge: small stones closer than its radius', () => {
    // 40 px radius map, 44 px pitch: nmsRadiusFactor 1 alone would keep every other stone.
    const seats = row(8);
    const peaks = peaksFor(seats);
    expect(detectStones(heatMap(W, H, peaks), new Float32Array(W * H).fill(50), W, H, OP)).toHaveLength(4);
    expect(detectStones(heatMap(W, H, peaks), new Float32Array(W * H).fill(50), W, H, OP, renderRow(W, H, seats))).toHaveLength(8);
  });

  it('recovers a stone the heat-map left under the operating point, and leaves an empty seat empty', () => {
    const seats = row(8, (i) => (i === 5 ? { r: null } : {}));
    const peaks = [...peaksFor(seats, (i) => (i === 2 ? 0.12 : 0.9)), { x: seats[5]!.x, y: seats[5]!.y, h: 0.08 }];
    const photo = renderRow(W, H, seats);
    expect(detectStones(heatMap(W, H, peaks), wrongRadius, W, H, OP)).toHaveLength(7 - 1);
    const stones = detectStones(heatMap(W, H, peaks), wrongRadius, W, H, OP, photo);
    expect(stones).toHaveLength(7);
    expect(Math.hypot(nearest(stones, seats[2]!.x, seats[2]!.y).x - seats[2]!.x, nearest(stones, seats[2]!.x, seats[2]!.y).y - seats[2]!.y)).toBeLessThan(1);
    expect(stones.every((s) => Math.hypot(s.x - seats[5]!.x, s.y - seats[5]!.y) > 20)).toBe(true);
  });

  it("measures an undersized stone's own radius, smaller than its seat", () => {
    const seats = row(8, (i) => (i === 3 ? { r: 14 } : {}));
    const stones = detectStones(heatMap(W, H, peaksFor(seats)), wrongRadius, W, H, OP, renderRow(W, H, seats));
    expect(stones).toHaveLength(8);
    expect(Math.abs(nearest(stones, seats[3]!.x, seats[3]!.y).r - 14)).toBeLessThan(1);
    expect(Math.abs(nearest(stones, seats[4]!.x, seats[4]!.y).r - 20)).toBeLessThan(1);
  });

  it('without the photo, keeps the heat-map centres and the radius map', () => {
    const seats = row(4);
    const stones = detectStones(heatMap(W, H, peaksFor(seats)), new Float32Array(W * H).fill(12), W, H, OP);
    expect(stones).toHaveLength(4);
    for (const s of stones) expect(s.r).toBeCloseTo(12, 5);
  });
});

describe('row pitch', () => {
  it('is the distance most stones agree on, not fooled by a second peak on a stone or by a missing one', () => {
    const stones = [0, 1, 2, 4, 5].map((k) => ({ x: 100 * k, y: 0, r: 40, confidence: 0.95 }));
    // A second, weaker peak 30 px from stone 1, and stone 3 missing (stones 2 and 4 are two pitches apart).
    stones.push({ x: 130, y: 0, r: 40, confidence: 0.4 });
    expect(pitchCandidates(stones)[0]).toBeCloseTo(100, 6);
  });
});
