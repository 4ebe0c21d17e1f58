import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../core/config.schema.js';
import { loadManifest } from '../datasets/manifest-io.js';
import type { WarmUpPhoto } from '../pipeline/warm-up-pipeline.js';

/** The committed synthetic samples, shipped in the image beside the code (`pipeline/warm-up-pipeline.ts` on why three). */
export const WARM_UP_SAMPLES_DIR = join(PROJECT_ROOT, 'datasets', 'samples');
const WARM_UP_PHOTOS = 3;

/** The first committed samples, or none when the folder is missing (a trimmed install): the worker then starts cold. */
export async function warmUpPhotos(dir = WARM_UP_SAMPLES_DIR, count = WARM_UP_PHOTOS): Promise<WarmUpPhoto[]> {
  let entries;
  try {
    entries = await loadManifest(dir);
  } catch {
    return [];
  }
  const scaled = entries.flatMap((e) => (e.mmPerPx === null ? [] : [{ file: e.file, mmPerPx: e.mmPerPx }]));
  return Promise.all(scaled.slice(0, count).map(async (e) => ({ bytes: await readFile(join(dir, e.file)), mmPerPx: e.mmPerPx })));
}
