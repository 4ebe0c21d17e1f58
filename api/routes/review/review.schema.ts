import { z } from 'zod';
import { VerdictSchema } from '../../../core/inspection.schema.js';
import {
  AddedFindingInputSchema,
  DefectFamilySchema,
  DispositionInputSchema,
  DispositionSchema,
  FindingDecisionSchema,
  ReworkSchema,
} from '../../../core/reports/reviews.schema.js';

/** The inspector's review API: the queue of flagged inspections, one inspection's review state, and decisions. */

const Id = z.string().min(1).max(128);

export const QueueQuerySchema = z.object({
  station: Id.optional(),
  sku: Id.optional(),
  profile: Id.optional(),
  tree: Id.optional(),
  family: DefectFamilySchema.optional().describe('Only inspections with at least one model finding of this family.'),
  state: z.enum(['pending', 'decided', 'all']).default('pending').describe('pending: no disposition yet (default).'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type QueueQuery = z.infer<typeof QueueQuerySchema>;

export const QueueItemSchema = z.object({
  id: z.uuid(),
  pieceId: z.string(),
  sku: z.string(),
  profile: z.string(),
  stationId: z.string(),
  tree: z.string().nullable(),
  verdict: VerdictSchema,
  reasons: z.array(z.string()),
  createdAt: z.string(),
  views: z.number().int(),
  findings: z.record(z.string(), z.number().int()).describe('Model findings per family (those that counted: none below its gate).'),
  disposition: z.string().nullable().describe('accept | rework:polish | rework:re-set | rework:recast | scrap; null while pending.'),
});

export const QueueResponseSchema = z.object({
  items: z.array(QueueItemSchema).describe('Oldest first.'),
  facets: z.object({ stations: z.array(z.string()), skus: z.array(z.string()), profiles: z.array(z.string()), trees: z.array(z.string()) }),
});

const BBox = z.tuple([z.number(), z.number(), z.number(), z.number()]);

export const ToleranceSchema = z.object({
  measure: z.string().describe('What sizeMm is: diameter, deviation, length, area.'),
  unit: z.enum(['mm', 'mm²']),
  review: z.number(),
  fail: z.number(),
});

export const ReviewFindingSchema = z.object({
  id: z.string(),
  viewN: z.number().int(),
  family: z.string(),
  kind: z.string(),
  bbox: BBox.nullable(),
  sizeMm: z.number().nullable(),
  areaMm2: z.number().nullable(),
  confidence: z.number().nullable(),
  severity: z.number().nullable(),
  measurements: z.record(z.string(), z.unknown()),
  tolerance: ToleranceSchema.nullable().describe("The profile's review/fail limits for this finding's measure (current profile)."),
  decision: FindingDecisionSchema.nullable(),
});

export const BelowGateFindingSchema = z.object({
  viewN: z.number().int(),
  family: DefectFamilySchema,
  kind: z.string(),
  bbox: BBox,
  sizeMm: z.number().nullable().describe('Diameter (pores), deviation from nominal else gap (spacing), length (scratch, tool mark).'),
  areaMm2: z.number().nullable(),
  confidence: z.number().nullable(),
  score: z.number().describe("The image score of the finding's family (for polish, its kind), which stayed below the gate."),
  gate: z.number().describe('The score it had to reach to count.'),
});

export const AddedSchema = z.object({
  id: z.string(),
  viewN: z.number().int(),
  family: DefectFamilySchema,
  kind: z.string(),
  bbox: BBox,
  sizeMm: z.number().nullable(),
  note: z.string().nullable(),
  reviewerKeyId: z.string(),
});

export const ReviewStateSchema = z.object({
  inspection: z.object({
    id: z.uuid(),
    pieceId: z.string(),
    sku: z.string(),
    profile: z.string(),
    metal: z.string(),
    stationId: z.string(),
    tree: z.string().nullable(),
    verdict: VerdictSchema.nullable(),
    reasons: z.array(z.string()),
    createdAt: z.string(),
    models: z.array(z.object({ id: z.string(), version: z.string() })),
    profileVersion: z.string().nullable(),
  }),
  views: z.array(
    z.object({
      n: z.number().int(),
      view: z.string(),
      verdict: VerdictSchema.nullable(),
      width: z.number().int(),
      height: z.number().int(),
      mmPerPx: z.number().nullable(),
      photoUrl: z.string(),
      overlayUrl: z.string().nullable(),
    }),
  ),
  findings: z.array(ReviewFindingSchema).describe('The findings that counted toward the verdict, to confirm or reject.'),
  belowGate: z
    .array(BelowGateFindingSchema)
    .describe(
      "Findings the model discounted: their family's (polish: kind's) score stayed below its gate, so they decided nothing and are not in `findings`, queue counts or trend reports. A real one is recorded with `add`, like any missed defect.",
    ),
  added: z.array(AddedSchema),
  disposition: z
    .object({
      disposition: DispositionSchema,
      rework: ReworkSchema.nullable(),
      note: z.string().nullable(),
      reviewerKeyId: z.string(),
      decidedAt: z.string().nullable(),
    })
    .nullable(),
  next: z.uuid().nullable().describe('The next pending inspection in the queue after this one (oldest first).'),
});
export type ReviewState = z.infer<typeof ReviewStateSchema>;

/** One POST may carry any mix of an inspector's actions; all land in one transaction with their audit events. */
export const ReviewBodySchema = z
  .object({
    findings: z
      .array(z.object({ findingId: z.string().min(1).max(200), decision: FindingDecisionSchema, note: z.string().trim().max(2000).optional() }).strict())
      .max(500)
      .default([]),
    add: z.array(AddedFindingInputSchema).max(100).default([]).describe('Missed defects drawn as boxes (photo pixels).'),
    remove: z.array(z.string().min(1).max(64)).max(100).default([]).describe('Ids of boxes added earlier, to take back.'),
    disposition: DispositionInputSchema.optional(),
  })
  .strict()
  .refine((b) => b.findings.length + b.add.length + b.remove.length > 0 || b.disposition !== undefined, 'nothing to record: send findings, add, remove or disposition');
export type ReviewBody = z.infer<typeof ReviewBodySchema>;

export const ReviewResultSchema = z.object({
  recorded: z.object({ findings: z.number().int(), added: z.array(z.string()), removed: z.number().int(), disposition: z.boolean() }),
  auditSeqs: z.array(z.number().int()),
});
