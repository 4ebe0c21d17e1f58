import type { InspectJob } from './jobs.schema.js';
import type { InspectionWithViews } from './store/inspections-dal.js';

/**
 * The job payload of an inspection, built from its database row: the API after its insert and the sweeper when it
 * re-enqueues a lost job use this one function, so a re-enqueued job is identical to the original.
 */
export function inspectJobFor(i: InspectionWithViews): InspectJob {
  const m = i.metadata;
  return {
    inspectionId: i.id,
    profile: m.profile,
    metal: m.metal,
    ...(m.expectedStones === undefined ? {} : { expectedStones: m.expectedStones }),
    views: i.views.map((v) => ({
      n: v.n,
      view: v.view,
      photoKey: v.photo.sha256,
      ...(v.mmPerPx === null ? {} : { mmPerPx: v.mmPerPx, ...(v.mmPerPxSource === 'calibration' ? { mmPerPxSource: 'calibration' as const } : {}) }),
    })),
  };
}
