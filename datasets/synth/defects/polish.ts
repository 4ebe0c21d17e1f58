import type { PolishKind } from '../../manifest.schema.js';
import type { Lighting } from '../lighting.js';
import { ValueNoise } from '../noise.js';
import type { Rng } from '../rng.js';
import { FreeMetalSampler, MAT_METAL, isFreeMetal, type Surface } from '../surface.js';
import type { PixelDefect } from './pixel-defect.js';

interface Stroke {
  /** Polyline, px, sampled every 0.5 px. */
  xs: number[];
  ys: number[];
  halfWidth: number;
  /** Groove depth, mm, and the brightness change at full strength (signed: bright or dark). */
  depthMm: number;
  contrast: number;
}

/** Grows a smooth curved path on free metal; stops where the metal ends. */
function growPath(s: Surface, x: number, y: number, heading: number, lengthPx: number, curvature: number, wobble: number, occupied: Uint8Array, rng: Rng): { xs: number[]; ys: number[] } {
  const xs = [x];
  const ys = [y];
  let a = heading;
  let k = curvature;
  for (let t = 0; t < lengthPx; t += 0.5) {
    k += rng.range(-wobble, wobble);
    a += k * 0.5;
    x += 0.5 * Math.cos(a);
    y += 0.5 * Math.sin(a);
    const i = Math.round(y) * s.width + Math.round(x);
    if (x < 2 || y < 2 || x >= s.width - 2 || y >= s.height - 2 || !isFreeMetal(s, i) || occupied[i]) break;
    xs.push(x);
    ys.push(y);
  }
  return { xs, ys };
}

/**
 * Rasterises strokes: for every pixel near a stroke, the distance to it and the position along it. The groove
 * goes into the height field (so its walls catch or lose the light with the local reflection) and into the gain
 * (the scratch reads bright when it faces the light, dark otherwise), tapered at the ends and varying along its
 * length, like a real scratch whose depth changes.
 */
function drawStrokes(s: Surface, strokes: readonly Stroke[], rng: Rng): Int32Array {
  const mask = new Set<number>();
  for (const st of strokes) {
    const reach = st.halfWidth + 2;
    const best = new Map<number, [number, number]>();
    const n = st.xs.length;
    for (let j = 0; j < n; j++) {
      const cx = st.xs[j];
      const cy = st.ys[j];
      for (let y = Math.floor(cy - reach); y <= Math.ceil(cy + reach); y++) {
        for (let x = Math.floor(cx - reach); x <= Math.ceil(cx + reach); x++) {
          if (x < 0 || y < 0 || x >= s.width || y >= s.height) continue;
          const d = Math.hypot(x - cx, y - cy);
          if (d > reach) continue;
          const i = y * s.width + x;
          const prev = best.get(i);
          if (!prev || d < prev[0]) best.set(i, [d, j / Math.max(1, n - 1)]);
        }
      }
    }
    const wav = rng.range(1, 4);
    const ph = rng.range(0, 2 * Math.PI);
    const maskR = Math.max(st.halfWidth, 0.75);
    for (const [i, [d, t]] of best) {
      if (s.mat[i] !== MAT_METAL || s.cov[i] < 0.999) continue;
      const taper = Math.min(1, t / 0.08, (1 - t) / 0.08);
      const along = 0.75 + 0.25 * Math.sin(2 * Math.PI * wav * t + ph);
      const cov = Math.max(0, Math.min(1, st.halfWidth + 0.5 - d));
      const strength = Math.max(0.35, taper) * along;
      if (cov > 0) {
        const prof = Math.max(0, 1 - (d / (st.halfWidth + 0.5)) ** 2);
        s.hp[i] -= st.depthMm * prof * strength;
        s.gain[i] *= 1 + st.contrast * cov * strength;
      }
      if (d <= maskR) mask.add(i);
    }
  }
  return Int32Array.from([...mask].sort((a, b) => a - b));
}

function occupyPixels(pixels: Int32Array, s: Surface, occupied: Uint8Array, pad: number): void {
  for (let k = 0; k < pixels.length; k++) {
    const i = pixels[k];
    const x = i % s.width;
    const y = (i - x) / s.width;
    for (let dy = -pad; dy <= pad; dy++) {
      for (let dx = -pad; dx <= pad; dx++) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < s.width && yy < s.height) occupied[yy * s.width + xx] = 1;
      }
    }
  }
}

function lineContrast(angle: number, light: Lighting, rng: Rng): number {
  // A groove across the light's azimuth catches it (bright); one along it sits in its own shadow (dark).
  const lightAz = Math.atan2(light.key.dir[1], light.key.dir[0]);
  const across = Math.abs(Math.sin(angle - lightAz));
  const bright = rng.chance(0.2) ? !(across > 0.5) : across > 0.5;
  // Below ~0.25 a one-pixel line vanishes under the lens blur and JPEG: a label nobody could see teaches nothing.
  const c = rng.range(0.28, 0.7);
  return bright ? c * rng.range(1.2, 2.2) : -c;
}

