import { z } from 'zod';
import { NotFoundError, UnprocessableError } from '../../../core/errors.js';
import { inspectionFields } from '../../../core/inspection-fields.js';
import { PieceSummarySchema, VerdictSchema } from '../../../core/inspection.schema.js';
import { modelVersionsKey, reviewsDal } from '../../../core/reports/reviews-dal.js';
import { DefectFamilySchema, DispositionSchema, FindingDecisionSchema, ReworkSchema } from '../../../core/reports/reviews.schema.js';
import { reportsDb } from '../../../core/reports/tables.js';
import { auditDal } from '../../../core/store/audit-dal.js';
import { intColumn, jsonColumn, timestampColumn } from '../../../core/store/columns.js';
import type { Db } from '../../../core/store/db.js';
import { findingsDal, type Finding } from '../../../core/store/findings-dal.js';
import type { InspectionsDal } from '../../../core/store/inspections-dal.js';
import type { Database } from '../../../core/store/tables.js';
import type { Transaction } from 'kysely';
import type { ProfileSet } from '../../../pipeline/profiles.js';
import { POLISH_KINDS, POROSITY_KINDS, SPACING_KINDS, type InspectionReport } from '../../../pipeline/report.schema.js';
import { scoreAndGate } from '../../../pipeline/score.js';
import { overlayUrl } from '../inspections/present.js';
import type { QueueQuery, ReviewBody, ReviewState } from './review.schema.js';

const QueueRowSchema = z.object({
  id: z.string(),
  piece_id: z.string(),
  sku: z.string(),
  profile: z.string(),
  station_id: z.string(),
  tree: z.string().nullable(),
  verdict: VerdictSchema,
  summary: jsonColumn(PieceSummarySchema.nullable()),
  created_at: timestampColumn,
  disposition: z.string().nullable(),
  rework: z.string().nullable(),
});

export const photoUrl = (id: string, n: number) => `/v1/inspections/${id}/views/${n}/photo`;

/** The profile's review/fail limits for a finding's measure, so the page can show "0.21 mm (review ≥ 0.10, fail ≥ 0.15)". */
function toleranceOf(profiles: ProfileSet | null, profile: string, metal: string, f: Finding): ReviewState['findings'][number]['tolerance'] {
  // A flag with nothing outlined has no measurement to hold to a limit.
  if (!profiles || f.measurements.unlocated === true) return null;
  let p;
  try {
    p = profiles.get(profile, metal);
  } catch {
    return null;
  }
  if (f.family === 'porosity') return { measure: 'diameter', unit: 'mm', review: p.porosity.reviewDiameterMm, fail: p.porosity.failDiameterMm };
  if (f.family === 'stone_spacing') {
    if (f.kind === 'gap_wide' || f.kind === 'gap_narrow') return { measure: 'deviation', unit: 'mm', review: p.stone_spacing.reviewDeviationMm, fail: p.stone_spacing.failDeviationMm };
    return null;
  }
  if (f.family === 'polish') {
    if (f.kind === 'scratch' || f.kind === 'tool_mark') {
      const t = p.polish[f.kind];
      return { measure: 'length', unit: 'mm', review: t.reviewLengthMm, fail: t.failLengthMm };
    }
    if (f.kind === 'haze' || f.kind === 'orange_peel') {
      const t = p.polish[f.kind];
      return { measure: 'area', unit: 'mm²', review: t.reviewAreaMm2, fail: t.failAreaMm2 };
    }
  }
  return null;
}

