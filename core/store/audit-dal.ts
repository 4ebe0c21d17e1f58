import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { auditEventHash, GENESIS_HASH } from './audit-hash.js';
import { intColumn, jsonColumn, nowIso, timestampColumn } from './columns.js';
import type { Db } from './db.js';
import type { Database } from './tables.js';

export interface AuditEventInput {
  /** Who acted: `<role>:<key name>` for an API key, `worker`, `cli:<user>`, `station:<id>` before keys existed. */
  actor: string;
  /** The API key that acted, when one did. */
  actorKeyId?: string | null;
  /** `inspection.upload`, `inspection.verdict`, `key.create`, … */
  action: string;
  subjectType: string;
  subjectId: string;
  data: Record<string, unknown>;
}

const AuditRowSchema = z.object({
  seq: intColumn,
  at: timestampColumn,
  actor: z.string(),
  actor_key_id: z.string().nullable(),
  action: z.string(),
  subject_type: z.string(),
  subject_id: z.string(),
  data: jsonColumn(z.record(z.string(), z.unknown())),
  prev_hash: z.string().nullable(),
  hash: z.string().nullable(),
});

function toEvent(row: unknown) {
  const p = AuditRowSchema.parse(row);
  return {
    seq: p.seq,
    at: p.at,
    actor: p.actor,
    actorKeyId: p.actor_key_id,
    action: p.action,
    subjectType: p.subject_type,
    subjectId: p.subject_id,
    data: p.data,
    prevHash: p.prev_hash,
    hash: p.hash,
  };
}
export type AuditEvent = ReturnType<typeof toEvent>;

/** One arbitrary but fixed advisory-lock key for the chain head (PostgreSQL). */
const CHAIN_LOCK_KEY = 7_4657_1001;

/** Kysely exposes no public dialect flag; the adapter is the one reliable sign (stable within 0.28). */
function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

export type ChainProblem = {
  seq: number;
  kind: 'changed' | 'inserted' | 'deleted_before' | 'unchained';
  message: string;
};

/**
 * The audit trail as a hash chain: each event stores the hash of the one before and its own hash over its content
 * (see `audit-hash.ts`). Appends are serialised so that concurrent API and worker processes never fork the chain:
 * on PostgreSQL by a transaction-scoped advisory lock taken before reading the head, on SQLite by the write lock
 * every transaction takes up front (`BEGIN IMMEDIATE`, see db.ts). Both are held until the caller's transaction
 * commits, so the head a writer read is the head when it commits. Append last in a transaction, to hold the lock
 * briefly.
 */
export function auditDal(db: Db) {
  async function appendIn(trx: Transaction<Database>, e: AuditEventInput): Promise<AuditEvent> {
    if (isPostgres(trx)) await sql`select pg_advisory_xact_lock(${CHAIN_LOCK_KEY})`.execute(trx);
    const head = await trx.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const seq = head ? intColumn.parse(head.seq) + 1 : 1;
    const prevHash = head?.hash ?? GENESIS_HASH;
    const at = nowIso();
    // Hash the data as it will read back (JSON round trip: undefined members vanish, dates become strings).
    const data = JSON.parse(JSON.stringify(e.data)) as Record<string, unknown>;
    const ev = {
      seq,
      at,
      actor: e.actor,
      actorKeyId: e.actorKeyId ?? null,
      action: e.action,
      subjectType: e.subjectType,
      subjectId: e.subjectId,
      data,
      prevHash,
    };
    const hash = auditEventHash(ev);
    await trx
      .insertInto('audit_events')
      .values({
        seq,
        at,
        actor: ev.actor,
        actor_key_id: ev.actorKeyId,
        action: ev.action,
        subject_type: ev.subjectType,
        subject_id: ev.subjectId,
        data: JSON.stringify(data),
        prev_hash: prevHash,
        hash,
      })
      .execute();
    return { ...ev, hash };
  }

  return {
    /** Appends inside the caller's transaction (or a transaction of its own when given the database). */
    async append(trx: Transaction<Database> | Db, e: AuditEventInput): Promise<AuditEvent> {
      if (trx.isTransaction) return appendIn(trx as Transaction<Database>, e);
      return trx.transaction().execute((t) => appendIn(t, e));
    },

    async ofSubject(subjectType: string, subjectId: string): Promise<AuditEvent[]> {
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('subject_type', '=', subjectType)
        .where('subject_id', '=', subjectId)
        .orderBy('seq')
        .execute();
      return rows.map(toEvent);
    },

    async list(opts: { afterSeq?: number; limit: number; actor?: string; subjectType?: string }): Promise<AuditEvent[]> {
      let q = db.selectFrom('audit_events').selectAll().where('seq', '>', opts.afterSeq ?? 0);
      if (opts.actor) q = q.where('actor', '=', opts.actor);
      if (opts.subjectType) q = q.where('subject_type', '=', opts.subjectType);
      return (await q.orderBy('seq').limit(opts.limit).execute()).map(toEvent);
    },

    /**
     * Walks the whole chain in seq order and returns the first problem: an event whose content no longer matches
     * its hash (changed), one whose `prev_hash` is not the hash of the event before it (inserted, or the events
     * before it deleted, told apart by the gap in seq). Deleting the newest events leaves a valid shorter chain:
     * compare `head` with a copy kept elsewhere (see docs/production.md).
     */
    async verify(): Promise<{ ok: boolean; events: number; head: { seq: number; hash: string } | null; problem: ChainProblem | null }> {
      let prev: { seq: number; hash: string } | null = null;
      let count = 0;
      let after = 0;
      for (;;) {
        const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(2000).execute();
        if (rows.length === 0) break;
        for (const row of rows) {
          const e = toEvent(row);
          after = e.seq;
          count++;
          const problem = check(e, prev);
          if (problem) return { ok: false, events: count, head: prev, problem };
          prev = { seq: e.seq, hash: e.hash! };
        }
      }
      return { ok: true, events: count, head: prev, problem: null };
    },
  };
}
export type AuditDal = ReturnType<typeof auditDal>;

function check(e: AuditEvent, prev: { seq: number; hash: string } | null): ChainProblem | null {
  if (!e.hash || !e.prevHash) return { seq: e.seq, kind: 'unchained', message: `event ${e.seq} (${e.action}) has no hash: written around the chain, not through auditDal.append` };
  const expectedPrev = prev?.hash ?? GENESIS_HASH;
  if (e.prevHash !== expectedPrev) {
    const gap = prev === null ? e.seq > 1 : e.seq !== prev.seq + 1;
    if (gap) {
      const from = (prev?.seq ?? 0) + 1;
      return {
        seq: e.seq,
        kind: 'deleted_before',
        message: `event ${e.seq} (${e.action}) does not follow ${prev ? `event ${prev.seq}` : 'the start of the chain'}: event${e.seq - from > 1 ? `s ${from}..${e.seq - 1}` : ` ${from}`} deleted`,
      };
    }
    return { seq: e.seq, kind: 'inserted', message: `event ${e.seq} (${e.action}) does not link to event ${prev?.seq ?? 'start'}: inserted, or the chain was rewritten from here` };
  }
  const recomputed = auditEventHash({ ...e, prevHash: e.prevHash });
  if (recomputed !== e.hash) return { seq: e.seq, kind: 'changed', message: `event ${e.seq} (${e.action}, ${e.at}) was changed after it was written: its content no longer matches its hash` };
  return null;
}
