import { z } from 'zod';
import { intColumn, jsonColumn, numberColumn } from './columns.js';
import type { Db } from './db.js';

const FindingRowSchema = z.object({
  id: z.string(),
  view_n: intColumn,
  family: z.string(),
  kind: z.string(),
  severity: numberColumn.nullable(),
  confidence: numberColumn.nullable(),
  size_mm: numberColumn.nullable(),
  area_mm2: numberColumn.nullable(),
  bbox_x0: numberColumn.nullable(),
  bbox_y0: numberColumn.nullable(),
  bbox_x1: numberColumn.nullable(),
  bbox_y1: numberColumn.nullable(),
  measurements: jsonColumn(z.record(z.string(), z.unknown())),
});

function toFinding(row: unknown) {
  const r = FindingRowSchema.parse(row);
  const bbox =
    r.bbox_x0 === null || r.bbox_y0 === null || r.bbox_x1 === null || r.bbox_y1 === null
      ? null
      : ([r.bbox_x0, r.bbox_y0, r.bbox_x1, r.bbox_y1] as [number, number, number, number]);
  return {
    id: r.id,
    viewN: r.view_n,
    family: r.family,
    kind: r.kind,
    severity: r.severity,
    confidence: r.confidence,
    sizeMm: r.size_mm,
    areaMm2: r.area_mm2,
    bbox,
    measurements: r.measurements,
  };
}
export type Finding = ReturnType<typeof toFinding>;

/** Findings are written by `inspectionsDal.complete` (same transaction as the report); this side only reads. */
export function findingsDal(db: Db) {
  return {
    async ofInspection(inspectionId: string): Promise<Finding[]> {
      const rows = await db
        .selectFrom('findings')
        .selectAll()
        .where('inspection_id', '=', inspectionId)
        .orderBy('view_n')
        .orderBy('ord')
        .execute();
      return rows.map(toFinding);
    },
    async count(inspectionId: string): Promise<number> {
      const row = await db
        .selectFrom('findings')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('inspection_id', '=', inspectionId)
        .executeTakeFirstOrThrow();
      return intColumn.parse(row.n);
    },
  };
}
export type FindingsDal = ReturnType<typeof findingsDal>;
