import type { Transaction } from 'kysely';
import { z } from 'zod';
import { intColumn, jsonColumn, nowIso, timestampColumn } from './columns.js';
import type { Db } from './db.js';
import type { Database } from './tables.js';

export interface AuditEventInput {
  /** Who acted: `station:<id>` today; the API key's owner once keys exist. */
  actor: string;
  /** `inspection.upload`, `inspection.verdict`, … */
  action: string;
  subjectType: string;
  subjectId: string;
  data: Record<string, unknown>;
}

const AuditRowSchema = z.object({
  seq: intColumn,
  at: timestampColumn,
  actor: z.string(),
  action: z.string(),
  subject_type: z.string(),
  subject_id: z.string(),
  data: jsonColumn(z.record(z.string(), z.unknown())),
});

/**
 * Append-only for now. The production issue turns this into a hash chain (each row storing the previous row's hash);
 * every write already goes through `append`, in the caller's transaction, so that is the one place to change.
 */
export function auditDal(db: Db) {
  return {
    async append(trx: Transaction<Database> | Db, e: AuditEventInput): Promise<void> {
      await trx
        .insertInto('audit_events')
        .values({
          at: nowIso(),
          actor: e.actor,
          action: e.action,
          subject_type: e.subjectType,
          subject_id: e.subjectId,
          data: JSON.stringify(e.data),
        })
        .execute();
    },
    async ofSubject(subjectType: string, subjectId: string) {
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('subject_type', '=', subjectType)
        .where('subject_id', '=', subjectId)
        .orderBy('seq')
        .execute();
      return rows.map((r) => {
        const p = AuditRowSchema.parse(r);
        return { seq: p.seq, at: p.at, actor: p.actor, action: p.action, subjectType: p.subject_type, subjectId: p.subject_id, data: p.data };
      });
    },
  };
}
export type AuditDal = ReturnType<typeof auditDal>;
