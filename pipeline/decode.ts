import { createHash } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { PipelineError } from './errors.js';
import type { DecodeLimits } from './profile.schema.js';

/** What the header says, after EXIF orientation (a portrait phone photo is reported portrait). */
export interface PhotoHeader {
  format: string;
  width: number;
  height: number;
}

/** A photo decoded once into packed 8-bit RGB, possibly downsampled on the way (see `decodePhoto`). */
export interface DecodedRgb {
  data: Buffer;
  width: number;
  height: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function toPipelineError(error: unknown, limits: DecodeLimits): PipelineError {
  const message = error instanceof Error ? error.message : String(error);
  if (/exceeds pixel limit/i.test(message)) {
    return new PipelineError('image_too_large', `image declares more than ${limits.maxInputPixels} pixels`, {
      limit: limits.maxInputPixels,
    });
  }
  if (/unsupported image format|buffer is empty|input file is missing/i.test(message)) {
    return new PipelineError('unsupported_image', 'not a supported image (JPEG, PNG, WebP, TIFF, HEIF, GIF)', undefined, {
      cause: error,
    });
  }
  if (/timeout/i.test(message)) {
    return new PipelineError('decode_timeout', `decoding took longer than ${limits.timeoutSeconds} s`, undefined, {
      cause: error,
    });
  }
  // libvips' own wording ("premature end of JPEG image", "IDAT: CRC error") is useful to the uploader and leaks nothing.
  return new PipelineError('corrupt_image', `image data is corrupt: ${message.split('\n')[0]}`, undefined, { cause: error });
}

function open(bytes: Uint8Array, limits: DecodeLimits) {
  // failOn 'error' refuses truncated and broken pixel data but tolerates libjpeg's warnings, which many cameras
  // trigger (extraneous bytes after EOI) on photos that decode perfectly well.
  return sharp(bytes, { limitInputPixels: limits.maxInputPixels, failOn: 'error' }).timeout({
    seconds: limits.timeoutSeconds,
  });
}

/**
 * Reads only the header: format and oriented size. Refuses decompression bombs (a 50 000 x 50 000 PNG) and
 * too-small photos here, before any pixel buffer exists.
 */
export async function probePhoto(bytes: Uint8Array, limits: DecodeLimits): Promise<PhotoHeader> {
  if (bytes.length === 0) throw new PipelineError('unsupported_image', 'empty body: no image bytes');
  let meta: Metadata;
  try {
    meta = await open(bytes, limits).metadata();
  } catch (error) {
    throw toPipelineError(error, limits);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!meta.format || !width || !height) throw new PipelineError('unsupported_image', 'image header has no dimensions');
  if (width * height > limits.maxInputPixels) {
    throw new PipelineError('image_too_large', `image is ${width}x${height}, above ${limits.maxInputPixels} pixels`, {
      width,
      height,
      limit: limits.maxInputPixels,
    });
  }
  if (Math.min(width, height) < limits.minInputSide) {
    throw new PipelineError('image_too_small', `image is ${width}x${height}; each side must be at least ${limits.minInputSide} px`, {
      width,
      height,
      limit: limits.minInputSide,
    });
  }
  return { format: meta.format, width, height };
}

/**
 * Decodes once to packed sRGB (EXIF-rotated, alpha dropped, 8 bit). With `size`, the resample to that size happens
 * inside the same libvips pipeline, so JPEGs use shrink-on-load and a 12 MP photo is never materialised at full size.
 */
export async function decodePhoto(
  bytes: Uint8Array,
  limits: DecodeLimits,
  size?: { width: number; height: number },
): Promise<DecodedRgb> {
  let pipeline = open(bytes, limits).rotate().toColourspace('srgb').removeAlpha();
  if (size) pipeline = pipeline.resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' });
  try {
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after sRGB conversion, got ${info.channels}`);
    return { data, width: info.width, height: info.height };
  } catch (error) {
    throw toPipelineError(error, limits);
  }
}
