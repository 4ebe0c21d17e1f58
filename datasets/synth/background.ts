import { blurDownsampled } from './blur.js';
import type { Lighting } from './lighting.js';
import { ValueNoise, fbmField } from './noise.js';
import type { Background } from './options.schema.js';
import type { Rng } from './rng.js';
import type { Surface } from './surface.js';

/** Fills linear RGB with the backdrop the piece lies on, then darkens it with the piece's soft shadow. */
export function paintBackground(kind: Background, s: Surface, light: Lighting, rng: Rng): { rgb: Float32Array; params: Record<string, number | string> } {
  const { width: W, height: H, pxPerMm: S } = s;
  const rgb = new Float32Array(W * H * 3);
  let base: [number, number, number];
  let texAmp: number;
  let texCellMm: number;
  switch (kind) {
    case 'paper':
      base = grey(rng.range(0.55, 0.85), [1.02, 1.0, 0.94], rng);
      texAmp = rng.range(0.02, 0.06);
      texCellMm = rng.range(0.05, 0.2);
      break;
    case 'grey_card':
      base = grey(rng.range(0.12, 0.3), [1, 1, 1], rng);
      texAmp = rng.range(0.01, 0.03);
      texCellMm = rng.range(0.3, 1.5);
      break;
    case 'velvet':
      base = rng.chance(0.7) ? grey(rng.range(0.008, 0.03), [1, 1, 1], rng) : tinted(rng, rng.range(0.01, 0.04));
      texAmp = rng.range(0.15, 0.4);
      texCellMm = rng.range(0.03, 0.08);
      break;
    case 'lightbox':
      base = grey(rng.range(0.7, 1.0), [1, 1, 1.02], rng);
      texAmp = rng.range(0.0, 0.01);
      texCellMm = 2;
      break;
    case 'tinted_card':
      base = tinted(rng, rng.range(0.08, 0.35));
      texAmp = rng.range(0.01, 0.04);
      texCellMm = rng.range(0.1, 1);
      break;
  }
  // Texture finer than a pixel is averaged away by the lens anyway: start the octaves at 1.5 px at least.
  const grainCell = Math.max(1.5, texCellMm * S);
  const grain = fbmField(rng, W, H, grainCell, grainCell > 12 ? 3 : 2);
  // A broad gradient: light falls off across the table, stronger on a light box.
  const gAng = rng.range(-Math.PI, Math.PI);
  const gAmp = kind === 'lightbox' ? rng.range(0.1, 0.45) : rng.range(0.0, 0.3);
  const gx = Math.cos(gAng) / W;
  const gy = Math.sin(gAng) / H;
  const blotch = new ValueNoise(rng, W / 3, H / 3, W, H);
  const blotchAmp = rng.range(0, 0.12);
  for (let y = 0, i = 0; y < H; y++) {
    for (let x = 0; x < W; x++, i++) {
      const grad = 1 + gAmp * ((x - W / 2) * gx + (y - H / 2) * gy) * 2;
      const t = grad * (1 + texAmp * grain[i]) * (1 + blotchAmp * blotch.at(x, y));
      rgb[3 * i] = base[0] * t;
      rgb[3 * i + 1] = base[1] * t;
      rgb[3 * i + 2] = base[2] * t;
    }
  }
  // Soft shadow: the silhouette, shifted away from the key light and blurred by the light's size.
  const [lx, ly, lz] = light.key.dir;
  const horiz = Math.hypot(lx, ly) || 1;
  const offPx = light.shadowOffsetMm * S * Math.min(2, horiz / Math.max(0.2, lz));
  const ox = Math.round((-lx / horiz) * offPx);
  const oy = Math.round((-ly / horiz) * offPx);
  const shifted = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = y - oy;
    if (sy < 0 || sy >= H) continue;
    for (let x = 0; x < W; x++) {
      const sx = x - ox;
      if (sx < 0 || sx >= W) continue;
      shifted[y * W + x] = s.cov[sy * W + sx];
    }
  }
  const shadowSigma = Math.max(1, light.shadowSoftMm * S * 0.5);
  const shadow = blurDownsampled(shifted, W, H, shadowSigma, Math.max(1, Math.floor(shadowSigma / 4)));
  const contactSigma = Math.max(1, 0.15 * S);
  const contact = blurDownsampled(s.cov, W, H, contactSigma, Math.max(1, Math.floor(contactSigma / 4)));
  for (let i = 0; i < W * H; i++) {
    const k = 1 - light.shadowStrength * Math.min(1, shadow[i]) - 0.25 * light.shadowStrength * Math.min(1, contact[i]);
    rgb[3 * i] *= k;
    rgb[3 * i + 1] *= k;
    rgb[3 * i + 2] *= k;
  }
  return {
    rgb,
    params: {
      type: kind,
      level: round3((base[0] + base[1] + base[2]) / 3),
      texture: round3(texAmp),
      gradient: round3(gAmp),
      shadowStrength: round3(light.shadowStrength),
    },
  };
}

function grey(level: number, tint: [number, number, number], rng: Rng): [number, number, number] {
  const j = () => 1 + rng.range(-0.03, 0.03);
  return [level * tint[0] * j(), level * tint[1] * j(), level * tint[2] * j()];
}

function tinted(rng: Rng, level: number): [number, number, number] {
  const hues: Array<[number, number, number]> = [
    [0.35, 0.5, 0.9],
    [0.4, 0.75, 0.5],
    [0.9, 0.5, 0.45],
    [0.6, 0.45, 0.8],
    [0.85, 0.8, 0.55],
  ];
  const h = rng.pick(hues);
  return [h[0] * level * 1.5, h[1] * level * 1.5, h[2] * level * 1.5];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
