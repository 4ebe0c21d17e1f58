import { inspectionFields, inspectionUrl } from '../../../core/inspection-fields.js';
import type { InspectionWithViews } from '../../../core/store/inspections-dal.js';
import type { InspectionBody, InspectionSummary } from './inspections.schema.js';

/** Rows → response bodies. URLs are relative, so they work behind any proxy or host name. */

export { inspectionUrl };
export const pieceUrl = (pieceId: string) => `/v1/pieces/${encodeURIComponent(pieceId)}`;
export const overlayUrl = (id: string, n: number) => `/v1/inspections/${id}/views/${n}/overlay.png`;

export function presentInspection(i: InspectionWithViews): InspectionBody {
  return {
    ...inspectionFields(i),
    attempts: i.attempts,
    createdAt: i.createdAt,
    startedAt: i.startedAt,
    finishedAt: i.finishedAt,
    metadata: i.metadata,
    views: i.views.map((v) => ({
      n: v.n,
      view: v.view,
      verdict: v.verdict,
      mmPerPx: v.mmPerPx,
      mmPerPxSource: v.mmPerPxSource,
      calibrationId: v.calibrationId,
      photo: v.photo,
      overlayUrl: v.report ? overlayUrl(i.id, v.n) : null,
      report: v.report,
    })),
    links: { self: inspectionUrl(i.id), piece: pieceUrl(i.pieceId) },
  };
}

export function presentSummary(i: InspectionWithViews): InspectionSummary {
  return {
    id: i.id,
    pieceId: i.pieceId,
    profile: i.profile,
    stationId: i.stationId,
    tree: i.tree,
    status: i.status,
    verdict: i.verdict,
    createdAt: i.createdAt,
    finishedAt: i.finishedAt,
    views: i.views.map((v) => ({ n: v.n, view: v.view, verdict: v.verdict })),
    url: inspectionUrl(i.id),
  };
}
