import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '../../datasets/map-limit.js';
import { sha256Hex } from '../../pipeline/decode.js';

/** A photo of a manifest folder: the folder, its manifest line (1-based) and the entry's `file`. */
export interface PhotoRef {
  dir: string;
  line: number;
  file: string;
}

/** Hashing is disk-bound: a few files in flight keep the disk busy without holding many photos in memory. */
const HASH_CONCURRENCY = 4;

/**
 * The validation photos whose bytes are also a training photo's, one line each in `loupe dataset check`'s form. A
 * photo exported twice under two names (or a public set whose train and test folders share files: casting-impeller's
 * share 43) would otherwise calibrate the gates and grade the new version on photos it was trained on, and the
 * old-vs-new table would flatter it. Names are not enough: the copies' names differ. `trainHashes` are
 * `photoHashes(train)`: `loupe train` hashes its training photos once, for this check and for `--folds`.
 */
export async function photosInBoth(train: readonly PhotoRef[], trainHashes: readonly string[], val: readonly PhotoRef[]): Promise<string[]> {
  const trainBytes = new Map<string, PhotoRef>();
  trainHashes.forEach((h, i) => trainBytes.set(h, trainBytes.get(h) ?? train[i]!));
  const lines: string[] = [];
  (await photoHashes(val)).forEach((h, i) => {
    const seen = trainBytes.get(h);
    const v = val[i]!;
    if (seen) {
      lines.push(`${v.dir.replace(/\/+$/, '')}/manifest.jsonl:${v.line}: ${v.file}: same bytes as training photo ${join(seen.dir, seen.file)}`);
    }
  });
  return lines;
}

/** sha256 (hex) of each photo's bytes, in order. */
export function photoHashes(refs: readonly PhotoRef[]): Promise<string[]> {
  return mapLimit(refs, HASH_CONCURRENCY, async (p) => sha256Hex(await readFile(join(p.dir, p.file))));
}
