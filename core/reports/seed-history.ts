import { createHash, randomUUID } from 'node:crypto';
import type { Metal } from '../../datasets/manifest.schema.js';
import { InspectionReportSchema, type InspectionReport, type Verdict } from '../../pipeline/report.schema.js';
import type { UploadMetadata } from '../inspection.schema.js';
import { z } from 'zod';
import { auditDal } from '../store/audit-dal.js';
import { toIso } from '../store/columns.js';
import type { Db } from '../store/db.js';
import { inspectionsDal, type NewFinding } from '../store/inspections-dal.js';
import { checkSignals } from './alerts.js';
import type { Alert } from './casting-report.schema.js';
import { reviewsDal } from './reviews-dal.js';
import type { Disposition, Rework } from './reviews.schema.js';

/**
 * A seeded, plausible history of inspections with casting context, written through the store like the worker
 * writes real ones (inspection + views + report + findings + audit event), with inspector reviews on the flagged
 * pieces and re-inspections after rework. One caster's porosity rate triples after a date, so the charts have
 * something true to find. Deterministic per seed (ids included).
 */

export interface SeedFinding {
  family: 'porosity' | 'stone_spacing' | 'polish';
  kind: string;
  sizeMm: number | null;
}

export interface InspectionSpec {
  id?: string;
  pieceId: string;
  /** ISO-8601 UTC: when the photos were taken (the inspection's created_at). */
  at: string;
  metal: Metal;
  profile?: string;
  sku?: string;
  stationId?: string;
  casting?: { tree: string; flask?: string; caster?: string; castDate?: string };
  finishing?: { setter?: string; polisher?: string };
  verdict: Verdict;
  findings: SeedFinding[];
  models?: Array<{ id: string; version: string }>;
}

const MODEL_SHA = (id: string, version: string) => createHash('sha256').update(`${id}@${version}`).digest('hex');

/** A schema-valid one-view report carrying the given findings (boxes laid out on a grid; sizes as given). */
export function historyReport(spec: InspectionSpec): InspectionReport {
  const gate = { scoreThreshold: 0.5, source: 'model' as const };
  const box = (k: number): [number, number, number, number] => [40 + (k % 8) * 90, 40 + Math.floor(k / 8) * 90, 100 + (k % 8) * 90, 100 + Math.floor(k / 8) * 90];
  const fam = (f: SeedFinding['family']) => spec.findings.map((x, k) => ({ x, k })).filter(({ x }) => x.family === f);
  const famVerdict = (f: SeedFinding['family']): 'pass' | 'review' | 'fail' =>
    fam(f).length === 0 ? 'pass' : spec.verdict === 'fail' ? 'fail' : 'review';
  const models = spec.models ?? [{ id: 'loupe-seg', version: '1.0.0' }];
  return InspectionReportSchema.parse({
    schemaVersion: 1,
    verdict: spec.verdict,
    photo: { sha256: createHash('sha256').update(spec.pieceId + spec.at).digest('hex'), width: 800, height: 600, mmPerPx: 0.01, mmPerPxSource: 'given', format: 'jpeg' },
    view: 'top',
    metal: spec.metal,
    working: { width: 800, height: 600, mmPerPx: 0.01, scaleToPhoto: 1 },
    quality: {
      ok: spec.verdict !== 'retake',
      reasons: [],
      metrics: { blur: 0.1, meanLuma: 0.5, clippedHigh: 0, clippedLow: 0, pieceFraction: 0.4, analysisWidth: 800, analysisHeight: 600 },
    },
    families: {
      porosity: {
        score: fam('porosity').length > 0 ? 0.9 : 0.05,
        verdict: famVerdict('porosity'),
        findings: fam('porosity').map(({ x, k }) => {
          const d = x.sizeMm ?? 0.1;
          const b = box(k);
          return { kind: x.kind, bbox: b, diameterMm: d, areaMm2: Math.round(((Math.PI * d * d) / 4) * 1e6) / 1e6, confidence: 0.9, cx: (b[0] + b[2]) / 2, cy: (b[1] + b[3]) / 2, elongation: 1.2 };
        }),
        mask: null,
        gate,
      },
      stone_spacing: {
        score: fam('stone_spacing').length > 0 ? 0.8 : 0,
        verdict: famVerdict('stone_spacing'),
        stones: [],
        gapsMm: [],
        worstDeviationMm: null,
        missing: [],
        findings: fam('stone_spacing').map(({ x, k }) => ({ kind: x.kind, bbox: box(k), deviationMm: x.sizeMm ?? 0.1, severity: 0.8, message: `${x.kind}` })),
        meanGapMm: null,
        spreadMm: null,
        nominalGapMm: null,
        nominalGapSource: 'none',
        expectedCount: null,
        found: 0,
        gate,
      },
      polish: {
        score: fam('polish').length > 0 ? 0.7 : 0.02,
        verdict: famVerdict('polish'),
        findings: fam('polish').map(({ x, k }) => ({ kind: x.kind, bbox: box(k), ...(x.sizeMm === null ? {} : { lengthMm: x.sizeMm }), severity: 0.6, confidence: 0.8 })),
        kindScores: {},
        mask: null,
        gate,
      },
    },
    models: models.map((m) => ({ ...m, sha256: MODEL_SHA(m.id, m.version) })),
    profile: { name: spec.profile ?? 'ring', version: '0123456789ab' },
    timingsMs: { decode: 10, quality: 2, preprocess: 5, inference: 50, postprocess: 8, total: 75 },
  });
}