/** A view's findings below their gate (the stored report's; they have no findings row), measured like findings rows. */
function belowGateOf(viewN: number, report: InspectionReport): ReviewState['belowGate'] {
  const f = report.families;
  const gated = (family: 'porosity' | 'stone_spacing' | 'polish', kind: string) => {
    const { score, gate } = scoreAndGate(f, family, kind);
    return { score, gate: gate.scoreThreshold };
  };
  return [
    ...f.porosity.findings
      .filter((p) => p.belowGate)
      .map((p) => ({ viewN, family: 'porosity' as const, kind: p.kind, bbox: p.bbox, sizeMm: p.diameterMm, areaMm2: p.areaMm2, confidence: p.confidence, ...gated('porosity', p.kind) })),
    ...f.stone_spacing.findings
      .filter((s) => s.belowGate)
      .map((s) => ({ viewN, family: 'stone_spacing' as const, kind: s.kind, bbox: s.bbox, sizeMm: s.deviationMm ?? s.gapMm ?? null, areaMm2: null, confidence: null, ...gated('stone_spacing', s.kind) })),
    ...f.polish.findings
      .filter((p) => p.belowGate)
      .map((p) => ({ viewN, family: 'polish' as const, kind: p.kind, bbox: p.bbox, sizeMm: p.lengthMm ?? null, areaMm2: p.areaMm2 ?? null, confidence: p.confidence, ...gated('polish', p.kind) })),
  ];
}

const KINDS: Record<string, readonly string[]> = { porosity: POROSITY_KINDS, stone_spacing: SPACING_KINDS, polish: POLISH_KINDS };

export interface Reviewer {
  keyId: string;
  actor: string;
}

/**
 * The review queue and the inspector's decisions. Decisions go through `reviewsDal` (which keeps the review header
 * and the verdict's model and profile versions) and each one appends an audit event naming the reviewer and those
 * versions, in the same transaction: a decision without its audit event cannot exist.
 */
