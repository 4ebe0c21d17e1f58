import { createHash } from 'node:crypto';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeManifest } from '../../datasets/manifest-io.js';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';

/**
 * The validation hold-out when `loupe train` gets no `--val`: an image goes to validation when the first 32 bits of
 * sha256(its manifest `file` path) fall below `fraction` of 2^32. Deciding per image by its name (rather than
 * shuffling the folder) keeps every earlier image on the same side when a workshop adds photos and retrains, so a
 * photo once used to calibrate and compare never becomes a training photo later. Stratified by the label
 * combination: each stratum with at least two images keeps at least one in each part (the image with the lowest,
 * resp. highest, hash moves), so a rare label is never only trained on or only validated on.
 */

export interface InputFolder {
  dir: string;
  entries: ManifestEntry[];
}

export interface HoldoutPart {
  /** Index of the input folder and the entry. */
  items: Array<{ folder: number; entry: ManifestEntry }>;
}

export function holdoutHash(file: string): number {
  return createHash('sha256').update(file).digest().readUInt32BE(0) / 2 ** 32;
}

function stratumOf(e: ManifestEntry): string {
  return `porosity=${e.labels.porosity},stone_spacing=${e.labels.stone_spacing},polish=${e.labels.polish}`;
}

export function splitHoldout(inputs: readonly InputFolder[], fraction: number): { train: HoldoutPart; val: HoldoutPart } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`hold-out fraction must be in (0, 1), got ${fraction}`);
  const strata = new Map<string, Array<{ folder: number; entry: ManifestEntry; h: number }>>();
  inputs.forEach((input, folder) => {
    for (const entry of input.entries) {
      const key = stratumOf(entry);
      const list = strata.get(key) ?? [];
      list.push({ folder, entry, h: holdoutHash(entry.file) });
      strata.set(key, list);
    }
  });
  const train: HoldoutPart = { items: [] };
  const val: HoldoutPart = { items: [] };
  for (const key of [...strata.keys()].sort()) {
    const list = strata.get(key)!.sort((a, b) => a.h - b.h || a.folder - b.folder || a.entry.file.localeCompare(b.entry.file));
    const isVal = list.map((x) => x.h < fraction);
    if (list.length >= 2) {
      if (!isVal.some(Boolean)) isVal[0] = true;
      if (isVal.every(Boolean)) isVal[list.length - 1] = false;
    }
    list.forEach((x, i) => (isVal[i] ? val : train).items.push({ folder: x.folder, entry: x.entry }));
  }
  return { train, val };
}

function prefixed(entry: ManifestEntry, prefix: string): ManifestEntry {
  const p = (rel: string) => `${prefix}/${rel}`;
  return {
    ...entry,
    file: p(entry.file),
    masks: {
      porosity: entry.masks.porosity === null ? null : p(entry.masks.porosity),
      polish: entry.masks.polish === null ? null : p(entry.masks.polish),
    },
    ...(entry.kindMasks ? { kindMasks: Object.fromEntries(Object.entries(entry.kindMasks).map(([k, v]) => [k, p(v)])) } : {}),
  };
}

/**
 * Writes `part` as a manifest folder at `out`: one symlink per input folder (`in0`, `in1`, …) and a manifest whose
 * paths go through them, so nothing is copied and the folder passes `loupe dataset check` like any other.
 */
export async function writePartFolder(out: string, inputs: readonly InputFolder[], part: HoldoutPart): Promise<string> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const used = [...new Set(part.items.map((i) => i.folder))].sort((a, b) => a - b);
  for (const folder of used) await symlink(resolve(inputs[folder]!.dir), join(out, `in${folder}`), 'dir');
  await writeManifest(
    out,
    part.items.map((i) => prefixed(i.entry, `in${i.folder}`)),
  );
  return out;
}

/** Several folders as one (every item of each), e.g. two `--val` folders evaluated as one validation set. */
export function wholeFolders(inputs: readonly InputFolder[]): HoldoutPart {
  return { items: inputs.flatMap((input, folder) => input.entries.map((entry) => ({ folder, entry }))) };
}

/**
 * `loupe train --folds K`: the training photos in K folds, fold = floor(K x the hold-out hash of `keyOf`, by default
 * the file name), so a photo keeps its fold when the workshop adds photos; `loupe train` keys by the photo's bytes so
 * that copies under two names share a fold and no photo is scored by a member trained on its copy. Stratified like the hold-out: in each label combination with at least K photos
 * every fold gets one (the photos at the ends of the hash order move into empty folds), so no member is trained on
 * every photo of a rare label while another never sees one.
 */
export function splitFolds(part: HoldoutPart, k: number, keyOf: (item: HoldoutPart['items'][number]) => string = (i) => i.entry.file): HoldoutPart[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`folds must be an integer >= 2, got ${k}`);
  const strata = new Map<string, Array<{ folder: number; entry: ManifestEntry; h: number }>>();
  for (const item of part.items) {
    const key = stratumOf(item.entry);
    const list = strata.get(key) ?? [];
    list.push({ ...item, h: holdoutHash(keyOf(item)) });
    strata.set(key, list);
  }
  const folds: HoldoutPart[] = Array.from({ length: k }, () => ({ items: [] }));
  for (const key of [...strata.keys()].sort()) {
    const list = strata.get(key)!.sort((a, b) => a.h - b.h || a.folder - b.folder || a.entry.file.localeCompare(b.entry.file));
    const foldOf = list.map((x) => Math.min(k - 1, Math.floor(x.h * k)));
    if (list.length >= k) {
      for (let f = 0; f < k; f++) {
        if (foldOf.includes(f)) continue;
        // Move a photo from the largest fold, the one nearest the empty fold in hash order.
        const counts = Array.from({ length: k }, (_, g) => foldOf.filter((x) => x === g).length);
        const from = counts.indexOf(Math.max(...counts));
        const candidates = foldOf.map((g, i) => (g === from ? i : -1)).filter((i) => i >= 0);
        const pick = from < f ? candidates[candidates.length - 1]! : candidates[0]!;
        foldOf[pick] = f;
      }
    }
    list.forEach((x, i) => folds[foldOf[i]!]!.items.push({ folder: x.folder, entry: x.entry }));
  }
  return folds;
}

/** Every fold but `k`: member k's training photos. */
export function allBut(folds: readonly HoldoutPart[], k: number): HoldoutPart {
  return { items: folds.flatMap((f, i) => (i === k ? [] : f.items)) };
}