/** Inserts one finished inspection the way upload + worker would. `trx` batching is left to the store. */
export async function recordInspection(store: Db, spec: InspectionSpec): Promise<string> {
  const id = spec.id ?? randomUUID();
  const dal = inspectionsDal(store);
  const metadata: UploadMetadata = {
    pieceId: spec.pieceId,
    profile: spec.profile ?? 'ring',
    ...(spec.sku ? { sku: spec.sku } : {}),
    metal: spec.metal,
    ...(spec.casting ? { casting: spec.casting } : {}),
    ...(spec.finishing ? { finishing: spec.finishing } : {}),
    stationId: spec.stationId ?? 'qc-1',
    views: [{ view: 'top', mmPerPx: 0.01 }],
  };
  const report = historyReport(spec);
  await store.transaction().execute((trx) =>
    dal.insert(trx, {
      id,
      metadata,
      now: spec.at,
      views: [{ view: 'top', photoSha256: report.photo.sha256, photoType: 'jpeg', width: 800, height: 600, bytes: 150_000, fileName: null, mmPerPx: 0.01 }],
    }),
  );
  const findings: NewFinding[] = spec.findings.map((f) => ({
    viewN: 0,
    family: f.family,
    kind: f.kind,
    severity: f.family === 'porosity' ? null : 0.7,
    confidence: 0.9,
    sizeMm: f.sizeMm,
    areaMm2: null,
    bbox: [0, 0, 10, 10],
    measurements: {},
  }));
  await dal.complete(id, {
    verdict: spec.verdict,
    summary: {
      verdict: spec.verdict,
      reasons: [],
      missingViews: [],
      profile: report.profile,
      models: report.models,
      timingsMs: { total: 75 },
    },
    views: [{ n: 0, verdict: spec.verdict, report }],
    findings,
  });
  // The worker stamps completion with the wall clock; history finishes when it was inspected.
  await store.updateTable('inspections').set({ finished_at: spec.at, updated_at: spec.at }).where('id', '=', id).execute();
  return id;
}

/** Findings ids of an inspection, in the store's order (`<id>/<view>/<k>`). */
export function findingIds(inspectionId: string, count: number): string[] {
  return Array.from({ length: count }, (_, k) => `${inspectionId}/0/${k}`);
}

export interface SeedOptions {
  days: number;
  seed?: number;
  /** Pieces cast per caster per day (default 16, ±2). */
  piecesPerCasterDay?: number;
  casters?: string[];
  /** The caster whose porosity drifts upward, and the day index (0-based) from which it does. */
  driftCaster?: string;
  driftFromDay?: number;
  /** How much the drifting caster's porosity rate is multiplied by (default 4). */
  driftFactor?: number;
  /** Last day of the history (UTC); default yesterday, so every day is whole. */
  lastDay?: Date;
  onDay?: (day: number, days: number) => void;
}

