import { Command } from 'commander';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from '../../cli/commands/eval.js';
import type { Defect } from '../../datasets/manifest.schema.js';
import { GALLERY_INDEX, writeFailureGallery } from '../../models/eval/failures-gallery.js';
import { sizeText } from '../../models/eval/failures.js';
import { runEvalWithImages, type EvalWithImages } from '../../models/eval/run-eval.js';
import type { InspectionReport } from '../../pipeline/index.js';
import { FIXTURE_ID, FIXTURE_MODELS } from '../pipeline/helpers.js';

const SAMPLES = fileURLToPath(new URL('../../datasets/samples', import.meta.url));
/** Pinholes (one under 0.1 mm), a short scratch, a tool mark with orange peel, a clean piece: the fixture model misses
 * some of each, and flags the clean one. */
const PHOTOS = ['s424242-000000', 's424242-000008', 's424242-000016', 's424242-000018'];

interface Row {
  section: string;
  file: string;
  image: string;
  what: string;
}

/** The gallery table of index.md; a blank section cell continues the section above. */
function galleryRows(index: string): Row[] {
  const table = index.slice(index.indexOf('| section | # | image |'));
  const rows: Row[] = [];
  let section = '';
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(' | ').map((c) => c.replace(/^\| ?/, ''));
    section = cells[0] || section;
    const link = /^\[([^\]]+)\]\(([^)]+)\)$/.exec(cells[2]!)!;
    rows.push({ section, file: link[1]!, image: link[2]!, what: cells[3]! });
  }
  return rows;
}

const overlaps = (a: readonly number[], b: readonly number[]) => a[0]! - 1 < b[2]! && b[0]! - 1 < a[2]! && a[1]! - 1 < b[3]! && b[1]! - 1 < a[3]!;

/** Truly missed, written out here rather than taken from the gallery: no region of the defect's kind (polish) or of
 * porosity (pores) overlaps its box. */
function missed(d: Defect, report: InspectionReport): boolean {
  if (d.family === 'polish') return !report.families.polish.findings.some((f) => f.kind === d.kind && overlaps(f.bbox, d.bbox));
  if (d.family === 'porosity') return !report.families.porosity.findings.some((f) => overlaps(f.bbox, d.bbox));
  return false;
}

const largest = (ds: Defect[]) => ds.reduce((a, b) => (b.sizeMm! > a.sizeMm! ? b : a));

