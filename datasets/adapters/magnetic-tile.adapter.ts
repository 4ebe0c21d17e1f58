import { join, parse } from 'node:path';
import sharp from 'sharp';
import type { Defect, ManifestEntry } from '../manifest.schema.js';
import { mapLimit } from '../map-limit.js';
import { IMPORT_CONCURRENCY, unknownPiece, type DatasetAdapter, type ImportContext } from './adapter.js';
import { connectedComponents, equivalentDiameter } from './components.js';
import { SourceLayoutError } from './errors.js';
import { encodeMaskPng, readBinaryMask } from './mask.js';
import { copyInto, writeInto } from './output.js';
import { listImages } from './source.js';
import { namesInSplit } from './split.js';

/**
 * Magnetic-tile surface defects (Huang, Qiu, Yuan 2020). Blowholes are the closest public stand-in for casting
 * porosity, with pixel masks; the free class gives clean surfaces. Break, crack, fray and uneven are not porosity and
 * would only teach the model that other damage is clean, so they are left out.
 */
const CLASSES = { MT_Blowhole: 'porosity', MT_Free: 'clean' } as const;
type MagneticTileClass = keyof typeof CLASSES;

/** Only the .jpg files are images: the .png beside each is its mask. */
const IMAGE_EXTENSIONS = ['.jpg'];

interface PlannedImage {
  cls: MagneticTileClass;
  file: string;
}

async function imageSize(path: string): Promise<{ width: number; height: number }> {
  const meta = await sharp(path).metadata();
  if (!meta.width || !meta.height) throw new SourceLayoutError(`cannot read the size of ${path}`);
  return { width: meta.width, height: meta.height };
}

async function convertBlowholeMask(
  maskPath: string,
  size: { width: number; height: number },
): Promise<{ png: Buffer; defects: Defect[] }> {
  const mask = await readBinaryMask(maskPath).catch((err: Error) => {
    throw new SourceLayoutError(`cannot read mask ${maskPath}: ${err.message}`);
  });
  if (mask.width !== size.width || mask.height !== size.height) {
    throw new SourceLayoutError(
      `mask ${maskPath} is ${mask.width}x${mask.height} but its image is ${size.width}x${size.height}`,
    );
  }
  const components = connectedComponents(mask.pixels, mask.width, mask.height);
  // A blowhole image whose mask is empty would be labelled porosity with nothing to show for it.
  if (components.length === 0) throw new SourceLayoutError(`mask ${maskPath} has no defect pixels`);
  const defects: Defect[] = components.map((c) => ({
    family: 'porosity',
    kind: 'blowhole',
    bbox: c.bbox,
    sizeMm: null,
    sizePx: Math.round(equivalentDiameter(c.areaPx) * 100) / 100,
    areaPx: c.areaPx,
  }));
  return { png: await encodeMaskPng(mask), defects };
}

async function importOne(ctx: ImportContext, { cls, file }: PlannedImage): Promise<ManifestEntry> {
  const imgsDir = join(ctx.src, cls, 'Imgs');
  const srcImage = join(imgsDir, file);
  const stem = parse(file).name;
  const relImage = `images/${cls}/${file}`;
  const size = await imageSize(srcImage);
  // The bytes are copied as they are: re-encoding a JPEG would add a second generation of compression artefacts.
  await copyInto(ctx.out, relImage, srcImage);

  const base = {
    ...unknownPiece(),
    file: relImage,
    ...size,
    source: 'magnetic-tile',
    labelLevel: 'pixel' as const,
    origin: { class: cls, file },
    split: ctx.split,
  };
  if (CLASSES[cls] === 'clean') {
    return {
      ...base,
      labels: { porosity: false, stone_spacing: false, polish: false },
      masks: { porosity: null, polish: null },
      defects: [],
    };
  }
  const relMask = `masks/${cls}/${stem}.porosity.png`;
  const { png, defects } = await convertBlowholeMask(join(imgsDir, `${stem}.png`), size);
  await writeInto(ctx.out, relMask, png);
  return {
    ...base,
    labels: { porosity: true, stone_spacing: false, polish: false },
    masks: { porosity: relMask, polish: null },
    defects,
  };
}

export const magneticTileAdapter: DatasetAdapter = {
  name: 'magnetic-tile',
  expects: 'MT_Blowhole/Imgs and MT_Free/Imgs',
  async run(ctx) {
    const planned: PlannedImage[] = [];
    for (const cls of Object.keys(CLASSES) as MagneticTileClass[]) {
      const names = await listImages(join(ctx.src, cls, 'Imgs'), IMAGE_EXTENSIONS, ctx.src);
      for (const file of namesInSplit(names, ctx.split)) planned.push({ cls, file });
    }
    return mapLimit(planned, IMPORT_CONCURRENCY, (p) => importOne(ctx, p));
  },
};
