import type { PorosityKind } from '../../manifest.schema.js';
import type { Lighting } from '../lighting.js';
import type { Rng } from '../rng.js';
import { FreeMetalSampler, isFreeMetal, type Surface } from '../surface.js';
import { equivalentDiameterPx, type PixelDefect } from './pixel-defect.js';

/** Equivalent diameters per kind, mm (the 0.05–1 mm range, split by how each kind forms). */
const DIAMETER: Record<PorosityKind, [number, number]> = {
  pinhole: [0.05, 0.2],
  cluster: [0.05, 0.22],
  gas_void: [0.3, 1.0],
  shrinkage_pit: [0.15, 0.8],
};
const MAX_DIAMETER_MM = 1.0;

interface PoreShape {
  cx: number;
  cy: number;
  r0: number;
  harmonics: Array<[number, number, number]>;
  stretch: number;
  stretchAng: number;
}

function outline(p: PoreShape, theta: number): number {
  let f = 1;
  for (const [k, a, ph] of p.harmonics) f += a * Math.cos(k * theta + ph);
  return p.r0 * Math.max(0.25, f);
}

function extent(p: PoreShape): number {
  let f = 1;
  for (const [, a] of p.harmonics) f += Math.abs(a);
  return p.r0 * f * p.stretch + 2;
}

/** Local polar coordinates of a pixel in the pore's unstretched frame. */
function polar(p: PoreShape, x: number, y: number): [number, number] {
  const dx = x - p.cx;
  const dy = y - p.cy;
  const c = Math.cos(p.stretchAng);
  const s = Math.sin(p.stretchAng);
  const a = (dx * c + dy * s) / p.stretch;
  const b = -dx * s + dy * c;
  return [Math.hypot(a, b), Math.atan2(b, a)];
}

function rasterMask(p: PoreShape, s: Surface): Int32Array {
  const R = extent(p);
  const out: number[] = [];
  for (let y = Math.floor(p.cy - R); y <= Math.ceil(p.cy + R); y++) {
    for (let x = Math.floor(p.cx - R); x <= Math.ceil(p.cx + R); x++) {
      if (x < 0 || y < 0 || x >= s.width || y >= s.height) continue;
      const [rho, th] = polar(p, x, y);
      if (rho <= outline(p, th)) out.push(y * s.width + x);
    }
  }
  return Int32Array.from(out);
}

function shapeFor(kind: PorosityKind, cx: number, cy: number, r0: number, rng: Rng): PoreShape {
  const harmonics: Array<[number, number, number]> = [];
  const irregular = kind === 'shrinkage_pit' ? rng.range(0.15, 0.35) : kind === 'gas_void' ? rng.range(0.03, 0.15) : rng.range(0, 0.22);
  const maxK = kind === 'shrinkage_pit' ? 9 : 5;
  for (let k = 2; k <= maxK; k++) harmonics.push([k, (irregular * rng.range(0.3, 1)) / Math.sqrt(k - 1), rng.range(0, 2 * Math.PI)]);
  const stretch = kind === 'gas_void' ? rng.range(1, 1.3) : rng.range(1, 1.8);
  return { cx, cy, r0, harmonics, stretch, stretchAng: rng.range(0, Math.PI) };
}

/** Equivalent diameter after rasterisation, scaled until it honours [max(0.05 mm, 3 px), 1 mm]. */
function fitShape(p: PoreShape, s: Surface, minPx: number, maxPx: number): Int32Array | null {
  for (let k = 0; k < 8; k++) {
    const mask = rasterMask(p, s);
    const d = equivalentDiameterPx(mask.length);
    if (d >= minPx && d <= maxPx) return mask;
    const target = d < minPx ? minPx * 1.04 : maxPx * 0.97;
    p.r0 *= d > 0 ? target / d : 2;
  }
  return null;
}

