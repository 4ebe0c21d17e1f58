import { PostgresAdapter, sql, type RawBuilder } from 'kysely';
import { z } from 'zod';
import type { Db } from '../store/db.js';
import { FACT_COUNT_COLUMNS, FACT_FAMILIES, factColumn } from '../store/inspection-facts-dal.js';
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

/** Effective defects of the scope's families in an `inspection_facts` row: confirmed + undecided + added. */
function defectsSql(alias: string, scope: DefectScope): RawBuilder<unknown> {
  const families = scope === 'all' ? FACT_FAMILIES : FACT_FAMILIES.filter((f) => f === scope);
  return sql.join(
    families.flatMap((f) => (['confirmed', 'undecided', 'added'] as const).map((d) => sql.ref(`${alias}.${factColumn(f, d)}`))),
    sql` + `,
  );
}

/**
 * The period's population: one `inspection_facts` row per piece first presented in the period, at its first
 * judged inspection (a partial index range on `piece_created_at`), with the filters applied to that inspection.
 */
function populationWhere(alias: string, q: CastingQuery): RawBuilder<unknown> {
  const ref = (c: string) => sql.ref(`${alias}.${c}`);
  return andAll([sql`${ref('first_judged')} = 1`, sql`${ref('piece_created_at')} >= ${q.from}`, sql`${ref('piece_created_at')} < ${q.to}`, ...filterSql(alias, q)]);
}

/**
 * The population's effective findings in `inspection_fact_findings`: the period range on the findings' own copy of
 * the period key (a covering index range); with filters, only the filtered population's inspections.
 */
function populationFindingsWhere(alias: string, q: CastingQuery): RawBuilder<unknown> {
  const ref = (c: string) => sql.ref(`${alias}.${c}`);
  const range = sql`${ref('piece_created_at')} >= ${q.from} and ${ref('piece_created_at')} < ${q.to}`;
  if (filterSql('x', q).length === 0) return range;
  return sql`${range} and ${ref('inspection_id')} in (select x.inspection_id from inspection_facts x where ${populationWhere('x', q)})`;
}

