import type { DecodedRgb } from '../../pipeline/decode.js';
import type { DetectedStone } from '../../pipeline/postprocess/stones.js';

/**
 * A small photo of a stone row, drawn the way set stones look from above: a faceted crown (sectors of random
 * brightness in three zones), a dark girdle band at its rim, the shadowed seat cut just outside it, smooth metal
 * around, a [1 2 1] blur and a little noise. Empty seats show the metal cone and the hole. Everything in working px.
 * A stone can instead have a smooth top: `flat` (one bright level, as the pipeline tests' fixture discs) or `dome` (a
 * cabochon: brightness falling smoothly from the middle to the rim), with no facet texture and no girdle band.
 * A faceted stone can have a `rim`: outer facets (0.8 r to the girdle) as broad as the middle zone's, so that the fine
 * facet texture ends well inside the girdle though the rim still varies from facet to facet; with a `level`, the rim's
 * facets are alike (within ±25 of it), a band brighter or darker than the crown on average. A `sparkle` is the star
 * a point light draws on a crown, which can pull the model's heat peak with it. A seat's metal can be `lit` in two lobes.
 */
export type Crown = 'faceted' | 'flat' | 'dome';

export interface Seat {
  x: number;
  y: number;
  /** Seat (calibre) radius. */
  seatR: number;
  /** Stone radius; null: empty seat. */
  r: number | null;
  /** Default: faceted. */
  crown?: Crown;
  /** Eight broad outer facets (0.8 r to the girdle) instead of sixteen; `level`: their mean luminance. */
  rim?: { level?: number };
  /** A sparkle (a white point with a four-ray star across the crown) this far from the stone's centre. */
  sparkle?: { dx: number; dy: number };
  /** Two lamps either side of the row lighting the seat's metal: its luminance x (1 + lit x cos 2 x the angle). */
  lit?: number;
}

