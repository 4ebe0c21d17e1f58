import type { Metal } from '../manifest.schema.js';
import { GLYPH_H, textCoverage } from './font5x7.js';
import type { Rng } from './rng.js';
import { isFreeMetal, type Surface } from './surface.js';

const STAMPS: Record<Metal, string[]> = {
  au750_yellow: ['750', 'AU750', '18K', 'G750'],
  au750_rose: ['750', 'AU750', '18K', 'RG750'],
  au750_white: ['750', 'AU750', '18KW', 'WG750'],
  ag925: ['925', 'S925', 'STER', 'AG925'],
  pt950: ['PT950', '950', 'PLAT', 'PT'],
};

/**
 * A hallmark stamped into the metal: recessed, slightly darker letters. It is normal (never labelled) and a classic
 * false-positive trap for pore and scratch detectors, which is why clean images carry it as often as defective ones.
 */
export function stampHallmark(s: Surface, metal: Metal, rng: Rng): Record<string, number | string> | null {
  const text = rng.pick(STAMPS[metal]) + (rng.chance(0.3) ? ' ' + rng.pick(['AB', 'LM', 'JX', 'RC', 'KT']) : '');
  const S = s.pxPerMm;
  const heightMm = rng.range(0.25, 0.7);
  const cellPx = (heightMm * S) / GLYPH_H;
  if (cellPx < 1.1) return null;
  const wPx = text.length * 6 * cellPx;
  const hPx = GLYPH_H * cellPx;
  const ang = rng.range(-Math.PI, Math.PI);
  const ca = Math.cos(ang);
  const sa = Math.sin(ang);
  const depth = rng.range(0.004, 0.02);
  const dark = rng.range(0.1, 0.45);
  for (let tries = 0; tries < 40; tries++) {
    const cx = rng.range(0.05, 0.95) * s.width;
    const cy = rng.range(0.05, 0.95) * s.height;
    // All four corners and the centre must sit on free metal.
    let ok = true;
    for (const [a, b] of [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5], [0, 0]] as const) {
      const x = Math.round(cx + a * wPx * ca - b * hPx * sa);
      const y = Math.round(cy + a * wPx * sa + b * hPx * ca);
      if (x < 0 || y < 0 || x >= s.width || y >= s.height || !isFreeMetal(s, y * s.width + x)) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const R = Math.hypot(wPx, hPx) / 2 + 2;
    for (let y = Math.max(0, Math.floor(cy - R)); y <= Math.min(s.height - 1, Math.ceil(cy + R)); y++) {
      for (let x = Math.max(0, Math.floor(cx - R)); x <= Math.min(s.width - 1, Math.ceil(cx + R)); x++) {
        const dx = x - cx;
        const dy = y - cy;
        const u = (dx * ca + dy * sa + wPx / 2) / cellPx;
        const v = (-dx * sa + dy * ca + hPx / 2) / cellPx;
        const i = y * s.width + x;
        if (u < -1 || v < -1 || u > text.length * 6 + 1 || v > GLYPH_H + 1) continue;
        s.protect[i] = 1;
        if (s.mat[i] !== 1) continue;
        const c = textCoverage(text, u, v);
        if (c <= 0) continue;
        s.hp[i] -= depth * c;
        s.gain[i] *= 1 - dark * c;
      }
    }
    return { text, heightMm: Math.round(heightMm * 1000) / 1000 };
  }
  return null;
}
