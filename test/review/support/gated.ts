import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { reportsDb } from '../../../core/reports/tables.js';
import type { Db } from '../../../core/store/db.js';
import { inspectionsDal } from '../../../core/store/inspections-dal.js';
import type { InspectionReport } from '../../../pipeline/report.schema.js';
import { findingsOf } from '../../../workers/handlers/findings.js';
import type { TestApp } from '../../api/support/test-app.js';
import { gatedReport } from '../../core/support/report-fixture.js';

export const GREY = 128;

/** A finished `review` inspection stored the way the worker stores one: report, and findings rows by `findingsOf`. */
export async function seedGated(
  db: Db,
  t: TestApp,
  pieceId: string,
  flags: 'stated' | 'absent',
  edit: (report: InspectionReport) => InspectionReport = (r) => r,
): Promise<{ id: string; report: InspectionReport }> {
  const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toBuffer();
  const { key: sha } = await t.photos.put(photo);
  const report = edit(gatedReport({ flags, sha256: sha }));
  const id = randomUUID();
  const dal = inspectionsDal(db);
  await db.transaction().execute((trx) =>
    dal.insert(trx, {
      id,
      now: '2026-02-01T08:00:00.000Z',
      metadata: { pieceId, profile: 'ring', metal: 'au750_yellow', casting: { tree: 'T-9', caster: 'ana' }, stationId: 'qc-1', views: [{ view: 'top', mmPerPx: 0.01 }] },
      views: [{ view: 'top', photoSha256: sha, photoType: 'png', width: 800, height: 600, bytes: photo.length, fileName: 'top.png', mmPerPx: 0.01 }],
    }),
  );
  await dal.complete(id, {
    verdict: 'review',
    summary: { verdict: 'review', reasons: ['top: polish review (1 finding(s))'], missingViews: [], profile: report.profile, models: report.models, timingsMs: {} },
    views: [{ n: 0, verdict: 'review', report }],
    findings: findingsOf(0, report),
  });
  return { id, report };
}

/** The piece's effective findings in the trend summary, as `family/kind`. */
export async function factFindings(db: Db, id: string) {
  const rows = await reportsDb(db).selectFrom('inspection_fact_findings').select(['family', 'kind']).where('inspection_id', '=', id).orderBy('family').orderBy('kind').execute();
  return rows.map((r) => `${r.family}/${r.kind}`);
}
