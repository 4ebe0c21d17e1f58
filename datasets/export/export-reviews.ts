import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import type { PhotoStore } from '../../core/photo-store/photo-store.js';
import { reportsDb } from '../../core/reports/tables.js';
import { intColumn, numberColumn, timestampColumn } from '../../core/store/columns.js';
import type { Db } from '../../core/store/db.js';
import { inspectionsDal, type InspectionView } from '../../core/store/inspections-dal.js';
import { decodeRle } from '../../pipeline/postprocess/rle.js';
import type { InspectionReport, MaskRle } from '../../pipeline/report.schema.js';
import { writeManifest } from '../manifest-io.js';
import { DefectKindSchema, FamilySchema, type Defect, type Family, type ManifestEntry, type Piece } from '../manifest.schema.js';

/**
 * Inspectors' decisions as training labels (`loupe dataset export-reviews`). One manifest entry per photo of every
 * inspection whose review is finished (it has a disposition), so training reads reviewed photos like any other set.
 *
 * The label rule (docs/review.md):
 * - a model finding the inspector did not reject is a defect (`review: "confirmed"` when explicitly confirmed,
 *   `"unreviewed"` when left standing: the inspector saw it and let it stand before deciding the piece);
 * - a box the inspector drew is a defect (`review: "added"`), its mask the filled box;
 * - a rejected finding is a negative: it is listed under `negatives` (hard negatives, with its box) and is not in
 *   `defects` or the masks. `labels.F` is true exactly when a defect of family F remains, so a family whose every
 *   finding was rejected, with nothing added, is labelled false for that photo;
 * - masks: for a kept model finding, the report's family mask inside the finding's box (the filled box where the
 *   mask is empty there); for an added box, the filled box. Stone spacing has no mask; stones come from the report;
 * - a flag with nothing outlined (`measurements.unlocated`, `pipeline/unlocated.ts`), kept, labels its family true
 *   for the photo with no defect box and no mask (an image-level label, as the pass/fail photos such a model learned
 *   from); rejected, it is a negative with its box (where the model's evidence was strongest).
 */

export const REVIEW_SOURCE = 'review';

/** The product profile → the manifest's piece type, where the default profiles name one. */
const PIECE_OF_PROFILE: Record<string, Piece> = { band: 'ring_band', ring: 'ring_shank', pendant: 'pendant' };

const EXT: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', tiff: 'tif' };

const HeaderRowSchema = z.object({
  inspection_id: z.string(),
  disposition: z.string(),
  rework: z.string().nullable(),
  note: z.string().nullable(),
  reviewer_key_id: z.string(),
  decided_at: timestampColumn.nullable(),
  updated_at: timestampColumn,
  model_versions: z.string(),
  profile_version: z.string(),
});

const FindingRowSchema = z.object({
  id: z.string(),
  view_n: intColumn,
  ord: intColumn,
  family: FamilySchema,
  kind: DefectKindSchema,
  size_mm: numberColumn.nullable(),
  bbox_x0: numberColumn.nullable(),
  bbox_y0: numberColumn.nullable(),
  bbox_x1: numberColumn.nullable(),
  bbox_y1: numberColumn.nullable(),
  measurements: z.preprocess((v) => (typeof v === 'string' ? JSON.parse(v) : v), z.record(z.string(), z.unknown())),
  decision: z.enum(['confirmed', 'rejected']).nullable(),
});

const AddedRowSchema = z.object({
  id: z.string(),
  view_n: intColumn,
  family: FamilySchema,
  kind: DefectKindSchema,
  bbox_x0: numberColumn,
  bbox_y0: numberColumn,
  bbox_x1: numberColumn,
  bbox_y1: numberColumn,
  size_mm: numberColumn.nullable(),
  note: z.string().nullable(),
});

type Box = [number, number, number, number];

export interface ExportOptions {
  db: Db;
  photos: PhotoStore;
  out: string;
  /** Reviews changed at or after this instant (ISO-8601). */
  since?: string;
  /** Replace an earlier export in `out` instead of refusing a non-empty folder. */
  force?: boolean;
}

