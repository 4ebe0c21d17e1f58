import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../core/config.schema.js';
import { loadManifest } from '../datasets/manifest-io.js';
import type { WarmUpPhoto } from '../pipeline/warm-up-pipeline.js';

/** The committed synthetic samples, shipped in the image beside the code (`pipeline/warm-up-pipeline.ts` on why these). */
export const WARM_UP_SAMPLES_DIR = join(PROJECT_ROOT, 'datasets', 'samples');
const WARM_UP_PHOTOS = 3;
/**
 * One more: the first sample enlarged to this width and declared coarser than any working scale, so the pipeline runs
 * it at full size (two seg tiles, 4.4 MP planes). A process's first photo that large paid for growing its memory:
 * 5.3 s against 1.3 s the third time for a low-contrast 12 MP photo the piece mask could not crop (session 18).
 */
const LARGE_WIDTH = 2560;
const LARGE_MM_PER_PX = 0.02;

/** The first committed samples and one enlarged, or none when the folder is missing: the worker then starts cold. */
export async function warmUpPhotos(dir = WARM_UP_SAMPLES_DIR, count = WARM_UP_PHOTOS): Promise<WarmUpPhoto[]> {
  let entries;
  try {
    entries = await loadManifest(dir);
  } catch {
    return [];
  }
  const scaled = entries.flatMap((e) => (e.mmPerPx === null ? [] : [{ file: e.file, mmPerPx: e.mmPerPx }]));
  const photos = await Promise.all(scaled.slice(0, count).map(async (e) => ({ bytes: await readFile(join(dir, e.file)), mmPerPx: e.mmPerPx })));
  if (photos.length === 0) return photos;
  const large = await sharp(photos[0]!.bytes).resize({ width: LARGE_WIDTH }).jpeg({ quality: 90 }).toBuffer();
  return [...photos, { bytes: large, mmPerPx: LARGE_MM_PER_PX }];
}
