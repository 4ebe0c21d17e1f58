import { z } from 'zod';
import { InspectionStatusSchema, UploadMetadataSchema, VerdictSchema } from '../../../core/inspection.schema.js';
import { InspectionReportSchema } from '../../../pipeline/report.schema.js';

export const IdParamsSchema = z.object({ id: z.uuid().describe('Inspection id (returned by the upload).') });
export const ViewParamsSchema = IdParamsSchema.extend({ n: z.coerce.number().int().min(0).max(999).describe('View index, 0-based, in upload order.') });

export const UploadHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional()
    .describe('Any unique string per upload (e.g. a UUID made by the station); a retry with the same key returns the same inspection.'),
});

export const AcceptedSchema = z.object({
  id: z.uuid(),
  status: InspectionStatusSchema,
  statusUrl: z.string().describe('Poll this (GET) for the status and then the report.'),
});

const PhotoSchema = z.object({
  sha256: z.string(),
  type: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  fileName: z.string().nullable(),
});

export const ViewResultSchema = z.object({
  n: z.number().int(),
  view: z.string(),
  verdict: VerdictSchema.nullable(),
  mmPerPx: z.number().nullable(),
  mmPerPxSource: z
    .enum(['given', 'calibration'])
    .nullable()
    .describe("Where mmPerPx came from: the upload, or the station's calibration (calibrationId); null: the profile's default scale."),
  calibrationId: z.string().nullable(),
  photo: PhotoSchema,
  overlayUrl: z.string().nullable().describe('PNG of the photo with the findings drawn on it, once the view is inspected.'),
  report: InspectionReportSchema.nullable().describe('The pipeline report of this view (null until done).'),
});

export const InspectionSchema = z.object({
  id: z.uuid(),
  pieceId: z.string(),
  sku: z.string(),
  profile: z.string(),
  metal: z.string(),
  stationId: z.string(),
  tree: z.string().nullable(),
  status: InspectionStatusSchema,
  verdict: VerdictSchema.nullable().describe('Piece verdict: the worst of its views; a missing required view makes it `review`.'),
  reasons: z.array(z.string()),
  missingViews: z.array(z.string()),
  failureReason: z.string().nullable(),
  attempts: z.number().int(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  metadata: UploadMetadataSchema,
  views: z.array(ViewResultSchema),
  links: z.object({ self: z.string(), piece: z.string() }),
});
export type InspectionBody = z.infer<typeof InspectionSchema>;

export const InspectionSummarySchema = z.object({
  id: z.uuid(),
  pieceId: z.string(),
  profile: z.string(),
  stationId: z.string(),
  tree: z.string().nullable(),
  status: InspectionStatusSchema,
  verdict: VerdictSchema.nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  views: z.array(z.object({ n: z.number().int(), view: z.string(), verdict: VerdictSchema.nullable() })),
  url: z.string(),
});
export type InspectionSummary = z.infer<typeof InspectionSummarySchema>;

const dateOrDateTime = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .describe('ISO-8601 date (YYYY-MM-DD, UTC midnight) or date-time with offset.');

export const ListQuerySchema = z.object({
  verdict: VerdictSchema.optional(),
  status: InspectionStatusSchema.optional(),
  piece: z.string().min(1).max(128).optional(),
  tree: z.string().min(1).max(128).optional(),
  station: z.string().min(1).max(128).optional(),
  from: dateOrDateTime.optional().describe('Uploaded at or after (inclusive).'),
  to: dateOrDateTime.optional().describe('Uploaded before (exclusive).'),
  cursor: z.string().max(512).optional().describe('`nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const ListResponseSchema = z.object({
  items: z.array(InspectionSummarySchema).describe('Newest first.'),
  nextCursor: z.string().nullable(),
  next: z.string().nullable().describe('URL of the next page, with the same filters.'),
});
