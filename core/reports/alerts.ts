import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { jsonColumn, nowIso, numberColumn, timestampColumn } from '../store/columns.js';
import type { Db } from '../store/db.js';
import { bucketOf, bucketRange, dayKey } from './buckets.js';
import { countsByGroupDay, withReportSession, type DefectScope, type Dimension, type TimeUnit } from './casting-query.js';
import type { Alert } from './casting-report.schema.js';
import { SignalRuleSchema } from './casting-report.schema.js';
import { chartsOver, rollUp } from './casting-report.js';
import { RULE_TEXT } from './spc.js';
import type { ReportsDb } from './tables.js';
import type { WebhookEmitter } from '../webhooks/emitter.js';

/**
 * Alerts: out-of-control signals on the charts a workshop watches, recorded once each in `spc_alerts` and sent on.
 * A signal is identified by chart, dimension, group, scope, interval, rule and the subgroup where its run began, so
 * checking again (after every inspection, from every worker) finds nothing new until something new happens; the
 * unique `signal_key` makes the insert the arbiter between processes, and only the inserter notifies.
 */

export interface AlertWatch {
  dimension: Dimension;
  scope: DefectScope;
  charts: ReadonlyArray<'p' | 'u'>;
}

/** Casting problems show by caster and by alloy first. */
export const DEFAULT_WATCHES: readonly AlertWatch[] = [
  { dimension: 'caster', scope: 'porosity', charts: ['p', 'u'] },
  { dimension: 'metal', scope: 'porosity', charts: ['p'] },
];

export interface CheckOptions {
  now?: Date;
  /** History the centre line and limits are computed from. */
  windowDays?: number;
  /** Only signals that reach into these last days are new news (older ones were there to see before). */
  recentDays?: number;
  interval?: TimeUnit;
  watches?: readonly AlertWatch[];
}

/** Where a new alert goes once recorded. */
export type AlertNotifier = (alert: Alert) => Promise<void>;

/**
 * Sends each new alert as a signed `trend.signal` webhook (issue 7's delivery: a row per subscribed webhook, then a
 * BullMQ job that POSTs it with `Loupe-Signature` and retries). Global webhooks hear it (a signal is no station's).
 */
export function webhookNotifier(emitter: Pick<WebhookEmitter, 'emit'>): AlertNotifier {
  return async (alert) => {
    await emitter.emit({ event: 'trend.signal', stationId: null, inspectionId: null, data: alertWebhookBody(alert) });
  };
}

/** The webhook body of an alert: the alert itself and a sentence for people. */
export function alertWebhookBody(alert: Alert) {
  return {
    alert,
    text: `${alert.chart}-chart of ${alert.family} by ${alert.dimension}: ${alert.group} shows ${RULE_TEXT[alert.rule]} at ${alert.pointKey} (value ${alert.value.toFixed(4)}, centre ${alert.centre.toFixed(4)}, UCL ${alert.ucl.toFixed(4)})`,
  };
}

const AlertRowSchema = z.object({
  id: z.string(),
  chart: z.enum(['p', 'u']),
  dimension: z.string(),
  group_key: z.string(),
  family: z.string(),
  rule: SignalRuleSchema,
  interval: z.enum(['day', 'week', 'month']),
  start_key: z.string(),
  point_key: z.string(),
  value: numberColumn,
  centre: numberColumn,
  ucl: numberColumn,
  lcl: numberColumn,
  n: numberColumn,
  details: jsonColumn(z.record(z.string(), z.unknown())),
  detected_at: timestampColumn,
  notified_at: timestampColumn.nullable(),
});

function toAlert(row: unknown): Alert {
  const r = AlertRowSchema.parse(row);
  return {
    id: r.id,
    chart: r.chart,
    dimension: r.dimension,
    group: r.group_key,
    family: r.family,
    rule: r.rule,
    interval: r.interval,
    startKey: r.start_key,
    pointKey: r.point_key,
    value: r.value,
    centre: r.centre,
    ucl: r.ucl,
    lcl: r.lcl,
    n: r.n,
    detectedAt: r.detected_at,
    notifiedAt: r.notified_at,
  };
}

/** Recorded alerts whose subgroup overlaps [from, to), newest subgroup first. */
export async function listAlerts(db: ReportsDb, period: { from: string; to: string }, limit = 200): Promise<Alert[]> {
  // Bucket keys are day-granular text; the coarse SQL bound keeps the scan short, the exact overlap is checked here.
  const rows = await db
    .selectFrom('spc_alerts')
    .selectAll()
    .where('point_key', '>=', period.from.slice(0, 7))
    .orderBy('point_key', 'desc')
    .orderBy('detected_at', 'desc')
    .limit(limit * 4)
    .execute();
  const from = Date.parse(period.from);
  const to = Date.parse(period.to);
  return rows
    .map(toAlert)
    .filter((a) => {
      const [start, end] = bucketRange(a.pointKey, a.interval);
      return start.getTime() < to && end.getTime() > from;
    })
    .slice(0, limit);
}