function fits(mask: Int32Array, p: PoreShape, s: Surface, occupied: Uint8Array): boolean {
  const R = Math.ceil(extent(p)) + 2;
  const x0 = Math.floor(p.cx) - R;
  const y0 = Math.floor(p.cy) - R;
  if (x0 < 0 || y0 < 0 || x0 + 2 * R >= s.width || y0 + 2 * R >= s.height) return false;
  for (let k = 0; k < mask.length; k++) if (!isFreeMetal(s, mask[k])) return false;
  // The whole box around the pore must be free of other defects, so each pore's bbox holds only its own pixels.
  for (let y = y0; y <= y0 + 2 * R; y++) for (let x = x0; x <= x0 + 2 * R; x++) if (occupied[y * s.width + x]) return false;
  return true;
}

function occupy(p: PoreShape, s: Surface, occupied: Uint8Array): void {
  const R = Math.ceil(extent(p)) + 3;
  for (let y = Math.max(0, Math.floor(p.cy) - R); y <= Math.min(s.height - 1, Math.floor(p.cy) + R); y++) {
    for (let x = Math.max(0, Math.floor(p.cx) - R); x <= Math.min(s.width - 1, Math.floor(p.cx) + R); x++) occupied[y * s.width + x] = 1;
  }
}

/**
 * Draws a pore as a cavity: a bowl in the height field (its walls then reflect the environment like the metal does),
 * a darkening towards the core whose strength varies widely (some pores are faint), and for shrinkage pits a lit rim
 * on the light's side. Masks are the pore's own pixels (centre inside the outline); drawing is anti-aliased.
 */
function drawPore(kind: PorosityKind, p: PoreShape, s: Surface, light: Lighting, rng: Rng): void {
  const depth = p.r0 * rng.range(0.4, 1.2) / s.pxPerMm;
  const core = kind === 'pinhole' ? rng.range(0.1, 0.65) : rng.range(0.05, 0.55);
  const lightAz = Math.atan2(light.key.dir[1], light.key.dir[0]);
  const rimGain = kind === 'shrinkage_pit' ? rng.range(0.4, 1.2) : rng.chance(0.3) ? rng.range(0.1, 0.4) : 0;
  const rimW = Math.max(1, p.r0 * rng.range(0.15, 0.35));
  const glint = kind === 'gas_void' && rng.chance(0.35);
  const gx = p.cx + Math.cos(lightAz + Math.PI) * p.r0 * 0.45;
  const gy = p.cy + Math.sin(lightAz + Math.PI) * p.r0 * 0.45;
  const R = extent(p) + rimW + 2;
  for (let y = Math.max(0, Math.floor(p.cy - R)); y <= Math.min(s.height - 1, Math.ceil(p.cy + R)); y++) {
    for (let x = Math.max(0, Math.floor(p.cx - R)); x <= Math.min(s.width - 1, Math.ceil(p.cx + R)); x++) {
      const i = y * s.width + x;
      const [rho, th] = polar(p, x, y);
      const rr = outline(p, th);
      const inside = Math.max(0, Math.min(1, rr - rho + 0.5));
      s.protect[i] = 1;
      if (inside > 0) {
        const q = Math.min(1, rho / rr);
        s.hp[i] -= depth * Math.sqrt(Math.max(0, 1 - q * q)) * inside;
        const dark = 1 - (1 - core) * inside * (0.55 + 0.45 * (1 - q * q));
        s.gain[i] *= dark;
        if (glint) {
          const gd = Math.hypot(x - gx, y - gy) / Math.max(1, p.r0 * 0.18);
          if (gd < 1) s.gain[i] *= 1 + 1.2 * (1 - gd);
        }
      } else if (rimGain > 0 && rho - rr < rimW) {
        const dirAng = Math.atan2(y - p.cy, x - p.cx);
        const side = Math.max(0, Math.cos(dirAng - lightAz));
        const fall = 1 - (rho - rr) / rimW;
        s.gain[i] *= 1 + rimGain * side * fall;
        s.hp[i] += (depth * 0.15 * fall);
      }
    }
  }
}