describe('loupe eval --failures', () => {
  let dir: string;
  let data: string;
  let gallery: string;
  let evaluated: EvalWithImages;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loupe-failures-'));
    data = join(dir, 'data');
    gallery = join(dir, 'gallery');
    const lines = readFileSync(join(SAMPLES, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean);
    const picked = lines.filter((l) => PHOTOS.some((p) => l.includes(`"images/${p}.jpg"`)));
    for (const line of picked) {
      const e = JSON.parse(line) as { file: string; masks: Record<string, string | null>; kindMasks?: Record<string, string> };
      for (const rel of [e.file, ...Object.values(e.masks), ...Object.values(e.kindMasks ?? {})]) {
        if (!rel) continue;
        mkdirSync(dirname(join(data, rel)), { recursive: true });
        copyFileSync(join(SAMPLES, rel), join(data, rel));
      }
    }
    writeFileSync(join(data, 'manifest.jsonl'), picked.join('\n') + '\n');
    evaluated = await runEvalWithImages({ data, out: join(dir, 'metrics.json'), modelsDir: FIXTURE_MODELS, profile: 'ring' });
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every truly missed polish defect and pore of the photos, largest per photo, and nothing found', async () => {
    const { result, images } = evaluated;
    expect(result.model.id).toBe(FIXTURE_ID);
    expect(images.map((im) => im.entry.file)).toEqual(PHOTOS.map((p) => `images/${p}.jpg`));
    await writeFailureGallery({ data, outDir: gallery, perKind: 10, result, images });
    const rows = galleryRows(readFileSync(join(gallery, GALLERY_INDEX), 'utf8'));

    const expected: Array<{ section: string; file: string; text: string }> = [];
    for (const im of images) {
      const file = im.entry.file.replace('images/', '');
      const misses = im.entry.defects.filter((d) => missed(d, im.report));
      for (const kind of ['scratch', 'haze', 'tool_mark', 'orange_peel']) {
        const ofKind = misses.filter((d) => d.kind === kind);
        if (ofKind.length > 0) expected.push({ section: `${kind} miss`, file, text: `missed ${kind} ${sizeText(largest(ofKind))}` });
      }
      for (const [bin, lo, hi] of [['<0.1', 0, 0.1], ['0.1-0.3', 0.1, 0.3], ['>0.3', 0.3, Infinity]] as const) {
        const inBin = misses.filter((d) => d.family === 'porosity' && d.sizeMm! >= lo && d.sizeMm! < hi);
        if (inBin.length > 0) expected.push({ section: `pore ${bin} mm miss`, file, text: `pore ${sizeText(largest(inBin))}` });
      }
    }
    // The fixture model is weak: these photos must give the gallery something to show.
    expect(expected.some((e) => e.section.startsWith('pore'))).toBe(true);
    expect(expected.filter((e) => !e.section.startsWith('pore')).length).toBeGreaterThanOrEqual(2);

    const missRows = rows.filter((r) => /^(scratch|haze|tool_mark|orange_peel|pore .*) miss$/.test(r.section));
    expect(missRows.map((r) => `${r.section} ${r.file}`).sort()).toEqual(expected.map((e) => `${e.section} ${e.file}`).sort());
    for (const e of expected) expect(missRows.find((r) => r.section === e.section && r.file === e.file)!.what).toContain(e.text);

    // Family sections: every positive (there are fewer than 10), lowest score first; every clean photo, highest first.
    const porosityMisses = rows.filter((r) => r.section === 'porosity miss').map((r) => r.file);
    const positives = images.filter((im) => im.entry.labels.porosity).sort((a, b) => a.report.families.porosity.score - b.report.families.porosity.score);
    expect(porosityMisses).toEqual(positives.map((im) => im.entry.file.replace('images/', '')));
    expect(rows.filter((r) => r.section === 'polish false alarm')).toHaveLength(images.filter((im) => !im.entry.labels.polish).length);
  }, 60_000);

  it('writes one readable JPEG per photo, long side at most 900 px, and drops the images a previous run linked', async () => {
    const { result, images } = evaluated;
    const first = await writeFailureGallery({ data, outDir: gallery, perKind: 10, result, images });
    const rows = galleryRows(readFileSync(first.indexPath, 'utf8'));
    const linked = [...new Set(rows.map((r) => r.image))];
    expect(linked.sort()).toEqual([...first.files].sort());
    for (const name of linked) {
      const { data: pixels, info } = await sharp(join(gallery, name)).raw().toBuffer({ resolveWithObject: true });
      expect((await sharp(join(gallery, name)).metadata()).format).toBe('jpeg');
      // The overlay is 900 px on its long side (photos are 1024 x 768); the caption strip adds height above it.
      expect(info.width).toBe(900);
      expect(info.height).toBeGreaterThan(Math.round((768 * 900) / 1024));
      expect(pixels.length).toBe(info.width * info.height * info.channels);
      expect(readFileSync(join(gallery, name)).length).toBeLessThan(250_000);
    }

    const second = await writeFailureGallery({ data, outDir: gallery, perKind: 1, result, images });
    const kept = readdirSync(gallery).filter((f) => f.endsWith('.jpg'));
    expect(kept.sort()).toEqual([...second.files].sort());
    expect(second.files.length).toBeLessThanOrEqual(first.files.length);
  }, 60_000);

  it('rejects a --failures-per-kind that is not a positive integer before running anything', async () => {
    const program = new Command().exitOverride();
    register(program);
    await expect(
      program.parseAsync(['eval', '--data', data, '--out', join(dir, 'x.json'), '--failures', join(dir, 'x'), '--failures-per-kind', '0'], { from: 'user' }),
    ).rejects.toThrow('--failures-per-kind must be a positive integer');
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});