const DayRowSchema = z.object({
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

/** Pieces, defective pieces, defects, outcomes and first pass per group and UTC day, in group then day order. */
export async function countsByGroupDay(db: ReportsDb, q: CastingQuery, dimension: Dimension | null): Promise<DayRow[]> {
  const groupExpr = dimension ? sql`coalesce(${sql.ref(`x.${COLUMN[dimension]}`)}, ${NONE_KEY})` : sql`'all'`;
  const res = await sql`
    select t.g as k1, t.day as k2, count(*) as n0,
      sum(case when t.d > 0 then 1 else 0 end) as n1,
      sum(t.d) as n2,
      sum(case when t.outcome = 'accept' then 1 else 0 end) as n3,
      sum(case when t.outcome = 'rework' then 1 else 0 end) as n4,
      sum(case when t.outcome = 'scrap' then 1 else 0 end) as n5,
      sum(case when t.outcome = 'reject' then 1 else 0 end) as n6,
      sum(case when t.outcome = 'pending' then 1 else 0 end) as n7,
      sum(case when t.outcome = 'accept' and t.later = 0 then 1 else 0 end) as n8
    from (
      select ${groupExpr} as g, x.day, x.outcome, x.later, ${defectsSql('x', q.scope)} as d
      from inspection_facts x
      where ${populationWhere('x', q)}
    ) t
    group by t.g, t.day
  `.execute(db);
  const rows: DayRow[] = res.rows.map((raw) => {
    const r = DayRowSchema.parse(raw);
    return { group: r.k1, day: r.k2, n: r.n0, defective: r.n1, defects: r.n2, accepted: r.n3, rework: r.n4, scrap: r.n5, rejected: r.n6, pending: r.n7, firstPass: r.n8 };
  });
  return rows.sort((a, b) => order(a.group, b.group) || order(a.day, b.day));
}

const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Effective findings of the population by family and kind (all families, whatever the scope): the Pareto's input. */
export async function findingKinds(db: ReportsDb, q: CastingQuery): Promise<Array<{ family: string; kind: string; count: number }>> {
  const res = await sql`
    select e.family, e.kind, count(*) as n from inspection_fact_findings e where ${populationFindingsWhere('e', q)} group by e.family, e.kind
  `.execute(db);
  const Row = z.object({ family: z.string(), kind: z.string(), n: count });
  return res.rows
    .map((raw) => {
      const r = Row.parse(raw);
      return { family: r.family, kind: r.kind, count: r.n };
    })
    .sort((a, b) => order(a.family, b.family) || order(a.kind, b.kind));
}

export interface PoreSizes {
  /** counts[k] = pores with edges[k] ≤ d < edges[k+1]; the last count is d ≥ the last edge. */
  edges: number[];
  counts: number[];
  n: number;
  meanMm: number | null;
  maxMm: number | null;
}

/**
 * Diameters of the population's effective porosity findings with a measured size, binned by explicit edges (a
 * CASE, not floor(): integer casts round on one database and truncate on the other).
 */
export async function poreSizes(db: ReportsDb, q: CastingQuery, edges: number[]): Promise<PoreSizes> {
  const cases = edges
    .slice(1)
    .map((e, k) => sql`when e.size_mm < ${e} then ${sql.lit(k)}`)
    .reduce((a, b) => sql`${a} ${b}`, sql``);
  const bin = edges.length > 1 ? sql`case ${cases} else ${sql.lit(edges.length - 1)} end` : sql.lit(0);
  const res = await sql`
    select t.bin, count(*) as n, sum(t.size_mm) as total, max(t.size_mm) as max
    from (
      select ${bin} as bin, e.size_mm from inspection_fact_findings e
      where ${populationFindingsWhere('e', q)} and e.family = 'porosity' and e.size_mm is not null
    ) t
    group by t.bin
  `.execute(db);
  const Row = z.object({ bin: count, n: count, total: count, max: count });
  const counts = edges.map(() => 0);
  let n = 0;
  let total = 0;
  let max: number | null = null;
  for (const raw of res.rows) {
    const r = Row.parse(raw);
    counts[r.bin] = r.n;
    n += r.n;
    total += r.total;
    max = max === null ? r.max : Math.max(max, r.max);
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
 * inspection reviewed in the period (first inspections and re-inspections alike: each was a model call), summed
 * from `inspection_facts` (a partial index range on the reviewed rows' `created_at`).
 */
export async function agreement(db: ReportsDb, q: CastingQuery): Promise<AgreementRow[]> {
  const sums = FACT_COUNT_COLUMNS.map((c) => sql`sum(${sql.ref(`x.${c}`)}) as ${sql.ref(c)}`);
  const res = await sql`
    select x.model_versions as mv, count(*) as reviewed, ${sql.join(sums)}
    from inspection_facts x
    where x.model_versions is not null and x.created_at >= ${q.from} and x.created_at < ${q.to} and ${andAll(filterSql('x', q))}
    group by x.model_versions
  `.execute(db);
  const Row = z.object({ mv: z.string(), reviewed: count, ...Object.fromEntries(FACT_COUNT_COLUMNS.map((c) => [c, count])) });
  const out: AgreementRow[] = [];
  for (const raw of res.rows) {
    const r = Row.parse(raw) as { mv: string; reviewed: number } & Record<string, number>;
    for (const family of FACT_FAMILIES) {
      const [confirmed, rejected, missed, undecided] = (['confirmed', 'rejected', 'added', 'undecided'] as const).map((d) => r[factColumn(family, d)] ?? 0) as [number, number, number, number];
      // A family appears where the model found something or the inspector added something.
      if (confirmed + rejected + missed + undecided === 0) continue;
      out.push({ modelVersions: r.mv, family, reviewedInspections: r.reviewed, confirmed, rejected, missed, undecided });
    }
  }
  return out.sort((a, b) => (a.modelVersions < b.modelVersions ? -1 : a.modelVersions > b.modelVersions ? 1 : a.family < b.family ? -1 : 1));
}
