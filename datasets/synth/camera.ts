import sharp from 'sharp';
import type { Rng } from './rng.js';

export interface Camera {
  exposure: number;
  whiteBalance: [number, number, number];
  vignette: number;
  blurPx: number;
  /** Depth of field across a tilted piece: extra blur growing along one direction. */
  focusFalloff: { blurPx: number; angle: number } | null;
  readNoise: number;
  shotNoise: number;
  jpegQuality: number;
  chromaSubsampling: '4:2:0' | '4:4:4';
}

/** Blur scales with the long side so a --size 4000 photo has the same optics as a 1024 one, only finer pixels. */
export function drawCamera(rng: Rng, size: number): Camera {
  const k = size / 1024;
  const temp = rng.range(-0.14, 0.14);
  const tint = rng.range(-0.04, 0.04);
  return {
    exposure: Math.pow(2, rng.range(-0.7, 0.6)),
    whiteBalance: [1 + temp, 1 + tint, 1 - temp],
    vignette: rng.range(0, 0.4),
    blurPx: rng.range(0.3, 1.5) * k,
    focusFalloff: rng.chance(0.3) ? { blurPx: rng.range(1, 3) * k, angle: rng.range(0, 2 * Math.PI) } : null,
    readNoise: rng.logRange(0.002, 0.02),
    shotNoise: rng.logRange(0.0003, 0.006),
    jpegQuality: rng.int(70, 96),
    chromaSubsampling: rng.chance(0.75) ? '4:2:0' : '4:4:4',
  };
}

/** A gentle shoulder instead of hard clipping, as camera picture profiles do with bright highlights. */
function tone(x: number): number {
  if (x <= 0) return 0;
  if (x > 0.8) x = 0.8 + 0.2 * (1 - Math.exp(-(x - 0.8) / 0.2));
  return x <= 0.0031308 ? 12.92 * x : 1.055 * Math.pow(x, 1 / 2.4) - 0.055;
}

const LUT_SIZE = 8192;
const LUT_MAX = 2;
const LUT = (() => {
  const t = new Uint8Array(LUT_SIZE + 1);
  for (let k = 0; k <= LUT_SIZE; k++) t[k] = Math.max(0, Math.min(255, Math.round(255 * tone((k / LUT_SIZE) * LUT_MAX))));
  return t;
})();

/**
 * Linear interleaved RGB of the scene → 8-bit sRGB as the camera would write it (before JPEG): exposure, white
 * balance and vignetting in linear light, the tone curve, then lens blur (libvips, much faster than JS here) and
 * sensor noise whose strength follows the linear signal level (shot + read noise), mapped into sRGB steps.
 */
export async function develop(rgb: Float32Array, width: number, height: number, cam: Camera, rng: Rng): Promise<Uint8Array> {
  const n = width * height;
  const toned = new Uint8Array(n * 3);
  const cx = width / 2;
  const cy = height / 2;
  const r2max = cx * cx + cy * cy;
  const scale = LUT_SIZE / LUT_MAX;
  const gR = cam.exposure * cam.whiteBalance[0] * scale;
  const gG = cam.exposure * cam.whiteBalance[1] * scale;
  const gB = cam.exposure * cam.whiteBalance[2] * scale;
  for (let y = 0, i = 0; y < height; y++) {
    const dy2 = (y - cy) * (y - cy);
    for (let x = 0; x < width; x++, i++) {
      const v = 1 - cam.vignette * (((x - cx) * (x - cx) + dy2) / r2max);
      const o = 3 * i;
      toned[o] = LUT[lutIndex(rgb[o] * gR * v)];
      toned[o + 1] = LUT[lutIndex(rgb[o + 1] * gG * v)];
      toned[o + 2] = LUT[lutIndex(rgb[o + 2] * gB * v)];
    }
  }
  const raw = { raw: { width, height, channels: 3 as const } };
  let blurred = new Uint8Array(await sharp(Buffer.from(toned.buffer), raw).blur(Math.max(0.3, cam.blurPx)).raw().toBuffer());
  if (cam.focusFalloff) {
    const ff = cam.focusFalloff;
    const extra = await sharp(Buffer.from(blurred.buffer, blurred.byteOffset, blurred.length), raw).blur(ff.blurPx).raw().toBuffer();
    const ca = Math.cos(ff.angle);
    const sa = Math.sin(ff.angle);
    const half = (Math.abs(ca) * width + Math.abs(sa) * height) / 2;
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const t = Math.max(0, ((x - cx) * ca + (y - cy) * sa) / half);
        if (t <= 0) continue;
        const o = 3 * i;
        for (let c = 0; c < 3; c++) blurred[o + c] = Math.round(blurred[o + c] * (1 - t) + extra[o + c] * t);
      }
    }
  }
  const sd = noiseSdPerLevel(cam);
  const out = new Uint8Array(n * 3);
  for (let k = 0; k < n * 3; k++) {
    const v = blurred[k];
    const val = v + sd[v] * rng.fastNormal();
    out[k] = val <= 0 ? 0 : val >= 255 ? 255 : Math.round(val);
  }
  return out;
}

function lutIndex(x: number): number {
  return x <= 0 ? 0 : x >= LUT_SIZE ? LUT_SIZE : Math.round(x);
}

/** Noise standard deviation in 8-bit sRGB steps at each output level: linear sd times the tone curve's slope. */
function noiseSdPerLevel(cam: Camera): Float32Array {
  const sd = new Float32Array(256);
  let k = 0;
  for (let level = 0; level < 256; level++) {
    while (k < LUT_SIZE && LUT[k] < level) k++;
    const lin = (k / LUT_SIZE) * LUT_MAX;
    const sdLin = Math.sqrt(cam.readNoise * cam.readNoise + cam.shotNoise * lin);
    const h = 1e-3;
    const slope = (255 * (tone(lin + h) - tone(Math.max(0, lin - h)))) / (lin + h - Math.max(0, lin - h));
    sd[level] = Math.min(40, sdLin * slope);
  }
  return sd;
}
