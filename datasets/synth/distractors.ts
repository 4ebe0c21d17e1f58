import type { Rng } from './rng.js';

/**
 * Dust specks and lint fibres lying on the piece and the backdrop. Not defects: they sit on top of the scene (lit
 * like a diffuse grey object, not shaded as a cavity), and teach detectors that a small dot is not always a pore.
 */
export function sprinkleDust(rgb: Float32Array, width: number, height: number, pxPerMm: number, rng: Rng): { specks: number; fibres: number } {
  const specks = rng.chance(0.6) ? rng.int(1, 14) : 0;
  const fibres = rng.chance(0.3) ? rng.int(1, 3) : 0;
  for (let k = 0; k < specks; k++) {
    const x = rng.range(0, width);
    const y = rng.range(0, height);
    const r = Math.max(0.6, rng.logRange(0.01, 0.06) * pxPerMm);
    const level = rng.chance(0.75) ? rng.range(0.35, 0.9) : rng.range(0.02, 0.1);
    const alpha = rng.range(0.4, 0.95);
    const el = rng.range(1, 2.2);
    const ang = rng.range(0, Math.PI);
    blob(rgb, width, height, x, y, r, el, ang, level, alpha);
  }
  for (let k = 0; k < fibres; k++) {
    let x = rng.range(0, width);
    let y = rng.range(0, height);
    let a = rng.range(0, 2 * Math.PI);
    const len = rng.range(0.3, 3) * pxPerMm;
    const r = Math.max(0.5, rng.range(0.004, 0.012) * pxPerMm);
    const level = rng.range(0.3, 0.8);
    const alpha = rng.range(0.25, 0.6);
    for (let t = 0; t < len; t += 0.5) {
      a += rng.range(-0.06, 0.06);
      x += 0.5 * Math.cos(a);
      y += 0.5 * Math.sin(a);
      blob(rgb, width, height, x, y, r, 1, 0, level, alpha * 0.5);
    }
  }
  return { specks, fibres };
}

function blob(rgb: Float32Array, w: number, h: number, cx: number, cy: number, r: number, el: number, ang: number, level: number, alpha: number): void {
  const R = Math.ceil(r * el + 1.5);
  const ca = Math.cos(ang);
  const sa = Math.sin(ang);
  for (let y = Math.max(0, Math.floor(cy - R)); y <= Math.min(h - 1, Math.ceil(cy + R)); y++) {
    for (let x = Math.max(0, Math.floor(cx - R)); x <= Math.min(w - 1, Math.ceil(cx + R)); x++) {
      const dx = x - cx;
      const dy = y - cy;
      const a = (dx * ca + dy * sa) / el;
      const b = -dx * sa + dy * ca;
      const d = Math.hypot(a, b);
      const c = Math.max(0, Math.min(1, r + 0.5 - d)) * alpha;
      if (c <= 0) continue;
      const o = 3 * (y * w + x);
      rgb[o] = rgb[o] * (1 - c) + c * level;
      rgb[o + 1] = rgb[o + 1] * (1 - c) + c * level;
      rgb[o + 2] = rgb[o + 2] * (1 - c) + c * level * 0.97;
    }
  }
}