function pathLength(xs: number[], ys: number[]): number {
  let L = 0;
  for (let j = 1; j < xs.length; j++) L += Math.hypot(xs[j] - xs[j - 1], ys[j] - ys[j - 1]);
  return L;
}

function scratch(s: Surface, light: Lighting, occupied: Uint8Array, rng: Rng, sampler: FreeMetalSampler): PixelDefect | null {
  const S = s.pxPerMm;
  for (let attempt = 0; attempt < 40; attempt++) {
    const c = sampler.pick(rng, occupied);
    if (!c) return null;
    const want = rng.logRange(0.4, 5) * S;
    const heading = rng.range(0, 2 * Math.PI);
    const curv = rng.range(-1, 1) / (rng.range(2, 30) * S);
    const { xs, ys } = growPath(s, c[0], c[1], heading, want, curv, 0.02 / S, occupied, rng);
    const L = pathLength(xs, ys);
    if (L < Math.max(12, 0.3 * want)) continue;
    const halfWidth = Math.max(0.6, (rng.logRange(0.006, 0.04) * S) / 2);
    const stroke: Stroke = { xs, ys, halfWidth, depthMm: rng.range(0.002, 0.012), contrast: lineContrast(heading, light, rng) };
    const pixels = drawStrokes(s, [stroke], rng);
    if (pixels.length === 0) continue;
    occupyPixels(pixels, s, occupied, 2);
    return { family: 'polish', kind: 'scratch', pixels, lengthMm: round4(L / S) };
  }
  return null;
}

/** Short parallel grooves or chatter left by a file, burr or polishing wheel edge. */
function toolMark(s: Surface, light: Lighting, occupied: Uint8Array, rng: Rng, sampler: FreeMetalSampler): PixelDefect | null {
  const S = s.pxPerMm;
  for (let attempt = 0; attempt < 40; attempt++) {
    const c = sampler.pick(rng, occupied);
    if (!c) return null;
    const n = rng.int(3, 8);
    const len = rng.range(0.25, 1.4) * S;
    const spacing = Math.max(2.5, rng.range(0.03, 0.12) * S);
    const ang = rng.range(0, Math.PI);
    const ca = Math.cos(ang);
    const sa = Math.sin(ang);
    const halfWidth = Math.max(0.5, rng.range(0.004, 0.02) * S);
    const contrast = lineContrast(ang, light, rng) * rng.range(0.5, 0.9);
    const strokes: Stroke[] = [];
    let maxLen = 0;
    let ok = true;
    for (let k = 0; k < n; k++) {
      const off = (k - (n - 1) / 2) * spacing * rng.range(0.85, 1.15);
      const l = len * rng.range(0.6, 1);
      const shift = rng.range(-0.15, 0.15) * len;
      const x0 = c[0] - sa * off + ca * (shift - l / 2);
      const y0 = c[1] + ca * off + sa * (shift - l / 2);
      const i0 = Math.round(y0) * s.width + Math.round(x0);
      if (x0 < 2 || y0 < 2 || x0 >= s.width - 2 || y0 >= s.height - 2 || !isFreeMetal(s, i0) || occupied[i0]) {
        ok = false;
        break;
      }
      const { xs, ys } = growPath(s, x0, y0, ang, l, 0, 0, occupied, rng);
      const L = pathLength(xs, ys);
      if (L < 0.9 * l) {
        ok = false;
        break;
      }
      maxLen = Math.max(maxLen, L);
      strokes.push({ xs, ys, halfWidth, depthMm: rng.range(0.002, 0.008), contrast: contrast * rng.range(0.7, 1.2) });
    }
    if (!ok) continue;
    const pixels = drawStrokes(s, strokes, rng);
    if (pixels.length === 0) continue;
    occupyPixels(pixels, s, occupied, 2);
    return { family: 'polish', kind: 'tool_mark', pixels, lengthMm: round4(maxLen / S) };
  }
  return null;
}

/**
 * A soft-edged irregular patch on metal. `apply` receives each metal pixel's weight; the mask is where the weight
 * is at least one half (the "where the haze is significant").
 */
