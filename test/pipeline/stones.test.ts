import { describe, expect, it } from 'vitest';
import type { DecodedRgb } from '../../pipeline/decode.js';
import { analyseSpacing } from '../../pipeline/postprocess/spacing.js';
import { pitchCandidates } from '../../pipeline/postprocess/stone-edges.js';
import { detectStones, type DetectedStone } from '../../pipeline/postprocess/stones.js';
import { spacingTolerance } from './helpers.js';

/**
 * A small photo of a stone row, drawn the way set stones look from above: a faceted crown (sectors of random
 * brightness in three zones), a dark girdle band at its rim, the shadowed seat cut just outside it, smooth metal
 * around, a [1 2 1] blur and a little noise. Empty seats show the metal cone and the hole. Everything in working px.
 */
interface Seat {
  x: number;
  y: number;
  /** Seat (calibre) radius. */
  seatR: number;
  /** Stone radius; null: empty seat. */
  r: number | null;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function renderRow(width: number, height: number, seats: Seat[], seed = 7): DecodedRgb {
  const rand = rng(seed);
  const lum = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) lum[y * width + x] = 165 + (20 * x) / width;
  for (const seat of seats) {
    const facets = Array.from({ length: 48 }, () => (rand() < 0.4 ? 15 + 30 * rand() : 110 + 130 * rand()));
    const rot = rand() * Math.PI;
    const R = seat.seatR * 1.07 + 2;
    for (let y = Math.floor(seat.y - R); y <= Math.ceil(seat.y + R); y++) {
      for (let x = Math.floor(seat.x - R); x <= Math.ceil(seat.x + R); x++) {
        const d = Math.hypot(x - seat.x, y - seat.y);
        const i = y * width + x;
        const metal = lum[i]!;
        if (d < seat.seatR * 1.07) lum[i] = metal * 0.5;
        if (seat.r === null) {
          if (d < seat.seatR) lum[i] = d < 0.42 * seat.seatR ? 20 : 80 + (70 * d) / seat.seatR;
          continue;
        }
        const cov = Math.max(0, Math.min(1, seat.r - d + 0.5));
        if (cov <= 0) continue;
        const rho = d / seat.r;
        const ang = (((Math.atan2(y - seat.y, x - seat.x) - rot) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
        const zone = rho < 0.55 ? 0 : rho < 0.8 ? 1 : 2;
        const sectors = zone === 1 ? 8 : 16;
        let v = facets[zone * 16 + Math.floor((ang / (2 * Math.PI)) * sectors)]!;
        if (rho > 0.965) v *= 0.35;
        lum[i] = lum[i]! * (1 - cov) + v * cov;
      }
    }
  }
  const blurred = new Float32Array(lum.length);
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += lum[(y + dy) * width + x + dx]! * (2 - Math.abs(dx)) * (2 - Math.abs(dy));
      blurred[y * width + x] = s / 16;
    }
  }
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < lum.length; i++) {
    const v = Math.max(0, Math.min(255, Math.round(blurred[i]! + (rand() - 0.5) * 4)));
    data[3 * i] = v;
    data[3 * i + 1] = v;
    data[3 * i + 2] = Math.round(v * 0.8);
  }
  return { data, width, height };
}

/** Heat: Gaussian peaks (sigma 4 px, as loupe-seg draws them whatever the stone) where `peaks` say. */
function heatMap(width: number, height: number, peaks: Array<{ x: number; y: number; h: number }>): Float32Array {
  const heat = new Float32Array(width * height);
  for (const p of peaks) {
    for (let y = Math.max(0, Math.floor(p.y - 16)); y <= Math.min(height - 1, Math.ceil(p.y + 16)); y++) {
      for (let x = Math.max(0, Math.floor(p.x - 16)); x <= Math.min(width - 1, Math.ceil(p.x + 16)); x++) {
        const v = p.h * Math.exp(-((x - p.x) ** 2 + (y - p.y) ** 2) / (2 * 16));
        heat[y * width + x] = Math.max(heat[y * width + x]!, v);
      }
    }
  }
  return heat;
}

const W = 420;
const H = 120;
const OP = { peakThreshold: 0.25, nmsRadiusFactor: 1 };
/** The radius plane of loupe-seg 1.0.0: about 40 px whatever the stone. */
const wrongRadius = new Float32Array(W * H).fill(40);

/** Seats of radius 20 every 44 px (gap 4 px), along a gentle slope. */
function row(n: number, over: (i: number, seat: Seat) => Partial<Seat> = () => ({})): Seat[] {
  return Array.from({ length: n }, (_, i) => {
    const seat = { x: 50 + 44 * i + 0.3 * i, y: 58 + 0.25 * i, seatR: 20, r: 20 };
    return { ...seat, ...over(i, seat) };
  });
}

/** Heat peaks near each stone, off by up to ~1 px as the model's are. */
const peaksFor = (seats: Seat[], h: (i: number) => number = () => 0.9) =>
  seats.flatMap((s, i) => (s.r === null ? [] : [{ x: s.x + (i % 2 ? 0.8 : -0.7), y: s.y + (i % 3 ? -0.6 : 0.5), h: h(i) }]));

function nearest(stones: DetectedStone[], x: number, y: number): DetectedStone {
  return stones.reduce((a, b) => (Math.hypot(a.x - x, a.y - y) <= Math.hypot(b.x - x, b.y - y) ? a : b));
}

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
