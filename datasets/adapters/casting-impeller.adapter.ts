import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../../pipeline/decode.js';
import type { ManifestEntry } from '../manifest.schema.js';
import { mapLimit } from '../map-limit.js';
import { IMPORT_CONCURRENCY, unknownPiece, type DatasetAdapter, type ImportContext } from './adapter.js';
import { SourceLayoutError } from './errors.js';
import { copyInto } from './output.js';
import { listImages } from './source.js';
import { compareBytes, namesInSplit } from './split.js';

function namesOutsideVal(names: readonly string[]): string[] {
  const val = new Set(namesInSplit(names, 'val'));
  return [...names].sort(compareBytes).filter((n) => !val.has(n));
}

/**
 * Cast pump impellers (Dabhi, CC BY-NC-ND 4.0: evaluation and internal benchmarking only). Labels are per image:
 * `def_front` castings have blowholes, pinholes, shrinkage or burrs somewhere, with no mask or box. They are recorded
 * as `labels.porosity: true`, `defects: []`, `labelLevel: "image"`: a full-image box would read as a region to any
 * tool that trains or scores boxes.
 */
const CLASSES = { def_front: true, ok_front: false } as const;
type CastingClass = keyof typeof CLASSES;

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

const sha256Of = async (path: string): Promise<string> => sha256Hex(await readFile(path));

/**
 * The shared copy's train/ folder holds 43 photos byte for byte identical to photos of its test/ folder (same class
 * each time). Training or calibrating on them would leak test photos into the fine-tune, so train and val leave out
 * every train/ photo whose bytes a test/ photo has; the test split stays the set's test/ folder whole. Which photos
 * land in val is still decided on the full train/ list, so a photo never changes side.
 */
async function testPhotoHashes(src: string): Promise<Set<string>> {
  const hashes = new Set<string>();
  for (const cls of Object.keys(CLASSES) as CastingClass[]) {
    const dir = join(src, 'test', cls);
    const names = await listImages(dir, IMAGE_EXTENSIONS, src);
    for (const h of await mapLimit(names, IMPORT_CONCURRENCY, (n) => sha256Of(join(dir, n)))) hashes.add(h);
  }
  return hashes;
}

interface PlannedImage {
  folder: 'train' | 'test';
  cls: CastingClass;
  file: string;
}

async function importOne(ctx: ImportContext, { folder, cls, file }: PlannedImage): Promise<ManifestEntry> {
  const srcImage = join(ctx.src, folder, cls, file);
  const meta = await sharp(srcImage).metadata();
  if (!meta.width || !meta.height) throw new SourceLayoutError(`cannot read the size of ${srcImage}`);
  const relImage = `images/${cls}/${file}`;
  await copyInto(ctx.out, relImage, srcImage);
  return {
    ...unknownPiece(),
    file: relImage,
    width: meta.width,
    height: meta.height,
    source: 'casting-impeller',
    labels: { porosity: CLASSES[cls], stone_spacing: false, polish: false },
    masks: { porosity: null, polish: null },
    defects: [],
    labelLevel: 'image',
    origin: { class: cls, file, folder },
    split: ctx.split,
  };
}

export const castingImpellerAdapter: DatasetAdapter = {
  name: 'casting-impeller',
  expects: 'train/{def_front,ok_front} and test/{def_front,ok_front}',
  /**
   * test is the set's own test/ folder, whole, so results compare with published ones; val is the shared rule's val
   * fifth of train/, and train is the rest of train/, including the fifth the rule would hold out for a test split:
   * this set brings its own test folder, and leaving a fifth of a 600-photo training folder unused cost the
   * fine-tune data it needs.
   */
  async run(ctx) {
    const planned: PlannedImage[] = [];
    const testHashes = ctx.split === 'test' ? new Set<string>() : await testPhotoHashes(ctx.src);
    const leftOut: string[] = [];
    for (const cls of Object.keys(CLASSES) as CastingClass[]) {
      if (ctx.split === 'test') {
        const names = await listImages(join(ctx.src, 'test', cls), IMAGE_EXTENSIONS, ctx.src);
        for (const file of names.sort(compareBytes)) planned.push({ folder: 'test', cls, file });
      } else {
        const names = await listImages(join(ctx.src, 'train', cls), IMAGE_EXTENSIONS, ctx.src);
        const chosen = ctx.split === 'val' ? namesInSplit(names, 'val') : namesOutsideVal(names);
        const hashes = await mapLimit(chosen, IMPORT_CONCURRENCY, (n) => sha256Of(join(ctx.src, 'train', cls, n)));
        chosen.forEach((file, i) => {
          if (testHashes.has(hashes[i]!)) leftOut.push(`${cls}/${file}`);
          else planned.push({ folder: 'train', cls, file });
        });
      }
    }
    if (leftOut.length > 0) {
      ctx.notes.push(
        `left out ${leftOut.length} train/ photos whose bytes are also in test/ (the test split keeps them): ` +
          (leftOut.length > 6 ? `${leftOut.slice(0, 6).join(', ')}, …` : leftOut.join(', ')),
      );
    }
    return mapLimit(planned, IMPORT_CONCURRENCY, (p) => importOne(ctx, p));
  },
};
