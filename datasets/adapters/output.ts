import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MANIFEST_FILE } from '../manifest.schema.js';
import { OutputNotEmptyError } from './errors.js';

/** What an import writes; `--force` removes exactly these and nothing else the user may keep in the folder. */
const OWNED = [MANIFEST_FILE, 'images', 'masks'] as const;

/**
 * Refuses a non-empty folder unless `force`: mixing two imports would give a manifest that no longer says which split
 * it is. With `force` the previous import's files are removed first, so the result is byte-identical to an import into
 * an empty folder.
 */
export async function prepareOutputDir(out: string, force: boolean): Promise<void> {
  let existing: string[] = [];
  try {
    existing = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing.length > 0) {
    if (!force) {
      throw new OutputNotEmptyError(`${out} is not empty; pass --force to replace its ${OWNED.join(', ')}`);
    }
    for (const name of OWNED) await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
}

export async function copyInto(out: string, relPath: string, srcPath: string): Promise<void> {
  const dest = join(out, relPath);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(srcPath, dest);
}

export async function writeInto(out: string, relPath: string, bytes: Buffer): Promise<void> {
  const dest = join(out, relPath);
  await mkdir(dirname(dest), { recursive: true });
  await writeFile(dest, bytes);
}
