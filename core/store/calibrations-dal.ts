import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { auditDal } from './audit-dal.js';
import { intColumn, jsonColumn, nowIso, numberColumn, timestampColumn } from './columns.js';
import type { Db } from './db.js';

const CalibrationRowSchema = z.object({
  id: z.string(),
  station_id: z.string(),
  mm_per_px: numberColumn,
  mm_per_px_x: numberColumn,
  mm_per_px_y: numberColumn,
  square_mm: numberColumn,
  corners_x: intColumn,
  corners_y: intColumn,
  photo_sha256: z.string(),
  warnings: jsonColumn(z.array(z.object({ code: z.string(), message: z.string() }))),
  metrics: jsonColumn(z.record(z.string(), z.unknown())),
  created_at: timestampColumn,
  created_by: z.string(),
});

function toCalibration(row: unknown) {
  const r = CalibrationRowSchema.parse(row);
  return {
    id: r.id,
    stationId: r.station_id,
    mmPerPx: r.mm_per_px,
    mmPerPxAxes: [r.mm_per_px_x, r.mm_per_px_y] as [number, number],
    squareMm: r.square_mm,
    innerCorners: { cols: r.corners_x, rows: r.corners_y },
    photoSha256: r.photo_sha256,
    warnings: r.warnings,
    metrics: r.metrics,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}
export type StationCalibration = ReturnType<typeof toCalibration>;

export interface NewCalibration {
  stationId: string;
  mmPerPx: number;
  mmPerPxAxes: [number, number];
  squareMm: number;
  innerCorners: { cols: number; rows: number };
  photoSha256: string;
  warnings: Array<{ code: string; message: string }>;
  metrics: Record<string, unknown>;
}

/** Station calibrations, newest last; uploads without mm-per-pixel use the station's latest. */
export function calibrationsDal(db: Db) {
  const audit = auditDal(db);
  return {
    async insert(c: NewCalibration, by: { actor: string; actorKeyId?: string | null }): Promise<StationCalibration> {
      const row = {
        id: randomUUID(),
        station_id: c.stationId,
        mm_per_px: c.mmPerPx,
        mm_per_px_x: c.mmPerPxAxes[0],
        mm_per_px_y: c.mmPerPxAxes[1],
        square_mm: c.squareMm,
        corners_x: c.innerCorners.cols,
        corners_y: c.innerCorners.rows,
        photo_sha256: c.photoSha256,
        warnings: JSON.stringify(c.warnings),
        metrics: JSON.stringify(c.metrics),
        created_at: nowIso(),
        created_by: by.actor,
      };
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('station_calibrations').values(row).execute();
        await audit.append(trx, {
          actor: by.actor,
          actorKeyId: by.actorKeyId ?? null,
          action: 'station.calibrate',
          subjectType: 'station',
          subjectId: c.stationId,
          data: { calibrationId: row.id, mmPerPx: c.mmPerPx, squareMm: c.squareMm, photoSha256: c.photoSha256, warnings: c.warnings.map((w) => w.code) },
        });
      });
      return toCalibration(row);
    },

    async latest(stationId: string): Promise<StationCalibration | null> {
      const row = await db
        .selectFrom('station_calibrations')
        .selectAll()
        .where('station_id', '=', stationId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? toCalibration(row) : null;
    },

    async history(stationId: string, limit = 50): Promise<StationCalibration[]> {
      const rows = await db
        .selectFrom('station_calibrations')
        .selectAll()
        .where('station_id', '=', stationId)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toCalibration);
    },
  };
}
export type CalibrationsDal = ReturnType<typeof calibrationsDal>;
