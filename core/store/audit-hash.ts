import { createHash } from 'node:crypto';

/**
 * The definition of the audit chain. Changing anything here makes every stored hash wrong, so it is frozen: a new
 * form would need a version field and a migration that re-verifies the old chain before re-hashing.
 *
 * hash = sha256( canonical JSON of { seq, at, actor, actorKeyId, action, subjectType, subjectId, data, prevHash } )
 *
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members dropped, everything else as
 * `JSON.stringify` writes it. Values are the ones read back through the row schema (timestamps as ISO-8601 UTC with
 * milliseconds, JSON data parsed), so SQLite's text and PostgreSQL's timestamptz/jsonb hash the same.
 */

export const GENESIS_HASH = '0'.repeat(64);

export interface HashedEvent {
  seq: number;
  at: string;
  actor: string;
  actorKeyId: string | null;
  action: string;
  subjectType: string;
  subjectId: string;
  data: unknown;
  prevHash: string;
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function auditEventHash(e: HashedEvent): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        actorKeyId: e.actorKeyId,
        action: e.action,
        subjectType: e.subjectType,
        subjectId: e.subjectId,
        data: e.data,
        prevHash: e.prevHash,
      }),
    )
    .digest('hex');
}
