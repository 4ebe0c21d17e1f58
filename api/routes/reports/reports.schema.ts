import { z } from 'zod';
import { DIMENSIONS } from '../../../core/reports/casting-query.js';
import { DefectScopeSchema, GroupBySchema, TimeUnitSchema } from '../../../core/reports/casting-report.schema.js';

const DateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);
const ValueList = z
  .string()
  .max(2000)
  .transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean))
  .pipe(z.array(z.string().min(1).max(128)).min(1).max(50));

const filterShape = Object.fromEntries(
  DIMENSIONS.map((d) => [d, ValueList.optional().describe(`Only these ${d} values (comma-separated).`)]),
) as Record<(typeof DIMENSIONS)[number], z.ZodOptional<typeof ValueList>>;

export const CastingQuerySchema = z
  .object({
    from: DateOrDateTime.optional().describe('Start, inclusive: YYYY-MM-DD (00:00 UTC) or an ISO date-time. Default: 90 days before `to`.'),
    to: DateOrDateTime.optional().describe('End: YYYY-MM-DD includes that whole day (UTC); an ISO date-time is exclusive. Default: now.'),
    groupBy: GroupBySchema.default('caster').describe('A casting/finishing dimension, or day / week / month.'),
    interval: TimeUnitSchema.optional().describe('Time subgroup of the charts over time (default from the period: ≤ 92 days daily, ≤ 550 weekly, else monthly).'),
    scope: DefectScopeSchema.default('porosity').describe('Which findings make a piece defective (p) and count as defects (u).'),
    format: z.enum(['json', 'csv', 'html']).optional().describe('Overrides the Accept header.'),
    poreBinMm: z.coerce.number().min(0.005).max(1).optional().describe('Pore-size histogram bin width in mm (default 0.05).'),
    ...filterShape,
  })
  .strict()
  .refine((q) => !q.from || !q.to || periodOf(q).from < periodOf(q).to, { message: '`from` must be before `to`', path: ['from'] });
export type CastingQueryInput = z.infer<typeof CastingQuerySchema>;

const DAY_MS = 86_400_000;

/** Resolves the query's dates to the [from, to) instants the store compares with. */
export function periodOf(q: { from?: string | undefined; to?: string | undefined }, now = new Date()): { from: string; to: string } {
  const to = q.to ? (q.to.length === 10 ? new Date(Date.parse(`${q.to}T00:00:00Z`) + DAY_MS) : new Date(q.to)) : now;
  const from = q.from ? new Date(q.from.length === 10 ? `${q.from}T00:00:00Z` : q.from) : new Date(to.getTime() - 90 * DAY_MS);
  return { from: from.toISOString(), to: to.toISOString() };
}
