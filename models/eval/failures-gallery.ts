import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { EvalResult } from './eval-result.schema.js';
import { describeRender, renderInfo } from './failures-conditions.js';
import { renderFailureImage, type CaptionLine, type TruthMark } from './failures-render.js';
import { whereItFails } from './failures-summary.js';
import { failureSections, fmtScore, selectFailures, sizeText, type FailureCase } from './failures.js';
import type { ImageOutcome } from './run-eval.js';

/**
 * `loupe eval --failures DIR`: one JPEG per photo that lands in any gallery section (a photo in three sections is drawn
 * once, its caption naming all three), and DIR/index.md with the "where it fails" summary and the gallery table. Both
 * are committed beside the model card, so images are small: long side 900 px, JPEG.
 */

export const GALLERY_INDEX = 'index.md';
const DEFAULT_MAX_SIDE = 900;
const DEFAULT_JPEG_QUALITY = 72;

export interface GalleryOptions {
  /** The manifest folder eval read (photos are re-read from it; no inference). */
  data: string;
  outDir: string;
  perKind: number;
  result: EvalResult;
  images: readonly ImageOutcome[];
  /** The command that made the gallery, recorded in index.md so it can be made again. */
  command?: string;
  maxSide?: number;
  jpegQuality?: number;
}

export interface GalleryWritten {
  indexPath: string;
  /** Image file names, relative to `outDir`. */
  files: string[];
  cases: FailureCase[];
}

/** `images/MT_Blowhole/exp1.jpg` -> `MT_Blowhole-exp1.jpg`: flat, and stable across runs. */
function imageName(file: string, taken: Set<string>): string {
  const stem = file
    .replace(/^images\//, '')
    .replace(/\.[^./]+$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-');
  let name = `${stem}.jpg`;
  for (let i = 2; taken.has(name); i++) name = `${stem}-${i}.jpg`;
  taken.add(name);
  return name;
}

const md = (s: string) => s.replace(/\|/g, '\\|');

function truthMarks(im: ImageOutcome): TruthMark[] {
  return im.defects.map(({ defect, found, foundByKind }) => ({
    bbox: defect.bbox,
    label: `${found ? '' : 'missed '}${defect.kind} ${sizeText(defect).replace(' ', '')}${found && !foundByKind ? ' (as other kind)' : ''}`,
    missed: !foundByKind,
    size: defect.sizeMm ?? defect.sizePx ?? 0,
  }));
}

function context(im: ImageOutcome): string {
  const e = im.entry;
  const parts = [
    `metal ${e.metal ?? 'unknown'}`,
    `piece ${e.piece ?? 'unknown'}`,
    `view ${e.view ?? 'unknown'}`,
    e.mmPerPx !== null ? `${e.mmPerPx.toFixed(4)} mm/px` : 'no scale',
    describeRender(renderInfo(e)),
    `photo verdict ${im.report.verdict}`,
  ];
  return parts.filter(Boolean).join(' · ');
}

function caption(im: ImageOutcome, cases: FailureCase[]): CaptionLine[] {
  const whats = [...new Set(cases.map((c) => c.what))];
  return [
    { text: `${im.entry.file} · ${cases.map((c) => `${c.section.title} #${c.rank}`).join(' · ')}`, tone: 'title' },
    ...whats.map((text): CaptionLine => ({ text, tone: 'failure' })),
    { text: context(im), tone: 'context' },
    { text: 'magenta: truth (dashes: missed or only found as another kind; dots: found) · other colours: model', tone: 'context' },
  ];
}

/** Images a previous gallery in this folder linked to, so a re-run does not leave stale ones beside the new index. */
async function previousImages(outDir: string): Promise<string[]> {
  const text = await readFile(join(outDir, GALLERY_INDEX), 'utf8').catch(() => '');
  return [...text.matchAll(/\]\(([^)/\\]+\.jpg)\)/g)].map((m) => m[1]!);
}

export async function writeFailureGallery(options: GalleryOptions): Promise<GalleryWritten> {
  const cases = selectFailures(options.images, options.perKind);
  await mkdir(options.outDir, { recursive: true });
  const stale = new Set(await previousImages(options.outDir));

  const byPhoto = new Map<ImageOutcome, FailureCase[]>();
  for (const c of cases) byPhoto.set(c.image, [...(byPhoto.get(c.image) ?? []), c]);
  const taken = new Set<string>();
  const names = new Map<ImageOutcome, string>();
  for (const [im, photoCases] of byPhoto) {
    const name = imageName(im.entry.file, taken);
    names.set(im, name);
    const bytes = await readFile(join(options.data, im.entry.file));
    const jpeg = await renderFailureImage(bytes, im.report, truthMarks(im), caption(im, photoCases), {
      maxSide: options.maxSide ?? DEFAULT_MAX_SIDE,
      jpegQuality: options.jpegQuality ?? DEFAULT_JPEG_QUALITY,
    });
    await writeFile(join(options.outDir, name), jpeg);
    stale.delete(name);
  }
  for (const name of stale) await rm(join(options.outDir, name), { force: true });

  const r = options.result;
  const lines: string[] = [
    `# Failure gallery: ${r.model.id}@${r.model.version} on ${basename(r.data)}`,
    '',
    ...(options.command ? ['Made by', '', '```', options.command, '```', ''] : []),
    `${r.images} photos of \`${r.data}\` · profile \`${r.profile.name}@${r.profile.version}\` · model sha256 \`${r.model.sha256.slice(0, 12)}\` · ${r.createdAt}.`,
    '',
    `Each image is the inspector's overlay of the model's findings (red: pores; blue: scratches; violet: tool marks; light blue: haze; orange: orange peel; green: stones; yellow: flagged stones and gaps) with the manifest's true defects in magenta (long dashes: missed, or found only as another polish kind; dots: found), under a caption saying what failed. Sections hold at most ${options.perKind} photos each: per family the positives with the lowest score and the clean photos with the highest; per polish kind the largest true defects no region of that kind overlaps; per pore-size bin the largest missed pores.`,
    '',
    '## Where it fails',
    '',
    ...whereItFails(r, options.images),
    '## Gallery',
    '',
    '| section | # | image | what failed | score | threshold | family verdict |',
    '|---|---:|---|---|---:|---:|---|',
  ];
  let section = '';
  for (const c of cases) {
    const name = names.get(c.image)!;
    const title = c.section.slug === section ? '' : c.section.title;
    section = c.section.slug;
    lines.push(
      `| ${title} | ${c.rank} | [${md(basename(c.image.entry.file))}](${name}) | ${md(c.what)} | ${c.scoreOf} ${fmtScore(c.score)} | ${c.threshold === null ? '— (judged in mm)' : fmtScore(c.threshold)} | ${c.image.report.families[c.family].verdict}${c.image.report.verdict === 'retake' ? ' (photo: retake)' : ''} |`,
    );
  }
  const empty = failureSections().filter((s) => !cases.some((c) => c.section.slug === s.slug));
  if (empty.length > 0) lines.push('', `Empty sections (nothing of the kind in these photos): ${empty.map((s) => s.title).join(', ')}.`);
  lines.push('', '## Images', '');
  for (const [im, photoCases] of byPhoto) {
    const name = names.get(im)!;
    lines.push(`### ${md(im.entry.file)}`, '', photoCases.map((c) => `${c.section.title} #${c.rank}`).join(' · '), '', `![${name}](${name})`, '');
  }
  const indexPath = join(options.outDir, GALLERY_INDEX);
  await writeFile(indexPath, lines.join('\n'));
  return { indexPath: resolve(indexPath), files: [...names.values()], cases };
}