export interface SeedSummary {
  seed: number;
  firstDay: string;
  lastDay: string;
  driftCaster: string;
  driftFrom: string;
  inspections: number;
  pieces: number;
  findings: number;
  reviews: number;
  reinspections: number;
}

/** mulberry32: small, fast and the same on every platform. Uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    weighted: <T>(xs: ReadonlyArray<readonly [T, number]>): T => {
      let r = next() * xs.reduce((a, [, w]) => a + w, 0);
      for (const [x, w] of xs) if ((r -= w) < 0) return x;
      return xs[xs.length - 1]![0];
    },
    /** Log-normal with the given median. */
    lognormal: (median: number, sigma: number) => {
      const u = Math.max(1e-12, next());
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
      return median * Math.exp(sigma * z);
    },
    uuid: () => {
      const h = Array.from({ length: 16 }, () => Math.floor(next() * 256));
      h[6] = (h[6]! & 0x0f) | 0x40;
      h[8] = (h[8]! & 0x3f) | 0x80;
      const x = h.map((b) => b.toString(16).padStart(2, '0')).join('');
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    },
  };
}

export const SEED_CASTERS = ['Ana', 'Bruno', 'Carla', 'Dario', 'Elif', 'Femi'];
const METALS: ReadonlyArray<readonly [Metal, number]> = [
  ['au750_yellow', 40],
  ['au750_white', 25],
  ['au750_rose', 15],
  ['ag925', 15],
  ['pt950', 5],
];
/** Base rate of pieces with porosity per alloy (platinum and silver cast less cleanly than 18k gold). */
const POROSITY_RATE: Record<Metal, number> = { au750_yellow: 0.05, au750_white: 0.06, au750_rose: 0.05, ag925: 0.07, pt950: 0.09 };
const SKUS = [
  { sku: 'RING-SOL-1', profile: 'ring' },
  { sku: 'BAND-CL-4', profile: 'band' },
  { sku: 'PEND-DROP-2', profile: 'pendant' },
] as const;
const SETTERS = ['Gus', 'Hana', 'Ivo'];
const POLISHERS = ['Jo', 'Kai', 'Lea'];
const STATIONS = ['qc-1', 'qc-2'];

/** Fails at a pore of 0.15 mm (the default profiles' visible-face tolerance); smaller pores go to review. */
const PORE_FAIL_MM = 0.15;