/**
 * Recomputes the watched charts over the window and records every signal that reaches into the recent days and
 * was not recorded before; `notify` is called once per new alert (by whichever process recorded it).
 */
export async function checkSignals(store: Db, opts: CheckOptions & { notify?: AlertNotifier } = {}): Promise<Alert[]> {
  const now = opts.now ?? new Date();
  const interval = opts.interval ?? 'day';
  const windowDays = opts.windowDays ?? 60;
  const recentDays = opts.recentDays ?? 7;
  const dayMs = 86_400_000;
  // Whole UTC days: a window ending mid-day would make today's subgroup a partial one that drifts every check.
  const to = new Date(Date.parse(`${dayKey(now)}T00:00:00Z`) + dayMs);
  const from = new Date(to.getTime() - windowDays * dayMs);
  const recentFrom = bucketOf(dayKey(new Date(to.getTime() - recentDays * dayMs)), interval);

  const found: Array<Omit<Alert, 'id' | 'detectedAt' | 'notifiedAt'> & { details: Record<string, unknown> }> = [];
  await withReportSession(store, async (db) => {
    for (const w of opts.watches ?? DEFAULT_WATCHES) {
      const rows = await countsByGroupDay(db, { from: from.toISOString(), to: to.toISOString(), filters: {}, scope: w.scope }, w.dimension);
      for (const { key: group } of rollUp(rows, (r) => r.group)) {
        const charts = chartsOver(rollUp(rows.filter((r) => r.group === group), (r) => bucketOf(r.day, interval)));
        for (const kind of w.charts) {
          const chart = charts[kind];
          for (const s of chart.signals) {
            // Alerts are for getting worse: a run below the centre line on a defect chart is good news (and, with
            // few defects per subgroup, mostly runs of zeros); the page still shows it.
            if (s.endKey < recentFrom || s.direction === 'below' || s.direction === 'falling') continue;
            const p = chart.points[s.index]!;
            found.push({
              chart: kind,
              dimension: w.dimension,
              group,
              family: w.scope,
              rule: s.rule,
              interval,
              startKey: s.startKey,
              pointKey: s.key,
              value: p.value,
              centre: chart.centre,
              ucl: p.ucl,
              lcl: p.lcl,
              n: p.n,
              details: { direction: s.direction, endKey: s.endKey, window: { from: from.toISOString(), to: to.toISOString() } },
            });
          }
        }
      }
    }
  });

  const db = store as unknown as ReportsDb;
  const created: Alert[] = [];
  for (const f of found) {
    const signalKey = [f.chart, f.dimension, f.group, f.family, f.interval, f.rule, f.startKey].join('|');
    const id = randomUUID();
    const at = nowIso();
    const res = await db
      .insertInto('spc_alerts')
      .values({
        id,
        signal_key: signalKey,
        chart: f.chart,
        dimension: f.dimension,
        group_key: f.group,
        family: f.family,
        rule: f.rule,
        interval: f.interval,
        start_key: f.startKey,
        point_key: f.pointKey,
        value: f.value,
        centre: f.centre,
        ucl: f.ucl,
        lcl: f.lcl,
        n: f.n,
        details: JSON.stringify(f.details),
        detected_at: at,
      })
      .onConflict((oc) => oc.column('signal_key').doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) continue;
    const { details: _details, ...rest } = f;
    const alert: Alert = { id, ...rest, detectedAt: at, notifiedAt: null };
    if (opts.notify) {
      await opts.notify(alert);
      alert.notifiedAt = nowIso();
      await db.updateTable('spc_alerts').set({ notified_at: alert.notifiedAt }).where('id', '=', id).execute();
    }
    created.push(alert);
  }
  return created;
}

/**
 * After-inspection trigger for workers: each completed inspection pokes it, and it checks at most once per
 * `minIntervalMs` (a trailing check catches the last pokes of a burst), so a busy queue costs one report query a
 * minute, not one per photo.
 */
export function createSignalWatcher(deps: {
  db: Db;
  notify: AlertNotifier;
  minIntervalMs: number;
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void };
  options?: CheckOptions;
}) {
  let last = 0;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const run = async () => {
    timer = null;
    if (stopped) return;
    last = Date.now();
    try {
      const created = await checkSignals(deps.db, { ...deps.options, notify: deps.notify });
      if (created.length > 0) deps.log.info({ alerts: created.map((a) => `${a.dimension}=${a.group} ${a.chart}/${a.rule}@${a.pointKey}`) }, 'new SPC signals');
    } catch (err) {
      deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'SPC signal check failed');
    }
  };

  return {
    poke(): void {
      if (stopped || timer) return;
      const wait = Math.max(0, last + deps.minIntervalMs - Date.now());
      timer = setTimeout(() => {
        running = (running ?? Promise.resolve()).then(run);
      }, wait);
      timer.unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
