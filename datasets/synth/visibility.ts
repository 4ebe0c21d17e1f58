import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { readBinaryMask } from '../adapters/mask.js';
import type { ManifestEntry } from '../manifest.schema.js';
import { DomainSchema } from './options.schema.js';
import { renderSample } from './render-sample.js';

/**
 * How much a synthetic photo's defects changed it, per defect mask: the photo against its twin rendered without pores
 * and polish defects (`omitDefects`), both as the JPEGs a model reads. A label says where the generator put a defect;
 * this says whether the camera could see it. A tool mark under blown-out light, or a haze veil on white metal, is a
 * positive label on pixels the photo barely changed, and no model can find it there.
 *
 * Per mask: the 90th percentile and the mean over its pixels of the largest per-channel difference, in 8-bit levels.
 * The percentile, because a mask is wider than what shows of a fine line, and the strongest tenth of its pixels is what
 * an inspector (or a model) would see.
 */
export interface MaskVisibility {
  p90: number;
  mean: number;
  pixels: number;
}

/** What `renderSample` needs to render an entry's scene again (the generator writes it under `render`). */
const RenderRecordSchema = z.object({
  seed: z.number().int().nonnegative(),
  index: z.number().int().nonnegative(),
  size: z.number().int(),
  domain: DomainSchema,
  coverKinds: z.boolean(),
});

/** True when `defectVisibility` can re-render the entry (a synthetic photo written by this generator). */
export function canMeasureVisibility(entry: ManifestEntry): boolean {
  return entry.source === 'synth' && RenderRecordSchema.safeParse((entry as { render?: unknown }).render).success;
}

async function rgbOf(input: Buffer | string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(input).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Per-pixel largest channel difference of two same-size packed RGB images. */
export function channelDelta(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length / 3);
  for (let i = 0, p = 0; i < out.length; i++, p += 3) {
    const r = Math.abs(a[p]! - b[p]!);
    const g = Math.abs(a[p + 1]! - b[p + 1]!);
    const bl = Math.abs(a[p + 2]! - b[p + 2]!);
    out[i] = r > g ? (r > bl ? r : bl) : g > bl ? g : bl;
  }
  return out;
}

/** p90 and mean of `delta` over the pixels where `mask` is set. */
export function maskVisibility(delta: Uint8Array, mask: Uint8Array): MaskVisibility {
  const hist = new Uint32Array(256);
  let n = 0;
  let sum = 0;
  for (let i = 0; i < delta.length; i++) {
    if (!mask[i]) continue;
    hist[delta[i]!]!++;
    sum += delta[i]!;
    n++;
  }
  let p90 = 0;
  for (let v = 0, acc = 0; v < 256; v++) {
    acc += hist[v]!;
    if (acc >= 0.9 * n) {
      p90 = v;
      break;
    }
  }
  return { p90: n ? p90 : 0, mean: n ? sum / n : 0, pixels: n };
}

/**
 * Visibility of each of the entry's defect masks (`porosity` and every polish kind it has), keyed like the masks.
 * `dir` is the entry's manifest folder. Throws when the entry is not a synthetic photo this generator can re-render.
 */
export async function defectVisibility(dir: string, entry: ManifestEntry): Promise<Record<string, MaskVisibility>> {
  const record = RenderRecordSchema.parse((entry as { render?: unknown }).render);
  const masks: Array<[string, string]> = [
    ...(entry.masks.porosity ? [['porosity', entry.masks.porosity] as [string, string]] : []),
    ...Object.entries(entry.kindMasks ?? {}),
  ];
  if (masks.length === 0) return {};
  const twin = await renderSample({ ...record, omitDefects: true });
  const [photo, bare] = await Promise.all([rgbOf(await readFile(join(dir, entry.file))), rgbOf(twin.jpeg)]);
  if (photo.width !== bare.width || photo.height !== bare.height) {
    throw new Error(`${entry.file}: re-rendered at ${bare.width}x${bare.height}, the photo is ${photo.width}x${photo.height}`);
  }
  const delta = channelDelta(photo.data, bare.data);
  const out: Record<string, MaskVisibility> = {};
  for (const [name, rel] of masks) {
    out[name] = maskVisibility(delta, (await readBinaryMask(join(dir, rel))).pixels);
  }
  return out;
}