export interface RowLook {
  /** Luminance of the metal around the seats (a dark channel: low); default: 165-185, brighter to the right. */
  metal?: number;
  seed?: number;
  /** Pavé beads: a bright metal bead (a third of a seat's radius) either side of the row between each two seats. */
  beads?: boolean;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function renderRow(width: number, height: number, seats: Seat[], look: RowLook = {}): DecodedRgb {
  const rand = rng(look.seed ?? 7);
  const lum = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) lum[y * width + x] = look.metal ?? 165 + (20 * x) / width;
  for (let i = 0; look.beads && i + 1 < seats.length; i++) {
    const [a, b] = [seats[i]!, seats[i + 1]!];
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    const br = a.seatR / 3;
    for (const side of [-1, 1]) {
      const [bx, by] = [(a.x + b.x) / 2 - (side * 0.8 * a.seatR * (b.y - a.y)) / d, (a.y + b.y) / 2 + (side * 0.8 * a.seatR * (b.x - a.x)) / d];
      for (let y = Math.floor(by - br); y <= Math.ceil(by + br); y++) {
        for (let x = Math.floor(bx - br); x <= Math.ceil(bx + br); x++) {
          const rho = Math.hypot(x - bx, y - by) / br;
          // Lit from above: bright at the top, shaded towards the rim.
          if (rho < 1 && y >= 0 && y < height) lum[y * width + x] = 250 - 160 * rho ** 2;
        }
      }
    }
  }
  for (const seat of seats) {
    const facets = Array.from({ length: 48 }, () => (rand() < 0.4 ? 15 + 30 * rand() : 110 + 130 * rand()));
    const rot = rand() * Math.PI;
    const R = seat.seatR * 1.07 + 2;
    for (let y = Math.floor(seat.y - R); y <= Math.ceil(seat.y + R); y++) {
      for (let x = Math.floor(seat.x - R); x <= Math.ceil(seat.x + R); x++) {
        const d = Math.hypot(x - seat.x, y - seat.y);
        const i = y * width + x;
        const metal = lum[i]!;
        if (d < seat.seatR * 1.07) lum[i] = metal * 0.5 * (1 + (seat.lit ?? 0) * Math.cos(2 * Math.atan2(y - seat.y, x - seat.x)));
        if (seat.r === null) {
          if (d < seat.seatR) lum[i] = d < 0.42 * seat.seatR ? 20 : 80 + (70 * d) / seat.seatR;
          continue;
        }
        const cov = Math.max(0, Math.min(1, seat.r - d + 0.5));
        if (cov <= 0) continue;
        if (seat.crown === 'flat' || seat.crown === 'dome') {
          const v = seat.crown === 'flat' ? 235 : 240 - 90 * (d / seat.r) ** 2;
          lum[i] = lum[i]! * (1 - cov) + v * cov;
          continue;
        }
        const rho = d / seat.r;
        const ang = (((Math.atan2(y - seat.y, x - seat.x) - rot) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
        const zone = rho < 0.55 ? 0 : rho < 0.8 ? 1 : 2;
        const sectors = zone === 1 || (zone === 2 && seat.rim) ? 8 : 16;
        let v = facets[zone * 16 + Math.floor((ang / (2 * Math.PI)) * sectors)]!;
        if (zone === 2 && seat.rim?.level !== undefined) v = seat.rim.level + 50 * ((v - 15) / 225 - 0.5);
        if (rho > 0.965) v *= 0.35;
        lum[i] = lum[i]! * (1 - cov) + v * cov;
      }
    }
  }
  for (const seat of seats) {
    if (!seat.sparkle || seat.r === null) continue;
    const [sx, sy] = [seat.x + seat.sparkle.dx, seat.y + seat.sparkle.dy];
    for (let y = Math.floor(sy - seat.r); y <= Math.ceil(sy + seat.r); y++) {
      for (let x = Math.floor(sx - seat.r); x <= Math.ceil(sx + seat.r); x++) {
        const [dx, dy] = [x - sx, y - sy];
        const d = Math.hypot(dx, dy);
        // Distance to the nearest of the star's rays (0, 45, 90, 135 degrees).
        const ray = Math.min(Math.abs(dx), Math.abs(dy), Math.abs(dx - dy) / Math.SQRT2, Math.abs(dx + dy) / Math.SQRT2);
        if (d < 2.5 || (ray < 0.8 && d < 0.8 * seat.r)) lum[y * width + x] = 255;
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
export function heatMap(width: number, height: number, peaks: Array<{ x: number; y: number; h: number }>): Float32Array {
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

export const W = 420;
export const H = 120;
export const OP = { peakThreshold: 0.25, nmsRadiusFactor: 1 };
/** The radius plane of loupe-seg 1.0.0: about 40 px whatever the stone. */
export const wrongRadius = new Float32Array(W * H).fill(40);

/** Seats of radius 20 every 44 px (gap 4 px), along a gentle slope. */
export function row(n: number, over: (i: number, seat: Seat) => Partial<Seat> = () => ({})): Seat[] {
  return Array.from({ length: n }, (_, i) => {
    const seat = { x: 50 + 44 * i + 0.3 * i, y: 58 + 0.25 * i, seatR: 20, r: 20 };
    return { ...seat, ...over(i, seat) };
  });
}

/** Heat peaks near each stone, off by up to ~1 px as the model's are, or on its sparkle. */
export const peaksFor = (seats: Seat[], h: (i: number) => number = () => 0.9) =>
  seats.flatMap((s, i) => (s.r === null ? [] : [s.sparkle ? { x: s.x + s.sparkle.dx, y: s.y + s.sparkle.dy, h: h(i) } : { x: s.x + (i % 2 ? 0.8 : -0.7), y: s.y + (i % 3 ? -0.6 : 0.5), h: h(i) }]));

export function nearest(stones: DetectedStone[], x: number, y: number): DetectedStone {
  return stones.reduce((a, b) => (Math.hypot(a.x - x, a.y - y) <= Math.hypot(b.x - x, b.y - y) ? a : b));
}
