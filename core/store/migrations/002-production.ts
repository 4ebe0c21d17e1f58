import { sql, type Kysely, type Migration } from 'kysely';
import { z } from 'zod';
import { auditEventHash, GENESIS_HASH } from '../audit-hash.js';
import { intColumn, jsonColumn, timestampColumn } from '../columns.js';
import type { Dialect } from '../db.js';

/**
 * Production issue: API keys and sessions, the audit hash chain (columns added and existing events chained in seq
 * order), webhooks and their deliveries, station calibrations, and where each view's scale came from.
 */
export function production(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const ts = pg ? 'timestamptz' : 'text';
  const json = pg ? 'jsonb' : 'text';
  const real = pg ? 'double precision' : 'real';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('station_id', 'text')
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('revoked_at', sql.raw(ts))
        .addColumn('last_used_at', sql.raw(ts))
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('expires_at', sql.raw(ts), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_key_idx').on('sessions').column('key_id').execute();

      await db.schema.alterTable('audit_events').addColumn('actor_key_id', 'text').execute();
      await db.schema.alterTable('audit_events').addColumn('prev_hash', 'text').execute();
      await db.schema.alterTable('audit_events').addColumn('hash', 'text').execute();
      // Events written before the chain existed are chained now, in their seq order.
      const Row = z.object({
        seq: intColumn,
        at: timestampColumn,
        actor: z.string(),
        action: z.string(),
        subject_type: z.string(),
        subject_id: z.string(),
        data: jsonColumn(z.unknown()),
      });
      let prev = GENESIS_HASH;
      let after = -1;
      for (;;) {
        const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(1000).execute();
        if (rows.length === 0) break;
        for (const raw of rows) {
          const r = Row.parse(raw);
          const hash = auditEventHash({
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            actorKeyId: null,
            action: r.action,
            subjectType: r.subject_type,
            subjectId: r.subject_id,
            data: r.data,
            prevHash: prev,
          });
          await db.updateTable('audit_events').set({ prev_hash: prev, hash }).where('seq', '=', r.seq).execute();
          prev = hash;
          after = r.seq;
        }
      }
      await db.schema.createIndex('audit_actor_idx').on('audit_events').columns(['actor', 'seq']).execute();

      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('station_id', 'text')
        .addColumn('events', sql.raw(json), (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('disabled_at', sql.raw(ts))
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id'))
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('inspection_id', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_status_code', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('updated_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('delivered_at', sql.raw(ts))
        .execute();
      await db.schema.createIndex('webhook_deliveries_inspection_idx').on('webhook_deliveries').columns(['inspection_id', 'created_at']).execute();
      await db.schema.createIndex('webhook_deliveries_status_idx').on('webhook_deliveries').columns(['status', 'updated_at']).execute();

      await db.schema
        .createTable('station_calibrations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('mm_per_px', sql.raw(real), (c) => c.notNull())
        .addColumn('mm_per_px_x', sql.raw(real), (c) => c.notNull())
        .addColumn('mm_per_px_y', sql.raw(real), (c) => c.notNull())
        .addColumn('square_mm', sql.raw(real), (c) => c.notNull())
        .addColumn('corners_x', 'integer', (c) => c.notNull())
        .addColumn('corners_y', 'integer', (c) => c.notNull())
        .addColumn('photo_sha256', 'text', (c) => c.notNull())
        .addColumn('warnings', sql.raw(json), (c) => c.notNull())
        .addColumn('metrics', sql.raw(json), (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('station_calibrations_station_idx').on('station_calibrations').columns(['station_id', 'created_at']).execute();

      await db.schema.alterTable('views').addColumn('mm_per_px_source', 'text').execute();
      await db.schema.alterTable('views').addColumn('calibration_id', 'text').execute();
      await db.updateTable('views').set({ mm_per_px_source: 'given' }).where('mm_per_px', 'is not', null).execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['station_calibrations', 'webhook_deliveries', 'webhooks', 'sessions', 'api_keys']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
      for (const c of ['actor_key_id', 'prev_hash', 'hash']) await db.schema.alterTable('audit_events').dropColumn(c).execute();
      for (const c of ['mm_per_px_source', 'calibration_id']) await db.schema.alterTable('views').dropColumn(c).execute();
    },
  };
}
