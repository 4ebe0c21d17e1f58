import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { InspectJobSchema, type InspectJob } from '../../core/jobs.schema.js';
import type { PhotoStore } from '../../core/photo-store/photo-store.js';
import { PhotoNotFoundError } from '../../core/photo-store/photo-store.js';
import type { InspectionsDal } from '../../core/store/inspections-dal.js';
import { inspectionEventData, inspectionEvents, type WebhookEmitter } from '../../core/webhooks/emitter.js';
import { isPipelineError } from '../../pipeline/errors.js';
import type { ProfileSet } from '../../pipeline/profiles.js';
import type { Profile } from '../../pipeline/profile.schema.js';
import type { InspectionReport, InspectMetadata } from '../../pipeline/report.schema.js';
import { findingsOf } from './findings.js';
import { pieceVerdict, sumTimings } from './piece-verdict.js';

/** The one call into the pipeline: photo bytes in, report out (models bound by the caller, see workers/main.ts). */
export type InspectPhoto = (photo: Uint8Array, metadata: InspectMetadata, profile: Profile) => Promise<InspectionReport>;

export interface InspectHandlerDeps {
  inspections: InspectionsDal;
  photos: PhotoStore;
  profiles: ProfileSet;
  inspectPhoto: InspectPhoto;
  /** Announces results to registered webhooks (absent in tests that do not care). */
  webhooks?: WebhookEmitter;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export type InspectResult = { inspectionId: string; outcome: 'done' | 'already-finished'; verdict?: string; ms?: number };

/** A failure no retry can fix: the inspection is marked failed with `reason` and BullMQ does not retry. */
class BadInput extends Error {}

function parseJob(data: unknown): InspectJob {
  const parsed = InspectJobSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UnrecoverableError(`job data is not an InspectJob: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Runs the pipeline over every view of an inspection and records the result. Safe to run more than once for the
 * same inspection (a crashed worker's job is handed to another): a finished inspection is left alone, and the
 * result is written in one transaction that replaces any earlier findings.
 */
export function inspectHandler(deps: InspectHandlerDeps) {
  async function run(job: InspectJob): Promise<InspectResult> {
    const t0 = performance.now();
    const id = job.inspectionId;
    let profile: Profile;
    try {
      profile = deps.profiles.get(job.profile, job.metal);
    } catch (err) {
      throw new BadInput(err instanceof Error ? err.message : String(err));
    }

    let ioMs = 0;
    const results: Array<{ n: number; view: string; report: InspectionReport }> = [];
    for (const v of job.views) {
      const tIo = performance.now();
      let bytes: Buffer;
      try {
        bytes = await deps.photos.get(v.photoKey);
      } catch (err) {
        if (err instanceof PhotoNotFoundError) throw new BadInput(`view ${v.n} (${v.view}): photo ${v.photoKey} is missing from the photo store`);
        throw err;
      }
      // A content-addressed store can prove it returned the right bytes; a flipped disk block must not be judged.
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (sha !== v.photoKey) throw new BadInput(`view ${v.n} (${v.view}): stored photo ${v.photoKey} now hashes to ${sha}`);
      ioMs += performance.now() - tIo;
      try {
        const report = await deps.inspectPhoto(
          bytes,
          {
            view: v.view,
            metal: job.metal,
            ...(v.mmPerPx === undefined ? {} : { mmPerPx: v.mmPerPx, mmPerPxSource: v.mmPerPxSource ?? ('given' as const) }),
            ...(job.expectedStones === undefined ? {} : { expectedStones: job.expectedStones }),
          },
          profile,
        );
        results.push({ n: v.n, view: v.view, report });
      } catch (err) {
        if (isPipelineError(err) && !err.retryable) throw new BadInput(`view ${v.n} (${v.view}): ${err.message}`);
        throw err;
      }
    }

    const piece = pieceVerdict(results, profile.requiredViews);
    const tDb = performance.now();
    const reports = results.map((r) => r.report);
    const models = new Map(reports.flatMap((r) => r.models).map((m) => [`${m.id}@${m.version}`, m]));
    const deliveries: string[] = [];
    await deps.inspections.complete(
      id,
      {
        verdict: piece.verdict,
        summary: {
          ...piece,
          profile: { name: profile.name, version: profile.version },
          models: [...models.values()],
          timingsMs: sumTimings(reports, { io: ioMs, job: performance.now() - t0 }),
        },
        views: results.map((r) => ({ n: r.n, verdict: r.report.verdict, report: r.report })),
        findings: results.flatMap((r) => findingsOf(r.n, r.report)),
      },
      async (trx) => {
        if (!deps.webhooks) return;
        const row = await deps.inspections.get(id, trx);
        if (!row) return;
        for (const event of inspectionEvents(row)) {
          deliveries.push(...(await deps.webhooks.prepare(trx, { event, stationId: row.stationId, inspectionId: id, data: inspectionEventData(row) })));
        }
      },
    );
    // After the commit: a crash right here leaves `pending` deliveries, which the sweeper enqueues.
    await deps.webhooks?.dispatch(deliveries);
    const ms = Math.round(performance.now() - t0);
    deps.log.info({ inspectionId: id, verdict: piece.verdict, ms, dbMs: Math.round(performance.now() - tDb) }, 'inspection done');
    return { inspectionId: id, outcome: 'done', verdict: piece.verdict, ms };
  }

  async function announceFailure(id: string): Promise<void> {
    if (!deps.webhooks) return;
    try {
      const row = await deps.inspections.get(id);
      if (row?.status === 'failed') {
        await deps.webhooks.emit({ event: 'inspection.error', stationId: row.stationId, inspectionId: id, data: inspectionEventData(row) });
      }
    } catch (err) {
      deps.log.warn({ inspectionId: id, err: err instanceof Error ? err.message : String(err) }, 'could not announce the failed inspection to webhooks');
    }
  }

  return async function processInspect(job: Job): Promise<InspectResult> {
    const data = parseJob(job.data);
    const id = data.inspectionId;
    if (!(await deps.inspections.markProcessing(id))) {
      const row = await deps.inspections.get(id);
      // No row: the upload was withdrawn after its enqueue timed out (the client got 503). Nothing to do, ever.
      if (!row) throw new UnrecoverableError(`inspection ${id} does not exist (upload withdrawn)`);
      return { inspectionId: id, outcome: 'already-finished' };
    }
    try {
      return await run(data);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof BadInput || err instanceof UnrecoverableError) {
        await deps.inspections.markFailed(id, reason);
        await announceFailure(id);
        throw err instanceof UnrecoverableError ? err : new UnrecoverableError(reason);
      }
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade + 1 >= attempts) {
        await deps.inspections.markFailed(id, `gave up after ${attempts} attempts: ${reason}`);
        await announceFailure(id);
      } else await deps.inspections.markRetrying(id, `attempt ${job.attemptsMade + 1} of ${attempts} failed: ${reason}`);
      deps.log.warn({ inspectionId: id, err: reason, attempt: job.attemptsMade + 1 }, 'inspection attempt failed');
      throw err;
    }
  };
}