export interface ExportResult {
  manifestPath: string;
  entries: ManifestEntry[];
  inspections: number;
  /** Photos left out, with why (no report yet). */
  skipped: string[];
}

export class ExportError extends Error {}

/** Photo pixels of a box, clamped to the image and rounded outward to whole pixels. */
function pixelBox(b: Box, w: number, h: number): Box | null {
  const x0 = Math.max(0, Math.floor(b[0]));
  const y0 = Math.max(0, Math.floor(b[1]));
  const x1 = Math.min(w, Math.ceil(b[2]));
  const y1 = Math.min(h, Math.ceil(b[3]));
  return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
}

/** The report's mask pixels inside `box`, at photo resolution; false when the mask has none there. */
function paintMaskInBox(target: Uint8Array, w: number, bits: Uint8Array | null, mask: MaskRle | null, box: Box): boolean {
  let any = false;
  if (bits && mask) {
    for (let y = box[1]; y < box[3]; y++) {
      const my = Math.floor(y / mask.scaleToPhoto);
      if (my >= mask.height) break;
      for (let x = box[0]; x < box[2]; x++) {
        const mx = Math.floor(x / mask.scaleToPhoto);
        if (mx >= mask.width) break;
        if (bits[my * mask.width + mx]) {
          target[y * w + x] = 255;
          any = true;
        }
      }
    }
  }
  return any;
}

function fillBox(target: Uint8Array, w: number, box: Box): void {
  for (let y = box[1]; y < box[3]; y++) target.fill(255, y * w + box[0], y * w + box[2]);
}

function stonesOf(report: InspectionReport, w: number, h: number): Pick<ManifestEntry, 'stones' | 'stoneRow'> {
  const s = report.families.stone_spacing;
  const stones = s.stones.filter((x) => x.r > 0 && x.cx >= 0 && x.cy >= 0 && x.cx < w && x.cy < h).map((x) => ({ cx: x.cx, cy: x.cy, r: x.r }));
  if (stones.length === 0 || stones.length !== s.stones.length) return { stones: [], stoneRow: null };
  const mm = report.photo.mmPerPx;
  // Recomputed from the stones exactly as `dataset check` does, so the row always agrees with its stones.
  const gapsMm = stones.slice(1).map((b, i) => {
    const a = stones[i]!;
    return (Math.hypot(b.cx - a.cx, b.cy - a.cy) - a.r - b.r) * mm;
  });
  return {
    stones,
    stoneRow: {
      expectedCount: Math.max(1, s.expectedCount ?? stones.length + s.missing.length),
      nominalGapMm: Math.max(0, s.nominalGapMm ?? 0),
      gapsMm,
      missing: s.missing.map((m) => ({ cx: m.cx, cy: m.cy })),
    },
  };
}

/** The labels that matter for training, in a canonical order: what a round trip must preserve. */
export function labelsOf(entry: ManifestEntry) {
  const key = (d: { family: string; kind: string; bbox: number[] }) => `${d.family}/${d.kind}/${d.bbox.join(',')}`;
  const negatives = z.array(z.object({ family: z.string(), kind: z.string(), bbox: z.array(z.number()) }).passthrough()).parse((entry as Record<string, unknown>).negatives ?? []);
  return {
    file: entry.file,
    labels: entry.labels,
    masks: entry.masks,
    defects: entry.defects.map((d) => ({ family: d.family, kind: d.kind, bbox: d.bbox, sizeMm: d.sizeMm, review: (d as Record<string, unknown>).review })).sort((a, b) => key(a).localeCompare(key(b))),
    negatives: negatives.map((d) => ({ family: d.family, kind: d.kind, bbox: d.bbox })).sort((a, b) => key(a).localeCompare(key(b))),
  };
}

