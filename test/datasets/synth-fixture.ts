import sharp from 'sharp';
import { renderSample, type RenderedSample } from '../../datasets/synth/render-sample.js';
import { COVER_PLAN_LENGTH } from '../../datasets/synth/plan.js';

/** Seed of the committed samples; tests render the same cover plan smaller to stay fast. */
export const TEST_SEED = 424242;
export const TEST_SIZE = 640;

export interface Decoded {
  sample: RenderedSample;
  /** Luminance of the decoded JPEG, 0..255. */
  lum: Float32Array;
  masks: Record<string, Uint8Array>;
}

let cover: Promise<Decoded[]> | null = null;

/** The cover plan (every kind, clean pieces) rendered once per test file. */
export function coverSet(): Promise<Decoded[]> {
  cover ??= (async () => {
    const out: Decoded[] = [];
    for (let index = 0; index < COVER_PLAN_LENGTH; index++) out.push(await decode(await renderSample({ seed: TEST_SEED, index, size: TEST_SIZE, coverKinds: true })));
    return out;
  })();
  return cover;
}

export async function decode(sample: RenderedSample): Promise<Decoded> {
  const { data, info } = await sharp(sample.jpeg).raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const lum = new Float32Array(n);
  for (let i = 0; i < n; i++) lum[i] = 0.299 * data[3 * i] + 0.587 * data[3 * i + 1] + 0.114 * data[3 * i + 2];
  const masks: Record<string, Uint8Array> = {};
  for (const [name, png] of Object.entries(sample.masks)) {
    const meta = await sharp(png).metadata();
    if (meta.channels !== 1 || meta.width !== info.width || meta.height !== info.height) throw new Error(`mask ${name} is not a single-channel image-sized PNG`);
    const m = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    masks[name] = new Uint8Array(m.data);
  }
  return { sample, lum, masks };
}

/** Pixels of the box [x0,y0,x1,y1) grown by `pad` whose mask value is 0 and that are at least `gap` px from any mask pixel. */
export function ringAround(mask: Uint8Array, width: number, height: number, bbox: readonly number[], gap: number, pad: number): number[] {
  const [x0, y0, x1, y1] = bbox;
  const out: number[] = [];
  for (let y = Math.max(0, y0 - pad); y < Math.min(height, y1 + pad); y++) {
    for (let x = Math.max(0, x0 - pad); x < Math.min(width, x1 + pad); x++) {
      let near = false;
      for (let dy = -gap; dy <= gap && !near; dy++) {
        for (let dx = -gap; dx <= gap && !near; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < width && yy < height && mask[yy * width + xx]) near = true;
        }
      }
      if (!near) out.push(y * width + x);
    }
  }
  return out;
}

export function maskPixelsIn(mask: Uint8Array, width: number, bbox: readonly number[]): number[] {
  const [x0, y0, x1, y1] = bbox;
  const out: number[] = [];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (mask[y * width + x]) out.push(y * width + x);
  return out;
}

export const mean = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
};
