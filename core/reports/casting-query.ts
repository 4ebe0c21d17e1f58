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
 * Population: each piece counts once, in the period its first upload falls in (`pieces.created_at`), at its
 * **first judged inspection** (the earliest finished one that judged the piece: a `retake` verdict without an
 * inspector's disposition judged only the photo), on that inspection's UTC day. Casting defects are what that first
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
 * `base`: one row per piece first presented in the period (`pieces.created_at`, written with the piece's first
 * upload), at its first judged inspection: group key, UTC day, outcome, and whether the piece was inspected again.
 * Whole-partition window aggregates over the few inspections of each piece (one sort; same syntax on both
 * databases) replace two correlated subqueries per row; `materialized` (SQLite ≥ 3.35, PostgreSQL ≥ 12) computes it
 * once for every use below. Inspections are ordered by `created_at as text || id` (ISO text on SQLite, UTC text on
 * PostgreSQL in this session: both sort chronologically, the id breaks a tie).
 * `eff`: the effective findings (all families) of those inspections. `cross join` + WHERE is plain SQL; SQLite reads it
 * as "base drives, findings are probed by index" (instead of scanning every finding and indexing base on the fly),
 * PostgreSQL plans it like any join.
 */
function factsCtes(q: CastingQuery, dimension: Dimension | null): RawBuilder<unknown> {
  const groupExpr = dimension ? sql`coalesce(${sql.ref(`j.${COLUMN[dimension]}`)}, ${NONE_KEY})` : sql`'all'`;
  // Per piece, over its non-failed inspections: the key (time, then id) of the first judged one and of the last one.
  const key = sql`cast(i.created_at as text) || i.id`;
  const judged = sql`i.status = 'done' and (i.verdict <> 'retake' or ir.disposition is not null)`;
  return sql`visits as (
    select i.id, i.created_at, i.verdict, ${sql.join(DIMENSIONS.map((d) => sql.ref(`i.${COLUMN[d]}`)))}, ir.disposition,
      case when ${judged} then ${key} end as judged_key,
      min(case when ${judged} then ${key} end) over piece as first_key,
      max(${key}) over piece as last_key
    from pieces p
    join inspections i on i.piece_id = p.piece_id
    left join inspection_reviews ir on ir.inspection_id = i.id
    where p.created_at >= ${q.from} and p.created_at < ${q.to} and i.status <> 'failed'
    window piece as (partition by i.piece_id)
  ),
  base as materialized (
    select j.id, ${groupExpr} as g, substr(cast(j.created_at as text), 1, 10) as day,
      case when j.disposition is not null then j.disposition
           when j.verdict = 'pass' then 'accept'
           when j.verdict = 'fail' then 'reject'
           else 'pending' end as outcome,
      case when j.judged_key < j.last_key then 1 else 0 end as later
    from visits j
    where j.judged_key = j.first_key and ${andAll(filterSql('j', q))}
  ),
  eff as materialized (
    select f.inspection_id as id, f.family, f.kind, f.size_mm
    from base b
    cross join findings f
    left join finding_reviews fr on fr.finding_id = f.id
    where f.inspection_id = b.id and ${FINDING_STANDS}
    union all
    select a.inspection_id as id, a.family, a.kind, a.size_mm
    from base b
    cross join review_added_findings a
    where a.inspection_id = b.id
  )`;
}

function scopeSql(alias: string, scope: DefectScope): RawBuilder<unknown> {
  return scope === 'all' ? sql`1 = 1` : sql`${sql.ref(`${alias}.family`)} = ${scope}`;
}

export interface PoreSizes {
  /** counts[k] = pores with edges[k] ≤ d < edges[k+1]; the last count is d ≥ the last edge. */
  edges: number[];
  counts: number[];
  n: number;
  meanMm: number | null;
  maxMm: number | null;
}

export interface CastingFacts {
  /** Pieces, defective pieces, defects, outcomes and first pass per group and UTC day. */
  rows: DayRow[];
  /** Effective findings by family and kind (all families, whatever the scope). */
  kinds: Array<{ family: string; kind: string; count: number }>;
  /** Diameters of the effective porosity findings with a measured size. */
  pores: PoreSizes;
}

const FactRowSchema = z.object({
  s: z.enum(['day', 'kind', 'pore']),
  k1: z.string(),
  k2: z.string(),
  n0: count,
  n1: count,
  n2: count,
  n3: count,
  n4: count,
  n5: count,
  n6: count,
  n7: count,
  n8: count,
});

/**
 * Everything the report reads about the period's pieces in one statement (one evaluation of `base` and `eff`):
 * sections `day` (counts per group and day), `kind` (Pareto input) and `pore` (histogram by explicit edges; a CASE,
 * not floor(): integer casts round on one database and truncate on the other), told apart by the column `s`.
 */
export async function castingFacts(db: ReportsDb, q: CastingQuery, dimension: Dimension | null, edges: number[]): Promise<CastingFacts> {
  const cases = edges
    .slice(1)
    .map((e, k) => sql`when size_mm < ${e} then ${sql.lit(k)}`)
    .reduce((a, b) => sql`${a} ${b}`, sql``);
  const res = await sql`
    with ${factsCtes(q, dimension)},
    per as (select id, count(*) as c from eff where ${scopeSql('eff', q.scope)} group by id),
    pores as (select size_mm, ${edges.length > 1 ? sql`case ${cases} else ${sql.lit(edges.length - 1)} end` : sql.lit(0)} as bin from eff where family = 'porosity' and size_mm is not null)
    select 'day' as s, b.g as k1, b.day as k2, count(*) as n0,
      sum(case when p.c > 0 then 1 else 0 end) as n1,
      coalesce(sum(p.c), 0) as n2,
      sum(case when b.outcome = 'accept' then 1 else 0 end) as n3,
      sum(case when b.outcome = 'rework' then 1 else 0 end) as n4,
      sum(case when b.outcome = 'scrap' then 1 else 0 end) as n5,
      sum(case when b.outcome = 'reject' then 1 else 0 end) as n6,
      sum(case when b.outcome = 'pending' then 1 else 0 end) as n7,
      sum(case when b.outcome = 'accept' and b.later = 0 then 1 else 0 end) as n8
    from base b
    left join per p on p.id = b.id
    group by b.g, b.day
    union all
    select 'kind', family, kind, count(*), 0, 0, 0, 0, 0, 0, 0, 0 from eff group by family, kind
    union all
    select 'pore', '', '', bin, count(*), sum(size_mm), max(size_mm), 0, 0, 0, 0, 0 from pores group by bin
  `.execute(db);

  const rows: DayRow[] = [];
  const kinds: CastingFacts['kinds'] = [];
  const counts = edges.map(() => 0);
  let n = 0;
  let total = 0;
  let max: number | null = null;
  for (const raw of res.rows) {
    const r = FactRowSchema.parse(raw);
    if (r.s === 'day') {
      rows.push({
        group: r.k1,
        day: r.k2,
        n: r.n0,
        defective: r.n1,
        defects: r.n2,
        accepted: r.n3,
        rework: r.n4,
        scrap: r.n5,
        rejected: r.n6,
        pending: r.n7,
        firstPass: r.n8,
      });
    } else if (r.s === 'kind') {
      kinds.push({ family: r.k1, kind: r.k2, count: r.n0 });
    } else {
      counts[r.n0] = r.n1;
      n += r.n1;
      total += r.n2;
      max = max === null ? r.n3 : Math.max(max, r.n3);
    }
  }
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  rows.sort((a, b) => order(a.group, b.group) || order(a.day, b.day));
  kinds.sort((a, b) => order(a.family, b.family) || order(a.kind, b.kind));
  return { rows, kinds, pores: { edges, counts, n, meanMm: n > 0 ? total / n : null, maxMm: max } };
}

/** Counts per group and UTC day only (the alert check needs no Pareto or pore sizes). */
export async function countsByGroupDay(db: ReportsDb, q: CastingQuery, dimension: Dimension | null): Promise<DayRow[]> {
  return (await castingFacts(db, q, dimension, [0])).rows;
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
  // From the reviews (a small share of inspections) to their inspections, never the other way round.
  const res = await sql`
    with rv as materialized (
      select ir.inspection_id as id, ir.model_versions as mv
      from inspection_reviews ir
      join inspections i on i.id = ir.inspection_id
      where i.created_at >= ${q.from} and i.created_at < ${q.to} and i.status = 'done' and ${andAll(filterSql('i', q))}
    )
    select rv.mv, f.family, coalesce(fr.decision, 'undecided') as d, count(*) as n
    from rv
    join findings f on f.inspection_id = rv.id
    left join finding_reviews fr on fr.finding_id = f.id
    group by rv.mv, f.family, coalesce(fr.decision, 'undecided')
    union all
    select rv.mv, a.family, 'missed', count(*)
    from rv
    join review_added_findings a on a.inspection_id = rv.id
    group by rv.mv, a.family
    union all
    select rv.mv, '', 'reviewed', count(*) from rv group by rv.mv
  `.execute(db);
  const Row = z.object({ mv: z.string(), family: z.string(), d: z.enum(['confirmed', 'rejected', 'missed', 'undecided', 'reviewed']), n: count });
  const parsed = res.rows.map((row) => Row.parse(row));
  const reviewedBy = new Map(parsed.filter((r) => r.d === 'reviewed').map((r) => [r.mv, r.n] as const));
  const out = new Map<string, AgreementRow>();
  for (const r of parsed) {
    if (r.d === 'reviewed') continue;
    const key = `${r.mv}\u0000${r.family}`;
    let a = out.get(key);
    if (!a) {
      a = { modelVersions: r.mv, family: r.family, reviewedInspections: reviewedBy.get(r.mv) ?? 0, confirmed: 0, rejected: 0, missed: 0, undecided: 0 };
      out.set(key, a);
    }
    a[r.d] += r.n;
  }
  return [...out.values()].sort((a, b) => (a.modelVersions < b.modelVersions ? -1 : a.modelVersions > b.modelVersions ? 1 : a.family < b.family ? -1 : 1));
}