function patch(
  s: Surface,
  occupied: Uint8Array,
  rng: Rng,
  sampler: FreeMetalSampler,
  radiusMm: [number, number],
  kind: 'haze' | 'orange_peel',
  apply: (i: number, w: number, x: number, y: number) => void,
): PixelDefect | null {
  const S = s.pxPerMm;
  for (let attempt = 0; attempt < 36; attempt++) {
    const c = sampler.pick(rng, occupied);
    if (!c) return null;
    // Shrink as attempts fail: a narrow shank has no room for the largest patches.
    const R = Math.max(6, rng.range(radiusMm[0], radiusMm[1]) * S * (1 - attempt / 40));
    const el = rng.range(1, 2);
    const ang = rng.range(0, Math.PI);
    const ca = Math.cos(ang);
    const sa = Math.sin(ang);
    // Cheap rejection first: most of a ring of probes inside the patch must be free metal.
    let probesFree = 0;
    for (let k = 0; k < 24; k++) {
      const a = (k / 24) * 2 * Math.PI;
      const rr = R * (k % 2 === 0 ? 0.5 : 0.85);
      const px = Math.round(c[0] + rr * el * Math.cos(a) * ca - rr * Math.sin(a) * sa);
      const py = Math.round(c[1] + rr * el * Math.cos(a) * sa + rr * Math.sin(a) * ca);
      if (px >= 0 && py >= 0 && px < s.width && py < s.height && isFreeMetal(s, py * s.width + px) && !occupied[py * s.width + px]) probesFree++;
    }
    if (probesFree < 20) continue;
    const noise = new ValueNoise(rng, R * 0.5, R * 0.5, 4 * R + 8, 4 * R + 8);
    const ext = Math.ceil(R * el * 1.6) + 2;
    const xs0 = Math.max(0, c[0] - ext);
    const xs1 = Math.min(s.width - 1, c[0] + ext);
    const ys0 = Math.max(0, c[1] - ext);
    const ys1 = Math.min(s.height - 1, c[1] + ext);
    const bw = xs1 - xs0 + 1;
    const weights = new Float32Array(bw * (ys1 - ys0 + 1));
    let inside = 0;
    let insideFree = 0;
    for (let y = ys0; y <= ys1; y++) {
      for (let x = xs0; x <= xs1; x++) {
        const dx = x - c[0];
        const dy = y - c[1];
        const a = (dx * ca + dy * sa) / el;
        const b = -dx * sa + dy * ca;
        const q = Math.hypot(a, b) / R;
        if (q > 1.6) continue;
        const w = Math.max(0, Math.min(1, (1 - q) * 1.8 + 0.45 * noise.at(dx + 2 * R, dy + 2 * R)));
        if (w <= 0) continue;
        const i = y * s.width + x;
        if (w >= 0.5) {
          inside++;
          if (isFreeMetal(s, i) && !occupied[i]) insideFree++;
        }
        weights[(y - ys0) * bw + (x - xs0)] = w;
      }
    }
    // Most of the patch must lie on free metal, or it would be a patch of nothing.
    if (inside < 20 || insideFree < 0.85 * inside) continue;
    const mask: number[] = [];
    for (let y = ys0; y <= ys1; y++) {
      for (let x = xs0; x <= xs1; x++) {
        const w = weights[(y - ys0) * bw + (x - xs0)];
        if (w <= 0) continue;
        const i = y * s.width + x;
        if (s.mat[i] !== MAT_METAL || s.cov[i] < 0.999) continue;
        apply(i, w, x, y);
        if (w >= 0.5) mask.push(i);
      }
    }
    const pixels = Int32Array.from(mask);
    occupyPixels(pixels, s, occupied, 1);
    return { family: 'polish', kind, pixels, lengthMm: null };
  }
  return null;
}

export function addPolish(s: Surface, kinds: readonly PolishKind[], light: Lighting, occupied: Uint8Array, rng: Rng): PixelDefect[] {
  const out: PixelDefect[] = [];
  const S = s.pxPerMm;
  if (kinds.length === 0) return out;
  const sampler = new FreeMetalSampler(s);
  for (const kind of kinds) {
    if (kind === 'scratch') {
      const n = rng.weighted([[1, 0.5], [2, 0.3], [3, 0.12], [4, 0.08]] as const);
      for (let k = 0; k < n; k++) {
        const d = scratch(s, light, occupied, rng, sampler);
        if (d) out.push(d);
      }
    } else if (kind === 'tool_mark') {
      const n = rng.chance(0.75) ? 1 : 2;
      for (let k = 0; k < n; k++) {
        const d = toolMark(s, light, occupied, rng, sampler);
        if (d) out.push(d);
      }
    } else if (kind === 'haze') {
      const rough = rng.range(0.2, 0.6);
      const veil = rng.range(0.3, 0.7);
      const d = patch(s, occupied, rng, sampler, [0.3, 2.2], 'haze', (i, w) => {
        s.rough[i] += rough * w;
        s.veil[i] = Math.max(s.veil[i], veil * w);
      });
      if (d) out.push(d);
    } else {
      const cell = rng.range(0.06, 0.25) * S;
      const slope = rng.range(0.05, 0.16);
      const amp = (slope * cell) / S / 2;
      const bumps = new ValueNoise(rng, cell, cell, s.width, s.height);
      const fine = new ValueNoise(rng, cell / 2, cell / 2, s.width, s.height);
      const d = patch(s, occupied, rng, sampler, [0.5, 2.5], 'orange_peel', (i, w, x, y) => {
        s.hp[i] += amp * w * (bumps.at(x, y) + 0.4 * fine.at(x, y));
      });
      if (d) out.push(d);
    }
  }
  return out;
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;