export async function seedHistory(store: Db, opts: SeedOptions): Promise<SeedSummary> {
  const r = rng(opts.seed ?? 424242);
  const casters = opts.casters ?? SEED_CASTERS;
  const driftCaster = opts.driftCaster ?? casters[Math.min(3, casters.length - 1)]!;
  const driftFromDay = opts.driftFromDay ?? Math.floor((opts.days * 2) / 3);
  const driftFactor = opts.driftFactor ?? 4;
  const perCaster = opts.piecesPerCasterDay ?? 16;
  const last = opts.lastDay ?? new Date(Date.now() - 86_400_000);
  const lastMidnight = Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), last.getUTCDate());
  const dayStart = (d: number) => lastMidnight - (opts.days - 1 - d) * 86_400_000;
  const reviews = reviewsDal(store);
  const summary: SeedSummary = {
    seed: opts.seed ?? 424242,
    firstDay: new Date(dayStart(0)).toISOString().slice(0, 10),
    lastDay: new Date(dayStart(opts.days - 1)).toISOString().slice(0, 10),
    driftCaster,
    driftFrom: new Date(dayStart(driftFromDay)).toISOString().slice(0, 10),
    inspections: 0,
    pieces: 0,
    findings: 0,
    reviews: 0,
    reinspections: 0,
  };
  // Re-inspections after rework land a day or two later; kept here until their day comes.
  const pending = new Map<number, InspectionSpec[]>();

  for (let d = 0; d < opts.days; d++) {
    opts.onDay?.(d, opts.days);
    const day = new Date(dayStart(d));
    const ymd = day.toISOString().slice(0, 10);
    // Model v1.1.0 was promoted halfway through: its agreement with inspectors is better.
    const model = d < opts.days / 2 ? '1.0.0' : '1.1.0';
    const todays: Array<{ spec: InspectionSpec; first: boolean }> = (pending.get(d) ?? []).map((spec) => ({ spec, first: false }));
    pending.delete(d);
    casters.forEach((caster, ci) => {
      const metal = r.weighted(METALS);
      const tree = `T-${ymd.replaceAll('-', '').slice(2)}-${caster.slice(0, 2).toUpperCase()}`;
      const drifting = caster === driftCaster && d >= driftFromDay;
      const rate = POROSITY_RATE[metal] * (drifting ? driftFactor : 1);
      const n = Math.max(1, perCaster + r.int(-2, 2));
      for (let k = 0; k < n; k++) {
        const product = r.pick(SKUS);
        const findings: SeedFinding[] = [];
        if (r.next() < rate) {
          const pores = 1 + (r.next() < 0.35 ? r.int(1, 3) : 0);
          for (let p = 0; p < pores; p++) {
            const size = Math.round(Math.min(1.2, r.lognormal(drifting ? 0.16 : 0.11, 0.45)) * 1000) / 1000;
            findings.push({ family: 'porosity', kind: pores > 2 ? 'cluster' : r.weighted([['pinhole', 5], ['gas_void', 3], ['shrinkage_pit', 2]] as const), sizeMm: size });
          }
        }
        if (r.next() < 0.04) findings.push({ family: 'polish', kind: r.weighted([['scratch', 6], ['haze', 3], ['tool_mark', 2]] as const), sizeMm: Math.round(r.lognormal(1.2, 0.5) * 100) / 100 });
        if (product.profile !== 'band' && r.next() < 0.02) findings.push({ family: 'stone_spacing', kind: r.pick(['gap_wide', 'gap_narrow'] as const), sizeMm: 0.08 });
        const big = findings.some((f) => f.family === 'porosity' && (f.sizeMm ?? 0) >= PORE_FAIL_MM);
        const verdict: Verdict = big ? 'fail' : findings.length > 0 ? 'review' : r.next() < 0.01 ? 'retake' : 'pass';
        const minute = 8 * 60 + Math.floor(((k + ci * n) / (casters.length * n)) * 9 * 60) + r.int(0, 5);
        todays.push({
          first: true,
          spec: {
            id: r.uuid(),
            pieceId: `P-${ymd.replaceAll('-', '')}-${String(ci).padStart(2, '0')}${String(k).padStart(3, '0')}`,
            at: new Date(day.getTime() + minute * 60_000 + r.int(0, 59) * 1000).toISOString(),
            metal,
            profile: product.profile,
            sku: product.sku,
            stationId: r.pick(STATIONS),
            casting: { tree, flask: `F-${(ci % 4) + 1}`, caster, castDate: new Date(day.getTime() - 2 * 86_400_000).toISOString().slice(0, 10) },
            finishing: { setter: r.pick(SETTERS), polisher: r.pick(POLISHERS) },
            verdict,
            findings,
            models: [{ id: 'loupe-seg', version: model }],
          },
        });
      }
    });

    todays.sort((a, b) => (a.spec.at < b.spec.at ? -1 : 1));
    for (const { spec, first } of todays) {
      const id = await recordInspection(store, spec);
      summary.inspections++;
      summary.findings += spec.findings.length;
      if (first) summary.pieces++;
      else summary.reinspections++;
      if (spec.verdict === 'pass' || !first) continue;
      if (spec.verdict === 'retake') {
        // The photo is retaken the same day: a new inspection of the same piece that judges it.
        const again = { ...spec, id: r.uuid(), at: new Date(Date.parse(spec.at) + 10 * 60_000).toISOString(), verdict: 'pass' as const };
        await recordInspection(store, again);
        summary.inspections++;
        summary.reinspections++;
        continue;
      }
      // An inspector reviews every flagged piece: confirms most findings, rejects false positives, adds a missed pore.
      const at = new Date(Date.parse(spec.at) + r.int(20, 240) * 60_000).toISOString();
      const reviewer = r.pick(['key-insp-mia', 'key-insp-noah']);
      const confirmRate = spec.models?.[0]?.version === '1.0.0' ? 0.82 : 0.93;
      const stands: SeedFinding[] = [];
      const ids = findingIds(id, spec.findings.length);
      for (const [k, f] of spec.findings.entries()) {
        const decision = r.next() < confirmRate ? 'confirmed' : 'rejected';
        if (decision === 'confirmed') stands.push(f);
        await reviews.reviewFinding({ inspectionId: id, findingId: ids[k]!, decision, reviewerKeyId: reviewer, at });
      }
      if (r.next() < (spec.models?.[0]?.version === '1.0.0' ? 0.08 : 0.04)) {
        const size = Math.round(r.lognormal(0.08, 0.3) * 1000) / 1000;
        stands.push({ family: 'porosity', kind: 'pinhole', sizeMm: size });
        await reviews.addMissedFinding({ inspectionId: id, reviewerKeyId: reviewer, viewN: 0, family: 'porosity', kind: 'pinhole', bbox: [500, 400, 520, 420], sizeMm: size, at });
      }
      const porous = stands.filter((f) => f.family === 'porosity');
      let disposition: Disposition = 'accept';
      let rework: Rework | undefined;
      if (porous.some((f) => (f.sizeMm ?? 0) >= PORE_FAIL_MM)) {
        const c = r.next();
        if (c < 0.2) disposition = 'scrap';
        else {
          disposition = 'rework';
          rework = c < 0.5 ? 'recast' : 'polish';
        }
      } else if (stands.some((f) => f.family !== 'porosity') || porous.length > 1) {
        disposition = 'rework';
        rework = stands.some((f) => f.family === 'stone_spacing') ? 're-set' : 'polish';
      }
      await reviews.setDisposition({ inspectionId: id, reviewerKeyId: reviewer, disposition, ...(rework ? { rework } : {}), at });
      summary.reviews++;
      if (disposition === 'rework' && rework !== 'recast') {
        const back = d + r.int(1, 2);
        if (back < opts.days) {
          const list = pending.get(back) ?? [];
          list.push({ ...spec, id: r.uuid(), at: new Date(dayStart(back) + r.int(8 * 60, 16 * 60) * 60_000).toISOString(), verdict: 'pass', findings: [] });
          pending.set(back, list);
        }
      }
    }
  }
  // The database says it holds synthetic history (a manager must never take it for the workshop's own), and a
  // second `seedHistoryOnce` finds it.
  await auditDal(store).append(store, { actor: 'seed-history', action: HISTORY_SEEDED, subjectType: 'history', subjectId: `seed:${summary.seed}`, data: { ...summary } });
  return summary;
}

