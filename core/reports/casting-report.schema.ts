import { z } from 'zod';
import { DEFECT_SCOPES, DIMENSIONS, TIME_UNITS } from './casting-query.js';
import { SIGNAL_RULES } from './spc.js';

/** The casting report as the API returns it (and the page and CSV are drawn from). */

export const GroupBySchema = z.enum([...DIMENSIONS, ...TIME_UNITS]);
export type GroupBy = z.infer<typeof GroupBySchema>;
export const TimeUnitSchema = z.enum(TIME_UNITS);
export const DefectScopeSchema = z.enum(DEFECT_SCOPES);
export const SignalRuleSchema = z.enum(SIGNAL_RULES);

const rate = z.number().nullable();

export const ChartPointSchema = z.object({
  key: z.string().describe('Subgroup: a group value, or a time bucket (YYYY-MM-DD day, Monday of the ISO week, YYYY-MM month).'),
  n: z.number().int().describe('Pieces inspected in the subgroup.'),
  count: z.number().int().describe('Defective pieces (p-chart) or defects (u-chart).'),
  value: z.number(),
  sigma: z.number(),
  ucl: z.number(),
  lcl: z.number(),
  signals: z.array(SignalRuleSchema),
});

export const SignalSchema = z.object({
  rule: SignalRuleSchema,
  index: z.number().int(),
  key: z.string(),
  startIndex: z.number().int(),
  startKey: z.string(),
  endIndex: z.number().int(),
  endKey: z.string(),
  direction: z.enum(['above', 'below', 'rising', 'falling']),
});
export type SignalBody = z.infer<typeof SignalSchema>;

export const ControlChartSchema = z.object({
  kind: z.enum(['p', 'u']),
  centre: z.number(),
  totalN: z.number().int(),
  totalCount: z.number().int(),
  points: z.array(ChartPointSchema),
  signals: z.array(SignalSchema),
});

export const OutcomesSchema = z.object({
  pieces: z.number().int().describe('Pieces at their first inspection in the period.'),
  defective: z.number().int().describe('Pieces with at least one effective finding in scope (porosity by default).'),
  defects: z.number().int(),
  p: rate,
  u: rate,
  accepted: z.number().int(),
  rework: z.number().int(),
  scrap: z.number().int(),
  rejected: z.number().int().describe('Model fail, no disposition yet.'),
  pending: z.number().int().describe('Model review, no disposition yet.'),
  firstPass: z.number().int(),
  firstPassYield: rate.describe('firstPass / (pieces − pending): accepted at the first inspection, never reworked or re-inspected.'),
});
export type Outcomes = z.infer<typeof OutcomesSchema>;

export const GroupRowSchema = OutcomesSchema.extend({
  key: z.string(),
  signals: z.number().int().describe('Signals on this group’s own p- and u-chart over time.'),
});

export const SeriesSchema = z.object({
  group: z.string(),
  p: ControlChartSchema,
  u: ControlChartSchema,
});

export const AlertSchema = z.object({
  id: z.string(),
  chart: z.enum(['p', 'u']),
  dimension: z.string(),
  group: z.string(),
  family: z.string(),
  rule: SignalRuleSchema,
  interval: TimeUnitSchema,
  startKey: z.string(),
  pointKey: z.string(),
  value: z.number(),
  centre: z.number(),
  ucl: z.number(),
  lcl: z.number(),
  n: z.number().int(),
  detectedAt: z.string(),
  notifiedAt: z.string().nullable(),
});
export type Alert = z.infer<typeof AlertSchema>;

export const CastingReportSchema = z.object({
  title: z.string(),
  generatedAt: z.string(),
  period: z.object({ from: z.string(), to: z.string() }),
  groupBy: GroupBySchema,
  interval: TimeUnitSchema.describe('Time subgroup of the charts over time.'),
  scope: DefectScopeSchema.describe('Which defect family makes a piece defective and counts as defects.'),
  filters: z.record(z.string(), z.array(z.string())),
  overall: OutcomesSchema,
  groups: z.array(GroupRowSchema).describe('One row per group (per time bucket when grouping by time).'),
  byGroup: z
    .object({ p: ControlChartSchema, u: ControlChartSchema })
    .nullable()
    .describe('Groups compared with each other (subgroup = group); null when grouping by time.'),
  series: z.array(SeriesSchema).describe('Per group, its charts over time (one series "all" when grouping by time); groups with signals first.'),
  yield: z.array(z.object({ key: z.string(), pieces: z.number().int(), decided: z.number().int(), firstPass: z.number().int(), firstPassYield: rate })),
  pareto: z.array(z.object({ family: z.string(), kind: z.string(), count: z.number().int(), share: z.number(), cumulative: z.number() })),
  poreSizes: z.object({
    edgesMm: z.array(z.number()),
    counts: z.array(z.number().int()),
    n: z.number().int(),
    meanMm: z.number().nullable(),
    maxMm: z.number().nullable(),
  }),
  agreement: z.array(
    z.object({
      modelVersions: z.string(),
      family: z.string(),
      reviewedInspections: z.number().int(),
      confirmed: z.number().int(),
      rejected: z.number().int(),
      missed: z.number().int(),
      undecided: z.number().int(),
      confirmedShare: rate,
      rejectedShare: rate,
      missedShare: rate,
    }),
  ),
  alerts: z.array(AlertSchema).describe('Recorded alerts whose subgroup lies in the period, newest first.'),
  timingsMs: z.record(z.string(), z.number()),
});
export type CastingReport = z.infer<typeof CastingReportSchema>;
