/**
 * The few typed errors the store, the queue and the routes throw. `api/errors.ts` maps each class to one HTTP status;
 * the message of a 4xx is shown to the client, so it must say what was wrong and how to fix it.
 */
export class LoupeError extends Error {
  constructor(
    message: string,
    /** Machine-readable reason, stable across releases (clients switch on it, not on the message). */
    readonly code: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed: missing field, bad JSON, wrong order of parts. */
export class BadRequestError extends LoupeError {}
/** Well-formed, but refers to something unknown or inconsistent (unknown profile, views ≠ photos). */
export class UnprocessableError extends LoupeError {}
export class NotFoundError extends LoupeError {}
/** An Idempotency-Key reused for a different request. */
export class ConflictError extends LoupeError {}
export class PayloadTooLargeError extends LoupeError {}
export class UnsupportedMediaTypeError extends LoupeError {}
/** No credentials, or credentials that are unknown, expired or revoked. */
export class UnauthorizedError extends LoupeError {}
/** Valid credentials whose role may not do this. */
export class ForbiddenError extends LoupeError {}
/** A dependency (Redis, database) is down; the client may retry later. */
export class ServiceUnavailableError extends LoupeError {}
