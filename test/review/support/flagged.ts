import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { UploadMetadata } from '../../../core/inspection.schema.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import { historyReport, type InspectionSpec } from '../../../core/reports/seed-history.js';
import type { Db } from '../../../core/store/db.js';
import { inspectionsDal } from '../../../core/store/inspections-dal.js';
import { encodeRle } from '../../../pipeline/postprocess/rle.js';
import { InspectionReportSchema, type InspectionReport } from '../../../pipeline/report.schema.js';
import { findingsOf } from '../../../workers/handlers/findings.js';

/**
 * A finished, flagged inspection stored the way upload + worker store one (photo in the photo store, report, one
 * findings row per finding), with a real 800x600 photo and a porosity mask, so the review page has something to
 * show without depending on what a model finds. Pores sit at the boxes `historyReport` lays out.
 */
export async function seedFlagged(
  store: Db,
  photos: PhotoStore,
  spec: Omit<InspectionSpec, 'findings'> & { findings: InspectionSpec['findings'] },
  edit: (report: InspectionReport) => InspectionReport = (r) => r,
): Promise<{ id: string; report: InspectionReport }> {
  const id = spec.id ?? randomUUID();
  const base = historyReport(spec);
  const W = 800;
  const H = 600;
  // Gold on grey with a dark dot inside each porosity box.
  const dots = base.families.porosity.findings
    .map((f) => `<circle cx="${(f.bbox[0] + f.bbox[2]) / 2}" cy="${(f.bbox[1] + f.bbox[3]) / 2}" r="9" fill="#2a1d05"/>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="${W}" height="${H}" fill="#8a8f96"/><rect x="20" y="20" width="${W - 40}" height="${H - 40}" rx="60" fill="#d4af37"/>${dots}</svg>`;
  const jpeg = await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
  const { key: sha } = await photos.put(jpeg);
  // Mask at half resolution (scaleToPhoto 2), ones on each pore's dot.
  const mw = W / 2;
  const mh = H / 2;
  const bits = new Uint8Array(mw * mh);
  for (const f of base.families.porosity.findings) {
    const cx = (f.bbox[0] + f.bbox[2]) / 4;
    const cy = (f.bbox[1] + f.bbox[3]) / 4;
    for (let y = Math.floor(cy - 5); y <= cy + 5; y++) for (let x = Math.floor(cx - 5); x <= cx + 5; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= 20) bits[y * mw + x] = 1;
  }
  const report = InspectionReportSchema.parse(edit({
    ...base,
    photo: { ...base.photo, sha256: sha },
    families: { ...base.families, porosity: { ...base.families.porosity, mask: { width: mw, height: mh, scaleToPhoto: 2, rle: encodeRle(bits) } } },
  }));
  const dal = inspectionsDal(store);
  const metadata: UploadMetadata = {
    pieceId: spec.pieceId,
    profile: spec.profile ?? 'ring',
    ...(spec.sku ? { sku: spec.sku } : {}),
    metal: spec.metal,
    ...(spec.casting ? { casting: spec.casting } : {}),
    stationId: spec.stationId ?? 'qc-1',
    views: [{ view: 'top', mmPerPx: 0.01 }],
  };
  await store.transaction().execute((trx) =>
    dal.insert(trx, {
      id,
      metadata,
      now: spec.at,
      views: [{ view: 'top', photoSha256: sha, photoType: 'jpeg', width: W, height: H, bytes: jpeg.length, fileName: 'top.jpg', mmPerPx: 0.01 }],
    }),
  );
  await dal.complete(id, {
    verdict: spec.verdict,
    summary: {
      verdict: spec.verdict,
      reasons: [`top: ${spec.findings.map((f) => f.family).join(', ')} ${spec.verdict}`],
      missingViews: [],
      profile: report.profile,
      models: report.models,
      timingsMs: { total: 75 },
    },
    views: [{ n: 0, verdict: spec.verdict, report }],
    findings: findingsOf(0, report),
  });
  return { id, report };
}