async function prepareOut(out: string, force: boolean): Promise<void> {
  await mkdir(out, { recursive: true });
  const existing = await readdir(out);
  if (existing.length > 0) {
    if (!force) throw new ExportError(`${out} is not empty; pass --force to replace an earlier export`);
    for (const name of ['manifest.jsonl', 'images', 'masks']) await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(join(out, 'images'), { recursive: true });
  await mkdir(join(out, 'masks'), { recursive: true });
}

export async function exportReviews(opts: ExportOptions): Promise<ExportResult> {
  const db = reportsDb(opts.db);
  const inspections = inspectionsDal(opts.db);
  let q = db
    .selectFrom('inspection_reviews as r')
    .innerJoin('inspections as i', 'i.id', 'r.inspection_id')
    .select(['r.inspection_id', 'r.disposition', 'r.rework', 'r.note', 'r.reviewer_key_id', 'r.decided_at', 'r.updated_at', 'r.model_versions', 'r.profile_version'])
    .where('r.disposition', 'is not', null);
  if (opts.since) q = q.where('r.updated_at', '>=', opts.since);
  const headers = (await q.orderBy('i.created_at').orderBy('i.id').execute()).map((r) => HeaderRowSchema.parse(r));

  await prepareOut(opts.out, opts.force ?? false);
  const entries: ManifestEntry[] = [];
  const skipped: string[] = [];
  for (const head of headers) {
    const ins = await inspections.get(head.inspection_id);
    if (!ins) continue;
    const findingRows = await db
      .selectFrom('findings as f')
      .leftJoin('finding_reviews as fr', 'fr.finding_id', 'f.id')
      .select(['f.id', 'f.view_n', 'f.ord', 'f.family', 'f.kind', 'f.size_mm', 'f.bbox_x0', 'f.bbox_y0', 'f.bbox_x1', 'f.bbox_y1', 'f.measurements', 'fr.decision'])
      .where('f.inspection_id', '=', ins.id)
      .orderBy('f.view_n')
      .orderBy('f.ord')
      .execute();
    const findings = findingRows.map((r) => FindingRowSchema.parse(r));
    const added = (await db.selectFrom('review_added_findings').selectAll().where('inspection_id', '=', ins.id).orderBy('created_at').orderBy('id').execute()).map((r) =>
      AddedRowSchema.parse(r),
    );
    for (const view of ins.views) {
      if (!view.report) {
        skipped.push(`${ins.id}/${view.n}: no report`);
        continue;
      }
      entries.push(await exportView(opts, ins, view, view.report, head, findings.filter((f) => f.view_n === view.n), added.filter((a) => a.view_n === view.n)));
    }
  }
  const manifestPath = await writeManifest(opts.out, entries);
  return { manifestPath, entries, inspections: headers.length, skipped };
}

async function exportView(
  opts: ExportOptions,
  ins: NonNullable<Awaited<ReturnType<ReturnType<typeof inspectionsDal>['get']>>>,
  view: InspectionView,
  report: InspectionReport,
  head: z.infer<typeof HeaderRowSchema>,
  findings: Array<z.infer<typeof FindingRowSchema>>,
  added: Array<z.infer<typeof AddedRowSchema>>,
): Promise<ManifestEntry> {
  const stem = `${ins.id}-v${view.n}`;
  // Reports use pixels after EXIF rotation; the exported image is stored upright so its header says the same.
  let bytes = await opts.photos.get(view.photo.sha256);
  let ext = EXT[view.photo.type] ?? 'jpg';
  const meta = await sharp(bytes).metadata();
  if ((meta.orientation ?? 1) > 1 || ext === 'tif') {
    bytes = await sharp(bytes).rotate().jpeg({ quality: 95 }).toBuffer();
    ext = 'jpg';
  }
  const file = `images/${stem}.${ext}`;
  await writeFile(join(opts.out, file), bytes);
  const w = report.photo.width;
  const h = report.photo.height;

  const defects: Defect[] = [];
  const negatives: Array<Record<string, unknown>> = [];
  const pixels: Partial<Record<Family, Uint8Array>> = {};
  const bits: Partial<Record<Family, Uint8Array | null>> = {};
  const canvas = (f: Family) => (pixels[f] ??= new Uint8Array(w * h));
  const familyMask = (f: Family): MaskRle | null => (f === 'porosity' ? report.families.porosity.mask : f === 'polish' ? report.families.polish.mask : null);
  const maskBits = (f: Family) => {
    if (!(f in bits)) {
      const m = familyMask(f);
      bits[f] = m ? decodeRle(m) : null;
    }
    return bits[f]!;
  };

  // Families a kept flag with nothing outlined says are present: labelled per image (no box, no mask), as the pass/fail
  // photos such a model was trained on were.
  const imageLevel = new Set<Family>();
  for (const f of findings) {
    if (f.measurements.unlocated === true && f.decision !== 'rejected') {
      imageLevel.add(f.family);
      continue;
    }
    const raw: Box | null = f.bbox_x0 === null || f.bbox_y0 === null || f.bbox_x1 === null || f.bbox_y1 === null ? null : [f.bbox_x0, f.bbox_y0, f.bbox_x1, f.bbox_y1];
    const box = raw && pixelBox(raw, w, h);
    if (!box) continue;
    if (f.decision === 'rejected') {
      negatives.push({ family: f.family, kind: f.kind, bbox: box, findingId: f.id, ...(f.measurements.unlocated === true ? { unlocated: true } : {}) });
      continue;
    }
    const extra: Record<string, unknown> = {};
    for (const k of ['gapIndex', 'stoneIndex', 'group'] as const) if (typeof f.measurements[k] === 'number') extra[k] = f.measurements[k];
    defects.push({ family: f.family, kind: f.kind, bbox: box, sizeMm: f.size_mm === null ? null : Math.abs(f.size_mm), ...extra, review: f.decision ?? 'unreviewed', findingId: f.id });
    if (f.family !== 'stone_spacing') {
      const c = canvas(f.family);
      if (!paintMaskInBox(c, w, maskBits(f.family), familyMask(f.family), box)) fillBox(c, w, box);
    }
  }
  for (const a of added) {
    const box = pixelBox([a.bbox_x0, a.bbox_y0, a.bbox_x1, a.bbox_y1], w, h);
    if (!box) continue;
    defects.push({ family: a.family, kind: a.kind, bbox: box, sizeMm: a.size_mm, review: 'added', addedId: a.id, ...(a.note ? { note: a.note } : {}) });
    if (a.family !== 'stone_spacing') fillBox(canvas(a.family), w, box);
  }

  const masks: ManifestEntry['masks'] = { porosity: null, polish: null };
  for (const f of ['porosity', 'polish'] as const) {
    const px = pixels[f];
    if (!px) continue;
    const rel = `masks/${stem}.${f}.png`;
    await sharp(Buffer.from(px.buffer, px.byteOffset, px.byteLength), { raw: { width: w, height: h, channels: 1 } }).png().toFile(join(opts.out, rel));
    masks[f] = rel;
  }
  const has = (f: Family) => imageLevel.has(f) || defects.some((d) => d.family === f);
  return {
    schemaVersion: 1,
    file,
    width: w,
    height: h,
    mmPerPx: report.photo.mmPerPx,
    source: REVIEW_SOURCE,
    metal: ins.metal as ManifestEntry['metal'],
    piece: PIECE_OF_PROFILE[ins.profile] ?? null,
    view: view.view,
    labels: { porosity: has('porosity'), stone_spacing: has('stone_spacing'), polish: has('polish') },
    masks,
    defects,
    // A family known only from a kept flag with nothing outlined is labelled for the whole photo.
    ...(imageLevel.size > 0 ? { labelLevel: 'image' as const } : {}),
    ...stonesOf(report, w, h),
    origin: { class: 'review', file: `${ins.id}/${view.n}`, photoSha256: view.photo.sha256 },
    negatives,
    review: {
      inspectionId: ins.id,
      pieceId: ins.pieceId,
      viewN: view.n,
      stationId: ins.stationId,
      tree: ins.tree,
      verdict: ins.verdict,
      disposition: head.disposition,
      rework: head.rework,
      note: head.note,
      reviewerKeyId: head.reviewer_key_id,
      decidedAt: head.decided_at,
      modelVersions: head.model_versions,
      profileVersion: head.profile_version,
    },
  };
}
