import { z } from 'zod';
import { actorOf, BOOTSTRAP_KEY_ID, generateKey, generateSessionToken, hashSecret, RoleSchema, type Role } from '../auth/api-keys.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { auditDal } from './audit-dal.js';
import { nowIso, timestampColumn } from './columns.js';
import type { Db } from './db.js';

export const KeyNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,63}$/, 'a name of letters, digits, space and . _ @ : - (at most 64)');

const KeyRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  station_id: z.string().nullable(),
  hash: z.string(),
  created_at: timestampColumn,
  created_by: z.string(),
  revoked_at: timestampColumn.nullable(),
  last_used_at: timestampColumn.nullable(),
});

function toKey(row: unknown) {
  const r = KeyRowSchema.parse(row);
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    stationId: r.station_id,
    hash: r.hash,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}
export type ApiKey = ReturnType<typeof toKey>;
export type ApiKeyInfo = Omit<ApiKey, 'hash'>;

/** Who changes keys, for the audit trail: an admin's key, or `cli:<user>` for `loupe keys`. */
export interface KeyActor {
  actor: string;
  actorKeyId?: string | null;
}

const LAST_USED_RESOLUTION_MS = 5 * 60_000;

/** API keys and the sessions exchanged for them. Every change is an audit event in the same transaction. */
export function keysDal(db: Db) {
  const audit = auditDal(db);
  const lastTouched = new Map<string, number>();
  const info = ({ hash: _hash, ...k }: ApiKey): ApiKeyInfo => k;

  return {
    async create(input: { name: string; role: Role; stationId?: string | null }, by: KeyActor): Promise<{ key: string; info: ApiKeyInfo }> {
      const g = generateKey();
      const now = nowIso();
      const row = {
        id: g.id,
        name: KeyNameSchema.parse(input.name),
        role: RoleSchema.parse(input.role),
        station_id: input.stationId ?? null,
        hash: g.hash,
        created_at: now,
        created_by: by.actor,
        revoked_at: null,
        last_used_at: null,
      };
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('api_keys').values(row).execute();
        await audit.append(trx, {
          actor: by.actor,
          actorKeyId: by.actorKeyId ?? null,
          action: 'key.create',
          subjectType: 'api_key',
          subjectId: g.id,
          data: { name: row.name, role: row.role, stationId: row.station_id },
        });
      });
      return { key: g.key, info: info(toKey(row)) };
    },

    /**
     * The bootstrap admin key (LOUPE_BOOTSTRAP_ADMIN_KEY): stored like any key under the id `bootstrap`, replaced
     * when the variable changes, and revoked by `loupe keys revoke bootstrap` like any other.
     */
    async ensureBootstrap(secret: string): Promise<void> {
      const hash = hashSecret(secret);
      const existing = await db.selectFrom('api_keys').selectAll().where('id', '=', BOOTSTRAP_KEY_ID).executeTakeFirst();
      if (existing && existing.hash === hash && existing.revoked_at === null) return;
      await db.transaction().execute(async (trx) => {
        const now = nowIso();
        if (existing) {
          await trx.updateTable('api_keys').set({ hash, revoked_at: null, role: 'admin' }).where('id', '=', BOOTSTRAP_KEY_ID).execute();
        } else {
          await trx
            .insertInto('api_keys')
            .values({ id: BOOTSTRAP_KEY_ID, name: 'bootstrap', role: 'admin', station_id: null, hash, created_at: now, created_by: 'env:LOUPE_BOOTSTRAP_ADMIN_KEY' })
            .execute();
        }
        await audit.append(trx, {
          actor: 'env:LOUPE_BOOTSTRAP_ADMIN_KEY',
          action: existing ? 'key.bootstrap_replace' : 'key.bootstrap',
          subjectType: 'api_key',
          subjectId: BOOTSTRAP_KEY_ID,
          data: { role: 'admin' },
        });
      });
    },

    async find(id: string): Promise<ApiKey | null> {
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toKey(row) : null;
    },

    async list(): Promise<ApiKeyInfo[]> {
      const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map((r) => info(toKey(r)));
    },

    async revoke(id: string, by: KeyActor): Promise<ApiKeyInfo> {
      return db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new NotFoundError(`no API key ${id}`, 'key_not_found');
        const k = toKey(row);
        if (k.revokedAt) throw new ConflictError(`API key ${id} (${k.name}) was already revoked at ${k.revokedAt}`, 'key_already_revoked');
        const now = nowIso();
        await trx.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).execute();
        await trx.deleteFrom('sessions').where('key_id', '=', id).execute();
        await audit.append(trx, {
          actor: by.actor,
          actorKeyId: by.actorKeyId ?? null,
          action: 'key.revoke',
          subjectType: 'api_key',
          subjectId: id,
          data: { name: k.name, role: k.role },
        });
        return info({ ...k, revokedAt: now });
      });
    },

    /** Records use at most every few minutes per key and process, so authentication is not a write per request. */
    async touch(id: string): Promise<void> {
      const now = Date.now();
      if (now - (lastTouched.get(id) ?? 0) < LAST_USED_RESOLUTION_MS) return;
      lastTouched.set(id, now);
      await db.updateTable('api_keys').set({ last_used_at: new Date(now).toISOString() }).where('id', '=', id).execute();
    },

    async createSession(keyId: string, ttlMs: number): Promise<{ token: string; expiresAt: string }> {
      const s = generateSessionToken();
      const expiresAt = new Date(Date.now() + ttlMs).toISOString();
      // Expired sessions of anyone are dropped here, so the table never grows without bound.
      await db.deleteFrom('sessions').where('expires_at', '<', nowIso()).execute();
      await db.insertInto('sessions').values({ token_hash: s.hash, key_id: keyId, created_at: nowIso(), expires_at: expiresAt }).execute();
      return { token: s.token, expiresAt };
    },

    /** The key behind a live session cookie, or null (unknown, expired, or its key revoked). */
    async sessionKey(token: string): Promise<ApiKey | null> {
      const row = await db
        .selectFrom('sessions')
        .innerJoin('api_keys', 'api_keys.id', 'sessions.key_id')
        .selectAll('api_keys')
        .select('sessions.expires_at as session_expires_at')
        .where('sessions.token_hash', '=', hashSecret(token))
        .executeTakeFirst();
      if (!row) return null;
      const { session_expires_at, ...key } = row;
      if (new Date(timestampColumn.parse(session_expires_at)).getTime() <= Date.now()) return null;
      const k = toKey(key);
      return k.revokedAt ? null : k;
    },

    async deleteSession(token: string): Promise<void> {
      await db.deleteFrom('sessions').where('token_hash', '=', hashSecret(token)).execute();
    },
  };
}
export type KeysDal = ReturnType<typeof keysDal>;
export { actorOf };
