import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePhoto, probePhoto } from '../../pipeline/decode.js';
import { PipelineError } from '../../pipeline/errors.js';
import { ringProfile } from './helpers.js';

const limits = ringProfile().decode;

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid-looking PNG declaring 50 000 x 50 000 RGB pixels, with a few hundred bytes of data: a bomb. */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(50_001))), chunk('IEND', Buffer.alloc(0))]);
}

async function decodeError(bytes: Uint8Array): Promise<PipelineError> {
  try {
    await probePhoto(bytes, limits);
    await decodePhoto(bytes, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(PipelineError);
    return error as PipelineError;
  }
  throw new Error('expected a typed decode error');
}

describe('decoding hostile input', () => {
  it('refuses a 50 000 x 50 000 PNG header with 413 from the header alone', async () => {
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    const error = await decodeError(bombPng());
    expect(error.code).toBe('image_too_large');
    expect(error.httpStatus).toBe(413);
    expect(performance.now() - t0).toBeLessThan(500);
    // 7.5 GB would be needed to decode it; nothing near that was allocated.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('rejects a truncated JPEG as corrupt (422)', async () => {
    const rgb = Buffer.alloc(400 * 300 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7919) % 251;
    const jpeg = await sharp(rgb, { raw: { width: 400, height: 300, channels: 3 } }).jpeg().toBuffer();
    const error = await decodeError(jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    expect(error.code).toBe('corrupt_image');
    expect(error.httpStatus).toBe(422);
  });

  it('rejects non-image bytes and an empty body as unsupported (415)', async () => {
    for (const bytes of [Buffer.from('%PDF-1.7 this is not a photo'), Buffer.alloc(0), Buffer.from([0xff, 0xd8, 0xff])]) {
      const error = await decodeError(bytes);
      expect(['unsupported_image', 'corrupt_image']).toContain(error.code);
      expect([415, 422]).toContain(error.httpStatus);
    }
    expect((await decodeError(Buffer.from('GIF? no, plain text'))).code).toBe('unsupported_image');
  });

  it('rejects a 1 x 1 image as too small (422)', async () => {
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer();
    const error = await decodeError(png);
    expect(error.code).toBe('image_too_small');
    expect(error.httpStatus).toBe(422);
  });

  it('applies EXIF orientation and drops alpha', async () => {
    const rgba = await sharp({ create: { width: 60, height: 40, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const rotated = await sharp(rgba).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const header = await probePhoto(rotated, limits);
    expect([header.width, header.height]).toEqual([40, 60]);
    const decoded = await decodePhoto(rotated, limits);
    expect([decoded.width, decoded.height, decoded.data.length]).toEqual([40, 60, 40 * 60 * 3]);
    const half = await decodePhoto(rgba, limits, { width: 30, height: 20 });
    expect([half.width, half.height, half.data.length]).toEqual([30, 20, 30 * 20 * 3]);
  });
});
