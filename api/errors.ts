import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../core/config.schema.js';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  LoupeError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnauthorizedError,
  UnprocessableError,
  UnsupportedMediaTypeError,
} from '../core/errors.js';
import { isPipelineError } from '../pipeline/errors.js';

/** Every error body has this shape; `error` is a stable code, `message` says what was wrong and how to fix it. */
export const ErrorBodySchema = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

const STATUS: Array<[new (...a: never[]) => LoupeError, number]> = [
  [BadRequestError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [UnprocessableError, 422],
  [ServiceUnavailableError, 503],
];

/** @fastify/multipart's limit errors, re-worded with the limit that was hit and the variable that sets it. */
function multipartMessage(code: string | undefined, config: Config): [number, string, string] | null {
  const u = config.upload;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return [413, 'photo_too_large', `a photo is larger than ${u.maxPhotoBytes} bytes (MAX_PHOTO_BYTES); nothing was stored`];
    case 'FST_FILES_LIMIT':
      return [413, 'too_many_photos', `more than ${u.maxPhotos} photos in one inspection (MAX_PHOTOS_PER_INSPECTION)`];
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return [413, 'too_many_parts', 'too many multipart parts: send one "metadata" field and one "photo" part per view'];
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return [415, 'not_multipart', 'the body must be multipart/form-data with a "metadata" field and "photo" file parts'];
    case 'FST_PROTO_VIOLATION':
      return [400, 'bad_field_name', 'a multipart field name is not allowed'];
    case 'FST_MP_PREMATURE_CLOSE':
      return [400, 'incomplete_upload', 'the upload ended before the multipart body was complete; nothing was stored'];
    default:
      return null;
  }
}

export function createErrorHandler(config: Config) {
  return function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
    const send = (statusCode: number, error: string, message: string, details?: unknown) =>
      reply.code(statusCode).send({ statusCode, error, message, ...(details === undefined ? {} : { details }) } satisfies ErrorBody);

    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const issues = err.validation.map((v) => ({ path: `${where}${v.instancePath.replace(/\//g, '.')}`, message: v.message ?? 'invalid' }));
      return send(400, 'invalid_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
    }
    const typed: unknown = err;
    if (typed instanceof LoupeError) {
      const status = STATUS.find(([cls]) => typed instanceof cls)?.[1] ?? 500;
      if (status >= 500 && status !== 503) return internal();
      if (status === 503) req.log.warn({ err: typed.message }, 'dependency unavailable');
      return send(status, typed.code, typed.message, typed.details);
    }
    const pipelineErr: unknown = err;
    if (isPipelineError(pipelineErr) && pipelineErr.httpStatus < 500) {
      return send(pipelineErr.httpStatus, pipelineErr.code, pipelineErr.message, pipelineErr.details);
    }
    const mp = multipartMessage(err.code, config);
    if (mp) return send(mp[0], mp[1], mp[2]);
    if (isResponseSerializationError(err)) {
      req.log.error({ err, issues: err.cause.issues }, 'response does not match its schema');
      return internal();
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's own 4xx (bad JSON, unsupported content type, body too large) carry a safe, useful message.
      return send(status, (err.code ?? 'bad_request').toLowerCase(), err.message);
    }
    return internal();

    function internal() {
      // The details go to the log under the request id; the client only gets the id to quote.
      req.log.error({ err }, 'request failed');
      return send(500, 'internal', `internal error (request ${req.id}); the details are in the server log`);
    }
  };
}
