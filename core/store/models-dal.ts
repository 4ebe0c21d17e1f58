import { z } from 'zod';
import { intColumn, jsonColumn, nowIso, timestampColumn } from './columns.js';
import { auditDal } from './audit-dal.js';
import type { Db } from './db.js';

export interface ModelSeen {
  id: string;
  version: string;
  sha256: string;
  sizeBytes: number;
  manifest: unknown;
}

const ModelRowSchema = z.object({
  model_id: z.string(),
  version: z.string(),
  sha256: z.string(),
  size_bytes: intColumn,
  manifest: jsonColumn(z.record(z.string(), z.unknown())),
  first_seen_at: timestampColumn,
  last_seen_at: timestampColumn,
});

/**
 * Every model version a worker has loaded, so a report's model ids can be looked up long after promotion. The first
 * time any worker loads a version (a promotion reaching production) is an audit event with the file's hash; a
 * version whose file hash changed under the same version number is one too.
 */
export function modelsDal(db: Db) {
  const audit = auditDal(db);
  return {
    async recordLoaded(models: ModelSeen[], actor = 'worker'): Promise<void> {
      const now = nowIso();
      for (const m of models) {
        await db.transaction().execute(async (trx) => {
          const before = await trx
            .selectFrom('models')
            .select('sha256')
            .where('model_id', '=', m.id)
            .where('version', '=', m.version)
            .executeTakeFirst();
          await trx
            .insertInto('models')
            .values({
              model_id: m.id,
              version: m.version,
              sha256: m.sha256,
              size_bytes: m.sizeBytes,
              manifest: JSON.stringify(m.manifest),
              first_seen_at: now,
              last_seen_at: now,
            })
            .onConflict((oc) => oc.columns(['model_id', 'version']).doUpdateSet({ last_seen_at: now, sha256: m.sha256 }))
            .execute();
          if (!before || before.sha256 !== m.sha256) {
            await audit.append(trx, {
              actor,
              action: before ? 'model.file_changed' : 'model.promote',
              subjectType: 'model',
              subjectId: `${m.id}@${m.version}`,
              data: { id: m.id, version: m.version, sha256: m.sha256, sizeBytes: m.sizeBytes, ...(before ? { previousSha256: before.sha256 } : {}) },
            });
          }
        });
      }
    },
    async list() {
      const rows = await db.selectFrom('models').selectAll().orderBy('model_id').orderBy('first_seen_at', 'desc').execute();
      return rows.map((row) => {
        const r = ModelRowSchema.parse(row);
        return {
          id: r.model_id,
          version: r.version,
          sha256: r.sha256,
          sizeBytes: r.size_bytes,
          manifest: r.manifest,
          firstSeenAt: r.first_seen_at,
          lastSeenAt: r.last_seen_at,
        };
      });
    },
  };
}
export type ModelsDal = ReturnType<typeof modelsDal>;
