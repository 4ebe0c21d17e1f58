import { PostgresAdapter, sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import type { Db } from '../store/db.js';
import { reportsDb, type ReportsDb } from './tables.js';

/**
 * The SQL behind the casting report. Plain SQL through Kysely, the same text on SQLite and PostgreSQL; the one
 * difference is a session setting: PostgreSQL prints a `timestamptz` in the session's TimeZone, so the queries run
 * in a transaction with `TimeZone = UTC` and `substr(cast(created_at as text), 1, 10)` is the UTC day on both
 * (SQLite stores the ISO-8601 UTC text itself).
 *
 * Population: each piece counts once, at its **first inspection** (the earliest finished one that judged the piece:
 * a `retake` verdict without an inspector's disposition judged only the photo). Casting defects are what that first
 * look found; re-inspections after rework would count the same casting twice.
 *
 * Effective findings: the model's findings minus those an inspector rejected, plus the boxes an inspector added for
 * missed defects. Outcome of an inspection: the inspector's disposition where there is one, else the model's verdict
 * (`pass` → accept, `fail` → reject, `review` → pending).
 */

export const DIMENSIONS = ['tree', 'flask', 'metal', 'caster', 'setter', 'polisher', 'sku', 'profile', 'station'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const TIME_UNITS = ['day', 'week', 'month'] as const;
export type TimeUnit = (typeof TIME_UNITS)[number];
export const DEFECT_SCOPES = ['porosity', 'stone_spacing', 'polish', 'all'] as const;
export type DefectScope = (typeof DEFECT_SCOPES)[number];

const COLUMN: Record<Dimension, string> = {
  tree: 'tree',
  flask: 'flask',
  metal: 'metal',
  caster: 'caster',
  setter: 'setter',
  polisher: 'polisher',
  sku: 'sku',
  profile: 'profile',
  station: 'station_id',
};

/** What a group is called when the upload did not say (no caster recorded, …). */
export const NONE_KEY = '(none)';

export interface CastingQuery {
  /** ISO-8601 UTC, inclusive. */
  from: string;
  /** ISO-8601 UTC, exclusive. */
  to: string;
  /** Only inspections whose dimension is one of the values. */
  filters: Partial<Record<Dimension, string[]>>;
  /** Which findings make a piece defective (p-chart) and count as defects (u-chart). */
  scope: DefectScope;
}

const count = z.coerce.number();
const DayRowSchema = z.object({
  g: z.string(),
  day: z.string(),
  n: count,
  defective: count,
  defects: count,
  accepted: count,
  rework: count,
  scrap: count,
  rejected: count,
  pending: count,
  first_pass: count,
});
export type DayRow = {
  group: string;
  day: string;
  n: number;
  defective: number;
  defects: number;
  accepted: number;
  rework: number;
  scrap: number;
  /** Model `fail` that no inspector has dispositioned. */
  rejected: number;
  /** Model `review` that no inspector has dispositioned. */
  pending: number;
  /** Accepted at the first inspection and never inspected again. */
  firstPass: number;
};

function isPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Runs the report's queries with UTC days on both databases (see above). SQLite needs no transaction for reads. */
export async function withReportSession<T>(store: Db, fn: (db: ReportsDb) => Promise<T>): Promise<T> {
  if (!isPostgres(store)) return fn(reportsDb(store));
  return store.transaction().execute(async (trx) => {
    await sql`set local time zone 'UTC'`.execute(trx);
    return fn(reportsDb(trx as unknown as Db));
  });
}

function filterSql(alias: string, q: CastingQuery): Array<RawBuilder<unknown>> {
  const out: Array<RawBuilder<unknown>> = [];
  for (const d of DIMENSIONS) {
    const values = q.filters[d];
    if (!values || values.length === 0) continue;
    out.push(sql`${sql.ref(`${alias}.${COLUMN[d]}`)} in (${sql.join(values)})`);
  }
  return out;
}

function andAll(parts: Array<RawBuilder<unknown>>): RawBuilder<unknown> {
  return parts.length === 0 ? sql`1 = 1` : sql.join(parts, sql` and `);
}

/** A finding counts unless an inspector rejected it. */
const FINDING_STANDS = sql`(fr.decision is null or fr.decision = 'confirmed')`;

/**
 * First inspections of pieces in the period (see the module comment), with the group key, the UTC day, the
 * outcome and whether the piece was ever inspected again.
 */
function baseCte(q: CastingQuery, dimension: Dimension | null): RawBuilder<unknown> {
  const groupExpr = dimension ? sql`coalesce(${sql.ref(`i.${COLUMN[dimension]}`)}, ${NONE_KEY})` : sql`'all'`;
  return sql`base as materialized (
    select i.id, ${groupExpr} as g, substr(cast(i.created_at as text), 1, 10) as day,
      case when ir.disposition is not null then ir.disposition
           when i.verdict = 'pass' then 'accept'
           when i.verdict = 'fail' then 'reject'
           else 'pending' end as outcome,
      case when exists (
        select 1 from inspections l
        where l.piece_id = i.piece_id and l.created_at >= i.created_at
          and (l.created_at > i.created_at or l.id > i.id) and l.status <> 'failed'
      ) then 1 else 0 end as later
    from inspections i
    left join inspection_reviews ir on ir.inspection_id = i.id
    where i.status = 'done' and i.created_at >= ${q.from} and i.created_at < ${q.to}
      and (i.verdict <> 'retake' or ir.disposition is not null)
      and ${andAll(filterSql('i', q))}
      and not exists (
        select 1 from inspections e
        left join inspection_reviews er on er.inspection_id = e.id
        where e.piece_id = i.piece_id and e.created_at <= i.created_at
          and (e.created_at < i.created_at or e.id < i.id)
          and e.status = 'done' and (e.verdict <> 'retake' or er.disposition is not null)
      )
  )`;
}

function scopeSql(alias: string, scope: DefectScope): RawBuilder<unknown> {
  return scope === 'all' ? sql`1 = 1` : sql`${sql.ref(`${alias}.family`)} = ${scope}`;
}

/** Counts per group and UTC day: pieces, defective pieces, defects, outcomes and first-pass pieces. */
export async function countsByGroupDay(db: ReportsDb, q: CastingQuery, dimension: Dimension | null): Promise<DayRow[]> {
  const res = await sql`
    with ${baseCte(q, dimension)},
    fx as (
      select f.inspection_id as id, count(*) as c
      from base b
      join findings f on f.inspection_id = b.id
      left join finding_reviews fr on fr.finding_id = f.id
      where ${scopeSql('f', q.scope)} and ${FINDING_STANDS}
      group by f.inspection_id
      union all
      select a.inspection_id as id, count(*) as c
      from base b
      join review_added_findings a on a.inspection_id = b.id
      where ${scopeSql('a', q.scope)}
      group by a.inspection_id
    ),
    per as (select id, sum(c) as c from fx group by id)
    select b.g, b.day, count(*) as n,
      sum(case when p.c > 0 then 1 else 0 end) as defective,
      coalesce(sum(p.c), 0) as defects,
      sum(case when b.outcome = 'accept' then 1 else 0 end) as accepted,
      sum(case when b.outcome = 'rework' then 1 else 0 end) as rework,
      sum(case when b.outcome = 'scrap' then 1 else 0 end) as scrap,
      sum(case when b.outcome = 'reject' then 1 else 0 end) as rejected,
      sum(case when b.outcome = 'pending' then 1 else 0 end) as pending,
      sum(case when b.outcome = 'accept' and b.later = 0 then 1 else 0 end) as first_pass
    from base b
    left join per p on p.id = b.id
    group by b.g, b.day
    order by b.g, b.day
  `.execute(db);
  return res.rows.map((row) => {
    const r = DayRowSchema.parse(row);
    return {
      group: r.g,
      day: r.day,
      n: r.n,
      defective: r.defective,
      defects: r.defects,
      accepted: r.accepted,
      rework: r.rework,
      scrap: r.scrap,
      rejected: r.rejected,
      pending: r.pending,
      firstPass: r.first_pass,
    };
  });
}

/** Effective findings of the first inspections (all families): the rows behind the Pareto and the pore sizes. */
function effectiveCte(): RawBuilder<unknown> {
  return sql`eff as (
    select f.family, f.kind, f.size_mm
    from base b
    join findings f on f.inspection_id = b.id
    left join finding_reviews fr on fr.finding_id = f.id
    where ${FINDING_STANDS}
    union all
    select a.family, a.kind, a.size_mm
    from base b
    join review_added_findings a on a.inspection_id = b.id
  )`;
}

export async function defectKinds(db: ReportsDb, q: CastingQuery): Promise<Array<{ family: string; kind: string; count: number }>> {
  const res = await sql`
    with ${baseCte(q, null)}, ${effectiveCte()}
    select family, kind, count(*) as n from eff group by family, kind order by family, kind
  `.execute(db);
  const Row = z.object({ family: z.string(), kind: z.string(), n: count });
  return res.rows.map((row) => {
    const r = Row.parse(row);
    return { family: r.family, kind: r.kind, count: r.n };
  });
}

export interface PoreSizes {
  /** counts[k] = pores with edges[k] ≤ d < edges[k+1]; the last count is d ≥ the last edge. */
  edges: number[];
  counts: number[];
  n: number;
  meanMm: number | null;
  maxMm: number | null;
}

/** Histogram of pore diameters (mm) over the effective porosity findings with a measured size. */
export async function poreSizes(db: ReportsDb, q: CastingQuery, edges: number[]): Promise<PoreSizes> {
  // Bin index by explicit edges (a CASE, not floor(): integer casts round on one database and truncate on the other).
  const cases = edges
    .slice(1)
    .map((e, k) => sql`when size_mm < ${e} then ${sql.lit(k)}`)
    .reduce((a, b) => sql`${a} ${b}`, sql``);
  const res = await sql`
    with ${baseCte(q, null)}, ${effectiveCte()},
    pores as (select size_mm, case ${cases} else ${sql.lit(edges.length - 1)} end as bin from eff where family = 'porosity' and size_mm is not null)
    select bin, count(*) as n, sum(size_mm) as total, max(size_mm) as biggest from pores group by bin order by bin
  `.execute(db);
  const Row = z.object({ bin: count, n: count, total: count, biggest: count });
  const counts = edges.map(() => 0);
  let n = 0;
  let total = 0;
  let max: number | null = null;
  for (const row of res.rows) {
    const r = Row.parse(row);
    counts[r.bin] = r.n;
    n += r.n;
    total += r.total;
    max = max === null ? r.biggest : Math.max(max, r.biggest);
  }
  return { edges, counts, n, meanMm: n > 0 ? total / n : null, maxMm: max };
}

export interface AgreementRow {
  modelVersions: string;
  family: string;
  reviewedInspections: number;
  confirmed: number;
  rejected: number;
  missed: number;
  /** Model findings on reviewed inspections that the inspector left undecided. */
  undecided: number;
}

/**
 * Inspectors' decisions per model version (the versions the verdict was made with) and family, over every
 * inspection reviewed in the period (first inspections and re-inspections alike: each was a model call).
 */
export async function agreement(db: ReportsDb, q: CastingQuery): Promise<AgreementRow[]> {
  const res = await sql`
    with rv as (
      select i.id, ir.model_versions as mv
      from inspections i
      join inspection_reviews ir on ir.inspection_id = i.id
      where i.status = 'done' and i.created_at >= ${q.from} and i.created_at < ${q.to} and ${andAll(filterSql('i', q))}
    ),
    decisions as (
      select rv.mv, f.family, coalesce(fr.decision, 'undecided') as d, count(*) as n
      from rv
      join findings f on f.inspection_id = rv.id
      left join finding_reviews fr on fr.finding_id = f.id
      group by rv.mv, f.family, coalesce(fr.decision, 'undecided')
      union all
      select rv.mv, a.family, 'missed' as d, count(*) as n
      from rv
      join review_added_findings a on a.inspection_id = rv.id
      group by rv.mv, a.family
    )
    select mv, family, d, sum(n) as n from decisions group by mv, family, d order by mv, family, d
  `.execute(db);
  const reviewed = await sql`
    select ir.model_versions as mv, count(*) as n
    from inspections i join inspection_reviews ir on ir.inspection_id = i.id
    where i.status = 'done' and i.created_at >= ${q.from} and i.created_at < ${q.to} and ${andAll(filterSql('i', q))}
    group by ir.model_versions
  `.execute(db);
  const reviewedBy = new Map(reviewed.rows.map((row) => {
    const r = z.object({ mv: z.string(), n: count }).parse(row);
    return [r.mv, r.n] as const;
  }));
  const Row = z.object({ mv: z.string(), family: z.string(), d: z.enum(['confirmed', 'rejected', 'missed', 'undecided']), n: count });
  const out = new Map<string, AgreementRow>();
  for (const row of res.rows) {
    const r = Row.parse(row);
    const key = `${r.mv}\u0000${r.family}`;
    let a = out.get(key);
    if (!a) {
      a = { modelVersions: r.mv, family: r.family, reviewedInspections: reviewedBy.get(r.mv) ?? 0, confirmed: 0, rejected: 0, missed: 0, undecided: 0 };
      out.set(key, a);
    }
    a[r.d] += r.n;
  }
  return [...out.values()];
}
