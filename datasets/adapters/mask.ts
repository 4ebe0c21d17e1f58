import sharp from 'sharp';

/**
 * The magnetic-tile masks are anti-aliased (values 1..254 along the outline); half intensity keeps the area the
 * annotator drew, which is what a 0/255 manifest mask has to carry.
 */
export const MASK_THRESHOLD = 128;

export interface BinaryMask {
  width: number;
  height: number;
  /** One byte per pixel, 0 or 255. */
  pixels: Uint8Array;
}

/** Reads any mask image's first channel and thresholds it to 0/255. */
export async function readBinaryMask(path: string, threshold = MASK_THRESHOLD): Promise<BinaryMask> {
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const pixels = new Uint8Array(info.width * info.height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = data[i] >= threshold ? 255 : 0;
  return { width: info.width, height: info.height, pixels };
}

/** The manifest's mask format: 8-bit single-channel PNG, 255 on defect pixels. */
export async function encodeMaskPng(mask: BinaryMask): Promise<Buffer> {
  return sharp(Buffer.from(mask.pixels.buffer, mask.pixels.byteOffset, mask.pixels.byteLength), {
    raw: { width: mask.width, height: mask.height, channels: 1 },
  })
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toBuffer();
}
