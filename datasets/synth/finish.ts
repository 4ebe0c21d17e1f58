import { ValueNoise } from './noise.js';
import type { Rng } from './rng.js';
import type { Surface } from './surface.js';

/**
 * The brushed finish's fine parallel lines, as a height texture: long along the brush direction, about a pixel or a
 * hundredth of a millimetre across. Normal texture, never labelled; its anisotropic highlight is in the shader.
 */
export function brushTexture(s: Surface, rng: Rng): { lineMm: number; slope: number } {
  const S = s.pxPerMm;
  const acrossPx = Math.max(0.8, rng.range(0.006, 0.02) * S);
  const alongPx = acrossPx * rng.range(25, 120);
  const slope = rng.range(0.04, 0.14);
  const amp = (slope * acrossPx) / S;
  const span = Math.hypot(s.width, s.height) + 4;
  const lines = new ValueNoise(rng, alongPx, acrossPx, span, span);
  const streaks = new ValueNoise(rng, alongPx * 4, acrossPx * 6, span, span);
  for (let y = 0; y < s.height; y++) {
    for (let x = 0; x < s.width; x++) {
      const i = y * s.width + x;
      const w = s.brush[i];
      if (w <= 0) continue;
      const ca = Math.cos(s.brushAng[i]);
      const sa = Math.sin(s.brushAng[i]);
      const a = x * ca + y * sa + span / 2;
      const b = -x * sa + y * ca + span / 2;
      s.hp[i] += w * amp * (lines.at(a, b) * (0.6 + 0.4 * streaks.at(a, b)));
    }
  }
  return { lineMm: Math.round((acrossPx / S) * 10000) / 10000, slope: Math.round(slope * 1000) / 1000 };
}
