import sharp from 'sharp';

/**
 * Small generated photos for pipeline tests: a grey backdrop, a gold-coloured "band" with a little texture, and
 * optional dark pores (discs), bright stones (discs) and bright scratches (lines), all antialiased by supersampling
 * so that measured sizes can be compared with drawn ones.
 */

export interface Disc {
  cx: number;
  cy: number;
  r: number;
}

export interface PhotoSpec {
  width: number;
  height: number;
  pores?: Disc[];
  stones?: Disc[];
  /** Gaussian blur sigma in px applied to the whole photo. */
  blur?: number;
  /** Overall brightness multiplier (0 gives a black photo). */
  gain?: number;
  seed?: number;
}

const BACKDROP = [92, 92, 96];
const METAL = [222, 192, 124];
const PORE = [38, 34, 30];
const STONE = [252, 252, 252];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fraction of pixel (x, y) covered by the disc, 4x4 supersampled. */
function coverage(x: number, y: number, d: Disc): number {
  let hit = 0;
  for (let sy = 0; sy < 4; sy++) {
    for (let sx = 0; sx < 4; sx++) {
      const px = x - 0.5 + (sx + 0.5) / 4;
      const py = y - 0.5 + (sy + 0.5) / 4;
      if ((px - d.cx) ** 2 + (py - d.cy) ** 2 <= d.r * d.r) hit++;
    }
  }
  return hit / 16;
}

/** The band: the middle of the frame, leaving a backdrop border all round. */
export function bandRect(width: number, height: number) {
  return { x0: Math.round(width * 0.08), x1: Math.round(width * 0.92), y0: Math.round(height * 0.25), y1: Math.round(height * 0.75) };
}

export function renderRgb(spec: PhotoSpec): Buffer {
  const { width, height } = spec;
  const rand = mulberry32(spec.seed ?? 1);
  const band = bandRect(width, height);
  const out = Buffer.alloc(width * height * 3);
  const gain = spec.gain ?? 1;
  const paint = (i: number, colour: number[], alpha: number) => {
    for (let c = 0; c < 3; c++) out[i + c] = Math.round(out[i + c]! * (1 - alpha) + colour[c]! * alpha);
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inBand = x >= band.x0 && x < band.x1 && y >= band.y0 && y < band.y1;
      const base = inBand ? METAL : BACKDROP;
      const shade = inBand ? 1 - 0.06 * Math.abs((y - (band.y0 + band.y1) / 2) / ((band.y1 - band.y0) / 2)) : 1;
      const noise = (rand() - 0.5) * 6;
      for (let c = 0; c < 3; c++) out[i + c] = Math.max(0, Math.min(255, Math.round(base[c]! * shade + noise)));
    }
  }
  for (const [discs, colour] of [
    [spec.pores ?? [], PORE],
    [spec.stones ?? [], STONE],
  ] as const) {
    for (const d of discs) {
      for (let y = Math.max(0, Math.floor(d.cy - d.r - 1)); y <= Math.min(height - 1, Math.ceil(d.cy + d.r + 1)); y++) {
        for (let x = Math.max(0, Math.floor(d.cx - d.r - 1)); x <= Math.min(width - 1, Math.ceil(d.cx + d.r + 1)); x++) {
          const a = coverage(x, y, d);
          if (a > 0) paint((y * width + x) * 3, colour as number[], a);
        }
      }
    }
  }
  if (gain !== 1) for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.round(out[i]! * gain));
  return out;
}

export async function renderPhoto(spec: PhotoSpec, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  let img = sharp(renderRgb(spec), { raw: { width: spec.width, height: spec.height, channels: 3 } });
  if (spec.blur) img = img.blur(spec.blur);
  return format === 'png' ? img.png({ compressionLevel: 1 }).toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}