export function reviewService(deps: { db: Db; inspections: InspectionsDal; profiles: ProfileSet | null }) {
  const db = reportsDb(deps.db);
  const reviews = reviewsDal(deps.db);
  const audit = auditDal(deps.db);
  const findings = findingsDal(deps.db);

  function queueQuery(q: Omit<QueueQuery, 'limit'>) {
    let s = db
      .selectFrom('inspections as i')
      .leftJoin('inspection_reviews as r', 'r.inspection_id', 'i.id')
      .where('i.status', '=', 'done')
      .where('i.verdict', 'in', ['review', 'fail']);
    if (q.state === 'pending') s = s.where('r.disposition', 'is', null);
    if (q.state === 'decided') s = s.where('r.disposition', 'is not', null);
    if (q.station) s = s.where('i.station_id', '=', q.station);
    if (q.sku) s = s.where('i.sku', '=', q.sku);
    if (q.profile) s = s.where('i.profile', '=', q.profile);
    if (q.tree) s = s.where('i.tree', '=', q.tree);
    if (q.family) {
      const family = q.family;
      s = s.where((eb) => eb.exists(eb.selectFrom('findings as f').select('f.id').whereRef('f.inspection_id', '=', 'i.id').where('f.family', '=', family)));
    }
    return s;
  }

  async function distinct(col: 'station_id' | 'sku' | 'profile' | 'tree'): Promise<string[]> {
    const rows = await db
      .selectFrom('inspections')
      .select(col)
      .distinct()
      .where('status', '=', 'done')
      .where('verdict', 'in', ['review', 'fail'])
      .where(col, 'is not', null)
      .orderBy(col)
      .limit(200)
      .execute();
    return rows.map((r) => String(r[col]));
  }

  return {
    async queue(q: QueueQuery) {
      const rows = await queueQuery(q)
        .select(['i.id', 'i.piece_id', 'i.sku', 'i.profile', 'i.station_id', 'i.tree', 'i.verdict', 'i.summary', 'i.created_at', 'r.disposition', 'r.rework'])
        .orderBy('i.created_at', 'asc')
        .orderBy('i.id', 'asc')
        .limit(q.limit)
        .execute();
      const parsed = rows.map((r) => QueueRowSchema.parse(r));
      const ids = parsed.map((r) => r.id);
      const counts = new Map<string, Record<string, number>>();
      const viewCounts = new Map<string, number>();
      if (ids.length > 0) {
        const fc = await db
          .selectFrom('findings')
          .select(['inspection_id', 'family', (eb) => eb.fn.countAll().as('n')])
          .where('inspection_id', 'in', ids)
          .groupBy(['inspection_id', 'family'])
          .execute();
        for (const r of fc) counts.set(r.inspection_id, { ...(counts.get(r.inspection_id) ?? {}), [r.family]: intColumn.parse(r.n) });
        const vc = await db.selectFrom('views').select(['inspection_id', (eb) => eb.fn.countAll().as('n')]).where('inspection_id', 'in', ids).groupBy('inspection_id').execute();
        for (const r of vc) viewCounts.set(r.inspection_id, intColumn.parse(r.n));
      }
      const [stations, skus, profiles, trees] = await Promise.all([distinct('station_id'), distinct('sku'), distinct('profile'), distinct('tree')]);
      return {
        items: parsed.map((r) => ({
          id: r.id,
          pieceId: r.piece_id,
          sku: r.sku,
          profile: r.profile,
          stationId: r.station_id,
          tree: r.tree,
          verdict: r.verdict,
          reasons: r.summary?.reasons ?? [],
          createdAt: r.created_at,
          views: viewCounts.get(r.id) ?? 0,
          findings: counts.get(r.id) ?? {},
          disposition: r.disposition === null ? null : r.disposition === 'rework' ? `rework:${r.rework}` : r.disposition,
        })),
        facets: { stations, skus, profiles, trees },
      };
    },

    async state(id: string): Promise<ReviewState> {
      const i = await deps.inspections.get(id);
      if (!i) throw new NotFoundError(`no inspection ${id}`, 'inspection_not_found');
      const [fs, rv] = await Promise.all([findings.ofInspection(id), reviews.ofInspection(id)]);
      const decisions = new Map(rv.findings.map((f) => [f.finding_id, FindingDecisionSchema.parse(f.decision)]));
      const h = rv.header;
      // The next pending one after this in queue order, so "next" works from any piece.
      const after = await queueQuery({ state: 'pending' })
        .select(['i.id'])
        .where((eb) => eb.or([eb('i.created_at', '>', i.createdAt), eb.and([eb('i.created_at', '=', i.createdAt), eb('i.id', '>', i.id)])]))
        .orderBy('i.created_at', 'asc')
        .orderBy('i.id', 'asc')
        .limit(1)
        .executeTakeFirst();
      // The review page's contract leaves these out: it shows flagged (finished) pieces, whose missing views are among the reasons.
      const { status: _status, missingViews: _missingViews, failureReason: _failureReason, ...fields } = inspectionFields(i);
      return {
        inspection: {
          ...fields,
          createdAt: i.createdAt,
          models: (i.summary?.models ?? []).map((m) => ({ id: m.id, version: m.version })),
          profileVersion: i.summary ? `${i.summary.profile.name}@${i.summary.profile.version}` : null,
        },
        views: i.views.map((v) => ({
          n: v.n,
          view: v.view,
          verdict: v.verdict,
          width: v.photo.width,
          height: v.photo.height,
          mmPerPx: v.report?.photo.mmPerPx ?? v.mmPerPx,
          photoUrl: photoUrl(i.id, v.n),
          overlayUrl: v.report ? overlayUrl(i.id, v.n) : null,
        })),
        findings: fs.map((f) => ({ ...f, tolerance: toleranceOf(deps.profiles, i.profile, i.metal, f), decision: decisions.get(f.id) ?? null })),
        // Stored reports come with `belowGate` stated (the store derives it for reports made before the flag).
        belowGate: i.views.flatMap((v) => (v.report ? belowGateOf(v.n, v.report) : [])),
        added: rv.added.map((a) => ({
          id: a.id,
          viewN: intColumn.parse(a.view_n),
          family: DefectFamilySchema.parse(a.family),
          kind: a.kind,
          bbox: [Number(a.bbox_x0), Number(a.bbox_y0), Number(a.bbox_x1), Number(a.bbox_y1)] as [number, number, number, number],
          sizeMm: a.size_mm === null ? null : Number(a.size_mm),
          note: a.note,
          reviewerKeyId: a.reviewer_key_id,
        })),
        disposition:
          h && h.disposition
            ? {
                disposition: DispositionSchema.parse(h.disposition),
                rework: h.rework === null ? null : ReworkSchema.parse(h.rework),
                note: h.note,
                reviewerKeyId: h.reviewer_key_id,
                decidedAt: h.decided_at === null ? null : timestampColumn.parse(h.decided_at),
              }
            : null,
        next: after?.id ?? null,
      };
    },

    /** Records every action of the body in one transaction, each with its audit event. */
    async record(id: string, body: ReviewBody, who: Reviewer) {
      const i = await deps.inspections.get(id);
      if (!i) throw new NotFoundError(`no inspection ${id}`, 'inspection_not_found');
      for (const a of body.add) {
        const v = i.views.find((x) => x.n === a.viewN);
        if (!v) throw new UnprocessableError(`inspection ${id} has no view ${a.viewN}`, 'view_not_found');
        if (!KINDS[a.family]?.includes(a.kind)) {
          throw new UnprocessableError(`kind "${a.kind}" is not a ${a.family} kind (${KINDS[a.family]?.join(', ')})`, 'kind_not_in_family');
        }
        const [x0, y0, x1, y1] = a.bbox;
        if (x0 < 0 || y0 < 0 || x1 > v.photo.width || y1 > v.photo.height) {
          throw new UnprocessableError(`box [${a.bbox.join(', ')}] lies outside view ${a.viewN}'s ${v.photo.width}x${v.photo.height} photo`, 'box_outside_photo');
        }
      }
      const versions = {
        reviewer: who.actor,
        models: modelVersionsKey(i.summary?.models ?? []),
        profile: i.summary ? `${i.summary.profile.name}@${i.summary.profile.version}` : 'unknown',
        verdict: i.verdict,
      };
      const seqs: number[] = [];
      const added: string[] = [];
      let removed = 0;
      await db.transaction().execute(async (trx) => {
        const atrx = trx as unknown as Transaction<Database>;
        // Appended after the writes, last in the transaction, so the chain lock is held briefly.
        const events: Array<{ action: string; data: Record<string, unknown> }> = [];
        const event = (action: string, data: Record<string, unknown>) => events.push({ action, data });
        for (const f of body.findings) {
          await reviews.reviewFinding({ inspectionId: id, findingId: f.findingId, decision: f.decision, reviewerKeyId: who.keyId, ...(f.note ? { note: f.note } : {}) }, trx);
          event('review.finding', { findingId: f.findingId, decision: f.decision, ...(f.note ? { note: f.note } : {}) });
        }
        for (const a of body.add) {
          const addedId = await reviews.addMissedFinding({ inspectionId: id, reviewerKeyId: who.keyId, ...a }, trx);
          added.push(addedId);
          event('review.missed_finding', { id: addedId, viewN: a.viewN, family: a.family, kind: a.kind, bbox: a.bbox, ...(a.sizeMm ? { sizeMm: a.sizeMm } : {}) });
        }
        for (const r of body.remove) {
          if (!(await reviews.removeMissedFinding(id, r, trx))) throw new NotFoundError(`inspection ${id} has no added box ${r}`, 'added_finding_not_found');
          removed++;
          event('review.missed_finding_removed', { id: r });
        }
        if (body.disposition) {
          const d = body.disposition;
          await reviews.setDisposition({ inspectionId: id, reviewerKeyId: who.keyId, disposition: d.disposition, ...(d.rework ? { rework: d.rework } : {}), ...(d.note ? { note: d.note } : {}) }, trx);
          event('review.disposition', { disposition: d.disposition, rework: d.rework ?? null, note: d.note ?? null });
        }
        for (const e of events) {
          const ev = await audit.append(atrx, { actor: who.actor, actorKeyId: who.keyId, action: e.action, subjectType: 'inspection', subjectId: id, data: { ...versions, ...e.data } });
          seqs.push(ev.seq);
        }
      });
      return { recorded: { findings: body.findings.length, added, removed, disposition: body.disposition !== undefined }, auditSeqs: seqs };
    },
  };
}
export type ReviewService = ReturnType<typeof reviewService>;