export const HISTORY_SEEDED = 'history.seeded';

export type SeedOnceResult =
  | { status: 'seeded'; summary: SeedSummary; alerts: Alert[] }
  /** `seedHistory` ran on this database before (its audit event, when, and what it wrote). */
  | { status: 'already-seeded'; at: string; firstDay: string; lastDay: string }
  /** The database has inspections from before today that are not a seeded history: the workshop's own. */
  | { status: 'has-history'; since: string };

/**
 * `seedHistory` unless the database already has history: a seeded one (the audit trail says so), or pieces first
 * seen before today (real ones, or a seeding that was interrupted: synthetic history is never mixed into them, and
 * a second seeding would collide with the first's ids). Today's pieces do not count (the demo's uploads). With
 * `alerts`, the charts are checked once at the end, as the CLI does.
 */
export async function seedHistoryOnce(store: Db, opts: SeedOptions & { alerts?: boolean }): Promise<SeedOnceResult> {
  const marker = await store
    .selectFrom('audit_events')
    .select(['at', 'data'])
    .where('action', '=', HISTORY_SEEDED)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  if (marker) {
    const data = SeededDataSchema.parse(typeof marker.data === 'string' ? JSON.parse(marker.data) : marker.data);
    return { status: 'already-seeded', at: toIso(marker.at), firstDay: data.firstDay, lastDay: data.lastDay };
  }
  const today = new Date();
  const midnight = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate())).toISOString();
  const older = await store.selectFrom('pieces').select('created_at').where('created_at', '<', midnight).orderBy('created_at').limit(1).executeTakeFirst();
  if (older) return { status: 'has-history', since: toIso(older.created_at) };
  const summary = await seedHistory(store, opts);
  const alerts = opts.alerts ? await checkSignals(store, { now: new Date(`${summary.lastDay}T12:00:00Z`) }) : [];
  return { status: 'seeded', summary, alerts };
}

const SeededDataSchema = z.object({ firstDay: z.string(), lastDay: z.string() });
