import { createHash, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { ConflictError } from '../../../core/errors.js';
import { inspectJobFor } from '../../../core/jobs.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import type { JobQueue } from '../../../core/queue.js';
import type { AuditDal } from '../../../core/store/audit-dal.js';
import type { CalibrationsDal } from '../../../core/store/calibrations-dal.js';
import { isUniqueViolation, type Db } from '../../../core/store/db.js';
import type { IdempotencyDal } from '../../../core/store/idempotency-dal.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';
import { canonicalJson } from '../../../pipeline/profiles.js';
import type { ReceivedUpload } from './receive-upload.js';

export interface AcceptDeps {
  db: Db;
  inspections: InspectionsDal;
  idempotency: IdempotencyDal;
  audit: AuditDal;
  /** The station's latest calibration supplies the scale of views uploaded without one. */
  calibrations?: CalibrationsDal;
  photos: PhotoStore;
  queue: JobQueue;
  log: FastifyBaseLogger;
}

export interface Accepted {
  id: string;
  /** The Idempotency-Key named an inspection accepted earlier; nothing new was written. */
  replayed: boolean;
}

/** Same metadata and same photo bytes in the same order: the request an Idempotency-Key may be replayed with. */
export function uploadFingerprint(upload: Pick<ReceivedUpload, 'metadata' | 'photos'>): string {
  return createHash('sha256')
    .update(canonicalJson(upload.metadata))
    .update(upload.photos.map((p) => p.sha256).join(','))
    .digest('hex');
}

/**
 * Accepts a received upload. The ordering is what makes "nothing half-written" hold when Redis is down:
 *   1. an Idempotency-Key already seen → the earlier inspection's id, nothing written;
 *   2. ping Redis → unreachable: 503 before anything is stored (staged files are discarded by the caller);
 *   3. photos into the store (content-addressed, so a retry re-uses them);
 *   4. one transaction: piece, inspection (`queued`), views, idempotency key, audit event;
 *   5. enqueue with jobId = inspection id;
 *   6. enqueue failed (Redis died between 2 and 5) → the rows of step 4 are deleted again and the client gets 503.
 * A crash between 4 and 5 leaves a `queued` row without a job: the sweeper finds it and enqueues it with the same
 * job id. Photos stored in 3 for a request that then failed are unreferenced blobs, harmless and re-used by a retry.
 */
export function inspectionsService(deps: AcceptDeps) {
  async function replay(key: string, fingerprint: string): Promise<Accepted | null> {
    const found = await deps.idempotency.find(key);
    if (!found) return null;
    if (found.fingerprint !== fingerprint) {
      throw new ConflictError(
        `Idempotency-Key "${key}" was already used for a different upload (inspection ${found.inspectionId}); use a new key`,
        'idempotency_key_reused',
        { inspectionId: found.inspectionId },
      );
    }
    return { id: found.inspectionId, replayed: true };
  }

  return {
    async accept(upload: ReceivedUpload, idempotencyKey: string | undefined, by?: { actor: string; actorKeyId: string | null }): Promise<Accepted> {
      const fingerprint = uploadFingerprint(upload);
      if (idempotencyKey) {
        const earlier = await replay(idempotencyKey, fingerprint);
        if (earlier) {
          await upload.discard();
          return earlier;
        }
      }
      await deps.queue.ping();

      // The scale is fixed now, at acceptance: a job run again later measures with the calibration of its upload.
      const needsScale = upload.metadata.views.some((v) => v.mmPerPx === undefined);
      const calibration = needsScale ? ((await deps.calibrations?.latest(upload.metadata.stationId)) ?? null) : null;

      for (const p of upload.photos) await deps.photos.putStaged(p.stagedPath, p.sha256);

      const id = randomUUID();
      const scales = upload.metadata.views.map((v) =>
        v.mmPerPx !== undefined
          ? { mmPerPx: v.mmPerPx, mmPerPxSource: 'given' as const, calibrationId: null }
          : calibration
            ? { mmPerPx: calibration.mmPerPx, mmPerPxSource: 'calibration' as const, calibrationId: calibration.id }
            : { mmPerPx: null, calibrationId: null },
      );
      try {
        await deps.db.transaction().execute(async (trx) => {
          await deps.inspections.insert(trx, {
            id,
            metadata: upload.metadata,
            views: upload.photos.map((p, n) => ({
              view: upload.metadata.views[n]!.view,
              photoSha256: p.sha256,
              photoType: p.type,
              width: p.width,
              height: p.height,
              bytes: p.bytes,
              fileName: p.fileName,
              ...scales[n]!,
            })),
          });
          if (idempotencyKey) await deps.idempotency.insert(trx, idempotencyKey, id, fingerprint);
          await deps.audit.append(trx, {
            actor: by?.actor ?? `station:${upload.metadata.stationId}`,
            actorKeyId: by?.actorKeyId ?? null,
            action: 'inspection.upload',
            subjectType: 'inspection',
            subjectId: id,
            data: {
              pieceId: upload.metadata.pieceId,
              stationId: upload.metadata.stationId,
              photos: upload.photos.map((p) => p.sha256),
              scales: scales.map((s) => ({ mmPerPx: s.mmPerPx, source: s.mmPerPx === null ? 'default' : s.mmPerPxSource, calibrationId: s.calibrationId })),
              idempotencyKey: idempotencyKey ?? null,
            },
          });
        });
      } catch (err) {
        // Two identical requests raced past step 1: the loser answers with the winner's id.
        if (idempotencyKey && isUniqueViolation(err)) {
          const earlier = await replay(idempotencyKey, fingerprint);
          if (earlier) return earlier;
        }
        throw err;
      }

      try {
        const row = await deps.inspections.get(id);
        if (!row) throw new Error(`inspection ${id} vanished right after its insert`);
        await deps.queue.enqueue('inspect', inspectJobFor(row), id);
      } catch (err) {
        await deps.db
          .transaction()
          .execute(async (trx) => {
            await deps.inspections.removeUnqueued(trx, id);
            await deps.audit.append(trx, {
              actor: 'api',
              action: 'inspection.upload_withdrawn',
              subjectType: 'inspection',
              subjectId: id,
              data: { reason: err instanceof Error ? err.message : String(err) },
            });
          })
          .catch((undoErr: unknown) => {
            // The row stays `queued`; the sweeper will enqueue it once Redis is back, under the same id.
            deps.log.error({ err: undoErr, inspectionId: id }, 'could not withdraw an upload whose enqueue failed');
          });
        throw err;
      }
      return { id, replayed: false };
    },
  };
}
export type InspectionsService = ReturnType<typeof inspectionsService>;
