import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../db.js';

/**
 * Column types differ by dialect only where SQLite has no equivalent: timestamps and JSON are text there,
 * `timestamptz`/`jsonb` on PostgreSQL (so trend queries can use date and JSON operators), and doubles are `real`
 * (8 bytes in SQLite, 4 in PostgreSQL, hence `double precision` there).
 */
export function initial(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const ts = pg ? 'timestamptz' : 'text';
  const json = pg ? 'jsonb' : 'text';
  const real = pg ? 'double precision' : 'real';
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('pieces')
        .addColumn('piece_id', 'text', (c) => c.primaryKey())
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('metal', 'text', (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('inspections')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('piece_id', 'text', (c) => c.notNull().references('pieces.piece_id'))
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('metal', 'text', (c) => c.notNull())
        .addColumn('station_id', 'text', (c) => c.notNull())
        .addColumn('tree', 'text')
        .addColumn('flask', 'text')
        .addColumn('caster', 'text')
        .addColumn('cast_date', 'text')
        .addColumn('setter', 'text')
        .addColumn('polisher', 'text')
        .addColumn('expected_stones', 'integer')
        .addColumn('metadata', sql.raw(json), (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text')
        .addColumn('summary', sql.raw(json))
        .addColumn('failure_reason', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('updated_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('started_at', sql.raw(ts))
        .addColumn('finished_at', sql.raw(ts))
        .execute();
      // Listing pages newest first with a (created_at, id) cursor; the sweeper scans by status.
      await db.schema.createIndex('inspections_created_idx').on('inspections').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('inspections_piece_idx').on('inspections').columns(['piece_id', 'created_at']).execute();
      await db.schema.createIndex('inspections_status_idx').on('inspections').columns(['status', 'created_at']).execute();
      await db.schema.createIndex('inspections_verdict_idx').on('inspections').columns(['verdict', 'created_at']).execute();
      await db.schema.createIndex('inspections_tree_idx').on('inspections').columns(['tree', 'created_at']).execute();
      await db.schema.createIndex('inspections_station_idx').on('inspections').columns(['station_id', 'created_at']).execute();

      await db.schema
        .createTable('views')
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspections.id').onDelete('cascade'))
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('view', 'text', (c) => c.notNull())
        .addColumn('photo_sha256', 'text', (c) => c.notNull())
        .addColumn('photo_type', 'text', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('file_name', 'text')
        .addColumn('mm_per_px', sql.raw(real))
        .addColumn('verdict', 'text')
        .addColumn('report', sql.raw(json))
        .addPrimaryKeyConstraint('views_pk', ['inspection_id', 'n'])
        .execute();
      await db.schema.createIndex('views_photo_idx').on('views').column('photo_sha256').execute();

      await db.schema
        .createTable('findings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspections.id').onDelete('cascade'))
        .addColumn('view_n', 'integer', (c) => c.notNull())
        .addColumn('ord', 'integer', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('severity', sql.raw(real))
        .addColumn('confidence', sql.raw(real))
        .addColumn('size_mm', sql.raw(real))
        .addColumn('area_mm2', sql.raw(real))
        .addColumn('bbox_x0', sql.raw(real))
        .addColumn('bbox_y0', sql.raw(real))
        .addColumn('bbox_x1', sql.raw(real))
        .addColumn('bbox_y1', sql.raw(real))
        .addColumn('measurements', sql.raw(json), (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('findings_inspection_idx').on('findings').columns(['inspection_id', 'view_n']).execute();
      await db.schema.createIndex('findings_family_idx').on('findings').columns(['family', 'kind', 'created_at']).execute();

      await db.schema
        .createTable('models')
        .addColumn('model_id', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('manifest', sql.raw(json), (c) => c.notNull())
        .addColumn('first_seen_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('last_seen_at', sql.raw(ts), (c) => c.notNull())
        .addPrimaryKeyConstraint('models_pk', ['model_id', 'version'])
        .execute();

      await db.schema
        .createTable('audit_events')
        // Insertion order is the order of the (future) hash chain, so it must be a monotonic key, not a uuid.
        .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', sql.raw(ts), (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('subject_type', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('data', sql.raw(json), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_subject_idx').on('audit_events').columns(['subject_type', 'subject_id']).execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('inspection_id', 'text', (c) => c.notNull().references('inspections.id').onDelete('cascade'))
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      for (const t of ['idempotency_keys', 'audit_events', 'models', 'findings', 'views', 'inspections', 'pieces']) {
        await db.schema.dropTable(t).ifExists().execute();
      }
    },
  };
}
