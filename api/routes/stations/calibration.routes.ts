import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../../core/config.schema.js';
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError, UnprocessableError, UnsupportedMediaTypeError } from '../../../core/errors.js';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import type { CalibrationsDal } from '../../../core/store/calibrations-dal.js';
import { calibrateCheckerboard, CheckerboardError } from '../../../pipeline/calibration/checkerboard.js';
import { ROLES_READ } from '../../auth/auth.js';
import { ErrorBodySchema } from '../../errors.js';

const StationParamsSchema = z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/).describe('Station id (as in upload metadata).') });

export const CalibrationSchema = z.object({
  id: z.uuid(),
  stationId: z.string(),
  mmPerPx: z.number().describe('What uploads from this station without mmPerPx are measured with.'),
  mmPerPxAxes: z.tuple([z.number(), z.number()]).describe('mm per pixel along each board axis (they differ when the board was tilted).'),
  squareMm: z.number(),
  innerCorners: z.object({ cols: z.number().int(), rows: z.number().int() }),
  photoSha256: z.string().describe('The calibration photo, kept in the photo store.'),
  warnings: z.array(z.object({ code: z.string(), message: z.string() })),
  metrics: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  createdBy: z.string(),
});

const FieldsSchema = z.object({
  squareMm: z.coerce.number().positive().max(1000).describe('Printed square size in mm (measure the print).'),
  innerCorners: z
    .string()
    .regex(/^\d{1,2}\s*[x×]\s*\d{1,2}$/, 'like "9x6": inner corners per row × per column')
    .transform((s) => {
      const [c, r] = s.split(/[x×]/).map((v) => Number(v.trim()));
      return { cols: c!, rows: r! };
    }),
});

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 413: ErrorBodySchema, 415: ErrorBodySchema, 422: ErrorBodySchema };

/**
 * Station calibration from a photo of a printed checkerboard (pipeline/calibration/checkerboard.ts). It runs in the
 * request: one photo, a few hundred ms of sharp work at most, done when a station is set up or moved, not per piece.
 */
export function calibrationRoutes(deps: { config: Config; photos: PhotoStore; calibrations: CalibrationsDal }): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/stations/:id/calibration',
      {
        config: { roles: ['station'] },
        schema: {
          tags: ['stations'],
          summary: 'Calibrate a station: photo of a printed checkerboard → mm per pixel (with a warning when tilted or blurred)',
          description:
            'multipart/form-data with fields `squareMm` (e.g. 5) and `innerCorners` (e.g. "9x6": a board of 10×7 squares), then one `photo` file. ' +
            'Lay the board flat where the pieces lie, fill a good part of the frame, keep a white margin around it. Uploads from this station ' +
            'without `mmPerPx` use the newest calibration from then on; their reports say `mmPerPxSource: "calibration"`.',
          consumes: ['multipart/form-data'],
          params: StationParamsSchema,
          response: { 201: CalibrationSchema, ...errors },
        },
      },
      async (req, reply) => {
        const auth = req.auth!;
        if (auth.role === 'station' && auth.stationId !== null && auth.stationId !== req.params.id) {
          throw new ForbiddenError(`key ${auth.keyId} belongs to station "${auth.stationId}", not "${req.params.id}"`, 'wrong_station');
        }
        if (!req.isMultipart()) throw new BadRequestError('the body must be multipart/form-data with squareMm, innerCorners and a photo', 'not_multipart');
        const fields: Record<string, string> = {};
        let photo: Buffer | null = null;
        const maxBytes = deps.config.upload.maxPhotoBytes;
        for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 1, fields: 4, fieldSize: 1024, parts: 6 } })) {
          if (part.type === 'field') {
            if (part.fieldname !== 'squareMm' && part.fieldname !== 'innerCorners') {
              throw new BadRequestError(`unexpected field "${part.fieldname}"; send squareMm, innerCorners and a photo`, 'unexpected_field');
            }
            fields[part.fieldname] = String(part.value);
            continue;
          }
          if (part.fieldname !== 'photo') {
            part.file.resume();
            throw new BadRequestError(`unexpected file field "${part.fieldname}"; the board photo goes in "photo"`, 'unexpected_field');
          }
          photo = await part.toBuffer();
          if (part.file.truncated) throw new PayloadTooLargeError(`the photo is larger than ${maxBytes} bytes (MAX_PHOTO_BYTES)`, 'photo_too_large');
        }
        const parsed = FieldsSchema.safeParse(fields);
        if (!parsed.success) {
          throw new BadRequestError(parsed.error.issues.map((i) => `${i.path.join('.') || 'fields'}: ${i.message}`).join('; '), 'invalid_request');
        }
        if (!photo || photo.length === 0) throw new BadRequestError('no "photo" file part', 'missing_photo');

        let result;
        try {
          result = await calibrateCheckerboard(photo, { squareMm: parsed.data.squareMm, innerCorners: parsed.data.innerCorners, maxPixels: deps.config.upload.maxPixels });
        } catch (err) {
          if (err instanceof CheckerboardError) {
            if (err.code === 'not_an_image') throw new UnsupportedMediaTypeError(err.message, 'not_an_image');
            throw new UnprocessableError(err.message, err.code);
          }
          throw err;
        }
        const { key } = await deps.photos.put(photo);
        const { mmPerPx, mmPerPxAxes, warnings, ...metrics } = result;
        const saved = await deps.calibrations.insert(
          { stationId: req.params.id, mmPerPx, mmPerPxAxes, squareMm: parsed.data.squareMm, innerCorners: parsed.data.innerCorners, photoSha256: key, warnings, metrics },
          { actor: auth.actor, actorKeyId: auth.keyId },
        );
        return reply.code(201).send(saved);
      },
    );

    app.get(
      '/v1/stations/:id/calibration',
      {
        config: { roles: ROLES_READ },
        schema: { tags: ['stations'], summary: "The station's current calibration (the newest)", params: StationParamsSchema, response: { 200: CalibrationSchema, ...errors } },
      },
      async (req) => {
        const latest = await deps.calibrations.latest(req.params.id);
        if (!latest) throw new NotFoundError(`station "${req.params.id}" has no calibration; POST a checkerboard photo to /v1/stations/${req.params.id}/calibration`, 'not_calibrated');
        return latest;
      },
    );
  };
}
