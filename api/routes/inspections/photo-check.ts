import sharp, { type Metadata } from 'sharp';
import type { PhotoType } from '../../../core/config.schema.js';
import { BadRequestError, PayloadTooLargeError, UnprocessableError, UnsupportedMediaTypeError } from '../../../core/errors.js';

/**
 * Upload checks, cheapest first, all before a photo is accepted into the store: the magic bytes (the declared
 * Content-Type and file name prove nothing), the dimensions in the header (a 50 000 × 50 000 PNG of a few KB must be
 * refused before any pixel buffer exists), then a reduced decode that reads the whole file (a truncated JPEG has a
 * perfect header). The decode uses JPEG shrink-on-load, so a 12 MP photo costs a fraction of a full decode, and it
 * runs on libvips' threads, not on the event loop.
 */

/** Enough leading bytes to recognise every accepted format. */
export const SNIFF_BYTES = 16;

export function sniffPhotoType(head: Uint8Array): PhotoType | null {
  const b = (i: number) => head[i];
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47 && b(4) === 0x0d && b(5) === 0x0a && b(6) === 0x1a && b(7) === 0x0a) return 'png';
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a && b(3) === 0x00) || (b(0) === 0x4d && b(1) === 0x4d && b(2) === 0x00 && b(3) === 0x2a)) return 'tiff';
  if (b(0) === 0x52 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x46 && b(8) === 0x57 && b(9) === 0x45 && b(10) === 0x42 && b(11) === 0x50) return 'webp';
  return null;
}

export function checkSniffedType(head: Uint8Array, allowed: readonly PhotoType[], fileLabel: string): PhotoType {
  const type = sniffPhotoType(head);
  if (!type) {
    throw new UnsupportedMediaTypeError(
      `${fileLabel} is not an image: its first bytes match none of the accepted formats (${allowed.join(', ')})`,
      'not_an_image',
    );
  }
  if (!allowed.includes(type)) {
    throw new UnsupportedMediaTypeError(`${fileLabel} is ${type}; accepted formats are ${allowed.join(', ')} (ALLOWED_PHOTO_TYPES)`, 'photo_type_not_allowed');
  }
  return type;
}

export interface PhotoHeaderInfo {
  width: number;
  height: number;
}

export async function checkPhotoFile(file: string, type: PhotoType, maxPixels: number, fileLabel: string): Promise<PhotoHeaderInfo> {
  let meta: Metadata;
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new UnprocessableError(`${fileLabel}: the ${type} header cannot be read (${firstLine(err)})`, 'corrupt_image');
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new UnprocessableError(`${fileLabel}: the image header has no dimensions`, 'corrupt_image');
  if (width * height > maxPixels) {
    throw new PayloadTooLargeError(
      `${fileLabel} declares ${width}×${height} = ${width * height} pixels, above the limit of ${maxPixels} (MAX_PHOTO_PIXELS); ` +
        'refused before decoding',
      'too_many_pixels',
      { width, height, limit: maxPixels },
    );
  }
  try {
    await sharp(file, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true })
      .resize(256, 256, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new UnprocessableError(`${fileLabel}: the ${type} data is truncated or corrupt (${firstLine(err)})`, 'corrupt_image');
  }
  return { width, height };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
}

/**
 * Client file names are kept only as a label (storage is by hash), but one that tries to climb directories is a
 * sign of a broken or hostile client and is refused rather than silently cleaned.
 */
export function checkFileName(name: string | undefined): string | null {
  if (name === undefined || name === '') return null;
  if (name.length > 255) throw new BadRequestError('a photo file name is longer than 255 characters', 'bad_file_name');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new BadRequestError('a photo file name contains control characters', 'bad_file_name');
  if (/[\\/]/.test(name) || name.split(/[\\/]/).some((seg) => seg === '..') || name === '.' || name === '..') {
    throw new BadRequestError(
      `photo file name ${JSON.stringify(name)} contains a path; send the bare file name (e.g. "top.jpg")`,
      'bad_file_name',
    );
  }
  return name;
}
