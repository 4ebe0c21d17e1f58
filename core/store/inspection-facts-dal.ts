import { CompiledQuery, PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Upkeep of the trend reports' summary tables (migration 004): `inspection_facts`, one narrow row per finished
 * inspection, and `inspection_fact_findings`, the effective findings of each piece's first judged inspection. The
 * casting report reads these two instead of joining pieces, inspections, reviews and findings on every request.
 *
 * What a row holds is decided here and only here, by one set-based SQL text (the same on SQLite and PostgreSQL)
 * that the migration's backfill runs over every piece and every writer runs over one piece, in the transaction of
 * its write:
 * - inspection upload (a queued re-inspection makes the piece's earlier look "inspected again"),
 * - completion (the worker writes report and findings), a failure or retry (a failed look no longer counts as one),
 * - every inspector decision: a finding confirmed or rejected, a missed defect added or removed, a disposition.
 *
 * Definitions (docs/trends.md): a piece's **first judged inspection** is its earliest finished one (by
 * `created_at`, then id) except `retake` verdicts that no inspector dispositioned; **later** says another
 * non-failed inspection of the piece comes after it; the **outcome** is the inspector's disposition where there is
 * one, else the model's verdict (`pass` → accept, `fail` → reject, else pending); per defect family, the model's
 * findings the inspector `confirmed`, `rejected` or left `undecided`, and the ones the inspector `added`. Effective
 * findings are confirmed + undecided + added: an inspector's decision overrides the model wherever there is one.
 */

export const FACT_FAMILIES = ['porosity', 'stone_spacing', 'polish'] as const;
export type FactFamily = (typeof FACT_FAMILIES)[number];
export const FACT_DECISIONS = ['confirmed', 'rejected', 'undecided', 'added'] as const;
export type FactDecision = (typeof FACT_DECISIONS)[number];

/** `porosity_confirmed`, … : the count columns of `inspection_facts`. */
export function factColumn(family: FactFamily, decision: FactDecision): string {
  return `${family}_${decision}`;
}
export const FACT_COUNT_COLUMNS = FACT_FAMILIES.flatMap((f) => FACT_DECISIONS.map((d) => factColumn(f, d)));

/** The casting and finishing context copied from the inspection (the report's group-by and filter columns). */
export const FACT_CONTEXT_COLUMNS = ['sku', 'profile', 'metal', 'station_id', 'tree', 'flask', 'caster', 'setter', 'polisher'] as const;

// Any Kysely handle or transaction: the statements are plain SQL over tables of two modules (store and reviews).
type Executor = Kysely<any>;

/** `alias.piece_id = $1` for one piece, nothing for all of them. */
type PieceScope = (alias: string) => RawBuilder<unknown>;

const lit = (s: string) => sql.lit(s);

function refreshStatements(scope: PieceScope): Array<RawBuilder<unknown>> {
  const sums = (alias: string, decisionOf: (family: FactFamily, decision: FactDecision) => RawBuilder<unknown> | null) =>
    sql.join(
      FACT_FAMILIES.flatMap((fam) =>
        FACT_DECISIONS.flatMap((d) => {
          const cond = decisionOf(fam, d);
          return cond ? [sql`sum(case when ${sql.ref(`${alias}.family`)} = ${lit(fam)} and ${cond} then 1 else 0 end) as ${sql.ref(factColumn(fam, d))}`] : [];
        }),
      ),
    );
  const modelDecision = (_f: FactFamily, d: FactDecision) =>
    d === 'added' ? null : d === 'undecided' ? sql`fr.decision is null` : sql`fr.decision = ${lit(d)}`;
  const addedDecision = (_f: FactFamily, d: FactDecision) => (d === 'added' ? sql`1 = 1` : null);
  const counts = sql.join(
    FACT_FAMILIES.flatMap((fam) =>
      FACT_DECISIONS.map((d) => sql`coalesce(${sql.ref(`${d === 'added' ? 'ac' : 'fc'}.${factColumn(fam, d)}`)}, 0)`),
    ),
  );
  const context = (alias: string) => sql.join(FACT_CONTEXT_COLUMNS.map((c) => sql.ref(`${alias}.${c}`)));
  const judged = sql`i.status = 'done' and (i.verdict <> 'retake' or ir.disposition is not null)`;
  // Each piece's non-failed inspections in order (time, then id): a running count of judged ones finds the first
  // judged (judged, and the count is 1 there), the position against the count says whether another look followed.
  // Window functions, not correlated subqueries: without statistics SQLite would probe those by the
  // (status, created_at) index, once per inspection. Status conditions stay out of the index-searchable WHERE terms
  // of the piece's scope for the same reason.
  const visits = sql`
    select i.id, i.piece_id, i.created_at, i.status, i.verdict, ${context('i')}, ir.disposition, ir.model_versions,
      case when ${judged} then 1 else 0 end as judged,
      sum(case when ${judged} then 1 else 0 end) over (partition by i.piece_id order by i.created_at, i.id rows between unbounded preceding and current row) as judged_so_far,
      row_number() over (partition by i.piece_id order by i.created_at, i.id) as k,
      count(*) over (partition by i.piece_id) as visits
    from inspections i
    left join inspection_reviews ir on ir.inspection_id = i.id
    where ${scope('i')} and i.status <> 'failed'`;
  return [
    sql`insert into inspection_facts (inspection_id, piece_id, piece_created_at, created_at, day, ${sql.join(FACT_CONTEXT_COLUMNS.map((c) => sql.ref(c)))},
        outcome, model_versions, first_judged, later, ${sql.join(FACT_COUNT_COLUMNS.map((c) => sql.ref(c)))})
      select v.id, v.piece_id, p.created_at, v.created_at, substr(cast(v.created_at as text), 1, 10), ${context('v')},
        case when v.disposition is not null then v.disposition
             when v.verdict = 'pass' then 'accept'
             when v.verdict = 'fail' then 'reject'
             else 'pending' end,
        v.model_versions,
        case when v.judged = 1 and v.judged_so_far = 1 then 1 else 0 end,
        case when v.k < v.visits then 1 else 0 end,
        ${counts}
      from (${visits}) v
      join pieces p on p.piece_id = v.piece_id
      left join (
        select f.inspection_id, ${sums('f', modelDecision)}
        from inspections fi
        join findings f on f.inspection_id = fi.id
        left join finding_reviews fr on fr.finding_id = f.id
        where ${scope('fi')}
        group by f.inspection_id
      ) fc on fc.inspection_id = v.id
      left join (
        select a.inspection_id, ${sums('a', addedDecision)}
        from inspections ai
        join review_added_findings a on a.inspection_id = ai.id
        where ${scope('ai')}
        group by a.inspection_id
      ) ac on ac.inspection_id = v.id
      where v.status = 'done'`,
    sql`insert into inspection_fact_findings (inspection_id, piece_created_at, family, kind, size_mm)
      select x.inspection_id, x.piece_created_at, f.family, f.kind, f.size_mm
      from inspection_facts x
      join findings f on f.inspection_id = x.inspection_id
      left join finding_reviews fr on fr.finding_id = f.id
      where x.first_judged = 1 and ${scope('x')} and (fr.decision is null or fr.decision = 'confirmed')
      union all
      select x.inspection_id, x.piece_created_at, a.family, a.kind, a.size_mm
      from inspection_facts x
      join review_added_findings a on a.inspection_id = x.inspection_id
      where x.first_judged = 1 and ${scope('x')}`,
  ];
}

function isPostgres(ex: Executor): boolean {
  return ex.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Runs `fn` in the caller's transaction (or a new one when handed a plain handle: the statements must share one
 * connection) with PostgreSQL's session TimeZone at UTC, put back afterwards: `cast(created_at as text)` must give
 * the UTC day there as it does on SQLite's ISO text, whatever the writer's session says. `lockPiece` takes the
 * piece's row lock in the same round trip.
 */
async function inWriterSession(ex: Executor, lockPiece: string | null, fn: (trx: Executor) => Promise<void>): Promise<void> {
  if (!ex.isTransaction) return ex.transaction().execute((trx) => inWriterSession(trx, lockPiece, fn));
  if (!isPostgres(ex)) return fn(ex);
  const current = lockPiece
    ? await sql<{ tz: string }>`select current_setting('TimeZone') as tz from pieces where piece_id = ${lockPiece} for update`.execute(ex)
    : await sql<{ tz: string }>`select current_setting('TimeZone') as tz`.execute(ex);
  const tz = current.rows[0]?.tz;
  // A piece that no longer exists has nothing to lock or summarise (its rows went with it).
  if (tz === undefined) return;
  await sql`select set_config('TimeZone', 'UTC', true)`.execute(ex);
  await fn(ex);
  await sql`select set_config('TimeZone', ${tz}, true)`.execute(ex);
}

/**
 * Recomputes the summary rows of one piece. Call it inside the transaction of the write that changed the piece,
 * after the write. On PostgreSQL it first locks the piece's row, so two transactions touching the same piece (a
 * completion and a re-inspection's upload, a review) refresh one after the other, the second seeing the first's
 * commit; on SQLite writers are serialised by the database lock already (`begin immediate`).
 */
export async function refreshPieceFacts(ex: Executor, pieceId: string, opts: { onlyIfSummarised?: boolean } = {}): Promise<void> {
  await inWriterSession(ex, pieceId, async (trx) => {
    // An upload or a failure changes nothing for a piece with no finished inspection yet (most uploads: new pieces).
    // Checked after the lock, so a completion committing meanwhile is seen.
    if (opts.onlyIfSummarised) {
      const any = await sql`select 1 as one from inspection_facts where piece_id = ${pieceId} limit 1`.execute(trx);
      if (any.rows.length === 0) return;
    }
    for (const q of pieceStatements(trx)) await trx.executeQuery(CompiledQuery.raw(q.sql, q.parameters.map(() => pieceId)));
  });
}

/**
 * The per-piece statements, compiled once per dialect: every writer runs them, and building the SQL tree of the
 * summary insert cost about as much as running it. The piece id is each statement's only parameter.
 */
const PIECE = '\u0000piece';
const compiledForPiece = new Map<boolean, readonly CompiledQuery[]>();
function pieceStatements(ex: Executor): readonly CompiledQuery[] {
  const pg = isPostgres(ex);
  let out = compiledForPiece.get(pg);
  if (!out) {
    out = [
      sql`delete from inspection_fact_findings where inspection_id in (select inspection_id from inspection_facts where piece_id = ${PIECE})`,
      sql`delete from inspection_facts where piece_id = ${PIECE}`,
      ...refreshStatements((alias) => sql`${sql.ref(`${alias}.piece_id`)} = ${PIECE}`),
    ].map((s) => s.compile(ex));
    if (out.some((q) => q.parameters.some((v) => v !== PIECE))) throw new Error('inspection facts: a per-piece statement has a parameter other than the piece id');
    compiledForPiece.set(pg, out);
  }
  return out;
}

/** The piece an inspection belongs to, then `refreshPieceFacts` (for writers that know only the inspection). */
export async function refreshInspectionFacts(ex: Executor, inspectionId: string, opts: { onlyIfSummarised?: boolean } = {}): Promise<void> {
  const row = await sql<{ piece_id: string }>`select piece_id from inspections where id = ${inspectionId}`.execute(ex);
  const pieceId = row.rows[0]?.piece_id;
  if (pieceId !== undefined) await refreshPieceFacts(ex, pieceId, opts);
}

/** Every piece at once: the migration's backfill, and a repair if the tables were ever written around the store. */
export async function rebuildAllFacts(ex: Executor): Promise<void> {
  await inWriterSession(ex, null, async (trx) => {
    await sql`delete from inspection_fact_findings`.execute(trx);
    await sql`delete from inspection_facts`.execute(trx);
    for (const s of refreshStatements(() => sql`1 = 1`)) await s.execute(trx);
  });
}
