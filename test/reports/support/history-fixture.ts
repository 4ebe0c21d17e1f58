import { reviewsDal } from '../../../core/reports/reviews-dal.js';
import { findingIds, recordInspection, type InspectionSpec, type SeedFinding } from '../../../core/reports/seed-history.js';
import type { Db } from '../../../core/store/db.js';

export const D1 = '2025-03-03';
export const D2 = '2025-03-04';
export const D3 = '2025-03-05';
const V1 = [{ id: 'loupe-seg', version: '1.0.0' }];
const V2 = [{ id: 'loupe-seg', version: '2.0.0' }];
export const pore = (kind: string, sizeMm: number): SeedFinding => ({ family: 'porosity', kind, sizeMm });

/**
 * Seven pieces, hand-checked (see each comment), over two casters and two days:
 *  P1 A pass                                  → first pass
 *  P2 A fail (gas_void 0.2, confirmed), rework:polish, re-inspected pass on D3 → defective, not first pass
 *  P3 A review (pinhole rejected by the inspector), disposition accept → not defective, first pass
 *  P4 B pass, but inspected again later      → not first pass
 *  P5 B retake, then pass the same day        → counted once, at the pass; first pass
 *  P6 B review (pinhole 0.1), nobody decided  → defective, pending
 *  P7 B fail (gas_void 0.3 + pinhole 0.12, confirmed; inspector adds a missed pinhole 0.05), scrap → 3 defects
 */
export async function seedFixture(db: Db) {
  const rv = reviewsDal(db);
  const base = (pieceId: string, caster: string, at: string, verdict: InspectionSpec['verdict'], findings: SeedFinding[], models = V1): InspectionSpec => ({
    pieceId,
    at,
    metal: 'au750_yellow',
    casting: { tree: `T-${caster}`, caster },
    finishing: { polisher: 'Jo' },
    verdict,
    findings,
    models,
  });
  await recordInspection(db, base('P1', 'A', `${D1}T08:00:00.000Z`, 'pass', []));
  const p2 = await recordInspection(db, base('P2', 'A', `${D1}T09:00:00.000Z`, 'fail', [pore('gas_void', 0.2)]));
  await rv.reviewFinding({ inspectionId: p2, findingId: findingIds(p2, 1)[0]!, decision: 'confirmed', reviewerKeyId: 'k-mia' });
  await rv.setDisposition({ inspectionId: p2, disposition: 'rework', rework: 'polish', reviewerKeyId: 'k-mia' });
  await recordInspection(db, base('P2', 'A', `${D3}T10:00:00.000Z`, 'pass', []));
  const p3 = await recordInspection(db, base('P3', 'A', `${D2}T09:00:00.000Z`, 'review', [pore('pinhole', 0.08)]));
  await rv.reviewFinding({ inspectionId: p3, findingId: findingIds(p3, 1)[0]!, decision: 'rejected', reviewerKeyId: 'k-mia' });
  await rv.setDisposition({ inspectionId: p3, disposition: 'accept', reviewerKeyId: 'k-mia' });
  await recordInspection(db, base('P4', 'B', `${D1}T08:30:00.000Z`, 'pass', []));
  await recordInspection(db, base('P4', 'B', `${D3}T08:30:00.000Z`, 'pass', []));
  await recordInspection(db, base('P5', 'B', `${D1}T11:00:00.000Z`, 'retake', []));
  await recordInspection(db, base('P5', 'B', `${D1}T11:10:00.000Z`, 'pass', []));
  await recordInspection(db, base('P6', 'B', `${D2}T08:00:00.000Z`, 'review', [pore('pinhole', 0.1)]));
  const p7 = await recordInspection(db, base('P7', 'B', `${D2}T10:00:00.000Z`, 'fail', [pore('gas_void', 0.3), pore('pinhole', 0.12)], V2));
  for (const id of findingIds(p7, 2)) await rv.reviewFinding({ inspectionId: p7, findingId: id, decision: 'confirmed', reviewerKeyId: 'k-noah' });
  await rv.addMissedFinding({ inspectionId: p7, viewN: 0, family: 'porosity', kind: 'pinhole', bbox: [1, 1, 5, 5], sizeMm: 0.05, reviewerKeyId: 'k-noah' });
  await rv.setDisposition({ inspectionId: p7, disposition: 'scrap', reviewerKeyId: 'k-noah' });
}

export const PERIOD = { from: `${D1}T00:00:00.000Z`, to: '2025-03-06T00:00:00.000Z' };
