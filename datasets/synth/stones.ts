import type { Lighting } from './lighting.js';
import type { Rng } from './rng.js';
import type { Seat } from './stone-row.js';
import { MAT_PRONG, MAT_STONE, type Surface } from './surface.js';

export type StoneColour = 'diamond' | 'sapphire' | 'ruby' | 'emerald' | 'champagne';
const TINT: Record<StoneColour, [number, number, number]> = {
  diamond: [1, 1, 1],
  sapphire: [0.25, 0.4, 1.0],
  ruby: [1.0, 0.2, 0.3],
  emerald: [0.2, 0.85, 0.45],
  champagne: [1.0, 0.85, 0.6],
};

export interface Sparkle {
  x: number;
  y: number;
  intensity: number;
  lengthPx: number;
  rays: number;
  angle: number;
}

/**
 * A round brilliant seen from above: table, star, kite and upper-girdle facets. Facet brightness comes from the
 * facet's tilt against the key light plus a random "what the pavilion reflects" term, which is what gives real
 * stones their high-contrast mosaic; some facets carry dispersion colours. Prong pixels stay untouched.
 */
export function paintStones(s: Surface, seats: readonly Seat[], light: Lighting, rgb: Float32Array, rng: Rng): { colour: StoneColour; sparkles: Sparkle[] } {
  const colour: StoneColour = rng.weighted([
    ['diamond', 0.72],
    ['sapphire', 0.08],
    ['ruby', 0.07],
    ['emerald', 0.06],
    ['champagne', 0.07],
  ] as const);
  const tint = TINT[colour];
  const brightness = rng.range(0.6, 1.3) * (0.6 + 0.25 * light.key.intensity);
  const sparkles: Sparkle[] = [];
  const [lx, ly] = light.key.dir;
  for (const seat of seats) {
    if (seat.stoneR === null) continue;
    const r = seat.stoneR;
    const rot = rng.range(0, Math.PI / 4);
    const table = rng.range(0.5, 0.6);
    const facetVals = new Float32Array(4 * 16);
    const facetTint = new Float32Array(4 * 16 * 3);
    for (let f = 0; f < facetVals.length; f++) {
      const dark = rng.chance(0.42);
      facetVals[f] = dark ? rng.range(0.02, 0.18) : rng.range(0.45, 1.25);
      const fire = rng.chance(0.12);
      const hue = rng.range(0, 2 * Math.PI);
      for (let c = 0; c < 3; c++) facetTint[3 * f + c] = fire ? 0.6 + 0.5 * Math.cos(hue + (c * 2 * Math.PI) / 3) : 1;
    }
    const R = r + 1.5;
    const x0 = Math.max(0, Math.floor(seat.cx - R));
    const x1 = Math.min(s.width - 1, Math.ceil(seat.cx + R));
    const y0 = Math.max(0, Math.floor(seat.cy - R));
    const y1 = Math.min(s.height - 1, Math.ceil(seat.cy + R));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const i = y * s.width + x;
        if (s.mat[i] === MAT_PRONG) continue;
        const dx = x - seat.cx;
        const dy = y - seat.cy;
        const d = Math.hypot(dx, dy);
        const cov = Math.max(0, Math.min(1, r - d + 0.5));
        if (cov <= 0 || (s.mat[i] !== MAT_STONE && cov >= 1)) continue;
        const rho = d / r;
        let ang = Math.atan2(dy, dx) - rot;
        ang = ((ang % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
        const sector8 = (ang / (2 * Math.PI)) * 8;
        const sector = Math.floor(sector8);
        const within = sector8 - sector;
        let zone: number;
        let facet: number;
        if (rho < table) {
          // Through the table one sees the pavilion mains reflected: a ring of alternating wedges ("arrows").
          zone = 0;
          facet = Math.floor(((ang + Math.PI / 8) / (2 * Math.PI)) * 16) % 16;
        } else if (rho < table + (1 - table) * (0.45 + 0.25 * Math.abs(within - 0.5))) {
          zone = 1;
          facet = sector * 2 + (within < 0.5 ? 0 : 1);
        } else if (rho < 0.93) {
          zone = 2;
          facet = sector;
        } else {
          zone = 3;
          facet = sector * 2 + (within < 0.5 ? 0 : 1);
        }
        const fi = zone * 16 + facet;
        // Facet tilt towards the key light brightens it.
        const fa = ((facet + 0.5) / (zone === 2 ? 8 : 16)) * 2 * Math.PI + rot;
        const tilt = zone === 0 ? 0 : 0.5;
        const lit = 0.65 + 0.7 * tilt * Math.max(0, Math.cos(fa) * lx + Math.sin(fa) * ly);
        let v = facetVals[fi] * lit * brightness;
        // Facet junctions read as thin dark lines.
        const edgeAng = Math.min(within, 1 - within) * ((2 * Math.PI) / 8) * d;
        if (zone > 0 && edgeAng < 0.6) v *= 0.55;
        if (Math.abs(rho - table) * r < 0.6) v *= 0.5;
        if (rho > 0.965) v *= 0.35;
        const o = 3 * i;
        for (let c = 0; c < 3; c++) {
          const val = v * tint[c] * facetTint[3 * fi + c];
          rgb[o + c] = rgb[o + c] * (1 - cov) + cov * val;
        }
      }
    }
    const n = rng.chance(0.55) ? rng.int(1, 2) : 0;
    for (let k = 0; k < n; k++) {
      const a = rng.range(0, 2 * Math.PI);
      const rr = rng.range(0, 0.7) * r;
      sparkles.push({
        x: seat.cx + rr * Math.cos(a),
        y: seat.cy + rr * Math.sin(a),
        intensity: rng.range(1.5, 6),
        lengthPx: r * rng.range(0.4, 1.8),
        rays: rng.pick([4, 4, 6, 8]),
        angle: rng.range(0, Math.PI),
      });
    }
  }
  return { colour, sparkles };
}

/** Star-shaped glints: a hot core and thin rays, additive and allowed to spill over the metal (as in real photos). */
export function paintSparkles(sparkles: readonly Sparkle[], width: number, height: number, rgb: Float32Array): void {
  for (const sp of sparkles) {
    const core = 1.2;
    for (let dy = -3; dy <= 3; dy++) {
      for (let dx = -3; dx <= 3; dx++) {
        const x = Math.round(sp.x) + dx;
        const y = Math.round(sp.y) + dy;
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        const e = Math.exp(-(dx * dx + dy * dy) / (2 * core * core)) * sp.intensity;
        const o = 3 * (y * width + x);
        rgb[o] += e;
        rgb[o + 1] += e;
        rgb[o + 2] += e;
      }
    }
    for (let k = 0; k < sp.rays; k++) {
      const a = sp.angle + (k * Math.PI * 2) / sp.rays;
      const ca = Math.cos(a);
      const sa = Math.sin(a);
      for (let t = 1; t < sp.lengthPx; t += 0.7) {
        const x = Math.round(sp.x + ca * t);
        const y = Math.round(sp.y + sa * t);
        if (x < 0 || y < 0 || x >= width || y >= height) break;
        const e = sp.intensity * 0.35 * Math.pow(1 - t / sp.lengthPx, 2);
        const o = 3 * (y * width + x);
        rgb[o] += e;
        rgb[o + 1] += e;
        rgb[o + 2] += e;
      }
    }
  }
}
