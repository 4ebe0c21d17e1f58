import type { Inspection } from './store/inspections-dal.js';

/** Relative, so it works behind any proxy or host name. */
export const inspectionUrl = (id: string) => `/v1/inspections/${id}`;

/**
 * What every client is told about an inspection: the piece, how it is judged and the outcome. The API body, the
 * webhook event and the review page all start from this (in this key order) and add what their reader needs, so a
 * field that belongs to all of them is added here once. `reasons` and `missingViews` are empty until the piece has
 * a summary.
 */
export function inspectionFields(i: Inspection) {
  return {
    id: i.id,
    pieceId: i.pieceId,
    sku: i.sku,
    profile: i.profile,
    metal: i.metal,
    stationId: i.stationId,
    tree: i.tree,
    status: i.status,
    verdict: i.verdict,
    reasons: i.summary?.reasons ?? [],
    missingViews: i.summary?.missingViews ?? [],
    failureReason: i.failureReason,
  };
}
