import type { Transaction } from 'kysely';
import { nowIso } from './columns.js';
import type { Db } from './db.js';
import type { Database } from './tables.js';

/**
 * `Idempotency-Key` → inspection. The key row is inserted in the same transaction as the inspection, and the primary
 * key makes the second of two concurrent identical requests fail there, after which it reads the winner's id.
 */
export function idempotencyDal(db: Db) {
  return {
    async find(key: string): Promise<{ inspectionId: string; fingerprint: string } | null> {
      const row = await db.selectFrom('idempotency_keys').select(['inspection_id', 'fingerprint']).where('key', '=', key).executeTakeFirst();
      return row ? { inspectionId: row.inspection_id, fingerprint: row.fingerprint } : null;
    },
    async insert(trx: Transaction<Database>, key: string, inspectionId: string, fingerprint: string): Promise<void> {
      await trx.insertInto('idempotency_keys').values({ key, inspection_id: inspectionId, fingerprint, created_at: nowIso() }).execute();
    },
  };
}
export type IdempotencyDal = ReturnType<typeof idempotencyDal>;