export function addPorosity(
  s: Surface,
  kinds: readonly PorosityKind[],
  light: Lighting,
  occupied: Uint8Array,
  rng: Rng,
  nextGroup: () => number,
): PixelDefect[] {
  const S = s.pxPerMm;
  const minPx = Math.max(0.05 * S, 3);
  const maxPx = MAX_DIAMETER_MM * S;
  const out: PixelDefect[] = [];
  if (kinds.length === 0) return [];
  const sampler = new FreeMetalSampler(s);
  const randomFree = () => sampler.pick(rng, occupied);
  // `shrink` in [0, 1): later attempts draw from the lower part of the range, so a crowded or narrow piece still
  // gets its pore instead of none.
  const diameterPx = (kind: PorosityKind, shrink: number) => {
    const [lo, hi] = DIAMETER[kind];
    const lower = Math.max(lo * S, minPx);
    const upper = Math.max(lower * 1.3, Math.min(hi * S, maxPx));
    return Math.min(maxPx, rng.logRange(lower, lower + (upper - lower) * (1 - shrink)));
  };
  const planPore = (kind: PorosityKind, cx: number, cy: number, pending: readonly PoreShape[], shrink = 0): { p: PoreShape; mask: Int32Array } | null => {
    const p = shapeFor(kind, cx, cy, diameterPx(kind, shrink) / 2, rng);
    const mask = fitShape(p, s, minPx, maxPx);
    if (!mask || mask.length === 0 || !fits(mask, p, s, occupied)) return null;
    for (const q of pending) {
      // Keep the boxes of a cluster's pores disjoint, as `occupy` does for committed pores.
      const gap = Math.ceil(extent(p)) + Math.ceil(extent(q)) + 6;
      if (Math.abs(p.cx - q.cx) < gap && Math.abs(p.cy - q.cy) < gap) return null;
    }
    return { p, mask };
  };
  const commit = (kind: PorosityKind, planned: { p: PoreShape; mask: Int32Array }, group?: number) => {
    drawPore(kind, planned.p, s, light, rng);
    occupy(planned.p, s, occupied);
    out.push({ family: 'porosity', kind, pixels: planned.mask, lengthMm: null, ...(group !== undefined ? { group } : {}) });
  };
  for (const kind of kinds) {
    if (kind === 'cluster') {
      const groups = rng.chance(0.8) ? 1 : 2;
      for (let g = 0; g < groups; g++) {
        for (let attempt = 0; attempt < 40; attempt++) {
          const c = randomFree();
          if (!c) break;
          const want = rng.int(3, 9);
          const spread = rng.range(0.25, 1.0) * S;
          const pending: Array<{ p: PoreShape; mask: Int32Array }> = [];
          for (let t = 0; t < want * 12 && pending.length < want; t++) {
            const a = rng.range(0, 2 * Math.PI);
            const d = spread * Math.sqrt(rng.float());
            const planned = planPore('cluster', c[0] + d * Math.cos(a), c[1] + d * Math.sin(a), pending.map((q) => q.p));
            if (planned) pending.push(planned);
          }
          // Fewer than three pores is not a cluster: draw nothing and pick another place.
          if (pending.length < 3) continue;
          const group = nextGroup();
          for (const planned of pending) commit('cluster', planned, group);
          break;
        }
      }
    } else {
      const count = kind === 'pinhole' ? rng.int(1, 4) : rng.int(1, 2);
      for (let k = 0; k < count; k++) {
        for (let attempt = 0; attempt < 120; attempt++) {
          const c = randomFree();
          if (!c) break;
          const planned = planPore(kind, c[0], c[1], [], Math.min(0.95, attempt / 80));
          if (planned) {
            commit(kind, planned);
            break;
          }
        }
      }
    }
  }
  return out;
}
